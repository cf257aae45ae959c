import csv
import hashlib
import io
import json
from pathlib import Path

import pandas as pd
import pytest

from invreconcile.evaluation import PATTERN_RULES, evaluate, format_report
from invreconcile.sample import PATTERNS, generate

SMALL = dict(stores=4, days=35, customers=120, items=50, clean_stores=1, seed=7)


def _digest(d: Path) -> dict:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(d.iterdir())}


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    d = tmp_path_factory.mktemp("s1")
    summary = generate(d, **SMALL)
    return d, summary, json.loads((d / "ground_truth.json").read_text(encoding="utf-8"))


def test_deterministic(small, tmp_path):
    d, _, _ = small
    generate(tmp_path, **SMALL)
    assert _digest(d) == _digest(tmp_path)
    other = tmp_path / "o"
    generate(other, **dict(SMALL, seed=8))
    assert _digest(other)["settlements.jsonl"] != _digest(d)["settlements.jsonl"]


def test_files_parse(small):
    d, summary, _ = small
    kinds = set()
    for p in d.iterdir():
        if p.suffix == ".jsonl":
            for line in p.read_text(encoding="utf-8").splitlines():
                m = json.loads(line)
                assert m["infno"][:4] in {"3501", "3502", "3503", "3505", "3506", "2102", "2103"}
                assert m["fixmedins_code"].startswith("P")
                kinds.add(m["infno"][:4])
        elif p.suffix == ".csv":
            enc = "gb18030" if p.name.endswith("_sale.csv") else "utf-8"
            rows = list(csv.reader(io.StringIO(p.read_bytes().decode(enc))))
            assert len(rows) > 1
            if enc == "gb18030":
                assert rows[0][:3] == ["门店编码", "零售单号", "销售时间"]
        elif p.suffix == ".xlsx":
            df = pd.read_excel(p)
            assert "采购数量" in df.columns and set(df["单位"].dropna()) <= {"盒", "瓶", "罐", "台", "袋", "支", "个", "桶", "包"}
    assert {"3501", "3502", "3503", "3505", "2102", "2103"} <= kinds
    assert sum(summary["files"].values()) > 1000


def test_money_adds_up(small):
    d, _, _ = small
    for line in (d / "settlements.jsonl").read_text(encoding="utf-8").splitlines():
        s = json.loads(line)["input"]
        h = s["setlinfo"]
        assert round(h["fund_pay_sumamt"] + h["psn_part_amt"], 2) == h["medfee_sumamt"]
        assert round(h["acct_pay"] + h["psn_cash_pay"], 2) == h["psn_part_amt"]
        assert round(sum(x["det_item_fee_sumamt"] for x in s["drugdetail"]), 2) == h["medfee_sumamt"]


def test_incidents_exist_in_files(small):
    d, _, gt = small
    blob = "\n".join(p.read_text(encoding="utf-8") for p in d.iterdir() if p.suffix == ".jsonl")
    blob += "\n".join(p.read_bytes().decode("gb18030") for p in d.glob("*_sale.csv"))
    clean = {s["store"] for s in gt["stores"] if s["clean"]}
    assert clean
    assert gt["incidents"]
    for inc in gt["incidents"]:
        assert inc["store"] not in clean
        assert inc["pattern"] in PATTERNS and inc["pattern"] in PATTERN_RULES
        assert inc["setl_ids"] or inc["codes"]
        for x in inc["setl_ids"] + inc["codes"]:
            assert x in blob, (inc["id"], x)
        assert inc["period"][:4] == "2026"
    # every pattern is injected at least once with these parameters
    assert {i["pattern"] for i in gt["incidents"]} >= set(PATTERNS) - {"multi_store"}


def test_no_fraud_means_no_incidents(tmp_path):
    s = generate(tmp_path, stores=2, days=5, customers=30, items=20, fraud=False)
    gt = json.loads((tmp_path / "ground_truth.json").read_text(encoding="utf-8"))
    assert gt["incidents"] == [] and all(st["clean"] for st in gt["stores"])
    assert s["rows"]["settlement"] > 0


def test_scaling_is_roughly_linear(tmp_path):
    base = dict(stores=3, items=40, clean_stores=3, fraud=False)
    a = generate(tmp_path / "a", days=20, customers=200, **base)["rows"]
    b = generate(tmp_path / "b", days=40, customers=200, **base)["rows"]
    c = generate(tmp_path / "c", days=20, customers=400, **base)["rows"]
    for big in (b, c):
        for kind in ("settlement", "sale"):
            assert 1.6 < big[kind] / a[kind] < 2.5, (kind, a[kind], big[kind])


def test_evaluator_numbers():
    gt = {"stores": [{"store": "P1", "clean": False}, {"store": "P2", "clean": True}],
          "incidents": [
              {"id": "r1", "pattern": "resold_code", "store": "P1", "setl_ids": ["S1"], "codes": ["C1"],
               "psn_nos": [], "items": ["I1"]},
              {"id": "p1", "pattern": "phantom_sale", "store": "P1", "setl_ids": ["S2"], "codes": ["C2", "C3"],
               "psn_nos": [], "items": ["I2"]},
              {"id": "f1", "pattern": "frequent_swipes", "store": "P1", "setl_ids": ["S3", "S4"], "codes": [],
               "psn_nos": ["U1"], "items": []},
              {"id": "o1", "pattern": "store_outlier", "store": "P1", "setl_ids": ["S5"], "codes": [],
               "psn_nos": [], "items": []}],
          "lookalikes": [{"kind": "split_pack", "store": "P2", "setl_ids": ["S9"], "codes": ["C9"],
                          "psn_nos": [], "items": []}]}
    findings = [
        {"id": "a", "rule": "code_resold", "store": "P1", "codes": ["C1"], "severity": "high"},
        {"id": "b", "rule": "count_surplus", "store": "P1", "items": ["I2"], "severity": "medium"},   # via store+item
        {"id": "c", "rule": "night_swipe", "store": "P1", "psn_nos": ["U1"], "severity": "medium"},  # true, wrong rule
        {"id": "d", "rule": "code_resold", "store": "P2", "codes": ["C9"], "severity": "high"},      # false, look-alike
        {"id": "e", "rule": "count_surplus", "store": "P1", "items": ["I7"], "severity": "low"},     # false
        {"id": "f", "rule": "store_outlier", "store": "P1", "severity": "medium"},                  # store-level
        {"id": "g", "rule": "dq_unknown_item", "store": "P2", "severity": "low"},
    ]
    r = evaluate(gt, findings)
    assert r["patterns"]["resold_code"] == dict(r["patterns"]["resold_code"], injected=1, found=1, recall=1.0)
    assert r["patterns"]["phantom_sale"]["recall"] == 1.0
    assert r["patterns"]["frequent_swipes"]["recall"] == 0.0
    assert r["patterns"]["store_outlier"]["found"] == 1
    assert r["overall"] == {"incidents": 4, "found": 3, "recall": 0.75, "findings": 6, "true": 4, "false": 2,
                            "precision": round(4 / 6, 4)}
    assert r["rules"]["code_resold"]["precision"] == 0.5 and r["rules"]["count_surplus"]["false"] == 1
    assert r["dq"] == {"dq_unknown_item": 1}
    assert r["clean_stores"] == {"stores": ["P2"], "medium_or_high": 1, "high": 1}
    assert r["false_on_lookalikes"] == {"split_pack": 1}
    for lang in ("en", "zh"):
        assert "resold_code" in format_report(r, lang)
