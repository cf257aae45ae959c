"""Importing every format into the ledger: what is accepted, rejected, counted once."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import openpyxl
import pytest

from invreconcile.errors import InputError
from invreconcile.importer import import_paths
from invreconcile.ledger import open_ledger, status

CATALOG = """fixmedins_hilist_id,fixmedins_hilist_name,med_list_codg,spec,pack_unit,min_unit,convrat,category,trace_prefix,drug_prod_barc,pric
A1,阿莫西林胶囊,XJ01CAA101A011796233790,0.25g*24粒,盒,粒,24,drug,8123456,6901234567892,12.50
C1,洗发水,,400ml,瓶,瓶,1,daily,,,39.90
"""


FULLWIDTH = "".join(chr(ord(c) + 0xFEE0) for c in "81234560000000000001")  # as some IMEs type digits


@pytest.fixture
def db(tmp_path):
    return open_ledger(tmp_path / "x.db")


def write(tmp_path, name, text, encoding="utf-8"):
    p = tmp_path / name
    p.write_bytes(text.encode(encoding))
    return p


def test_chinese_headers_gb18030_pack_units_and_several_codes(db, tmp_path):
    cat = write(tmp_path, "catalog.csv", CATALOG)
    sales = write(tmp_path, "sales.csv",
                  "门店编码,商品编码,商品名称,数量,单位,销售时间,追溯码,人员编号,结算ID,单价\n"
                  f"P1,A1,阿莫西林胶囊,2,盒,2026/09/01 10:00,\"{FULLWIDTH}；81234560000000000002\",PSN1,S1,12.50\n",
                  encoding="gb18030")
    results = import_paths(db, [cat, sales])
    assert [r.kind for r in results] == ["catalog", "sale"]
    row = db.conn.execute("SELECT qty, qty_orig, unit_orig, price_fen, amount_fen, ts, epoch, codes, code_count "
                          "FROM sales").fetchone()
    # 2 boxes of 24 -> 48 capsules; 12.50 yuan a box -> 1250 fen, amount 2500 fen; China time
    assert row == (48, "2", "盒", 1250, 2500, "2026-09-01 10:00:00", 1788228000,
                   "81234560000000000001,81234560000000000002", 2)
    events = db.conn.execute("SELECT code, event, store, setl_id FROM code_events ORDER BY code").fetchall()
    assert events == [("81234560000000000001", "sold", "P1", "S1"), ("81234560000000000002", "sold", "P1", "S1")]


def test_utf8_bom_and_header_guess_reported(db, tmp_path):
    p = write(tmp_path, "sales.csv", "\ufefffixmedins_code,商品编码号,商品名称,数量,销售时间\nP1,A1,阿莫西林,24,2026-09-01 10:00:00\n")
    [res] = import_paths(db, [p])
    assert res.rows_accepted == 1
    assert res.header_guesses == [("商品编码号", "fixmedins_hilist_id", "商品编码", 89)]


def test_xlsx_purchase_in_boxes(db, tmp_path):
    import_paths(db, [write(tmp_path, "catalog.csv", CATALOG)])
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["门店编码", "入库时间", "商品编码", "商品名称", "采购数量", "单位", "进价", "供应商", "追溯码"])
    ws.append(["P1", "2026-09-01 08:00:00", "A1", "阿莫西林胶囊", 3, "盒", 6.5, "华东医药", "81234560000000000009"])
    path = tmp_path / "purchase.xlsx"
    wb.save(path)
    [res] = import_paths(db, [path])
    assert (res.kind, res.rows_accepted) == ("purchase", 1)
    assert db.conn.execute("SELECT qty, price_fen, amount_fen FROM purchases").fetchone() == (72, 650, 1950)


def test_xlsx_code_cell_cut_at_excels_limit_is_rejected_not_imported_short(db, tmp_path):
    """2,000 codes joined in one cell are 41,999 characters; Excel and openpyxl keep 32,767
    of them, the last code cut in the middle. The row is rejected, naming the column."""
    codes = [f"8123456{n:013d}" for n in range(2000)]
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["门店编码", "入库时间", "商品编码", "采购数量", "进价", "追溯码"])
    ws.append(["P1", "2026-09-01 08:00:00", "A1", 2000, 6.5, ",".join(codes)])
    ws.append(["P1", "2026-09-01 08:00:00", "A1", 1560, 6.5, ",".join(codes[:1560])])  # 32,759: kept whole
    path = tmp_path / "purchase.xlsx"
    wb.save(path)
    [res] = import_paths(db, [path])
    assert (res.rows_read, res.rows_accepted, res.rows_rejected) == (2, 1, 1)
    assert res.reject_reasons == {"cut_code_cell": 1}
    rej = db.conn.execute("SELECT src_row, column_name, reason, found FROM rejects").fetchone()
    assert rej == (2, "追溯码", "cut_code_cell", codes[1560][:7])   # 1,560 whole codes, then 7 digits
    assert db.conn.execute("SELECT code_count FROM purchases").fetchall() == [(1560,)]


def test_json_messages_settlement_reversal_batch_and_drugtracinfo(db, tmp_path):
    msgs = [
        {"infno": "2102", "fixmedins_code": "P1", "input": {
            "setlinfo": {"setl_id": "S1", "psn_no": "PSN1", "setl_time": "2026-09-01 10:00:00",
                         "medfee_sumamt": 25.0, "fund_pay_sumamt": 20.0, "psn_part_amt": 5.0, "acct_pay": 5.0},
            "drugdetail": [{"feedetl_sn": "1", "medins_list_codg": "A1", "medins_list_name": "阿莫西林胶囊",
                            "cnt": 48, "pric": 0.5208, "det_item_fee_sumamt": 25.0,
                            "drugtracinfo": [{"drug_trac_codg": "81234560000000000001"},
                                             {"drug_trac_codg": "81234560000000000002"}]}]}},
        {"infno": "2103", "fixmedins_code": "P1", "input": {"data": {"setl_id": "S1", "psn_no": "PSN1"}},
         "output": {"setlinfo": {"setl_id": "R1", "setl_time": "2026-09-01 10:05:00"}}},
        {"infno": "3505A", "fixmedins_code": "P1", "input": {"selinfo": [
            {"fixmedins_hilist_id": "A1", "sel_retn_cnt": 24, "sel_retn_time": "2026-09-02 09:00:00", "trdn_flag": "0"},
            {"fixmedins_hilist_id": "A1", "sel_retn_cnt": 6, "sel_retn_time": "2026-09-02 09:10:00", "trdn_flag": "1",
             "drug_trac_codg": "99999999999999999999"}]}},
    ]
    p = write(tmp_path, "log.jsonl", "\n".join(json.dumps(m, ensure_ascii=False) for m in msgs) + "\n")
    [res] = import_paths(db, [p])
    assert res.rows_read == 5 and res.rows_accepted == 5
    s = db.conn.execute("SELECT setl_id, insurance_fen, medfee_fen FROM settlements WHERE is_reversal = 0").fetchone()
    assert s == ("S1", 2500, 2500)  # fund 20 + personal account 5
    assert db.conn.execute("SELECT setl_id, orig_setl_id FROM settlements WHERE is_reversal = 1").fetchone() == ("R1", "S1")
    line = db.conn.execute("SELECT item_id, qty, psn_no, code_count FROM settlement_lines").fetchone()
    assert line == ("A1", 48, "PSN1", 2)
    kinds = db.conn.execute("SELECT code_kind, COUNT(*) FROM code_events GROUP BY code_kind ORDER BY 1").fetchall()
    assert kinds == [("cn20", 2), ("split_placeholder", 1)]


@pytest.mark.parametrize("line,reason,column", [
    ("P1,A1,阿莫西林,abc,2026-09-01 10:00:00", "bad_number", "数量"),
    ("P1,A1,阿莫西林,24,2026-13-45 10:00:00", "bad_time", "销售时间"),
    ("P1,,阿莫西林,24,2026-09-01 10:00:00", "missing", "商品编码"),
    ("P1,A1,阿莫西林,2.5,2026-09-01 10:00:00", "fractional_qty", "数量"),
])
def test_rejects_name_row_column_and_reason(db, tmp_path, line, reason, column):
    p = write(tmp_path, "sales.csv", "门店编码,商品编码,商品名称,数量,销售时间\nP1,A1,阿莫西林,24,2026-09-01 10:00:00\n" + line + "\n")
    [res] = import_paths(db, [p])
    assert (res.rows_read, res.rows_accepted, res.rows_rejected) == (2, 1, 1)
    rej = db.conn.execute("SELECT src_file, src_row, column_name, reason FROM rejects").fetchone()
    assert rej == (str(p), 3, column, reason)
    st = status(db)["totals"]
    assert st["rows_read"] == st["rows_accepted"] + st["rows_duplicate"] + st["rows_rejected"]


def test_excel_mangled_code_is_rejected(db, tmp_path):
    p = write(tmp_path, "sales.csv", "门店编码,商品编码,数量,销售时间,追溯码\nP1,A1,24,2026-09-01 10:00:00,8.12346E+19\n")
    [res] = import_paths(db, [p])
    assert res.reject_reasons == {"excel_number_code": 1}


def test_same_file_twice_adds_nothing_and_reuploads_counted_once(db, tmp_path):
    row = "P1,A1,阿莫西林,24,2026-09-01 10:00:00,81234560000000000001\n"
    p = write(tmp_path, "sales.csv", "门店编码,商品编码,商品名称,数量,销售时间,追溯码\n" + row + row)
    [first] = import_paths(db, [p])
    assert (first.rows_accepted, first.rows_duplicate) == (1, 1)
    assert db.conn.execute("SELECT uploads FROM sales").fetchone() == (2,)
    [again] = import_paths(db, [p])
    assert again.skipped
    assert db.conn.execute("SELECT COUNT(*) FROM sales").fetchone() == (1,)
    assert db.conn.execute("SELECT COUNT(*) FROM code_events").fetchone() == (1,)


def test_file_without_store_needs_store_option(db, tmp_path):
    p = write(tmp_path, "sales.csv", "商品编码,数量,销售时间\nA1,24,2026-09-01 10:00:00\n")
    with pytest.raises(InputError, match="--store"):
        import_paths(db, [p])
    assert db.conn.execute("SELECT COUNT(*) FROM sales").fetchone() == (0,)
    [res] = import_paths(db, [p], store="P9")
    assert db.conn.execute("SELECT store FROM sales").fetchone() == ("P9",)


def test_unknown_kind_and_undecodable_file(db, tmp_path):
    with pytest.raises(InputError, match="--kind"):
        import_paths(db, [write(tmp_path, "x.csv", "foo,bar\n1,2\n")])
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"a,b\n\xff\xfe\xfa\x81\x30,1\n")
    with pytest.raises(InputError, match="neither UTF-8 nor GB18030"):
        import_paths(db, [bad])


def test_files_are_read_as_they_go_with_their_encoding_found_across_chunks(db, tmp_path, monkeypatch):
    """Files are hashed, checked and read a chunk at a time (never whole in memory): a
    character split between two chunks is still UTF-8, GBK text is still found, and a bad
    byte far into the file is named by its offset."""
    from invreconcile import readers
    monkeypatch.setattr(readers, "_CHUNK", 7)
    text = "fixmedins_code,商品编码号,商品名称,数量,销售时间\n" + "".join(
        f"P1,A{i},阿莫西林胶囊,24,2026-09-01 10:{i:02d}:00\n" for i in range(30))
    for encoding, name in (("utf-8", "u.csv"), ("gb18030", "g.csv")):
        p = tmp_path / name
        p.write_bytes(text.encode(encoding))
        assert readers.open_source(p).encoding == encoding
        [res] = import_paths(db, [p], kind="sale")
        assert (res.rows_read, res.rows_accepted) == (30, 30 if encoding == "utf-8" else 0)   # the same rows twice
    assert db.conn.execute("SELECT DISTINCT item_name FROM sales").fetchall() == [("阿莫西林胶囊",)]
    bad = tmp_path / "bad.csv"
    data = text.encode("gb18030")
    bad.write_bytes(data + b"P1,A1,\x81\x30,1,2026-09-01 10:00:00\n")
    with pytest.raises(InputError, match=f"undecodable byte at offset {len(data) + 6}"):
        import_paths(db, [bad])
    lines = tmp_path / "m.jsonl"   # JSON Lines, a message per line, U+2028 inside a value
    msg = {"infno": "3505", "input": {"selinfo": {"fixmedins_code": "P1", "fixmedins_hilist_id": "B1",
                                                   "fixmedins_hilist_name": "布洛芬\u2028缓释胶囊", "sel_retn_cnt": 1,
                                                   "sel_retn_time": "2026-09-02 10:00:00", "setl_id": "S9"}}}
    lines.write_text("\n" + json.dumps(msg, ensure_ascii=False) + "\n\n" + json.dumps(msg, ensure_ascii=False)
                     .replace("S9", "S10") + "\n", encoding="utf-8")
    [res] = import_paths(db, [lines])
    assert (res.rows_read, res.rows_accepted, res.rows_rejected) == (2, 2, 0)
    assert db.conn.execute("SELECT src_row FROM sales WHERE item_id = 'B1' ORDER BY src_row").fetchall() == [(2,), (4,)]


def test_case_code_relations_give_ancestors(db, tmp_path):
    rel = write(tmp_path, "code_relations.csv", "code,parent_code,code_level,box_amount\n"
                "81234560000000000001,83333330000000000001,1,1\n83333330000000000001,84444440000000000001,2,10\n")
    import_paths(db, [rel])
    anc = db.conn.execute("SELECT ancestor, depth FROM code_ancestors WHERE code = '81234560000000000001' ORDER BY depth").fetchall()
    assert anc == [("81234560000000000001", 0), ("83333330000000000001", 1), ("84444440000000000001", 2)]


def test_deletion_withdraws_rows(db, tmp_path):
    sales = write(tmp_path, "sales.jsonl", json.dumps({"infno": "3505", "fixmedins_code": "P1", "input": {"selinfo": {
        "fixmedins_hilist_id": "A1", "fixmedins_bchno": "B1", "sel_retn_cnt": 24, "sel_retn_time": "2026-09-01 10:00:00",
        "drug_trac_codg": "81234560000000000001"}}}) + "\n")
    dele = write(tmp_path, "del.jsonl", json.dumps({"infno": "3507", "fixmedins_code": "P1", "input": {"data": {
        "fixmedins_bchno": "B1", "inv_data_type": "4"}}}) + "\n")
    import_paths(db, [sales, dele])
    assert db.conn.execute("SELECT deleted FROM sales").fetchone() == (1,)
    assert db.conn.execute("SELECT COUNT(*) FROM code_events").fetchone() == (0,)


def test_killed_import_leaves_ledger_as_before(tmp_path):
    """A process killed in the middle of a file leaves nothing of that file behind."""
    db_path = tmp_path / "k.db"
    rows = "".join(f"P1,A{i % 50},名{i},24,2026-09-01 10:{i % 60:02d}:00,8123456{i:013d}\n" for i in range(200_000))
    big = write(tmp_path, "big.csv", "门店编码,商品编码,商品名称,数量,销售时间,追溯码\n" + rows)
    small = write(tmp_path, "small.csv", "门店编码,商品编码,数量,销售时间\nP1,A1,24,2026-09-01 10:00:00\n")
    import_paths(open_ledger(db_path), [small])
    proc = subprocess.Popen([sys.executable, "-m", "invreconcile.cli", "import", "--db", str(db_path), str(big)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "PYTHONPATH": os.getcwd()})
    db = open_ledger(db_path)
    deadline = time.time() + 60
    # wait until the import is writing (the WAL grows), then kill it
    while time.time() < deadline and proc.poll() is None:
        wal = db_path.with_name(db_path.name + "-wal")
        if wal.exists() and wal.stat().st_size > 2_000_000:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "import finished before it could be killed; make the file bigger"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    db = open_ledger(db_path)
    assert db.conn.execute("SELECT COUNT(*) FROM sales").fetchone() == (1,)
    assert db.conn.execute("SELECT COUNT(*) FROM files").fetchone() == (1,)
    # and the file imports completely afterwards
    [res] = import_paths(db, [big])
    assert res.rows_accepted == 200_000
