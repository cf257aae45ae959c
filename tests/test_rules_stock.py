"""Stock, trace-code, settlement and data-quality rules on tiny ledgers written inline.

Each rule gets one clear incident that must be found (checked the way a user would check
it: the store, the settlement ids, codes and items, the money at risk, the severity) and
legitimate look-alikes that must not be flagged (DOMAIN.md section 2): split-pack sales,
the split placeholder, returns and reversals followed by a new sale, technical
re-uploads, transfers between stores, boxes received by their case code, counts within
tolerance, and name variants of one product.

The shared catalog (tests/ledger_builder.py): A001 阿莫西林胶囊 24 capsules a box, code
prefix 8123456, 24 yuan a box; B001 布洛芬缓释胶囊 20 a box, prefix 8234567, 30 yuan;
C001 a cosmetic (not covered), 60 yuan; D001 a covered drug without a conversion ratio.
Settlements: the fund pays 80 % of the total unless a test says otherwise.
"""
from __future__ import annotations

import pytest

from invreconcile.audit import run_audit
from invreconcile.errors import ConfigError
from invreconcile.importer import import_paths
from invreconcile.ledger import open_ledger
from invreconcile.rules import load_config

from ledger_builder import (CATALOG_CSV, PLACEHOLDER, audit, build, dispense, purchase, reversal, sale, sale_return,
                            settlement, stock_change, stock_count, write)


def A(n: int) -> str:
    """Box code of A001 (prefix 8123456)."""
    return f"8123456{n:013d}"


def B(n: int) -> str:
    """Box code of B001 (prefix 8234567)."""
    return f"8234567{n:013d}"


CASE_A = "81234570000000000001"   # case code (level 3, its own prefix) holding A(101), A(102)


def T(day: int, hour: int = 10, minute: int = 0) -> str:
    return f"2026-03-{day:02d} {hour:02d}:{minute:02d}:00"


def buy(store, item, cnt, day, codes="", pric="0.50", **kw):
    return purchase(store, fixmedins_hilist_id=item, purc_retn_cnt=cnt, purc_retn_stoin_time=T(day, 9),
                    finl_trns_pric=pric, spler_name="国药控股", dynt_no=f"D-{store}-{item}-{day}",
                    drug_trac_codg=codes, **kw)


def transfer(src, dst, item, cnt, day, codes=""):
    """A chain transfer: 102 out at ``src``, 101 in at ``dst``, memo naming the other store."""
    return [stock_change(src, fixmedins_hilist_id=item, inv_chg_type=102, cnt=cnt, inv_chg_time=T(day, 8),
                         memo=f"调拨:{dst}", drug_trac_codg=codes),
            stock_change(dst, fixmedins_hilist_id=item, inv_chg_type=101, cnt=cnt, inv_chg_time=T(day, 8, 30),
                         memo=f"调拨:{src}", drug_trac_codg=codes)]


def count(store, item, cnt, day, codes=""):
    return stock_count(store, fixmedins_hilist_id=item, inv_cnt=cnt, invdate=f"2026-03-{day:02d}",
                       drug_trac_codg=codes)


def one(findings):
    assert len(findings) == 1, [(f.store, f.setl_ids, f.codes, f.items, f.message_en) for f in findings]
    return findings[0]


def none(findings):
    assert findings == [], [(f.store, f.setl_ids, f.codes, f.items, f.message_en) for f in findings]


# ---------------------------------------------------------------------------------------------
# code_resold

def test_code_resold_incident(tmp_path):
    db = build(tmp_path, {"msgs.jsonl": [
        buy("P001", "A001", 48, 1, f"{A(1)},{A(2)}"),
        *dispense("P001", "S1", T(2), "A001", 24, "1.00", A(1), psn_no="PSN1"),
        *dispense("P002", "S2", T(5), "A001", 24, "1.00", A(1), psn_no="PSN2"),
    ]})
    f = one(audit(db, "code_resold"))
    assert (f.store, f.severity, f.codes, f.setl_ids, f.items) == ("P002", "high", [A(1)], ["S1", "S2"], ["A001"])
    assert f.psn_nos == ["PSN1", "PSN2"]
    assert f.amount_fen == 1920          # S2: 24 yuan, the fund paid 80 %
    assert "another store" in f.message_en and "S1" in f.message_en


RESOLD_LOOKALIKES = {
    "split_pack_within_box": [
        buy("P001", "A001", 24, 1, A(3)),
        *dispense("P001", "S3", T(2), "A001", 12, "1.00", A(3), trdn_flag=1),
        *dispense("P001", "S4", T(3), "A001", 12, "1.00", A(3), trdn_flag=1),
    ],
    "split_pack_settlement_lines_only": [
        buy("P001", "A001", 24, 1, A(3)),
        *[settlement("P001", f"S{n}", T(2 + n), [dict(medins_list_codg="A001", cnt=8, pric="1.00", trdn_flag=1,
                                                      drug_trac_codg=A(3))]) for n in range(3)],
    ],
    "split_placeholder": [
        buy("P001", "A001", 24, 1),
        *dispense("P001", "S5", T(2), "A001", 8, "1.00", PLACEHOLDER, trdn_flag=1),
        *dispense("P001", "S6", T(3), "A001", 8, "1.00", PLACEHOLDER, trdn_flag=1),
        *dispense("P001", "S7", T(4), "A001", 8, "1.00", PLACEHOLDER, trdn_flag=1),
    ],
    "sale_return_resale": [
        buy("P001", "A001", 24, 1, A(1)),
        *dispense("P001", "S1", T(2), "A001", 24, "1.00", A(1)),
        sale_return("P001", fixmedins_hilist_id="A001", setl_id="S1", sel_retn_cnt=24, sel_retn_time=T(3),
                    finl_trns_pric="1.00", drug_trac_codg=A(1), medins_prod_sel_no="RET1"),
        *dispense("P001", "S8", T(4), "A001", 24, "1.00", A(1), psn_no="PSN2"),
    ],
    "sale_return_by_setl_id_without_code": [
        buy("P001", "A001", 24, 1, A(1)),
        *dispense("P001", "S1", T(2), "A001", 24, "1.00", A(1)),
        sale_return("P001", fixmedins_hilist_id="A001", setl_id="S1", sel_retn_cnt=24, sel_retn_time=T(3),
                    finl_trns_pric="1.00", medins_prod_sel_no="RET1"),
        *dispense("P001", "S8", T(4), "A001", 24, "1.00", A(1), psn_no="PSN2"),
    ],
    "reversal_resale": [
        buy("P001", "A001", 24, 1, A(1)),
        *dispense("P001", "S1", T(2), "A001", 24, "1.00", A(1)),
        reversal("P001", "S1", "S1R", T(2, 11)),
        *dispense("P001", "S9", T(2, 15), "A001", 24, "1.00", A(1), psn_no="PSN2"),
    ],
    "technical_reupload": [
        buy("P001", "A001", 24, 1, A(1)),
        *dispense("P001", "S1", T(2), "A001", 24, "1.00", A(1)),
        *dispense("P001", "S1", T(2), "A001", 24, "1.00", A(1)),
    ],
    "transfer_then_sale_at_other_store": [
        buy("P001", "A001", 24, 1, A(1)),
        *transfer("P001", "P002", "A001", 24, 2, A(1)),
        *dispense("P002", "S10", T(3), "A001", 24, "1.00", A(1)),
    ],
}


