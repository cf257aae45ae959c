"""Engine parity: the same rule texts on SQLite and on DuckDB over the Parquet lake give the
same findings; ``import --lake`` gives the lake that ``import`` + ``export-lake`` give."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

pytest.importorskip("duckdb")
pytest.importorskip("sqlglot")
pytest.importorskip("pyarrow")

from invreconcile.audit import run_audit  # noqa: E402
from invreconcile.engines import ENGINES, get_engine  # noqa: E402
from invreconcile.engines.duckdb import DuckDBEngine, translate  # noqa: E402
from invreconcile.lake import TABLES, import_to_lake, table_schema  # noqa: E402
from invreconcile.rules import builtin_rules  # noqa: E402
from parity import assert_same_findings, sample_lake  # noqa: E402  (tests/ is on sys.path)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("engines")
    db = sample_lake(root)
    import_to_lake([root / "data"], root / "lake_direct")
    return root, db


def test_duckdb_findings_equal_sqlite(world):
    root, db = world
    on_sqlite = run_audit(db, save_findings=False)
    engine = get_engine("duckdb", db, lake=root / "lake")
    on_duckdb = run_audit(db, engine=engine, save_findings=False)
    assert_same_findings(on_sqlite, on_duckdb)


def _lake_rows(engine: DuckDBEngine, table: str):
    cols = [c for c, _ in table_schema(table) if c not in ("imported_at",)]
    _, rows = engine.query(f"SELECT {', '.join(cols)} FROM {table} ORDER BY {', '.join(cols)}")
    return rows


def test_import_to_lake_equals_export(world):
    root, db = world
    exported = DuckDBEngine(root / "lake")
    direct = DuckDBEngine(root / "lake_direct")
    for table in TABLES:
        assert _lake_rows(exported, table) == _lake_rows(direct, table), table
    _, n = direct.query("SELECT COUNT(*) FROM code_events")
    assert n[0][0] > 1000


def test_lake_layout(world):
    root, _ = world
    parts = sorted(p.relative_to(root / "lake").parts[:3] for p in (root / "lake" / "settlement_lines").rglob("*.parquet"))
    assert parts and all(p[1].startswith("store=P") and re.fullmatch(r"month=\d{4}-\d{2}", p[2]) for p in parts)
    assert (root / "lake" / "code_ancestors" / "part-0.parquet").exists()


def test_lake_index_lists_each_tables_parquet_files_by_store_directory(tmp_path):
    """A file under store=X/month=.../ belongs to store=X, one directly in the table's folder
    to no store directory; other files are not read."""
    from invreconcile.engines.duckdb import lake_files, lake_index
    files = {"sales/store=S1/month=2026-01/part-0.parquet": b"abc", "sales/store=S1/month=2026-02/part-0.parquet": b"d",
             "sales/store=_/part-0.parquet": b"ef", "sales/part-9.parquet": b"", "sales/store=S2/notes.txt": b"x",
             "items/store=_/part-0.parquet": b"gh"}
    for name, data in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(data)
    index = lake_index(tmp_path)
    assert index["sales"] == [
        ("", str(tmp_path / "sales/part-9.parquet"), 0),
        ("store=S1", str(tmp_path / "sales/store=S1/month=2026-01/part-0.parquet"), 3),
        ("store=S1", str(tmp_path / "sales/store=S1/month=2026-02/part-0.parquet"), 1),
        ("store=_", str(tmp_path / "sales/store=_/part-0.parquet"), 2)]
    assert index["items"] == [("store=_", str(tmp_path / "items/store=_/part-0.parquet"), 2)]
    assert lake_files(index, "sales", ["S1"]) == [f for _, f, _ in index["sales"][1:3]]
    assert lake_index(tmp_path / "no such lake") == {}


def test_import_to_lake_skips_known_files(world, tmp_path):
    root, _ = world
    import shutil
    lake = tmp_path / "lake"
    shutil.copytree(root / "lake_direct", lake)
    results = import_to_lake([root / "data"], lake)
    assert results and all(r.skipped for r in results)
    assert _lake_rows(DuckDBEngine(lake), "sales") == _lake_rows(DuckDBEngine(root / "lake_direct"), "sales")


def test_import_to_lake_counts_records_the_lake_already_holds_as_uploaded_again(world, tmp_path):
    """A second import into a lake, of a file whose first half the lake holds already (its
    earlier, shorter version) and of new files: the same rows, ids, uploads, code events and
    file counts as the same two imports into SQLite, exported."""
    import shutil
    from invreconcile.importer import import_paths
    from invreconcile.lake import export_lake
    from invreconcile.ledger import open_ledger
    root, _ = world
    sale = root / "data" / "P3301060001_sale.jsonl"
    lines = sale.read_text(encoding="utf-8").splitlines(keepends=True)
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir(), second.mkdir()
    for name in ("catalog.csv", "code_relations.csv"):
        shutil.copy(root / "data" / name, first / name)
    (first / "P3301060001_sale.jsonl").write_text("".join(lines[:len(lines) // 2]), encoding="utf-8")
    shutil.copy(sale, second / "P3301060001_sale.jsonl")
    shutil.copy(root / "data" / "P3301060001_purchase.jsonl", second / "P3301060001_purchase.jsonl")
    db = open_ledger(tmp_path / "ledger.db")
    lake = tmp_path / "lake"
    on_sqlite = [import_paths(db, [first]), import_paths(db, [second])]
    on_lake = [import_to_lake([first], lake), import_to_lake([second], lake)]
    export_lake(db, tmp_path / "exported")

    def counts(results):
        return [(r.rows_read, r.rows_accepted, r.rows_duplicate, r.rows_rejected, r.by_table) for r in results]
    assert [counts(r) for r in on_lake] == [counts(r) for r in on_sqlite]
    again = next(r for r in on_lake[1] if r.path.endswith("_sale.jsonl"))
    assert again.rows_duplicate >= len(lines) // 2 > 0 and again.rows_accepted > 0
    exported, direct = DuckDBEngine(tmp_path / "exported"), DuckDBEngine(lake)
    for table in TABLES:
        assert _lake_rows(exported, table) == _lake_rows(direct, table), table
    _, repeats = direct.query("SELECT SUM(uploads) - COUNT(*) FROM sales")
    assert repeats[0][0] == sum(r.rows_duplicate for results in on_lake for r in results if r.path.endswith("_sale.jsonl"))
    _, ids = direct.query("SELECT MAX(id) = COUNT(*) FROM code_events")
    assert ids[0][0]


def _written(lake):
    """Each Parquet file of the lake (its path) with its rows in the order written."""
    import pyarrow.parquet as pq
    written = {}
    for f in sorted(lake.rglob("*.parquet")):
        t = pq.read_table(f)
        written[str(f.relative_to(lake))] = t.drop_columns([c for c in ("imported_at",) if c in t.column_names]).to_pylist()
    return written


def test_import_to_lake_sorted_in_small_ranges_writes_the_same_files(world, tmp_path, monkeypatch):
    """The merged tables are sorted for writing a range of rows at a time (whole partitions,
    or ranges of the first sort column for the tables without partitions), so that the sort's
    memory does not grow with the table: with ranges of 30 rows the lake has the same files,
    each with the same rows in the same order, as with one sort per table."""
    import invreconcile.lake as lake_mod
    root, _ = world
    monkeypatch.setattr(lake_mod, "SORT_ROWS", 30)
    import_to_lake([root / "data"], tmp_path / "lake")
    whole, in_ranges = _written(root / "lake_direct"), _written(tmp_path / "lake")
    assert list(in_ranges) == list(whole)
    assert len([f for f in whole if f.startswith("code_events/")]) > 2
    for f in whole:
        assert in_ranges[f] == whole[f], f
    assert len(whole["code_ancestors/part-0.parquet"]) > 3 * 30


@pytest.mark.parametrize("catalog_midway, in_parts", [(False, False), (True, False), (False, True)])
def test_import_to_lake_in_worker_processes_writes_what_one_process_writes(world, tmp_path, monkeypatch,
                                                                          catalog_midway, in_parts):
    """Files read and converted by two worker processes give the lake one process gives,
    file for file and row for row (ids in file order, code events pointing at their
    records, rejects, counts); also when a file in the middle holds catalog rows (changed
    pack sizes that the files after it convert with): it and the files after it are then
    read in order by the importing process; and with the JSON Lines files read in parts of
    a few kilobytes by different workers."""
    import shutil
    import invreconcile.lake as lake_mod
    if in_parts:
        monkeypatch.setattr(lake_mod, "PART_BYTES", 5000)
    root, _ = world
    data = tmp_path / "data"
    shutil.copytree(root / "data", data)
    (data / "P3301060002_c_sale.csv").write_text("门店编码,商品编码,数量,销售时间\nP3301060002,YP100001,24,2026-09-03 10:00:00\n"
                                                 "P3301060002,YP100001,很多,2026-09-03 11:00:00\n", encoding="utf-8")
    (data / "P3301060004_d_sale.csv").write_text("门店编码,商品编码,数量,单位,销售时间\nP3301060004,YP100001,2,盒,2026-09-03 10:00:00\n",
                                                 encoding="utf-8")   # 2 packs: 48 units, or 96 after the change
    if catalog_midway:
        lines = (data / "catalog.csv").read_text(encoding="utf-8").splitlines(keepends=True)
        header = lines[0].split(",")
        k = header.index("convrat") if "convrat" in header else None
        assert k is not None
        changed = []
        for line in lines[1:]:
            cells = line.split(",")
            cells[k] = str(int(cells[k]) * 2) if cells[k].isdigit() else cells[k]
            changed.append(",".join(cells))
        (data / "P3301060003_a_products.csv").write_text(lines[0] + "".join(changed), encoding="utf-8")
    one = import_to_lake([data], tmp_path / "one", workers=1)
    told = []
    two = import_to_lake([data], tmp_path / "two", workers=2, progress=lambda label, rows: told.append((label, rows)))
    in_workers = [rows for label, rows in told if label is None]   # the records read in all files so far
    by_workers = sum(r.rows_read for r in two if not r.path.endswith("catalog.csv"))
    assert in_workers == sorted(in_workers) and (in_workers[-1] == by_workers if not catalog_midway
                                                 else 0 < in_workers[-1] <= by_workers)
    assert [r.as_dict() for r in two] == [r.as_dict() for r in one]
    assert sum(r.rows_rejected for r in one) > 0 and len(one) > 20
    _, packs = DuckDBEngine(tmp_path / "two").query("SELECT qty FROM sales WHERE store = 'P3301060004' AND unit_orig = '盒'")
    assert packs == [(96 if catalog_midway else 48,)]
    whole, parallel = _written(tmp_path / "one"), _written(tmp_path / "two")
    assert list(parallel) == list(whole)
    for f in whole:
        assert parallel[f] == whole[f], f


def test_json_lines_parts_cover_every_line_once(tmp_path):
    """A JSON Lines file cut in parts after newlines (\\n and \\r\\n): read part by part,
    the lines and their numbers are those of the whole file; a file with a line ending in
    a carriage return alone is not cut (the reader counts it as a line)."""
    import dataclasses
    from invreconcile.lake import _line_parts
    from invreconcile.readers import _json_records, open_source
    lines = [f'{{"infno": "3505", "n": {i}, "pad": "{"x" * (i % 37)}"}}' for i in range(300)]
    f = tmp_path / "log.jsonl"
    f.write_bytes(("\n".join(lines[:150]) + "\r\n" + "\r\n".join(lines[150:]) + "\n\n").encode())
    src = open_source(f)
    parts = _line_parts(src, 700)
    assert parts and len(parts) > 5 and parts[0][:2] == (0, 1)

    def read(s):
        return [(r.row, r.fields.get("n")) for r in _json_records(s)]
    whole = read(src)
    assert [x for part in parts for x in read(dataclasses.replace(src, lines=part))] == whole
    assert len(whole) == 300
    f.write_bytes(("\n".join(lines[:10]) + "\r" + "\n".join(lines[10:]) + "\n").encode())
    assert _line_parts(open_source(f), 700) is None


def test_import_to_lake_in_worker_processes_fails_as_one_process_does(world, tmp_path):
    """A file that cannot be imported (no store column) among others: the import stops
    with the error one process gives, and the lake holds nothing of it."""
    import shutil
    from invreconcile.errors import InputError
    root, _ = world
    data = tmp_path / "data"
    shutil.copytree(root / "data", data)
    (data / "P3301060003_b_sale.csv").write_text("商品编码,数量,销售时间\nA1,24,2026-09-01 10:00:00\n", encoding="utf-8")
    errors = []
    for workers in (1, 2):
        with pytest.raises(InputError) as exc:
            import_to_lake([data], tmp_path / f"lake{workers}", workers=workers)
        errors.append(str(exc.value))
        assert not list((tmp_path / f"lake{workers}").rglob("*.parquet"))
    assert errors[0] == errors[1] and "P3301060003_b_sale.csv" in errors[0]


def test_import_to_lake_gives_the_code_ancestry_sqlite_gives(tmp_path):
    """Relations five levels deep, a code with two parents (the shorter way counts) and a
    cycle: the lake import's ancestry (walks of up to three steps, the nearest depth kept)
    is the one the SQLite import derives."""
    from invreconcile.importer import import_paths
    from invreconcile.ledger import open_ledger
    c = [f"8{n:019d}" for n in range(10)]
    pairs = [(c[0], c[1]), (c[1], c[2]), (c[2], c[3]), (c[3], c[4]), (c[4], c[5]),   # a chain past three steps
             (c[0], c[3]),                                                      # a shortcut: c3 is one step up from c0
             (c[6], c[7]), (c[7], c[6]),                                        # a cycle
             (c[8], c[9])]
    rel = tmp_path / "data" / "code_relations.csv"
    rel.parent.mkdir()
    rel.write_text("code,parent_code,code_level,box_amount\n" + "".join(f"{a},{b},1,1\n" for a, b in pairs), encoding="utf-8")
    db = open_ledger(tmp_path / "ledger.db")
    import_paths(db, [rel.parent])
    import_to_lake([rel.parent], tmp_path / "lake")
    on_sqlite = sorted(db.conn.execute("SELECT code, ancestor, depth FROM code_ancestors").fetchall())
    _, on_lake = DuckDBEngine(tmp_path / "lake").query("SELECT code, ancestor, depth FROM code_ancestors ORDER BY 1, 2, 3")
    assert [tuple(r) for r in on_lake] == on_sqlite
    of_c0 = {a: d for code, a, d in on_sqlite if code == c[0]}
    assert of_c0 == {c[0]: 0, c[1]: 1, c[3]: 1, c[2]: 2, c[4]: 2, c[5]: 3}
    assert {a: d for code, a, d in on_sqlite if code == c[6]} == {c[6]: 0, c[7]: 1}


def _snapshot(lake):
    """Each Parquet file of the lake: its bytes' digest and when it was written."""
    import hashlib
    return {str(f.relative_to(lake)): (hashlib.sha256(f.read_bytes()).hexdigest(), f.stat().st_mtime_ns)
            for f in lake.rglob("*.parquet")}


