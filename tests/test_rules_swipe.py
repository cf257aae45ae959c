"""Tests of the card-swipe rules (category abnormal_swipe): for each rule one clear incident
that must be found and the legitimate look-alikes that must not be (chronic refills, a family
member buying twice a day, a busy morning, a 24-hour store at night).

Each test writes a few 2102 settlement / 2103 reversal messages as JSON Lines
(docs/formats.md), imports them into a fresh ledger and runs the one rule.
"""
import csv
import json

import pytest

from invreconcile.audit import run_audit
from invreconcile.importer import import_paths
from invreconcile.ledger import open_ledger
from invreconcile.rules import Config

S1, S2, S3 = "P3301069001", "P3301069002", "P3301069003"

# item id, name, convrat, rx_flag, unit price (yuan per minimum unit)
CATALOG = {
    "YP1": ("苯磺酸氨氯地平片", 7, "1", 1.00),
    "YP2": ("二甲双胍缓释片", 30, "1", 0.50),
    "YP3": ("布洛芬缓释胶囊", 20, "0", 0.60),
    "YP4": ("感冒灵颗粒", 9, "0", 1.50),
    "YP5": ("安宫牛黄丸", 6, "1", 80.00),
}


class Ledger:
    """Collects messages, then imports them and runs a rule."""

    def __init__(self, tmp_path):
        self.tmp = tmp_path
        self.msgs = []
        self.n = 0

    def settle(self, store, psn, ts, lines=None, total=None, setl_id=None):
        """lines: [(item_id, units)]; total (yuan) instead gives one line of YP4 at that amount."""
        self.n += 1
        sid = setl_id or f"S{self.n:06d}"
        if lines is None:
            lines = [("YP4", None)]
        det, tot = [], 0.0
        for k, (item, units) in enumerate(lines):
            name, _, _, price = CATALOG[item]
            if units is None:           # one line worth `total` yuan
                units, price = 1, float(total)
            amount = round(units * price, 2)
            tot += amount
            det.append({"feedetl_sn": f"{sid}{k:03d}", "fee_ocur_time": ts, "medins_list_codg": item,
                        "medins_list_name": name, "cnt": units, "pric": price, "det_item_fee_sumamt": amount})
        tot = round(tot, 2)
        half = round(tot / 2, 2)
        self.msgs.append({"infno": "2102", "fixmedins_code": store, "input": {
            "setlinfo": {"setl_id": sid, "psn_no": psn, "psn_name": "测试", "insutype": "310", "setl_time": ts,
                         "medfee_sumamt": tot, "fund_pay_sumamt": half, "hifp_pay": half,
                         "psn_part_amt": round(tot - half, 2), "acct_pay": round(tot - half, 2), "psn_cash_pay": 0},
            "drugdetail": det}})
        return sid

    def reverse(self, store, orig, psn, ts, total=10.0):
        self.n += 1
        new = f"R{self.n:06d}"
        self.msgs.append({"infno": "2103", "fixmedins_code": store,
                          "input": {"data": {"setl_id": orig, "psn_no": psn}},
                          "output": {"setlinfo": {"setl_id": new, "setl_time": ts, "psn_no": psn,
                                                  "medfee_sumamt": -total, "fund_pay_sumamt": -total / 2,
                                                  "acct_pay": -total / 2}}})
        return new

    def audit(self, rule, config=None):
        cat = self.tmp / "catalog.csv"
        with open(cat, "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(["fixmedins_hilist_id", "fixmedins_hilist_name", "med_list_codg", "pack_unit", "min_unit",
                        "convrat", "rx_flag", "pric"])
            for item, (name, conv, rx, price) in CATALOG.items():
                w.writerow([item, name, f"X{item}A0000000000000", "盒", "片", conv, rx, f"{price * conv:.2f}"])
        msgs = self.tmp / "settlements.jsonl"
        msgs.write_text("\n".join(json.dumps(m, ensure_ascii=False) for m in self.msgs) + "\n", encoding="utf-8")
        db = open_ledger(self.tmp / "x.db")
        import_paths(db, [cat], kind="catalog")
        results = import_paths(db, [msgs])
        assert all(r.rows_rejected == 0 for r in results), [r.__dict__ for r in results]
        res = run_audit(db, rules=[rule], config=config or Config())
        assert not res.errors, res.errors
        return res.findings


def psns(findings):
    return {p for f in findings for p in f.psn_nos}


def day(d, hh, mm=0, ss=0):
    return f"2026-09-{d:02d} {hh:02d}:{mm:02d}:{ss:02d}"


@pytest.fixture
def led(tmp_path):
    return Ledger(tmp_path)