@pytest.mark.parametrize("case", sorted(RESOLD_LOOKALIKES))
def test_code_resold_lookalikes(tmp_path, case):
    files = {"msgs.jsonl": RESOLD_LOOKALIKES[case]}
    if case == "technical_reupload":   # the same sale and settlement again, in another file
        files["resend.jsonl"] = [*dispense("P001", "S1", T(2), "A001", 24, "1.00", A(1)),
                                 buy("P001", "B001", 20, 1, B(1))]
    none(audit(build(tmp_path, files), "code_resold"))


def test_code_resold_split_pack_beyond_box_content(tmp_path):
    """Split sales of one opened box count once the box's content is exceeded (the rule's
    own 'why'): 3 x 12 capsules from a 24-capsule box is a resold code."""
    db = build(tmp_path, {"msgs.jsonl": [
        buy("P001", "A001", 24, 1, A(3)),
        *dispense("P001", "S3", T(2), "A001", 12, "1.00", A(3), trdn_flag=1),
        *dispense("P001", "S4", T(3), "A001", 12, "1.00", A(3), trdn_flag=1),
        *dispense("P001", "S5", T(4), "A001", 12, "1.00", A(3), trdn_flag=1),
    ]})
    f = one(audit(db, "code_resold"))
    assert (f.store, f.codes, f.setl_ids) == ("P001", [A(3)], ["S3", "S5"])   # opened by S3, exceeded by S5
    assert f.amount_fen == 960


def test_code_resold_whole_box_then_split_sale(tmp_path):
    db = build(tmp_path, {"msgs.jsonl": [
        buy("P001", "A001", 24, 1, A(3)),
        *dispense("P001", "S3", T(2), "A001", 24, "1.00", A(3)),
        *dispense("P001", "S4", T(3), "A001", 6, "1.00", A(3), trdn_flag=1),
    ]})
    f = one(audit(db, "code_resold"))
    assert (f.store, f.codes, f.setl_ids) == ("P001", [A(3)], ["S3", "S4"])


# ---------------------------------------------------------------------------------------------
# code_never_received

def test_code_never_received_incident(tmp_path):
    db = build(tmp_path, {"msgs.jsonl": [
        buy("P001", "A001", 24, 1, A(1)),
        *dispense("P001", "S1", T(2), "A001", 24, "1.00", A(1)),
        *dispense("P001", "S2", T(3), "A001", 24, "1.00", A(77), psn_no="PSN7"),
    ]})
    f = one(audit(db, "code_never_received"))
    assert (f.store, f.severity, f.codes, f.setl_ids, f.items, f.psn_nos) == (
        "P001", "high", [A(77)], ["S2"], ["A001"], ["PSN7"])
    assert f.amount_fen == 1920


def test_code_never_received_twice_in_cash_sales_of_one_day_is_two_findings(tmp_path):
    """Two cash sales (no settlement) of one never-received code on one day share store,
    day, code and item: the transaction tells the findings apart."""
    cash = [sale("P001", fixmedins_hilist_id="A001", sel_retn_cnt=24, sel_retn_time=T(2, hour), finl_trns_pric="1.00",
                 rtal_docno=doc, drug_trac_codg=A(77)) for doc, hour in (("R1", 10), ("R2", 15))]
    db = build(tmp_path, {"msgs.jsonl": [buy("P001", "A001", 24, 1, A(1)), *cash]})
    found = audit(db, "code_never_received")
    assert len({f.id for f in found}) == 2
    assert sorted(f.message_en.split("(")[-1].split(")")[0] for f in found) == ["R1", "R2"]


NEVER_RECEIVED_LOOKALIKES = {
    "received_by_case_code": {
        "relations.csv": f"""\
            code,parent_code,code_level,box_amount
            {CASE_A},,3,2
            {A(101)},{CASE_A},1,1
            {A(102)},{CASE_A},1,1
            """,
        "msgs.jsonl": [buy("P001", "A001", 48, 1, CASE_A),
                       *dispense("P001", "S1", T(2), "A001", 24, "1.00", A(101))]},
    "transfer_between_stores": {"msgs.jsonl": [
        buy("P001", "A001", 48, 1, f"{A(1)},{A(2)}"),
        *transfer("P001", "P002", "A001", 24, 2, A(2)),
        *dispense("P002", "S1", T(3), "A001", 24, "1.00", A(2))]},
    "split_placeholder": {"msgs.jsonl": [
        buy("P001", "A001", 24, 1, A(1)),
        *dispense("P001", "S1", T(2), "A001", 6, "1.00", PLACEHOLDER, trdn_flag=1)]},
    "reversed_settlement": {"msgs.jsonl": [
        buy("P001", "A001", 24, 1, A(1)),
        *dispense("P001", "S1", T(2), "A001", 24, "1.00", A(55)),
        reversal("P001", "S1", "S1R", T(2, 10, 5))]},
}


@pytest.mark.parametrize("case", sorted(NEVER_RECEIVED_LOOKALIKES))
def test_code_never_received_lookalikes(tmp_path, case):
    none(audit(build(tmp_path, NEVER_RECEIVED_LOOKALIKES[case]), "code_never_received"))


# ---------------------------------------------------------------------------------------------
# code_sold_then_counted