def test_import_into_a_lake_rewrites_only_the_partitions_it_changes(world, tmp_path):
    """A later import (a new month's sale of one store, a purchase record uploaded again, a
    deletion withdrawing a purchase batch the lake holds) rewrites the partitions of its new
    rows (and of the code events of the record uploaded again, dropped as they are merged),
    of the record uploaded again, of the withdrawn rows and of their code events, and
    leaves every other file of those tables as it was, and the code relations and their
    ancestry too (it adds none); the lake then holds what the same two imports into
    SQLite, exported, hold."""
    import json
    import shutil
    from invreconcile.importer import import_paths
    from invreconcile.lake import export_lake
    from invreconcile.ledger import open_ledger
    root, db = world
    lake = tmp_path / "lake"
    shutil.copytree(root / "lake_direct", lake)
    db.conn.execute("VACUUM INTO ?", (str(tmp_path / "ledger.db"),))
    ledger = open_ledger(tmp_path / "ledger.db")
    store, bchno, = ledger.conn.execute(
        "SELECT p.store, p.bchno FROM purchases p JOIN code_events e ON e.src_table = 'purchases' AND e.src_id = p.id "
        "WHERE p.bchno <> '' AND p.store = 'P3301060003' ORDER BY p.id LIMIT 1").fetchone()
    withdrawn = ledger.conn.execute(
        "SELECT 'purchases', store, month FROM purchases WHERE store = ? AND bchno = ? UNION "
        "SELECT 'code_events', e.store, e.month FROM code_events e JOIN purchases p ON e.src_table = 'purchases' "
        "AND e.src_id = p.id WHERE p.store = ? AND p.bchno = ?", (store, bchno, store, bchno)).fetchall()
    again = (root / "data" / "P3301060001_purchase.jsonl").read_text(encoding="utf-8").splitlines()[0]
    later = tmp_path / "later"
    later.mkdir()
    (later / "P3301060002_sale_2026-11.jsonl").write_text(json.dumps({"infno": "3505", "fixmedins_code": "P3301060002",
        "input": {"selinfo": {"fixmedins_hilist_id": "A1", "fixmedins_hilist_name": "新药", "sel_retn_cnt": 2,
                              "sel_retn_time": "2026-11-02 10:00:00", "drug_trac_codg": "81234560000000000001"}}},
        ensure_ascii=False) + "\n", encoding="utf-8")
    (later / "P3301060001_purchase_again.jsonl").write_text(again + "\n", encoding="utf-8")
    (later / "P3301060003_deletion.jsonl").write_text(json.dumps({"infno": "3507", "fixmedins_code": store,
        "input": {"data": {"fixmedins_bchno": bchno, "inv_data_type": "3"}}}) + "\n", encoding="utf-8")
    before = _snapshot(lake)
    uploads = "SELECT id, store, month, uploads FROM purchases ORDER BY id"
    uploaded = ledger.conn.execute(uploads).fetchall()
    import_paths(ledger, [later])
    results = import_to_lake([later], lake)
    assert sum(r.rows_duplicate for r in results) == 1 and all(r.rows_rejected == 0 for r in results)
    after = _snapshot(lake)
    changed = {str(Path(f).parent) for f in set(before) | set(after) if before.get(f) != after.get(f)}
    partitioned = {c for c in changed if c.split("/")[0] not in ("deletions", "items", "item_products", "files")}
    again_store_month = [r[1:3] for r, now in zip(uploaded, ledger.conn.execute(uploads).fetchall()) if now != r]
    expected = {f"{t}/store={s}/month={m}" for t, s, m in withdrawn} | \
        {f"{t}/store={s}/month={m}" for s, m in again_store_month for t in ("purchases", "code_events")} | \
        {"sales/store=P3301060002/month=2026-11", "code_events/store=P3301060002/month=2026-11"}
    assert len(again_store_month) == 1 and len(withdrawn) >= 2
    assert partitioned == expected
    assert len([f for f in before if after.get(f) == before[f]]) > 0.8 * len(before)   # most files as they were
    export_lake(ledger, tmp_path / "exported")
    exported, direct = DuckDBEngine(tmp_path / "exported"), DuckDBEngine(lake)
    for table in TABLES:
        assert _lake_rows(exported, table) == _lake_rows(direct, table), table
    _, deleted = direct.query(f"SELECT COUNT(*) FROM purchases WHERE deleted = 1 AND bchno = '{bchno}'")
    assert deleted[0][0] > 0