def test_person_frequent(led):
    sids = [led.settle(S1, "A", day(3, 9 + k), total=30) for k in range(5)]
    # family member buying too and a forgotten item: three settlements in a day
    for hh in (9, 10, 16):
        led.settle(S1, "FAMILY", day(3, hh, 30), total=40)
    for m in ("09", "10"):                      # chronic patient refilling monthly
        led.settle(S1, "CHRONIC", f"2026-{m}-05 10:00:00", [("YP1", 28)])
    found = led.audit("person_frequent")
    assert psns(found) == {"A"}
    (f,) = found
    assert f.setl_ids == sorted(sids) and f.period == "2026-09-03"
    assert f.severity == "high" and f.amount_fen == 5 * 3000


def test_person_frequent_month(led):
    sids = [led.settle(S1, "A", day(1 + 2 * k, 10), total=20) for k in range(11)]
    found = led.audit("person_frequent")
    assert [(f.psn_nos, f.period, len(f.setl_ids)) for f in found] == [(["A"], "2026-09", 11)]
    assert found[0].setl_ids == sorted(sids)


def test_person_monthly_amount(led):
    a = [led.settle(S1, "A", day(2 + 5 * k, 10), total=400) for k in range(3)]
    a.append(led.settle(S2, "A", day(20, 10), total=350))
    for m in ("09", "10"):                      # chronic patient: 2 x 300 yuan a month
        led.settle(S1, "CHRONIC", f"2026-{m}-05 10:00:00", total=300)
        led.settle(S1, "CHRONIC", f"2026-{m}-20 10:00:00", total=300)
    led.settle(S1, "ONCE", day(8, 10), total=1500)   # one large settlement: another rule's finding
    found = led.audit("person_monthly_amount")
    assert len(found) == 1
    f = found[0]
    assert f.psn_nos == ["A"] and f.store == S1 and f.period == "2026-09"
    assert f.setl_ids == sorted(a) and f.amount_fen == 155000
    assert "1550.00" in f.message_en and "1200.00" in f.message_en


def test_person_large_settlement(led):
    big = led.settle(S1, "A", day(4, 11), [("YP5", 36)])          # 2,880 yuan of 安宫牛黄丸
    led.settle(S1, "B", day(4, 12), [("YP5", 18), ("YP1", 14)])   # 1,454 yuan: expensive but ordinary
    otc = led.settle(S1, "C", day(4, 13), [("YP3", 200), ("YP4", 90)])  # 255 yuan of OTC drugs
    found = led.audit("person_large_settlement")
    assert [(f.psn_nos, f.setl_ids, f.amount_fen) for f in found] == [(["A"], [big], 288000)]
    cfg = Config(params={"person_large_settlement": {"otc_limit_fen": 20000}})
    found = led.audit("person_large_settlement", cfg)
    assert {(f.psn_nos[0], f.setl_ids[0]) for f in found} == {("A", big), ("C", otc)}


def test_night_swipe(led):
    night = [led.settle(S1, f"N{k}", day(9, 1, 2 * k), total=50) for k in range(3)]
    led.settle(S1, "DAY", day(9, 20), total=50)
    for d in (3, 9, 15):                        # the 24-hour store at night
        led.settle(S2, f"H{d}", day(d, 2, 30), total=30)
    found = led.audit("night_swipe", Config(stores_24h=(S2,)))
    assert len(found) == 1
    f = found[0]
    assert f.store == S1 and f.setl_ids == sorted(night) and f.psn_nos == ["N0", "N1", "N2"]
    assert f.severity == "medium" and f.amount_fen == 15000 and f.period == "2026-09-09"


def test_night_swipe_unconfigured_24h_store(led):
    for d in range(1, 21):                      # trades at night every day: a 24-hour store not in the config
        led.settle(S2, f"H{d}", day(d, 2, 30), total=30)
        led.settle(S2, f"D{d}", day(d, 10), total=30)
    found = led.audit("night_swipe")
    assert [(f.store, f.severity, len(f.setl_ids)) for f in found] == [(S2, "low", 20)]
    assert "stores_24h" in found[0].message_en


def test_person_multi_store(led):
    a = [led.settle(S1, "A", day(5, 10, 0), total=60), led.settle(S2, "A", day(5, 10, 30), total=70),
         led.settle(S3, "A", day(5, 11, 5), total=80)]
    led.settle(S1, "B", day(5, 9), total=40)     # two stores, hours apart
    led.settle(S2, "B", day(5, 15), total=40)
    led.settle(S1, "FAMILY", day(6, 9), total=40)
    led.settle(S1, "FAMILY", day(6, 9, 20), total=40)
    found = led.audit("person_multi_store")
    assert psns(found) == {"A"}
    assert sorted(f.store for f in found) == [S1, S2, S3]
    assert all(f.setl_ids == sorted(a) and f.severity == "high" for f in found)
    assert {f.store: f.amount_fen for f in found} == {S1: 6000, S2: 7000, S3: 8000}