def test_code_sold_then_counted_incident(tmp_path):
    db = build(tmp_path, {"msgs.jsonl": [
        buy("P001", "A001", 48, 1, f"{A(1)},{A(2)}"),
        *dispense("P001", "S1", T(2), "A001", 24, "1.00", A(1)),
        count("P001", "A001", 48, 5, f"{A(1)},{A(2)}"),
    ]})
    f = one(audit(db, "code_sold_then_counted"))
    assert (f.store, f.severity, f.codes, f.setl_ids, f.items) == ("P001", "high", [A(1)], ["S1"], ["A001"])
    assert (f.day_first, f.day_last, f.amount_fen) == ("2026-03-02", "2026-03-05", 1920)


SOLD_COUNTED_LOOKALIKES = {
    "split_pack_rest_of_box_on_shelf": [
        buy("P001", "A001", 24, 1, A(1)),
        *dispense("P001", "S1", T(2), "A001", 12, "1.00", A(1), trdn_flag=1),
        count("P001", "A001", 12, 5, A(1))],
    "sale_return_then_counted": [
        buy("P001", "A001", 24, 1, A(1)),
        *dispense("P001", "S1", T(2), "A001", 24, "1.00", A(1)),
        sale_return("P001", fixmedins_hilist_id="A001", setl_id="S1", sel_retn_cnt=24, sel_retn_time=T(3),
                    finl_trns_pric="1.00", drug_trac_codg=A(1), medins_prod_sel_no="RET1"),
        count("P001", "A001", 24, 5, A(1))],
    "reversal_then_counted": [
        buy("P001", "A001", 24, 1, A(1)),
        *dispense("P001", "S1", T(2), "A001", 24, "1.00", A(1)),
        reversal("P001", "S1", "S1R", T(2, 12)),
        count("P001", "A001", 24, 5, A(1))],
    "counted_before_sale": [
        buy("P001", "A001", 24, 1, A(1)),
        count("P001", "A001", 24, 1, A(1)),
        *dispense("P001", "S1", T(2), "A001", 24, "1.00", A(1))],
    "transferred_box_counted_at_other_store": [
        buy("P001", "A001", 48, 1, f"{A(1)},{A(2)}"),
        *dispense("P001", "S1", T(2), "A001", 24, "1.00", A(1)),
        *transfer("P001", "P002", "A001", 24, 3, A(2)),
        count("P002", "A001", 24, 5, A(2))],
}


@pytest.mark.parametrize("case", sorted(SOLD_COUNTED_LOOKALIKES))
def test_code_sold_then_counted_lookalikes(tmp_path, case):
    none(audit(build(tmp_path, {"msgs.jsonl": SOLD_COUNTED_LOOKALIKES[case]}), "code_sold_then_counted"))


# ---------------------------------------------------------------------------------------------
# code_product_mismatch

def test_code_product_mismatch_incident(tmp_path):
    db = build(tmp_path, {"msgs.jsonl": [
        buy("P001", "A001", 24, 1, A(1)),
        buy("P001", "B001", 20, 1, B(1)),
        *dispense("P001", "S1", T(2), "A001", 24, "1.00", B(1)),   # billed A001, box of B001 scanned
    ]})
    f = one(audit(db, "code_product_mismatch"))
    assert (f.store, f.severity, f.codes, f.setl_ids, f.items) == ("P001", "high", [B(1)], ["S1"], ["A001", "B001"])
    assert f.amount_fen == 1920
    assert "8234567" in f.message_en and "B001" in f.message_en


PRODUCT_MISMATCH_LOOKALIKES = {
    "right_product": [
        buy("P001", "A001", 24, 1, A(1)),
        *dispense("P001", "S1", T(2), "A001", 24, "1.00", A(1))],
    "split_placeholder": [
        *dispense("P001", "S1", T(2), "A001", 6, "1.00", PLACEHOLDER, trdn_flag=1)],
    "name_variant_same_item": [
        sale("P001", fixmedins_hilist_id="A001", fixmedins_hilist_name="阿莫西林胶囊(0.25克×24粒/盒)", setl_id="S1",
             sel_retn_cnt=24, sel_retn_time=T(2), finl_trns_pric="1.00", drug_trac_codg=A(1))],
}


@pytest.mark.parametrize("case", sorted(PRODUCT_MISMATCH_LOOKALIKES))
def test_code_product_mismatch_lookalikes(tmp_path, case):
    none(audit(build(tmp_path, {"msgs.jsonl": PRODUCT_MISMATCH_LOOKALIKES[case]}), "code_product_mismatch"))


def test_code_product_mismatch_box_received_by_case_code(tmp_path):
    """The store's catalog knows item E001 only by the prefix of its case code (8765430),
    the one scanned at receiving. A box of that case (prefix 8765431) is not another
    product: the relation file links it to the case. Without the relation file it would
    be reported."""
    case, box = "87654300000000000001", "87654310000000000001"
    files = {
        "catalog_p001.csv": """\
            fixmedins_code,fixmedins_hilist_id,fixmedins_hilist_name,med_list_codg,pack_unit,min_unit,convrat,trace_prefix
            P001,E001,头孢克肟分散片 0.1g*6片,XJ01DDK001A001010100001,盒,片,6,8765430
            """,
        "msgs.jsonl": [
            purchase("P001", fixmedins_hilist_id="E001", purc_retn_cnt=12, purc_retn_stoin_time=T(1),
                     finl_trns_pric="2.00", drug_trac_codg=case),
            *dispense("P001", "S1", T(2), "E001", 6, "3.00", box)]}
    relations = {"relations.csv": f"""\
            code,parent_code,code_level,box_amount
            {case},,3,2
            {box},{case},1,1
            """}
    none(audit(build(tmp_path, {**files, **relations}), "code_product_mismatch"))
    f = one(audit(build(tmp_path, files, db_name="norel.db"), "code_product_mismatch"))   # control
    assert (f.codes, f.items) == ([box], ["E001"])


# ---------------------------------------------------------------------------------------------
# codes_fewer_than_boxes

def test_codes_fewer_than_boxes_incident(tmp_path):
    db = build(tmp_path, {"msgs.jsonl": [
        buy("P001", "A001", 72, 1, f"{A(1)},{A(2)},{A(3)}"),
        *dispense("P001", "S1", T(2), "A001", 72, "1.00", A(1)),   # 3 boxes, 1 code
    ]})
    f = one(audit(db, "codes_fewer_than_boxes"))
    assert (f.store, f.severity, f.setl_ids, f.items) == ("P001", "medium", ["S1"], ["A001"])
    assert "3 boxes" in f.message_en and "only 1 distinct" in f.message_en
    assert f.amount_fen == 3840          # 2 of 3 boxes without a code: 2/3 of 57.60 yuan insured