@pytest.mark.parametrize("layout", ["file in the table's folder", "rows in another store's folder"])
def test_import_into_a_lake_off_its_layout_rewrites_the_table_whole(world, tmp_path, layout):
    """Sales files off the layout (one directly in the table's folder, as another platform
    may write it; half a partition's rows in another store's directory): the import then
    writes the sales table whole, in the layout, every row the lake held kept once
    (replacing the new sale's partition alone would lose or repeat rows)."""
    import json
    import shutil
    import pyarrow.parquet as pq
    root, _ = world
    lake = tmp_path / "lake"
    shutil.copytree(root / "lake_direct", lake)
    mine = lake / "sales" / "store=P3301060001" / "month=2026-09" / "part-0.parquet"
    rows = pq.read_table(mine)
    if layout == "file in the table's folder":
        mine.rename(lake / "sales" / "part-9.parquet")
    else:   # the new sale's partition holds half of another store's
        pq.write_table(rows.slice(0, 100), mine)
        pq.write_table(rows.slice(100), lake / "sales" / "store=P3301060002" / "month=2026-09" / "part-9.parquet")
    held = _lake_rows(DuckDBEngine(lake), "sales")
    sale = tmp_path / "later" / "P3301060002_sale.jsonl"
    sale.parent.mkdir()
    sale.write_text(json.dumps({"infno": "3505", "fixmedins_code": "P3301060002", "input": {"selinfo": {
        "fixmedins_hilist_id": "A1", "sel_retn_cnt": 2, "sel_retn_time": "2026-09-30 10:00:00"}}}) + "\n", encoding="utf-8")
    import_to_lake([sale.parent], lake)
    now = _lake_rows(DuckDBEngine(lake), "sales")
    assert len(now) == len(held) + 1 and [r for r in now if r[0] != len(now)] == held
    assert {len(f.relative_to(lake / "sales").parts) for f in (lake / "sales").rglob("*.parquet")} == {3}
    _, placed = DuckDBEngine(lake).query(f"SELECT COUNT(*) FROM read_parquet('{mine.parent}/*.parquet')")
    assert placed[0][0] == rows.num_rows