def test_split_settlement(led):
    parts = [led.settle(S1, "A", day(7, 10, 3 * k), total=t) for k, t in enumerate((150, 180, 170))]
    led.settle(S1, "B", day(7, 11), total=30)     # came back for a forgotten item
    led.settle(S1, "B", day(7, 11, 5), total=20)
    led.settle(S1, "FAMILY", day(7, 9), total=150)
    led.settle(S1, "FAMILY", day(7, 15), total=150)
    led.settle(S1, "C", day(8, 8), total=250)      # one purchase above the limit, then two parts
    c_parts = [led.settle(S1, "C", day(8, 13, 4 * k), total=t) for k, t in enumerate((120, 90))]
    led.settle(S1, "D", day(8, 9), total=250)      # above the limit, and a small one right after
    led.settle(S1, "D", day(8, 9, 3), total=20)
    found = led.audit("split_settlement")
    assert [(f.psn_nos, f.setl_ids, f.severity, f.amount_fen) for f in found] == [
        (["A"], sorted(parts), "high", 50000), (["C"], sorted(c_parts), "medium", 21000)]


def test_swipe_refund_cycle(led):
    ids = []
    for d in (3, 10, 17):
        s = led.settle(S1, "A", day(d, 10), total=120)
        ids += [s, led.reverse(S1, s, "A", day(d, 10, 5), 120)]
    s = led.settle(S1, "ONCE", day(4, 10), total=50)             # one cashier's mistake
    led.reverse(S1, s, "ONCE", day(4, 10, 3), 50)
    for d in (5, 12):                                             # returns hours later
        s = led.settle(S1, "LATER", day(d, 10), total=50)
        led.reverse(S1, s, "LATER", day(d, 12), 50)
    found = led.audit("swipe_refund_cycle")
    assert len(found) == 1
    f = found[0]
    assert f.psn_nos == ["A"] and f.setl_ids == sorted(ids) and f.severity == "high"
    assert f.amount_fen == 36000 and f.items == ["YP4"]


def test_reversed_settlements_are_not_money_at_risk(led):
    for k in range(5):
        s = led.settle(S1, "A", day(3, 9 + k), total=30)
        if k < 3:
            led.reverse(S1, s, "A", day(3, 9 + k, 30), 30)
    assert led.audit("person_frequent") == []


def test_excess_supply(led):
    a = [led.settle(S1, "A", day(1 + 4 * k, 10), [("YP1", 35)]) for k in range(6)]   # 30 boxes in 21 days
    for m in ("08", "09", "10"):                                # chronic refill: 3 boxes a month
        led.settle(S1, "CHRONIC", f"2026-{m}-03 10:00:00", [("YP1", 21)])
    found = led.audit("excess_supply")
    assert len(found) == 1
    f = found[0]
    assert f.psn_nos == ["A"] and f.items == ["YP1"] and f.setl_ids == sorted(a)
    assert f.severity == "high" and f.amount_fen == 6 * 3500
    assert "30 boxes" in f.message_en


def test_card_collection(led):
    cards = [led.settle(S1, f"C{k}", day(12, 21, 30 + k // 3, (k % 3) * 20), total=60) for k in range(10)]
    for k in range(14):                         # busy morning: 14 customers, 90 s each
        led.settle(S1, f"M{k}", day(13, 8, (k * 90) // 60, (k * 90) % 60), total=40)
    found = led.audit("card_collection")
    assert len(found) == 1
    f = found[0]
    assert f.psn_nos == sorted(f"C{k}" for k in range(10)) and f.setl_ids == sorted(cards)
    assert f.severity == "high" and f.amount_fen == 60000


def test_identical_baskets(led):
    basket = [("YP1", 14), ("YP3", 20), ("YP4", 27)]
    same = [led.settle(S1, f"P{k}", day(2 + k, 10), basket) for k in range(6)]
    for k in range(8):                          # the most common purchase: one box of cold medicine
        led.settle(S1, f"Q{k}", day(2 + k, 11), [("YP4", 9)])
    for k in range(6):                          # same two items, different quantities
        led.settle(S1, f"R{k}", day(2 + k, 12), [("YP1", 7 * (k + 1)), ("YP3", 20)])
    found = led.audit("identical_baskets")
    assert len(found) == 1
    f = found[0]
    assert f.psn_nos == [f"P{k}" for k in range(6)] and f.setl_ids == sorted(same)
    assert f.items == ["YP1", "YP3", "YP4"] and f.severity == "medium"


def test_store_outlier(led):
    stores = [f"P330106900{k}" for k in range(6)]
    counts = [20, 22, 19, 21, 26, 60]           # one store far above its peers, one a bit above
    for st, n in zip(stores, counts):
        for k in range(n):
            led.settle(st, f"{st}-{k}", day(1 + k % 28, 10, k // 28), total=50)
    found = led.audit("store_outlier")
    assert [(f.store, f.period) for f in found] == [(stores[5], "2026-09")]
    assert found[0].psn_nos == [] and found[0].setl_ids == []
    assert found[0].amount_fen == 60 * 5000 - 215 * 500    # insurance above the median store (21.5 x 50 yuan)