FEWER_CODES_LOOKALIKES = {
    "every_box_scanned": [*dispense("P001", "S1", T(2), "A001", 48, "1.00", f"{A(1)},{A(2)}")],
    "codes_on_sale_only": [
        sale("P001", fixmedins_hilist_id="A001", setl_id="S1", sel_retn_cnt=48, sel_retn_time=T(2),
             finl_trns_pric="1.00", drug_trac_codg=f"{A(1)},{A(2)}"),
        settlement("P001", "S1", T(2), [dict(medins_list_codg="A001", cnt=48, pric="1.00")])],
    "split_pack_whole_box_content": [
        *dispense("P001", "S1", T(2), "A001", 24, "1.00", PLACEHOLDER, trdn_flag=1)],
    "split_pack_part_of_box": [*dispense("P001", "S1", T(2), "A001", 12, "1.00", A(1), trdn_flag=1)],
    "technical_reupload": [
        *dispense("P001", "S1", T(2), "A001", 48, "1.00", f"{A(1)},{A(2)}"),
        *dispense("P001", "S1", T(2), "A001", 48, "1.00", f"{A(1)},{A(2)}")],
    "reversed_settlement": [
        *dispense("P001", "S1", T(2), "A001", 48, "1.00", A(1)),
        reversal("P001", "S1", "S1R", T(2, 11))],
    "non_covered_goods": [*dispense("P001", "S1", T(2), "C001", 3, "60.00")],
}


@pytest.mark.parametrize("case", sorted(FEWER_CODES_LOOKALIKES))
def test_codes_fewer_than_boxes_lookalikes(tmp_path, case):
    none(audit(build(tmp_path, {"msgs.jsonl": FEWER_CODES_LOOKALIKES[case]}), "codes_fewer_than_boxes"))


# ---------------------------------------------------------------------------------------------
# expired_at_sale

def test_expired_at_sale_incident(tmp_path):
    db = build(tmp_path, {"msgs.jsonl": [
        buy("P001", "A001", 24, 1, A(1), expy_end="2026-03-10"),
        *dispense("P001", "S1", T(12), "A001", 24, "1.00", A(1)),
    ]})
    f = one(audit(db, "expired_at_sale"))
    assert (f.store, f.severity, f.codes, f.setl_ids, f.items) == ("P001", "medium", [A(1)], ["S1"], ["A001"])
    assert f.amount_fen == 1920 and "2026-03-10" in f.message_en


EXPIRED_LOOKALIKES = {
    "sold_on_the_last_valid_day": [
        buy("P001", "A001", 24, 1, A(1), expy_end="2026-03-10"),
        *dispense("P001", "S1", T(10, 21), "A001", 24, "1.00", A(1))],
    "reversed_after_expiry": [
        buy("P001", "A001", 24, 1, A(1), expy_end="2026-03-10"),
        *dispense("P001", "S1", T(12), "A001", 24, "1.00", A(1)),
        reversal("P001", "S1", "S1R", T(12, 10, 10))],
    "transferred_box_in_date": [
        buy("P001", "A001", 24, 1, A(1), expy_end="2027-12-31"),
        *transfer("P001", "P002", "A001", 24, 2, A(1)),
        *dispense("P002", "S1", T(12), "A001", 24, "1.00", A(1))],
    "split_placeholder_other_box_expired": [
        buy("P001", "A001", 24, 1, A(1), expy_end="2026-03-01"),
        buy("P001", "A001", 24, 2, A(2), expy_end="2027-12-31"),
        *dispense("P001", "S1", T(12), "A001", 6, "1.00", PLACEHOLDER, trdn_flag=1)],
}


@pytest.mark.parametrize("case", sorted(EXPIRED_LOOKALIKES))
def test_expired_at_sale_lookalikes(tmp_path, case):
    none(audit(build(tmp_path, {"msgs.jsonl": EXPIRED_LOOKALIKES[case]}), "expired_at_sale"))


# ---------------------------------------------------------------------------------------------
# product_barcode_as_code

def test_product_barcode_as_code_incident(tmp_path):
    db = build(tmp_path, {
        "msgs.jsonl": [*dispense("P001", "S1", T(2), "A001", 24, "1.00", "6901234567892")],
        # the same sale exported again from the till as CSV: the same event, one finding
        "sales_3505.csv": """\
            定点机构编码,商品编码,商品名称,结算ID,数量,单位,单价,销售时间,追溯码,零售单号
            P001,A001,阿莫西林胶囊 0.25g*24粒,S1,1,盒,24.00,2026-03-02 10:00:00,6901234567892,RS1
            """})
    f = one(audit(db, "product_barcode_as_code"))
    assert (f.store, f.severity, f.codes, f.setl_ids, f.items) == ("P001", "low", ["6901234567892"], ["S1"], ["A001"])
    assert "ean13" in f.message_en


def test_product_barcode_as_code_lookalikes(tmp_path):
    db = build(tmp_path, {"msgs.jsonl": [
        *dispense("P001", "S1", T(2), "A001", 24, "1.00", A(1)),
        *dispense("P001", "S2", T(3), "A001", 6, "1.00", PLACEHOLDER, trdn_flag=1),
        buy("P001", "A001", 24, 1, "6901234567892"),      # a receipt is not a dispensing event
    ]})
    none(audit(db, "product_barcode_as_code"))


# ---------------------------------------------------------------------------------------------
# negative_stock

def test_negative_stock_incident(tmp_path):
    db = build(tmp_path, {"msgs.jsonl": [
        buy("P001", "A001", 24, 1),
        *dispense("P001", "S1", T(2), "A001", 24, "1.00"),
        *dispense("P001", "S2", T(3), "A001", 24, "1.00"),
        *dispense("P001", "S3", T(4), "A001", 24, "1.00"),    # 48 capsules more than ever came in
    ]})
    f = one(audit(db, "negative_stock"))
    assert (f.store, f.severity, f.items) == ("P001", "high", ["A001"])
    assert f.setl_ids == ["S3"]          # S2 brings stock to -24: within the 1-box tolerance
    assert f.amount_fen == 1920
    assert "-48" in f.message_en