def test_translation_keeps_sqlite_semantics():
    import duckdb
    import sqlite3
    sql = ("SELECT CAST(7.9 AS INTEGER), CAST(-7.9 AS INTEGER), CAST(7 / 2 AS INTEGER), 7 % 3, "
           "CAST(ROUND(2.5) AS INTEGER), MAX(1, 3), 5 / 0")
    assert sqlite3.connect(":memory:").execute(sql).fetchone() == duckdb.connect().execute(translate(sql)).fetchone()


def test_engines_registered():
    assert "duckdb" in ENGINES


def test_duckdb_file_database_and_sqlite_one_thread_give_the_same_findings(world, tmp_path):
    """The two places DuckDB keeps loaded tables (memory, a database file) and SQLite's
    schedule on all cores and its one-step-after-the-other run all give the same findings."""
    from invreconcile.engines import Engine, SQLiteEngine
    root, db = world
    parallel = run_audit(db, save_findings=False)
    on_file = run_audit(db, engine=DuckDBEngine(root / "lake", database=str(tmp_path / "scratch.duckdb")),
                        save_findings=False)
    assert_same_findings(parallel, on_file)

    class OneAtATime(SQLiteEngine):
        build_and_query = Engine.build_and_query
    assert_same_findings(parallel, run_audit(db, engine=OneAtATime(db), save_findings=False))


def test_duckdb_memory_limit(world):
    from invreconcile.engines.duckdb import _lake_bytes, _parquet_budget, lake_index
    from invreconcile.errors import ConfigError
    root, _ = world
    assert _lake_bytes(lake_index(root / "lake")) <= min(_parquet_budget("4GB"), _parquet_budget(None))
    assert _lake_bytes(lake_index(root / "lake")) > _parquet_budget("10KB")
    with pytest.raises(ConfigError, match="expected a size like 4GB"):
        _parquet_budget("lots")


def _bureau():
    """benchmarks/bureau.py (lakes of copies of the sample chain)."""
    import sys
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import bureau
    return bureau


def _largest_group(lake) -> int:
    """The Parquet bytes a batch holding ``lake``'s largest group of stores reads."""
    from invreconcile.engines.duckdb import store_groups
    groups, size, shared = store_groups(lake)
    return shared + max(sum(size[s] for s in group) for group in groups)


@pytest.fixture(scope="module")
def two_chains(world):
    """The sample chain twice, the copy renamed (benchmarks/bureau.py): nothing shared."""
    root, _ = world
    _bureau().replicate_lake(root / "lake", root / "lake2", 2)
    return root / "lake2"


@pytest.fixture(scope="module")
def chain_bytes(two_chains):
    """A batch size that holds one of the two chains whole, not both: two batches."""
    from invreconcile.engines.duckdb import store_groups
    assert len(store_groups(two_chains)[0]) == 2
    return _largest_group(two_chains)


def test_duckdb_in_store_groups_gives_the_same_findings(world, two_chains):
    """A lake larger than DuckDB's memory is audited in groups of stores that share no
    trace code, one group after the other; the rules that compare every store with the
    others (store_outlier, the person rules) run over all stores at once."""
    from invreconcile.engines.duckdb import plan_batches, store_groups
    from invreconcile.rules import Config
    root, _ = world
    chain = sorted(p.name[len("store="):] for p in (root / "lake" / "settlements").iterdir())
    assert len(chain) == 6
    # the chain's stores share trace codes (transfers, a box resold elsewhere): one group,
    # kept whole in a batch that holds it, cut into its stores when a batch cannot
    assert store_groups(root / "lake")[0] == [chain]
    assert plan_batches(root / "lake", 10 ** 9)[0] == [chain]
    assert plan_batches(root / "lake", 1)[0] == [[s] for s in chain]
    batched = DuckDBEngine(two_chains, batch_bytes=1)
    in_groups = run_audit(None, engine=batched, save_findings=False)
    assert batched.batches == [[s] for s in chain + [s + "y1" for s in chain]]
    at_once = DuckDBEngine(two_chains)
    assert_same_findings(run_audit(None, engine=at_once, save_findings=False), in_groups)
    assert at_once.batches == []
    # with peers required from seven stores on, only a comparison of all twelve finds outliers
    seven = Config(params={"store_outlier": {"min_stores": 7}})
    outliers = run_audit(None, engine=DuckDBEngine(two_chains, batch_bytes=1), rules=["store_outlier"],
                         config=seven, save_findings=False).findings
    assert outliers and {f.store[-2:] == "y1" for f in outliers} == {True, False}


