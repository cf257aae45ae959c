"""Verdicts of invreconcile.verify on a small ledger imported from inline text."""
from __future__ import annotations

import datetime as dt
import textwrap

import pytest

from invreconcile.importer import import_paths
from invreconcile.ledger import open_ledger
from invreconcile.verify import STATUSES, record_scan, stocktake_report, verdict

TODAY = dt.date(2025, 6, 1)

# Product A: prefix 8100001 (item A1), product B: prefix 8200002 (item B1).
BOX_IN = "81000010000000000001"        # received at P1, on the shelf
BOX_SOLD = "81000010000000000002"      # received, sold with settlement S1
BOX_RETURNED = "81000010000000000003"  # sold S2, returned (3506)
BOX_REVERSED = "81000010000000000004"  # sold and settled S3, settlement reversed (2103)
BOX_SPLIT = "81000010000000000005"     # received, split-pack sale (trdn_flag=1)
BOX_OLD = "81000010000000000006"       # received, expired
BOX_OUT = "81000010000000000007"       # received, transferred to P2
BOX_B = "82000020000000000001"         # product B, received
BOX_ELSEWHERE = "81000010000000000008"  # received at P2 only
CASE = "83000030000000000001"           # case code received at P1
CASE_BOX1 = "81000010000000000101"
CASE_BOX2 = "81000010000000000102"
UNKNOWN = "89999990000000000001"        # product nobody has in the catalog

FILES = {
    "catalog.csv": """\
        fixmedins_hilist_id,fixmedins_hilist_name,med_list_codg,convrat,pack_unit,min_unit,trace_prefix,drug_prod_barc
        A1,阿莫西林胶囊,XJ01CAA040E001010100000,24,盒,粒,8100001,6901234567892
        B1,布洛芬缓释胶囊,XM01AEB012E001010100000,20,盒,粒,8200002,
        """,
    "relations.csv": f"""\
        code,parent_code,code_level,box_amount
        {CASE},,3,2
        {CASE_BOX1},{CASE},1,1
        {CASE_BOX2},{CASE},1,1
        """,
    "purchase.csv": f"""\
        fixmedins_code,fixmedins_hilist_id,fixmedins_hilist_name,dynt_no,purc_retn_cnt,purc_retn_stoin_time,expy_end,drug_trac_codg
        P1,A1,阿莫西林胶囊,PO-1,168,2025-01-02 09:00:00,2027-01-31,"{BOX_IN},{BOX_SOLD},{BOX_RETURNED},{BOX_REVERSED},{BOX_SPLIT},{BOX_OUT},{CASE}"
        P1,A1,阿莫西林胶囊,PO-2,24,2025-01-02 09:00:00,2025-03-31,{BOX_OLD}
        P1,B1,布洛芬缓释胶囊,PO-3,20,2025-01-02 09:00:00,2027-01-31,{BOX_B}
        P2,A1,阿莫西林胶囊,PO-9,24,2025-01-02 09:00:00,2027-01-31,{BOX_ELSEWHERE}
        """,
    "sale.csv": f"""\
        fixmedins_code,fixmedins_hilist_id,fixmedins_hilist_name,sel_retn_cnt,sel_retn_time,setl_id,rtal_docno,psn_no,trdn_flag,drug_trac_codg
        P1,A1,阿莫西林胶囊,24,2025-02-01 10:00:00,S1,R-1,PSN1,0,{BOX_SOLD}
        P1,A1,阿莫西林胶囊,24,2025-02-02 10:00:00,S2,R-2,PSN2,0,{BOX_RETURNED}
        P1,A1,阿莫西林胶囊,24,2025-02-03 10:00:00,S3,R-3,PSN3,0,{BOX_REVERSED}
        P1,A1,阿莫西林胶囊,6,2025-02-04 10:00:00,S4,R-4,PSN4,1,{BOX_SPLIT}
        P1,B1,布洛芬缓释胶囊,20,2025-02-05 10:00:00,S5,R-5,PSN5,0,99999999999999999999
        """,
    "sale_return.csv": f"""\
        fixmedins_code,fixmedins_hilist_id,fixmedins_hilist_name,sel_retn_cnt,sel_retn_time,setl_id,drug_trac_codg
        P1,A1,阿莫西林胶囊,24,2025-02-03 11:00:00,S2,{BOX_RETURNED}
        """,
    "reversal.csv": """\
        fixmedins_code,setl_id,orig_setl_id,setl_time,psn_no
        P1,RV3,S3,2025-02-03 10:05:00,PSN3
        """,
    "change.csv": f"""\
        fixmedins_code,fixmedins_hilist_id,fixmedins_hilist_name,inv_chg_type,cnt,inv_chg_time,memo,drug_trac_codg
        P1,A1,阿莫西林胶囊,102,24,2025-03-01 09:00:00,调拨:P2,{BOX_OUT}
        """,
}
KINDS = {"catalog.csv": "catalog", "relations.csv": "code_relation", "purchase.csv": "purchase",
         "sale.csv": "sale", "sale_return.csv": "sale_return", "reversal.csv": "reversal",
         "change.csv": "stock_change"}