NEGATIVE_LOOKALIKES = {
    "transfer_in_then_sale": [
        buy("P001", "A001", 48, 1),
        *transfer("P001", "P002", "A001", 48, 2),
        *dispense("P002", "S1", T(3), "A001", 48, "1.00")],
    "sale_return_resale": [
        buy("P001", "A001", 24, 1, A(1)),
        *dispense("P001", "S1", T(2), "A001", 24, "1.00", A(1)),
        sale_return("P001", fixmedins_hilist_id="A001", setl_id="S1", sel_retn_cnt=24, sel_retn_time=T(3),
                    finl_trns_pric="1.00", drug_trac_codg=A(1), medins_prod_sel_no="RET1"),
        *dispense("P001", "S2", T(4), "A001", 24, "1.00", A(1))],
    "technical_reupload": [
        buy("P001", "A001", 24, 1),
        *dispense("P001", "S1", T(2), "A001", 24, "1.00"),
        *dispense("P001", "S1", T(2), "A001", 24, "1.00"),
        *dispense("P001", "S1", T(2), "A001", 24, "1.00")],
    "split_pack_within_box": [
        buy("P001", "A001", 24, 1, A(1)),
        *dispense("P001", "S1", T(2), "A001", 12, "1.00", A(1), trdn_flag=1),
        *dispense("P001", "S2", T(3), "A001", 12, "1.00", PLACEHOLDER, trdn_flag=1)],
    "shortfall_within_tolerance": [
        buy("P001", "A001", 24, 1),
        *dispense("P001", "S1", T(2), "A001", 48, "1.00")],
}


@pytest.mark.parametrize("case", sorted(NEGATIVE_LOOKALIKES))
def test_negative_stock_lookalikes(tmp_path, case):
    none(audit(build(tmp_path, {"msgs.jsonl": NEGATIVE_LOOKALIKES[case]}), "negative_stock"))


# ---------------------------------------------------------------------------------------------
# count_surplus

def test_count_surplus_incident(tmp_path):
    db = build(tmp_path, {"msgs.jsonl": [
        buy("P001", "A001", 240, 1),
        *[m for n in range(5) for m in dispense("P001", f"S{n}", T(2 + n), "A001", 24, "1.00")],
        count("P001", "A001", 192, 10),        # 8 boxes on the shelf, 5 in the books
    ]})
    f = one(audit(db, "count_surplus"))
    assert (f.store, f.severity, f.items, f.day_first) == ("P001", "medium", ["A001"], "2026-03-10")
    assert f.amount_fen == 7200               # 72 capsules at 1 yuan
    assert "counted 192, book 120" in f.message_en