def _planted(lake, out):
    """A copy of the sample chain's lake with three codes that tie store A (the first) to
    store B (the second) through rows of A only a whole audit sees: a box settled in A and
    again in B, A's settlement reversed (2103); another, A's sale of it returned (3506);
    and a code settled in B with no event anywhere but a receiving scan in A."""
    import shutil
    import duckdb
    shutil.copytree(lake, out)
    con = duckdb.connect()

    def read(table):
        return f"read_parquet('{out}/{table}/**/*.parquet', union_by_name = true, hive_partitioning = false)"

    def add(table, store, sql):
        month = con.execute(f"SELECT DISTINCT month FROM ({sql})").fetchall()
        assert len(month) == 1
        folder = out / table / f"store={store}" / f"month={month[0][0]}"
        folder.mkdir(parents=True, exist_ok=True)
        con.execute(f"COPY ({sql}) TO '{folder / 'planted.parquet'}' (FORMAT parquet)")
    a, b = sorted(p.name[len("store="):] for p in (out / "settlements").iterdir())[:2]
    top = {t: con.execute(f"SELECT MAX(id) FROM {read(t)}").fetchone()[0] for t in ("code_events", "settlements", "sales", "scans")}
    # codes settled once, in A only, in a settlement that stands, with no other event but their receipt
    once = con.execute(f"""
        SELECT code, setl_id, item_id FROM {read('code_events')} e
        WHERE store = '{a}' AND event = 'settled' AND code_kind = 'cn20' AND setl_id IS NOT NULL
          AND code IN (SELECT code FROM {read('code_events')} GROUP BY code
                       HAVING COUNT(DISTINCT store) = 1 AND COUNT(*) FILTER (WHERE event NOT IN ('received', 'sold', 'settled')) = 0
                          AND COALESCE(MAX(trdn_flag), 0) = 0
                          AND COUNT(DISTINCT COALESCE(setl_id, '')) <= 2)
          AND setl_id NOT IN (SELECT orig_setl_id FROM {read('settlements')} WHERE is_reversal = 1 AND orig_setl_id IS NOT NULL)
          AND setl_id NOT IN (SELECT setl_id FROM {read('sales')} WHERE is_return = 1 AND setl_id IS NOT NULL)
        ORDER BY code LIMIT 3""").fetchall()
    assert len({setl for _, setl, _ in once}) == 3
    (reversed_code, reversed_setl, _), (returned_code, returned_setl, returned_item), (scanned_code, _, _) = once
    unknown = "12345678901234567890"   # a code that occurs nowhere else

    def settled_in_b(n, code, new_code, setl):
        return (f"SELECT * REPLACE ('{b}' AS store, {top['code_events'] + n} AS id, '{setl}' AS setl_id, '{new_code}' AS code, "
                f"epoch + 60 AS epoch, strftime(CAST(ts AS TIMESTAMP) + INTERVAL 60 SECOND, '%Y-%m-%d %H:%M:%S') AS ts) "
                f"FROM {read('code_events')} WHERE store = '{a}' AND event = 'settled' AND code = '{code}'")
    add("code_events", b, f"{settled_in_b(1, reversed_code, reversed_code, 'PLANTED-B1')} UNION ALL "
                          f"{settled_in_b(2, returned_code, returned_code, 'PLANTED-B2')} UNION ALL "
                          f"{settled_in_b(3, scanned_code, unknown, 'PLANTED-B3')}")
    add("settlements", a, f"SELECT * REPLACE ({top['settlements'] + 1} AS id, 'PLANTED-R1' AS setl_id, 1 AS is_reversal, "
                          f"'{reversed_setl}' AS orig_setl_id) FROM {read('settlements')} WHERE store = '{a}' AND setl_id = '{reversed_setl}'")
    add("sales", a, f"SELECT * REPLACE ({top['sales'] + 1} AS id, 1 AS is_return, '{returned_setl}' AS setl_id, "
                    f"'{returned_item}' AS item_id) FROM {read('sales')} WHERE store = '{a}' AND setl_id = '{returned_setl}' "
                    "ORDER BY id LIMIT 1")
    add("scans", a, f"SELECT * REPLACE ({top['scans'] + 1} AS id, '{unknown}' AS code, 'cn20' AS code_kind, 'receive' AS mode, "
                    f"0 AS deleted) FROM {read('scans')} WHERE store = '{a}' ORDER BY id LIMIT 1")
    return a, b, (reversed_code, returned_code, unknown)


def test_duckdb_batch_of_part_of_a_group_borrows_what_its_rules_compare(world, tmp_path):
    """A group of stores larger than a batch is cut into batches of its stores; each batch
    borrows from the group's other stores the events and scans of the codes they share,
    the reversals and sales of the settlements those events name: the findings of the
    whole lake at once. Planted in the sample chain, each case checked to matter: a box
    resold in B after A's sale was reversed, or returned, is not resold; a code received
    only by a scan in A is known in B."""
    root, _ = world
    a, b, codes = _planted(root / "lake", tmp_path / "lake")
    whole = run_audit(None, engine=DuckDBEngine(tmp_path / "lake"), save_findings=False)
    assert not [f for f in whole.findings if f.rule in ("code_resold", "code_never_received") and set(f.codes) & set(codes)]
    batched = DuckDBEngine(tmp_path / "lake", batch_bytes=1)
    in_batches = run_audit(None, engine=batched, save_findings=False)
    assert [a] in batched.batches and [b] in batched.batches
    assert a in batched.lenders[batched.batches.index([b])]
    assert_same_findings(whole, in_batches)
    # each planted row matters: without it, the whole lake's audit finds its code
    for table, rule, code in (("settlements", "code_resold", codes[0]), ("sales", "code_resold", codes[1]),
                              ("scans", "code_never_received", codes[2])):
        planted = tmp_path / "lake" / table / f"store={a}"
        (moved,) = planted.rglob("planted.parquet")
        moved.rename(tmp_path / "aside.parquet")
        found = run_audit(None, engine=DuckDBEngine(tmp_path / "lake"), rules=[rule], save_findings=False).findings
        assert [f for f in found if f.store == b and code in f.codes], (table, rule)
        (tmp_path / "aside.parquet").rename(moved)


def test_duckdb_chains_tied_by_resold_boxes_are_one_group_cut_into_batches(two_chains, chain_bytes, tmp_path):
    """The benchmark's copies of the chain tied by a box of each resold in the other
    (benchmarks/bureau.py resell_across_copies): one group of twelve stores, which no
    longer fits a batch of one chain; cut into batches, the findings of the lake at once:
    those of the two chains plus one resold box each."""
    from invreconcile.engines.duckdb import store_groups
    assert _bureau().resell_across_copies(two_chains, tmp_path / "resold") == 2
    assert len(store_groups(tmp_path / "resold")[0]) == 1
    batched = DuckDBEngine(tmp_path / "resold", batch_bytes=chain_bytes, workers=2)
    in_batches = run_audit(None, engine=batched, save_findings=False)
    # cut where the stores share fewest codes: between the chains, each batch borrowing
    # from the two stores of the other chain that resold its box and sold the other's
    assert sorted(map(sorted, batched.batches)) == sorted(map(sorted, store_groups(two_chains)[0]))
    assert [len(stores) for stores in batched.lenders] == [2, 2]
    assert_same_findings(run_audit(None, engine=DuckDBEngine(tmp_path / "resold"), save_findings=False), in_batches)
    before = {f.id for f in run_audit(None, engine=DuckDBEngine(two_chains), save_findings=False).findings}
    added = [f for f in in_batches.findings if f.id not in before]
    assert len(in_batches.findings) == len(before) + 2 and {f.rule for f in added} == {"code_resold"}


def test_plan_links_stores_by_codes_that_name_a_box_only(world, two_chains, chain_bytes, tmp_path):
    """The split-pack placeholder (twenty 9s) and a goods barcode uploaded as a trace code
    are the same text in every pharmacy: the two chains using the same ones stay two
    groups (no rule follows such a code from store to store), and their findings in
    batches are those of the lake at once."""
    import shutil
    import duckdb
    from invreconcile.engines.duckdb import store_groups
    lake = tmp_path / "lake"
    shutil.copytree(two_chains, lake)
    con = duckdb.connect()
    changed = 0
    for f in sorted((lake / "code_events").glob("store=*y1/**/*.parquet")):
        tmp = f.with_suffix(".tmp")
        con.execute(f"COPY (SELECT * REPLACE (CASE WHEN code_kind IN ('split_placeholder', 'ean13') THEN replace(code, 'y1', '') "
                    f"ELSE code END AS code) FROM read_parquet('{f}')) TO '{tmp}' (FORMAT parquet)")
        changed += con.execute(f"SELECT COUNT(*) FROM read_parquet('{tmp}') WHERE code_kind IN ('split_placeholder', 'ean13')").fetchone()[0]
        tmp.replace(f)
    shared = con.execute(f"SELECT COUNT(DISTINCT code) FROM read_parquet('{lake}/code_events/**/*.parquet') "
                         "WHERE code_kind IN ('split_placeholder', 'ean13') GROUP BY code HAVING COUNT(DISTINCT store LIKE '%y1') = 2").fetchall()
    assert changed and shared   # the chains now share such codes
    assert len(store_groups(lake)[0]) == 2
    batched = DuckDBEngine(lake, batch_bytes=chain_bytes)
    in_batches = run_audit(None, engine=batched, save_findings=False)
    assert len(batched.batches) == 2 and not any(batched.lenders)
    assert_same_findings(run_audit(None, engine=DuckDBEngine(lake), save_findings=False), in_batches)