def build_ledger(folder, path=None):
    db = open_ledger(path or folder / "ledger.db")
    for name, text in FILES.items():
        f = folder / name
        f.write_text(textwrap.dedent(text), encoding="utf-8")
        results = import_paths(db, [f], kind=KINDS[name])
        assert all(r.rows_rejected == 0 for r in results), (name, [r.reject_reasons for r in results])
    return db


@pytest.fixture
def db(tmp_path):
    return build_ledger(tmp_path)


def v(db, raw, mode="dispense", **kw):
    return verdict(db, raw, store="P1", mode=mode, today=TODAY, **kw)


def test_ok(db):
    r = v(db, BOX_IN)
    assert r.status == "ok" and r.ok
    assert r.item_ids == ("A1",)
    assert r.expiry == "2027-01-31"
    assert "2027-01-31" in r.message_zh


def test_ok_through_scanner_artefacts(db):
    assert v(db, "]C1" + BOX_IN.translate(str.maketrans("0123456789", "０１２３４５６７８９")) + "\r").status == "ok"


def test_already_sold_names_where_when_and_settlement(db):
    r = v(db, BOX_SOLD)
    assert r.status == "already_sold" and not r.ok
    (sale,) = r.basis
    assert (sale["store"], sale["ts"], sale["setl_id"], sale["doc_no"]) == ("P1", "2025-02-01 10:00:00", "S1", "R-1")
    assert "S1" in r.message_zh and "2025-02-01 10:00:00" in r.message_zh
    assert "settlement S1" in r.message_en
    assert "人员 ****" in r.message_zh and "PSN1" not in r.message_zh + r.message_en   # the person masked
    assert v(db, BOX_SOLD, mode="receive").status == "already_sold"


def test_return_and_reversal_undo_the_sale(db):
    assert v(db, BOX_RETURNED).status == "ok"
    assert v(db, BOX_REVERSED).status == "ok"


def test_split_pack_sale_does_not_sell_the_box(db):
    assert v(db, BOX_SPLIT).status == "ok"


def test_placeholder_is_not_a_code(db):
    r = v(db, "99999999999999999999")
    assert r.status == "invalid"
    assert "拆零" in r.message_zh


def test_never_received_here(db):
    assert v(db, BOX_ELSEWHERE).status == "never_received"
    assert verdict(db, BOX_ELSEWHERE, store="P2", mode="dispense", today=TODAY).status == "ok"


def test_transferred_out_is_not_in_stock(db):
    r = v(db, BOX_OUT)
    assert r.status == "not_in_stock"
    assert r.basis[0]["event"] == "transfer_out"


def test_case_code_receipt_covers_its_boxes(db):
    assert v(db, CASE_BOX1).status == "ok"
    assert v(db, CASE_BOX2, mode="stocktake").status == "ok"


def test_expired(db):
    r = v(db, BOX_OLD)
    assert r.status == "expired"
    assert "2025-03-31" in r.message_zh
    assert verdict(db, BOX_OLD, store="P1", mode="dispense", today=dt.date(2025, 3, 31)).status == "ok"


def test_expired_from_gs1_expiry():
    db = open_ledger(":memory:")
    r = verdict(db, "(01)09501101020917(17)240131(10)1A(21)12345", store="P1", mode="receive", today=TODAY)
    assert r.status == "expired" and r.expiry == "2024-01-31"