def test_count_surplus_high_value(tmp_path):
    db = build(tmp_path, {"msgs.jsonl": [
        buy("P001", "B001", 400, 1, pric="1.00"),
        *[m for n in range(20) for m in dispense("P001", f"S{n}", T(2, 8 + n // 4, n % 4 * 10), "B001", 20, "1.50")],
        count("P001", "B001", 400, 10),        # nothing left the shelf: 600 yuan surplus
    ]})
    f = one(audit(db, "count_surplus"))
    assert (f.severity, f.amount_fen) == ("high", 60000)


SURPLUS_LOOKALIKES = {
    "count_within_tolerance": [
        buy("P001", "A001", 240, 1),
        *dispense("P001", "S1", T(2), "A001", 120, "1.00"),
        count("P001", "A001", 130, 10)],           # 10 capsules over: less than a box
    "gap_already_reported_at_previous_count": [
        buy("P001", "A001", 240, 1),
        *dispense("P001", "S1", T(2), "A001", 120, "1.00"),
        count("P001", "A001", 120, 10),
        count("P001", "A001", 120, 20)],
    "transfer_in_counted": [
        buy("P001", "A001", 240, 1),
        *transfer("P001", "P002", "A001", 120, 2),
        count("P002", "A001", 120, 10),
        count("P001", "A001", 120, 10)],
    "technical_reupload_of_sale": [
        buy("P001", "A001", 240, 1),
        *dispense("P001", "S1", T(2), "A001", 120, "1.00"),
        *dispense("P001", "S1", T(2), "A001", 120, "1.00"),
        count("P001", "A001", 120, 10)],
    "sale_return_back_on_shelf": [
        buy("P001", "A001", 240, 1),
        *dispense("P001", "S1", T(2), "A001", 120, "1.00"),
        sale_return("P001", fixmedins_hilist_id="A001", setl_id="S1", sel_retn_cnt=120, sel_retn_time=T(3),
                    finl_trns_pric="1.00", medins_prod_sel_no="RET1"),
        count("P001", "A001", 240, 10)],
}


@pytest.mark.parametrize("case", sorted(SURPLUS_LOOKALIKES))
def test_count_surplus_lookalikes(tmp_path, case):
    none(audit(build(tmp_path, {"msgs.jsonl": SURPLUS_LOOKALIKES[case]}), "count_surplus"))


# ---------------------------------------------------------------------------------------------
# count_shortage

def test_count_shortage_incident(tmp_path):
    db = build(tmp_path, {"msgs.jsonl": [
        buy("P001", "B001", 200, 1, pric="1.00"),
        *dispense("P001", "S1", T(2), "B001", 40, "1.50"),
        count("P001", "B001", 60, 10),         # book 160, 100 capsules (5 boxes) gone without a sale
    ]})
    f = one(audit(db, "count_shortage"))
    assert (f.store, f.severity, f.items, f.day_first) == ("P001", "low", ["B001"], "2026-03-10")
    assert f.amount_fen == 0                    # no insurance money in a shortage
    assert "100 units missing" in f.message_en and "150.00 yuan" in f.message_en


SHORTAGE_LOOKALIKES = {
    "cheap_count_slip": [
        buy("P001", "A001", 240, 1),
        count("P001", "A001", 216, 10)],            # one box short: 24 yuan, under 100
    "transfer_out": [
        buy("P001", "B001", 200, 1, pric="1.00"),
        *transfer("P001", "P002", "B001", 100, 2),
        count("P001", "B001", 100, 10),
        count("P002", "B001", 100, 10)],
    "technical_reupload_of_purchase": [
        buy("P001", "B001", 200, 1, pric="1.00"),
        buy("P001", "B001", 200, 1, pric="1.00"),
        count("P001", "B001", 200, 10)],
    "split_pack_sales": [
        buy("P001", "B001", 200, 1, B(1), pric="1.00"),
        *dispense("P001", "S1", T(2), "B001", 5, "1.50", B(1), trdn_flag=1),
        *dispense("P001", "S2", T(3), "B001", 5, "1.50", PLACEHOLDER, trdn_flag=1),
        count("P001", "B001", 190, 10)],
}


@pytest.mark.parametrize("case", sorted(SHORTAGE_LOOKALIKES))
def test_count_shortage_lookalikes(tmp_path, case):
    none(audit(build(tmp_path, {"msgs.jsonl": SHORTAGE_LOOKALIKES[case]}), "count_shortage"))


# ---------------------------------------------------------------------------------------------
# settlement_without_sale

def test_settlement_without_sale_incident(tmp_path):
    db = build(tmp_path, {"msgs.jsonl": [
        *dispense("P001", "S1", T(2), "A001", 24, "1.00", A(1)),
        settlement("P001", "S2", T(3), [dict(medins_list_codg="B001", cnt=40, pric="1.50")], psn_no="PSN9"),
    ]})
    f = one(audit(db, "settlement_without_sale"))
    assert (f.store, f.severity, f.setl_ids, f.items, f.psn_nos) == ("P001", "high", ["S2"], ["B001"], ["PSN9"])
    assert f.amount_fen == 4800                 # 80 % of 60 yuan


def test_settlement_without_sale_settled_more_than_sold(tmp_path):
    db = build(tmp_path, {"msgs.jsonl": [
        sale("P001", fixmedins_hilist_id="A001", setl_id="S1", sel_retn_cnt=24, sel_retn_time=T(2),
             finl_trns_pric="1.00", drug_trac_codg=A(1)),
        settlement("P001", "S1", T(2), [dict(medins_list_codg="A001", cnt=72, pric="1.00", drug_trac_codg=A(1))]),
    ]})
    f = one(audit(db, "settlement_without_sale"))
    assert (f.setl_ids, f.items) == (["S1"], ["A001"])
    assert f.amount_fen == 3840                 # 48 of 72 capsules unsold: 2/3 of 57.60
    assert "settled 72 units" in f.message_en and "sale has 24" in f.message_en


SETTLEMENT_NO_SALE_LOOKALIKES = {
    "reversed_settlement": [
        *dispense("P001", "S1", T(2), "A001", 24, "1.00", A(1)),
        settlement("P001", "S2", T(3), [dict(medins_list_codg="A001", cnt=24, pric="1.00")]),
        reversal("P001", "S2", "S2R", T(3, 10, 2))],
    "technical_reupload": [
        *dispense("P001", "S1", T(2), "A001", 24, "1.00", A(1)),
        settlement("P001", "S1", T(2), [dict(medins_list_codg="A001", cnt=24, pric="1.00", trdn_flag=0,
                                             drug_trac_codg=A(1))])],
    "name_variant_other_item_id": [
        sale("P001", fixmedins_hilist_id="POS-0001", fixmedins_hilist_name="阿莫西林胶囊 0.25g*24粒", setl_id="S1",
             sel_retn_cnt=24, sel_retn_time=T(2), finl_trns_pric="1.00", drug_trac_codg=A(1)),
        settlement("P001", "S1", T(2), [dict(medins_list_codg="A001", medins_list_name="阿莫西林胶囊(0.25克×24粒/盒)",
                                             cnt=24, pric="1.00", drug_trac_codg=A(1))])],
    "sale_in_boxes_settlement_in_capsules": [
        sale("P001", fixmedins_hilist_id="A001", setl_id="S1", sel_retn_cnt=2, unit="盒", sel_retn_time=T(2),
             finl_trns_pric="24.00", drug_trac_codg=f"{A(1)},{A(2)}"),
        settlement("P001", "S1", T(2), [dict(medins_list_codg="A001", cnt=48, pric="1.00")])],
    "split_pack": [*dispense("P001", "S1", T(2), "A001", 12, "1.00", PLACEHOLDER, trdn_flag=1)],
}


@pytest.mark.parametrize("case", sorted(SETTLEMENT_NO_SALE_LOOKALIKES))
def test_settlement_without_sale_lookalikes(tmp_path, case):
    none(audit(build(tmp_path, {"msgs.jsonl": SETTLEMENT_NO_SALE_LOOKALIKES[case]}), "settlement_without_sale"))


# ---------------------------------------------------------------------------------------------
# price_markup

def test_price_markup_incident(tmp_path):
    db = build(tmp_path, {"msgs.jsonl": [
        buy("P001", "A001", 240, 1, pric="0.50"),
        *dispense("P001", "S1", T(2), "A001", 24, "1.00", A(1)),    # billed at twice the purchase price
    ]})
    f = one(audit(db, "price_markup"))
    assert (f.store, f.severity, f.setl_ids, f.items, f.period) == ("P001", "medium", ["S1"], ["A001"], "2026-03")
    assert f.amount_fen == 480                  # 19.20 insured x (1.00 - 1.5 x 0.50) / 1.00
    assert "2.0 times" in f.message_en


PRICE_LOOKALIKES = {
    "within_ratio": {"msgs.jsonl": [
        buy("P001", "A001", 240, 1, pric="0.50"),
        *dispense("P001", "S1", T(2), "A001", 24, "0.70", A(1))]},
    "purchase_and_bill_in_boxes": {
        "purchases_3503.csv": """\
            定点机构编码,商品编码,商品名称,采购数量,单位,采购价,入库时间,供应商
            P001,A001,阿莫西林胶囊(0.25克×24粒/盒),10,盒,18.00,2026-03-01 09:00:00,国药控股
            """,
        "settlement_lines.csv": """\
            定点机构编码,结算ID,费用明细流水号,商品编码,商品名称,数量,单位,单价,费用发生时间
            P001,S1,1,A001,阿莫西林胶囊(0.25克×24粒/盒),1,盒,24.00,2026-03-02 10:00:00
            """,
        "msgs.jsonl": [sale("P001", fixmedins_hilist_id="A001", setl_id="S1", sel_retn_cnt=1, unit="盒",
                            sel_retn_time=T(2), finl_trns_pric="24.00", drug_trac_codg=A(1))]},
    "transferred_stock_priced_at_chain_purchase": {"msgs.jsonl": [
        buy("P001", "A001", 240, 1, pric="0.80"),
        *transfer("P001", "P002", "A001", 120, 2),
        *dispense("P002", "S1", T(3), "A001", 24, "1.00", A(1))]},
    "reversed_settlement": {"msgs.jsonl": [
        buy("P001", "A001", 240, 1, pric="0.50"),
        *dispense("P001", "S1", T(2), "A001", 24, "1.00", A(1)),
        reversal("P001", "S1", "S1R", T(2, 10, 3))]},
}


@pytest.mark.parametrize("case", sorted(PRICE_LOOKALIKES))
def test_price_markup_lookalikes(tmp_path, case):
    none(audit(build(tmp_path, PRICE_LOOKALIKES[case]), "price_markup"))


# ---------------------------------------------------------------------------------------------
# name_mismatch

def test_name_mismatch_incident(tmp_path):
    db = build(tmp_path, {"msgs.jsonl": [
        sale("P001", fixmedins_hilist_id="C001", setl_id="S1", sel_retn_cnt=1, sel_retn_time=T(2),
             finl_trns_pric="60.00"),
        settlement("P001", "S1", T(2), [dict(medins_list_codg="A001", cnt=48, pric="1.25", drug_trac_codg=A(1))]),
    ]})
    f = one(audit(db, "name_mismatch"))
    assert (f.store, f.severity, f.setl_ids, f.items) == ("P001", "medium", ["S1"], ["A001", "C001"])
    assert f.amount_fen == 4800
    assert "保湿面霜" in f.message_zh and "阿莫西林胶囊" in f.message_zh


NAME_LOOKALIKES = {
    "spec_written_differently": [
        sale("P001", fixmedins_hilist_id="POS-0001", fixmedins_hilist_name="阿莫西林胶囊 0.25g*24粒", setl_id="S1",
             sel_retn_cnt=24, sel_retn_time=T(2), finl_trns_pric="1.00", drug_trac_codg=A(1)),
        settlement("P001", "S1", T(2), [dict(medins_list_codg="A001", medins_list_name="阿莫西林胶囊(0.25克×24粒/盒)",
                                             cnt=24, pric="1.00", drug_trac_codg=A(1))])],
    "same_item_id": [*dispense("P001", "S1", T(2), "A001", 24, "1.00", A(1))],
    "reversed_settlement": [
        sale("P001", fixmedins_hilist_id="C001", setl_id="S1", sel_retn_cnt=1, sel_retn_time=T(2),
             finl_trns_pric="60.00"),
        settlement("P001", "S1", T(2), [dict(medins_list_codg="A001", cnt=48, pric="1.25")]),
        reversal("P001", "S1", "S1R", T(2, 10, 1))],
}


@pytest.mark.parametrize("case", sorted(NAME_LOOKALIKES))
def test_name_mismatch_lookalikes(tmp_path, case):
    none(audit(build(tmp_path, {"msgs.jsonl": NAME_LOOKALIKES[case]}), "name_mismatch"))


# ---------------------------------------------------------------------------------------------
# covered_surplus_noncovered_shortage

def test_covered_surplus_noncovered_shortage_incident(tmp_path):
    db = build(tmp_path, {"msgs.jsonl": [
        buy("P001", "A001", 240, 1),
        buy("P001", "C001", 5, 1, pric="30.00"),
        *[m for n in range(5) for m in dispense("P001", f"S{n}", T(2 + n), "A001", 24, "1.00")],
        count("P001", "A001", 168, 10),         # 2 boxes of the drug still there: 48 yuan
        count("P001", "C001", 4, 10),           # one face cream gone without a sale: 60 yuan
    ]})
    f = one(audit(db, "covered_surplus_noncovered_shortage"))
    assert (f.store, f.severity, f.items, f.day_first) == ("P001", "high", ["A001", "C001"], "2026-03-10")
    assert f.amount_fen == 4800
    assert "A001" in f.message_en and "C001" in f.message_en


COVERED_NONCOVERED_LOOKALIKES = {
    "noncovered_shortage_books_right_for_drug": [
        buy("P001", "A001", 240, 1),
        buy("P001", "C001", 5, 1, pric="30.00"),
        *dispense("P001", "S1", T(2), "A001", 120, "1.00"),
        count("P001", "A001", 120, 10),
        count("P001", "C001", 4, 10)],
    "noncovered_sold_at_the_till": [
        buy("P001", "A001", 240, 1),
        buy("P001", "C001", 5, 1, pric="30.00"),
        *dispense("P001", "S1", T(2), "A001", 120, "1.00"),
        sale("P001", fixmedins_hilist_id="C001", sel_retn_cnt=1, sel_retn_time=T(3), finl_trns_pric="60.00",
             rtal_docno="CASH1"),
        count("P001", "A001", 168, 10),
        count("P001", "C001", 4, 10)],
    "counts_on_different_days": [
        buy("P001", "A001", 240, 1),
        buy("P001", "C001", 5, 1, pric="30.00"),
        *dispense("P001", "S1", T(2), "A001", 120, "1.00"),
        count("P001", "A001", 168, 10),
        count("P001", "C001", 4, 20)],
}


@pytest.mark.parametrize("case", sorted(COVERED_NONCOVERED_LOOKALIKES))
def test_covered_surplus_noncovered_shortage_lookalikes(tmp_path, case):
    none(audit(build(tmp_path, {"msgs.jsonl": COVERED_NONCOVERED_LOOKALIKES[case]}),
               "covered_surplus_noncovered_shortage"))


# ---------------------------------------------------------------------------------------------
# data-quality notices

def test_dq_unconverted_quantity(tmp_path):
    db = build(tmp_path, {"sales_3505.csv": """\
        定点机构编码,商品编码,商品名称,数量,单位,单价,销售时间,零售单号
        P001,D001,维生素C片 100mg*100片,2,瓶,10.00,2026-03-02 10:00:00,R1
        P001,D001,维生素C片 100mg*100片,30,片,0.10,2026-03-02 11:00:00,R2
        P001,A001,阿莫西林胶囊 0.25g*24粒,2,盒,24.00,2026-03-02 12:00:00,R3
        """})
    f = one(audit(db, "dq_unconverted_quantity"))
    assert (f.store, f.severity, f.items, f.amount_fen) == ("P001", "low", ["D001"], 0)
    assert "1 rows" in f.message_en and "瓶" in f.message_en
    assert [e["src_row"] for e in f.evidence] == [2]
    assert db.conn.execute("SELECT qty FROM sales WHERE rtal_docno = 'R3'").fetchone()[0] == 48


def test_dq_missing_time(tmp_path):
    db = build(tmp_path, {
        "sales_3505.csv": """\
            定点机构编码,商品编码,商品名称,结算ID,数量,单价,销售时间,零售单号
            P001,A001,阿莫西林胶囊 0.25g*24粒,S1,24,1.00,,R1
            P001,A001,阿莫西林胶囊 0.25g*24粒,S2,24,1.00,20260302103000,R2
            """,
        "msgs.jsonl": [count("P001", "A001", 24, 31)]})     # a count dated by day has a time
    f = one(audit(db, "dq_missing_time"))
    assert (f.store, f.severity, f.setl_ids, f.amount_fen) == ("P001", "low", ["S1"], 0)
    assert "1 rows of sales" in f.message_en


def test_dq_settlement_unbalanced(tmp_path):
    db = build(tmp_path, {"msgs.jsonl": [
        settlement("P001", "S1", T(2), [dict(medins_list_codg="A001", cnt=24, pric="1.00")],
                   medfee_sumamt="100.00", fund_pay_sumamt="80.00", psn_part_amt="20.00"),
        # rounding within the 1-yuan tolerance
        settlement("P001", "S2", T(2), [dict(medins_list_codg="A001", cnt=24, pric="1.00")],
                   medfee_sumamt="24.40", fund_pay_sumamt="19.50", psn_part_amt="4.90"),
        # the same settlement uploaded twice: its lines are not added twice
        settlement("P001", "S3", T(3), [dict(medins_list_codg="B001", cnt=20, pric="1.50")]),
        settlement("P001", "S3", T(3), [dict(medins_list_codg="B001", cnt=20, pric="1.50")]),
        # a header without lines whose parts add up
        {"infno": "2102", "fixmedins_code": "P001", "input": {"setlinfo": {
            "setl_id": "S4", "setl_time": T(4), "medfee_sumamt": "50.00", "fund_pay_sumamt": "40.00",
            "psn_part_amt": "10.00"}}},
        reversal("P001", "S3", "S3R", T(5)),
    ]})
    f = one(audit(db, "dq_settlement_unbalanced"))
    assert (f.store, f.severity, f.setl_ids, f.amount_fen) == ("P001", "low", ["S1"], 0)
    assert "total 100.00 yuan, lines add up to 24.00 yuan" in f.message_en


def test_dq_store_without_stock_data(tmp_path):
    db = build(tmp_path, {"msgs.jsonl": [
        *dispense("P001", "S1", T(2), "A001", 24, "1.00", A(1)),
        settlement("P009", "S2", T(2), [dict(medins_list_codg="A001", cnt=24, pric="1.00")]),
        settlement("P009", "S3", T(3), [dict(medins_list_codg="A001", cnt=24, pric="1.00")]),
        # P002 sells only goods it received by transfer: it has stock data
        *transfer("P001", "P002", "A001", 24, 1),
        *dispense("P002", "S4", T(2), "A001", 24, "1.00", A(2)),
    ]})
    f = one(audit(db, "dq_store_without_stock_data"))
    assert (f.store, f.severity, f.amount_fen) == ("P009", "low", 0)
    assert "2 settlements (insurance paid 38.40 yuan)" in f.message_en


# ---------------------------------------------------------------------------------------------
# determinism and configuration

def _mixed_files():
    return {
        "relations.csv": f"""\
            code,parent_code,code_level,box_amount
            {CASE_A},,3,2
            {A(101)},{CASE_A},1,1
            {A(102)},{CASE_A},1,1
            """,
        "msgs.jsonl": [
            buy("P001", "A001", 48, 1, CASE_A, pric="0.50"),
            buy("P001", "B001", 200, 1, pric="1.00"),
            *dispense("P001", "S1", T(2), "A001", 24, "1.00", A(101)),
            *dispense("P002", "S2", T(3), "A001", 24, "1.00", A(101)),
            *dispense("P001", "S3", T(4), "A001", 72, "1.00", A(102)),
            settlement("P001", "S4", T(5), [dict(medins_list_codg="B001", cnt=40, pric="1.50")]),
            count("P001", "A001", 24, 10, A(102)),
            count("P001", "B001", 60, 10),
        ]}


def test_audit_is_deterministic(tmp_path):
    paths = write(tmp_path / "in", {"catalog.csv": CATALOG_CSV, **_mixed_files()})
    db = open_ledger(tmp_path / "x.db")
    import_paths(db, paths)
    first, again = run_audit(db), run_audit(db)
    fresh_db = open_ledger(tmp_path / "y.db")
    import_paths(fresh_db, list(reversed(paths)))      # catalogs are imported first whatever the order
    fresh = run_audit(fresh_db)
    assert first.errors == {} and fresh.errors == {}
    assert {f.rule for f in first.findings} >= {"code_resold", "codes_fewer_than_boxes", "settlement_without_sale",
                                                "code_sold_then_counted", "count_shortage"}
    ids = [f.id for f in first.findings]
    assert ids == [f.id for f in again.findings] == [f.id for f in fresh.findings]
    assert [f.as_dict() for f in first.findings] == [f.as_dict() for f in again.findings] \
        == [f.as_dict() for f in fresh.findings]
    assert [r[0] for r in db.conn.execute("SELECT id FROM findings ORDER BY ord")] == ids


def test_config_overrides_a_parameter(tmp_path):
    db = build(tmp_path, {"msgs.jsonl": SHORTAGE_LOOKALIKES["cheap_count_slip"]})
    none(audit(db, "count_shortage"))
    cfg_path = tmp_path / "audit.toml"
    cfg_path.write_text("[rules.count_shortage]\nmin_value_yuan = 10\n", encoding="utf-8")
    f = one(audit(db, "count_shortage", config=load_config(cfg_path)))
    assert (f.items, f.store) == (["A001"], "P001")
    assert "24 units missing" in f.message_en


def test_config_unknown_rule_or_parameter(tmp_path):
    bad_rule = tmp_path / "rule.toml"
    bad_rule.write_text("[rules.count_shortages]\nmin_value_yuan = 10\n", encoding="utf-8")
    with pytest.raises(ConfigError) as exc:
        load_config(bad_rule)
    assert "count_shortages" in str(exc.value) and "count_shortage," in str(exc.value)
    assert "negative_stock" in str(exc.value)

    bad_param = tmp_path / "param.toml"
    bad_param.write_text("[rules.count_shortage]\nmin_yuan = 10\n", encoding="utf-8")
    with pytest.raises(ConfigError) as exc:
        load_config(bad_param)
    assert "min_yuan" in str(exc.value)
    assert "Known: min_value_yuan, min_boxes" in str(exc.value)