def test_duckdb_batch_reads_the_case_codes_of_its_own_codes(two_chains, chain_bytes):
    """code_ancestors is split by batch when the batches are planned: each batch gets the
    rows of the codes its stores hold (none of the other batch's), and together they hold
    every row whose code has an event."""
    import duckdb
    engine = DuckDBEngine(two_chains, batch_bytes=chain_bytes)
    run_audit(None, engine=engine, rules=["code_never_received"], save_findings=False)
    split = engine._per_batch["code_ancestors"]
    assert len(split) == len(engine.batches) == 2 and all(split)
    con = duckdb.connect()

    def rows(files):
        return set(con.execute(f"SELECT code, ancestor, depth FROM read_parquet({[str(f) for f in files]!r})").fetchall())
    whole = rows(sorted((two_chains / "code_ancestors").rglob("*.parquet")))
    parts = [rows(files) for files in split]
    assert not parts[0] & parts[1] and any(depth > 0 for _, _, depth in parts[0] | parts[1])
    for stores, part in zip(engine.batches, parts):
        files = [str(f) for s in stores for f in (two_chains / "code_events").glob(f"store={s}/**/*.parquet")]
        codes = {c for (c,) in con.execute(f"SELECT DISTINCT code FROM read_parquet({files!r})").fetchall()}
        assert {r for r in whole if r[0] in codes} <= part


def test_plan_reads_the_values_of_event_and_code_kind_in_the_lake(two_chains):
    """The plan's pass over the trace codes also collects the values of event and
    code_kind (every row's, sorted), which the batches then read as ENUMs."""
    import duckdb
    import invreconcile.engines.duckdb as dd
    values: dict = {}
    dd.store_groups(two_chains, values=values)
    con = duckdb.connect()
    for column, tables in (("event", ["code_events"]), ("code_kind", ["code_events", "scans"])):
        found = {v for t in tables for (v,) in con.execute(
            f"SELECT DISTINCT {column} FROM read_parquet('{two_chains}/{t}/**/*.parquet') WHERE {column} IS NOT NULL").fetchall()}
        assert values[column] == sorted(found) and "sold" in values["event"]


def test_duckdb_batches_on_two_workers_give_the_same_findings_as_one_after_the_other(two_chains, chain_bytes):
    """Two batches at once, each on a DuckDB database of its own (opening hours copied to
    both, evidence read in each): the findings of one worker doing both in turn. Either
    way the progress hook hears the store-wide rules one by one, then each batch (not the
    rules within a batch)."""
    heard = {1: [], 2: []}
    two = DuckDBEngine(two_chains, batch_bytes=chain_bytes, workers=2)
    two.progress = lambda *told: heard[2].append(told)
    at_once = run_audit(None, engine=two, save_findings=False)
    one = DuckDBEngine(two_chains, batch_bytes=chain_bytes, workers=1)
    one.progress = lambda *told: heard[1].append(told)
    in_turn = run_audit(None, engine=one, save_findings=False)
    assert len(two.batches) == len(one.batches) == 2
    wide = len([r for r in builtin_rules() if r.scope == "all_stores"])
    assert heard[1] == heard[2] == [("plan", 0, 1), *(("rules", k, wide) for k in range(wide + 1)),
                                    *(("batches", k, 2) for k in range(3))]
    assert_same_findings(in_turn, at_once)
    assert any(f.store.endswith("y1") for f in at_once.findings) and any(e["src_file"] for f in at_once.findings for e in f.evidence)
    assert any(f.rule == "night_swipe" for f in at_once.findings)   # reads the copied opening hours


def test_duckdb_few_or_large_groups_run_on_one_worker_in_memory(two_chains, monkeypatch):
    """Two workers would share the memory; with two groups, each larger than a worker's
    half but within the whole budget, one worker audits them with all the memory (not paged
    to a file)."""
    import invreconcile.engines.duckdb as dd
    largest = _largest_group(two_chains)
    # a budget of one and a half groups in 1 GB: a worker's half holds less than one group
    monkeypatch.setattr(dd, "IN_MEMORY_PER_PARQUET_BYTE", int(2 ** 30 / 2 / (1.5 * largest)))
    engine = DuckDBEngine(two_chains, memory_limit="1GB", workers=2)
    result = run_audit(None, engine=engine, save_findings=False)
    assert len(engine.batches) == 2 and engine.workers == 1
    assert not engine.conn.execute("SELECT file FROM pragma_database_list WHERE name = 'scratch'").fetchall()
    assert_same_findings(run_audit(None, engine=DuckDBEngine(two_chains), save_findings=False), result)


def test_duckdb_two_workers_do_not_cut_groups_one_worker_keeps_whole(world, tmp_path, monkeypatch):
    """Four chains, each within the memory budget but larger than a worker's half of it:
    two workers would have to cut every chain into batches that borrow each other's rows;
    one worker audits the four whole, borrowing nothing."""
    import invreconcile.engines.duckdb as dd
    root, _ = world
    _bureau().replicate_lake(root / "lake", tmp_path / "four", 4)
    groups = dd.store_groups(tmp_path / "four")[0]
    largest = _largest_group(tmp_path / "four")
    monkeypatch.setattr(dd, "IN_MEMORY_PER_PARQUET_BYTE", int(2 ** 30 / 2 / (1.2 * largest)))   # 1.2 chains in 1 GB
    engine = DuckDBEngine(tmp_path / "four", memory_limit="1GB", workers=2)
    run_audit(None, engine=engine, rules=["code_resold"], save_findings=False)
    assert sorted(map(sorted, engine.batches)) == sorted(map(sorted, groups)) and len(groups) == 4
    assert engine.workers == 1 and not any(engine.lenders)


def test_duckdb_group_larger_than_memory_pages_a_database_file(world, two_chains, monkeypatch):
    """Stores larger than the memory budget: a batch each (their group cut), the tables in
    a temporary database file that DuckDB pages; the same findings."""
    import invreconcile.engines.duckdb as dd
    root, db = world
    monkeypatch.setattr(dd, "IN_MEMORY_PER_PARQUET_BYTE", 10_000)   # a budget of 50 KB in 1 GB
    engine = DuckDBEngine(two_chains, memory_limit="1GB")
    paged = run_audit(None, engine=engine, save_findings=False)
    assert len(engine.batches) == 12
    assert engine.conn.execute("SELECT file FROM pragma_database_list WHERE name = 'scratch'").fetchall()
    assert_same_findings(run_audit(None, engine=DuckDBEngine(two_chains), save_findings=False), paged)