def test_wrong_product_for_document(db):
    assert v(db, BOX_B, mode="receive", doc_no="PO-1").status == "wrong_product"
    assert v(db, BOX_IN, mode="receive", doc_no="PO-1").status == "ok"
    assert v(db, BOX_B, doc_no="R-1").status == "wrong_product"
    assert v(db, BOX_IN, doc_no="S1").status == "ok"
    # a document the ledger does not know yet cannot be checked
    assert v(db, BOX_B, mode="receive", doc_no="PO-404").status == "ok"


def test_product_barcode(db):
    r = v(db, "6901234567892")
    assert r.status == "product_barcode"
    assert "商品条码" in r.message_zh and "trace code" in r.message_en
    assert v(db, "86900000000001").status in ("product_barcode", "invalid")


def test_invalid(db):
    for raw in ("71234567890123456789", "8123", "hello world", ""):
        assert v(db, raw).status == "invalid", raw


def test_unknown_item(db):
    assert v(db, UNKNOWN, mode="receive").status == "unknown_item"


def test_duplicate_in_session(db):
    r = v(db, BOX_IN, mode="stocktake", session="s1")
    assert r.status == "ok"
    record_scan(db, r, store="P1", station_id="st1", mode="stocktake", session_id="s1", doc_no=None)
    assert v(db, BOX_IN, mode="stocktake", session="s1").status == "duplicate_in_session"
    assert v(db, BOX_IN, mode="stocktake", session="s2").status == "ok"


def test_every_status_is_covered():
    covered = {"ok", "already_sold", "not_in_stock", "never_received", "expired", "wrong_product",
               "product_barcode", "invalid", "duplicate_in_session", "unknown_item"}
    assert covered == set(STATUSES)


def test_record_scan_writes_scan_and_event_with_provenance(db):
    ids = []
    for raw in (BOX_IN, "6901234567892"):
        r = v(db, raw, mode="receive", session="sess-9")
        ids.append(record_scan(db, r, store="P1", station_id="desk", mode="receive", session_id="sess-9", doc_no="PO-1"))
    rows = db.conn.execute("SELECT id, code, verdict, src_file, src_row, src_sha256, rec_hash, doc_no FROM scans ORDER BY id").fetchall()
    assert [r[0] for r in rows] == ids
    assert [(r[1], r[2], r[3], r[4], r[7]) for r in rows] == [
        (BOX_IN, "ok", "station:desk", 1, "PO-1"), ("6901234567892", "product_barcode", "station:desk", 2, "PO-1")]
    import hashlib
    assert rows[0][5] == hashlib.sha256(b"sess-9").hexdigest()
    assert rows[0][6] != rows[1][6]
    events = db.conn.execute("SELECT code, event, detail, src_table, src_id FROM code_events WHERE event = 'scanned' ORDER BY id").fetchall()
    assert events == [(BOX_IN, "scanned", "receive", "scans", ids[0]), ("6901234567892", "scanned", "receive", "scans", ids[1])]
    assert not db.conn.in_transaction
    # a scanned event changes nothing in the box's state
    assert v(db, BOX_IN).status == "ok"


def test_stocktake_report(db):
    session = "count-1"
    for raw in (BOX_IN, BOX_SOLD, BOX_ELSEWHERE, CASE, BOX_OUT, "6901234567892"):
        r = v(db, raw, mode="stocktake", session=session)
        record_scan(db, r, store="P1", station_id="c1", mode="stocktake", session_id=session, doc_no=None)
    rep = stocktake_report(db, "P1", session)
    # expected on the shelf: IN, RETURNED, REVERSED, SPLIT, OLD, B, CASE_BOX1, CASE_BOX2
    assert rep.expected == 8
    assert sorted(m["code"] for m in rep.missing) == sorted([BOX_RETURNED, BOX_REVERSED, BOX_SPLIT, BOX_OLD, BOX_B])
    assert [s["code"] for s in rep.sold_but_present] == [BOX_SOLD]
    assert rep.sold_but_present[0]["setl_id"] == "S1"
    assert [s["code"] for s in rep.never_received] == [BOX_ELSEWHERE]
    assert [s["code"] for s in rep.out_but_present] == [BOX_OUT]
    assert not rep.clean