def test_cli_says_when_a_lake_is_audited_in_batches(two_chains, tmp_path, monkeypatch):
    import json
    from click.testing import CliRunner
    import invreconcile.engines.duckdb as dd
    from invreconcile.cli import main
    monkeypatch.setattr(dd, "IN_MEMORY_PER_PARQUET_BYTE", 10_000)   # a budget of 50 KB in 1 GB
    out = tmp_path / "f.json"
    r = CliRunner().invoke(main, ["--lang", "en", "audit", "--db", str(tmp_path / "cli.db"), "--engine", "duckdb",
                                  "--lake", str(two_chains), "--memory-limit", "1GB", "--rules", "code_resold",
                                  "--json", str(out)])
    assert r.exit_code == 0, r.output
    # each store a batch (its chain cut), reading its chain's rows of the codes it shares
    assert "audited in 12 batches of stores, 1 at a time" in r.output and "12 batches also read" in r.output
    found = json.loads(out.read_text(encoding="utf-8"))
    assert found and {f["store"].endswith("y1") for f in found} == {True, False}   # both chains' findings


def test_duckdb_store_wide_tables_are_dropped_before_the_findings_are_made(two_chains, chain_bytes, monkeypatch):
    """Before the batches, the rules that compare all stores load every store's tables,
    without the columns that say where each row comes from; they are dropped (and their
    memory handed back) once those rules have run. The evidence of their findings still
    names its source file and row: each batch reads those of the rows its stores hold, and
    looks up no other store's."""
    import duckdb
    given = []   # the cited rows given to each batch
    split = DuckDBEngine._cited_by_batch
    monkeypatch.setattr(DuckDBEngine, "_cited_by_batch", lambda self, cited: given.append(split(self, cited)) or given[-1])
    store_of = dict(duckdb.connect().execute(
        f"SELECT id, store FROM read_parquet('{two_chains}/settlements/**/*.parquet')").fetchall())
    for workers in (1, 2):
        engine = DuckDBEngine(two_chains, batch_bytes=chain_bytes, workers=workers)
        result = run_audit(None, engine=engine, save_findings=False)
        assert len(engine.batches) == 2
        rows = [batch.get("settlements", set()) for batch in given[-1]]
        assert all(rows) and not rows[0] & rows[1]
        assert all(store_of[i] in stores for stores, mine in zip(engine.batches, rows) for i in mine)
        loaded = {t for (t,) in engine.conn.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
        assert not loaded & {"settlements", "settlement_lines", "items"}
        wide = [f for f in result.findings if f.rule in ("store_outlier", "person_multi_store", "person_monthly_amount", "excess_supply")]
        assert wide and all(e["src_file"] and e["src_row"] for f in wide for e in f.evidence)
        assert all(e["id"] in engine._sources[e["table"]] for f in wide for e in f.evidence)   # found by the batches


def test_duckdb_lake_with_rows_outside_their_store_directory_is_refused(two_chains, tmp_path, monkeypatch):
    """Batches rely on the layout of docs/lake.md (a store's rows in its store= directories):
    trace codes of a store with no directory of its own cannot be put in a batch, so the
    audit stops with a clear error instead of grouping the stores wrongly."""
    import shutil
    import duckdb
    from click.testing import CliRunner
    import invreconcile.engines.duckdb as dd
    from invreconcile.cli import main
    from invreconcile.errors import ConfigError
    lake = tmp_path / "lake"
    shutil.copytree(two_chains, lake)
    some = sorted((lake / "code_events").glob("store=*/**/*.parquet"))[0]
    duckdb.connect().execute(f"COPY (SELECT * REPLACE ('ghost' AS store) FROM read_parquet('{some}') LIMIT 5) "
                             f"TO '{some.parent / 'ghost.parquet'}' (FORMAT parquet)")
    with pytest.raises(ConfigError, match="no store= directory of its own"):
        dd.plan_batches(lake, 1)
    monkeypatch.setattr(dd, "IN_MEMORY_PER_PARQUET_BYTE", 10_000)   # a budget of 50 KB in 1 GB: batches
    r = CliRunner().invoke(main, ["--lang", "en", "audit", "--db", str(tmp_path / "cli.db"), "--engine", "duckdb",
                                  "--lake", str(lake), "--memory-limit", "1GB"])
    assert r.exit_code != 0 and "no store= directory of its own" in r.output and "Traceback" not in r.output


def test_duckdb_lake_files_missing_a_column_read_it_as_null(two_chains, tmp_path):
    """docs/lake.md lets a Parquet file lack a column, which then reads as NULL. The engine
    first binds the files by the first one's columns and reads them again by name when a
    file lacks one: a lake whose first sales file has no psn_no and one code-event file no
    detail gives the findings of the same lake with those columns NULL, in memory and in
    batches."""
    import shutil
    import duckdb
    con = duckdb.connect()
    lakes = {}
    for kind, change in (("missing", "EXCLUDE ({col})"), ("null", "REPLACE (NULL::VARCHAR AS {col})")):
        lake = lakes[kind] = tmp_path / kind
        shutil.copytree(two_chains, lake)
        for table, col, nth in (("sales", "psn_no", 0), ("code_events", "detail", 2)):
            f = sorted((lake / table).rglob("*.parquet"))[nth]
            tmp = f.with_suffix(".tmp")
            con.execute(f"COPY (SELECT * {change.format(col=col)} FROM read_parquet('{f}')) TO '{tmp}' (FORMAT parquet)")
            tmp.replace(f)
    assert "psn_no" not in [c for c, in con.execute(
        f"SELECT name FROM parquet_schema('{sorted((lakes['missing'] / 'sales').rglob('*.parquet'))[0]}')").fetchall()]
    for batch_bytes in (None, 1):
        got = run_audit(None, engine=DuckDBEngine(lakes["missing"], batch_bytes=batch_bytes), save_findings=False)
        assert_same_findings(run_audit(None, engine=DuckDBEngine(lakes["null"], batch_bytes=batch_bytes),
                                       save_findings=False), got)


def test_duckdb_lake_with_a_sale_outside_its_store_directory_is_refused_in_memory(two_chains, tmp_path):
    """The DuckDB engine reads store columns as the lake's store= directory names (an
    ENUM): a row of any table whose store has no directory stops even an audit held in
    memory, naming the file and the store, instead of failing in a rule."""
    import shutil
    import duckdb
    from invreconcile.errors import ConfigError
    lake = tmp_path / "lake"
    shutil.copytree(two_chains, lake)
    some = sorted((lake / "sales").glob("store=*/**/*.parquet"))[0]
    duckdb.connect().execute(f"COPY (SELECT * REPLACE ('ghost' AS store) FROM read_parquet('{some}') LIMIT 1) "
                             f"TO '{some.parent / 'ghost.parquet'}' (FORMAT parquet)")
    with pytest.raises(ConfigError, match=r"ghost\.parquet holds a row of store 'ghost', which has no store= directory"):
        run_audit(None, engine=DuckDBEngine(lake), save_findings=False)


def test_store_outlier_shows_the_first_settlements_and_counts_them_all(two_chains):
    """An outlier store-month's evidence is every settlement of that month: the finding
    shows the first EVIDENCE_LIMIT by row and counts all of them."""
    import duckdb
    from invreconcile.findings import EVIDENCE_LIMIT
    from invreconcile.rules import Config
    seven = Config(params={"store_outlier": {"min_stores": 7}})
    found = run_audit(None, engine=DuckDBEngine(two_chains, batch_bytes=1), rules=["store_outlier"],
                      config=seven, save_findings=False).findings
    assert found
    con = duckdb.connect()
    for f in found:
        ids = [i for (i,) in con.execute(
            f"SELECT id FROM read_parquet('{two_chains}/settlements/store={f.store}/**/*.parquet') "
            "WHERE month = ? AND is_reversal = 0 AND deleted = 0 AND epoch IS NOT NULL "
            "AND setl_id NOT IN (SELECT orig_setl_id FROM read_parquet("
            f"'{two_chains}/settlements/store={f.store}/**/*.parquet') WHERE is_reversal = 1 AND deleted = 0 "
            "AND orig_setl_id IS NOT NULL) ORDER BY id", [f.period]).fetchall()]
        assert f.evidence_total == len(ids) and [e["id"] for e in f.evidence] == ids[:EVIDENCE_LIMIT]
        assert {e["table"] for e in f.evidence} == {"settlements"} and all(e["src_file"] for e in f.evidence)
    assert any(f.evidence_total > EVIDENCE_LIMIT for f in found)   # the list is cut and the count says so


def test_cli_audit_on_duckdb_starts_again_under_jemalloc(world, tmp_path):
    """The command line audits on DuckDB under jemalloc where the system has it (10M lines:
    a tenth to a quarter less CPU), with the findings it gives without."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path
    from invreconcile.engines.duckdb import allocator_env
    root, _ = world
    command = Path(sys.executable).parent / "invreconcile"
    if allocator_env() is None or not command.exists():
        pytest.skip("jemalloc (Debian: libjemalloc2) or the installed invreconcile command is missing")
    found = {}
    for allocator in ("jemalloc", "system"):
        env = {**os.environ, "LD_DEBUG": "libs", "INVRECONCILE_ALLOCATOR": allocator}   # the loader names what it loads
        done = subprocess.run([sys.executable, str(command), "--lang", "en", "audit", "--db", str(tmp_path / f"{allocator}.db"),
                               "--engine", "duckdb", "--lake", str(root / "lake"), "--json", str(tmp_path / f"{allocator}.json")],
                              capture_output=True, text=True, env=env)
        assert done.returncode == 0, done.stderr[-2000:]
        assert ("libjemalloc" in done.stderr) == (allocator == "jemalloc")
        found[allocator] = json.loads((tmp_path / f"{allocator}.json").read_text(encoding="utf-8"))
    assert len(found["jemalloc"]) > 50 and found["jemalloc"] == found["system"]


def test_cli_audit_stopped_with_kill_removes_its_scratch_folder(world, tmp_path):
    """`kill` (SIGTERM) stops an audit as Ctrl-C does: DuckDB's scratch folder goes with it
    (a killed 10M audit left 3.9 GB in the temp folder)."""
    import os
    import signal
    import subprocess
    import sys
    import time
    root, _ = world
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    proc = subprocess.Popen([sys.executable, "-m", "invreconcile.cli", "audit", "--db", str(tmp_path / "k.db"),
                             "--engine", "duckdb", "--lake", str(root / "lake")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env={**os.environ, "TMPDIR": str(scratch), "INVRECONCILE_ALLOCATOR": "system"})
    deadline = time.time() + 60
    while time.time() < deadline and proc.poll() is None and not list(scratch.glob("invreconcile-duckdb-*")):
        time.sleep(0.02)
    assert proc.poll() is None and list(scratch.glob("invreconcile-duckdb-*")), "the audit ended before it was killed"
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(60) == 128 + signal.SIGTERM
    assert list(scratch.iterdir()) == [], proc.stderr.read()[-2000:]


def test_duckdb_answer_comes_in_pieces_and_a_rule_failing_midway_keeps_no_findings(world, tmp_path, monkeypatch):
    """A rule's rows come from DuckDB a piece at a time, each turned into findings and let
    go before the next is read: the same findings as from one piece. A rule whose query
    fails after some of its pieces is reported as failed and none of its findings is kept,
    held in memory or saved (some saved already, a chunk at a time)."""
    import duckdb
    import invreconcile.engines as engines
    from invreconcile.findings import Collector
    from invreconcile.ledger import open_ledger
    root, _ = world
    whole = run_audit(None, engine=DuckDBEngine(root / "lake"), save_findings=False)
    counts: dict[str, int] = {}
    for f in whole.findings:
        counts[f.rule] = counts.get(f.rule, 0) + 1
    rule = max(counts, key=counts.get)
    assert counts[rule] > 6
    from invreconcile.rules import builtin_rules
    sql = next(r.sql for r in builtin_rules() if r.id == rule)
    real, sizes = DuckDBEngine.query_pieces, []

    def watched(self, text, params=None):
        for n, piece in enumerate(real(self, text, params)):
            sizes.append(len(piece[1]))
            if failing and text == sql and n == 2:
                raise duckdb.IOException("disk gone")
            yield piece
    monkeypatch.setattr(DuckDBEngine, "query_pieces", watched)
    monkeypatch.setattr(engines, "ROWS_PER_PIECE", 2)
    failing = False
    assert_same_findings(whole, run_audit(None, engine=DuckDBEngine(root / "lake"), save_findings=False))
    assert max(sizes) == 2 and len(sizes) > counts[rule] / 2
    failing = True
    monkeypatch.setattr(Collector, "CHUNK", 3)
    for saved in (False, True):
        ledger = open_ledger(tmp_path / f"f{saved}.db")
        broken = run_audit(ledger, engine=DuckDBEngine(root / "lake", ledger=ledger), save_findings=saved)
        assert list(broken.errors) == [rule] and "disk gone" in broken.errors[rule]
        assert [f.id for f in broken.findings] == [f.id for f in whole.findings if f.rule != rule]


def test_duckdb_batch_workers_stop_when_making_the_findings_fails(two_chains, chain_bytes, monkeypatch):
    """Findings are made while the batch workers go on; when that fails (here a full disk
    on the third finding), the audit stops with that error, and the workers stop and close
    their databases: no thread is left running."""
    import threading
    from parity import disk_full_at
    made = disk_full_at(3, monkeypatch)
    before = threading.active_count()
    engine = DuckDBEngine(two_chains, batch_bytes=chain_bytes, workers=2)
    with pytest.raises(OSError, match="No space left"):
        run_audit(None, engine=engine, save_findings=False)
    assert len(engine.batches) == 2 and len(made) == 3
    assert threading.active_count() == before
