"""invreconcile check-lake: a lake a bureau's own platform produced, checked against
docs/lake.md before an audit trusts it; and the audit's own refusals of such a lake."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

pytest.importorskip("duckdb")
import duckdb  # noqa: E402
from click.testing import CliRunner  # noqa: E402

from invreconcile.audit import run_audit  # noqa: E402
from invreconcile.cli import main  # noqa: E402
from invreconcile.engines.duckdb import DuckDBEngine  # noqa: E402
from invreconcile.errors import ConfigError  # noqa: E402
from invreconcile.lakecheck import check_lake  # noqa: E402

from parity import sample_lake  # noqa: E402


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    """The sample lake, with a purchase batch withdrawn by a 3507 deletion (its rows kept
    with deleted = 1, their code events gone)."""
    from invreconcile.importer import import_paths
    from invreconcile.lake import export_lake
    root = tmp_path_factory.mktemp("lakecheck")
    db = sample_lake(root)
    store, bchno = db.conn.execute("SELECT store, bchno FROM purchases WHERE codes <> '' AND bchno <> '' "
                                   "ORDER BY id LIMIT 1").fetchone()
    (root / "later").mkdir()
    (root / "later" / f"{store}_deletion.jsonl").write_text(json.dumps(
        {"infno": "3507", "fixmedins_code": store, "input": {"data": {"fixmedins_bchno": bchno, "inv_data_type": "3"}}})
        + "\n", encoding="utf-8")
    import_paths(db, [root / "later"])
    assert db.conn.execute("SELECT COUNT(*) FROM purchases WHERE deleted = 1 AND codes <> ''").fetchone()[0] > 0
    export_lake(db, root / "lake")
    return root / "lake", db


def _rewrite(path: Path, select: str) -> None:
    """Write the Parquet file ``path`` again as ``select`` over its rows (``{f}``), in
    its row order."""
    tmp = path.with_suffix(".tmp")
    source = f"read_parquet('{path}')"
    duckdb.connect().execute(f"COPY ({select.format(f=source)}) TO '{tmp}' (FORMAT parquet)")
    tmp.replace(path)


def _first_file(lake: Path, table: str, nth: int = 0) -> Path:
    return sorted((lake / table).rglob("*.parquet"))[nth]


def _row(path: Path, where: str) -> tuple[int, dict]:
    """The first row of ``path`` where ``where`` holds: (its row number, 1 = first; the row)."""
    cur = duckdb.connect().execute(
        f"SELECT file_row_number + 1 AS r, * FROM read_parquet('{path}', file_row_number = true) WHERE {where} "
        "ORDER BY r LIMIT 1")
    values = cur.fetchone()
    return values[0], dict(zip([d[0] for d in cur.description], values))


def _has(path: Path, where: str) -> bool:
    return duckdb.connect().execute(f"SELECT COUNT(*) FROM read_parquet('{path}') WHERE {where}").fetchone()[0] > 0


@pytest.fixture(scope="module")
def planted(clean, tmp_path_factory):
    """The sample lake with one of each problem planted; returns (lake, the problems as
    (level, check, table, file relative to the lake, row, column) expected)."""
    lake = tmp_path_factory.mktemp("planted") / "lake"
    shutil.copytree(clean[0], lake)
    rel = lambda p: str(Path(p).relative_to(lake))   # noqa: E731
    want = set()
    # a quantity written as text, one of them not a number
    s = _first_file(lake, "sales")
    _rewrite(s, "SELECT * REPLACE (CASE WHEN file_row_number = 3 THEN 'three' ELSE CAST(qty AS VARCHAR) END AS qty) "
                "FROM read_parquet('" + str(s) + "', file_row_number = true) ORDER BY file_row_number")
    _rewrite(s, "SELECT * EXCLUDE (file_row_number) FROM {f}")
    want |= {("error", "bad_value", "sales", rel(s), 4, "qty"), ("warning", "column_type", "sales", rel(s), None, "qty")}
    # a misspelt column name: the column itself then missing
    p = _first_file(lake, "purchases")
    _rewrite(p, "SELECT * RENAME (item_id AS itemid) FROM {f}")
    want |= {("error", "unknown_column", "purchases", rel(p), None, "itemid"),
             ("error", "missing_column", "purchases", rel(p), None, "item_id")}
    # an epoch an hour off its ts
    t = _first_file(lake, "settlements")
    r, row = _row(t, "file_row_number = 1")
    _rewrite(t, f"SELECT * REPLACE (CASE WHEN id = {row['id']} THEN epoch + 3600 ELSE epoch END AS epoch) FROM {{f}}")
    want.add(("error", "time_mismatch", "settlements", rel(t), 2, "epoch"))
    # a file directly in its table's folder
    lines = _first_file(lake, "settlement_lines")
    lines.rename(lake / "settlement_lines" / "part-x.parquet")
    want.add(("error", "outside_layout", "settlement_lines", "settlement_lines/part-x.parquet", None, ""))
    # a store's count rows copied into another store's directory: wrong store, and their ids twice
    counts = sorted((lake / "stock_counts").glob("store=*"))
    a = sorted(counts[0].rglob("*.parquet"))[0]
    b = sorted(counts[1].rglob("*.parquet"))[0].parent / "extra.parquet"
    shutil.copy(a, b)
    want |= {("error", "store_directory", "stock_counts", rel(b), 1, "store"),
             ("error", "id_repeated", "stock_counts", rel(b), 1, "id")}
    # a sale with trace codes whose code events are missing
    last = _first_file(lake, "sales", -1)
    r, sale = _row(last, "codes <> '' AND deleted = 0")
    for f in (lake / "code_events").rglob("*.parquet"):
        _rewrite(f, f"SELECT * FROM {{f}} WHERE NOT (src_table = 'sales' AND src_id = {sale['id']})")
    want.add(("error", "no_code_events", "sales", rel(last), r, "codes"))
    # a code relation whose code has no ancestry row
    rel_file = _first_file(lake, "code_relations")
    r, relation = _row(rel_file, "true")
    for f in (lake / "code_ancestors").rglob("*.parquet"):
        _rewrite(f, f"SELECT * FROM {{f}} WHERE NOT (code = '{relation['code']}' AND depth = 0)")
    want.add(("error", "no_ancestry", "code_relations", rel(rel_file), r, "code"))
    # a catalog prefix whose product key is missing
    items = sorted((lake / "items").rglob("*.parquet"))
    f, (r, item) = next((f, _row(f, "trace_prefix <> ''")) for f in items if _has(f, "trace_prefix <> ''"))
    key = item["trace_prefix"].split(",")[0]
    for g in (lake / "item_products").rglob("*.parquet"):
        _rewrite(g, f"SELECT * FROM {{f}} WHERE product_key <> '{key}'")
    want.add(("error", "no_product_keys", "items", rel(f), r, "trace_prefix"))
    # a flag other than 0 or 1
    c = _first_file(lake, "stock_changes")
    _rewrite(c, "SELECT * REPLACE (CASE WHEN file_row_number = 0 THEN 2 ELSE deleted END AS deleted) FROM "
                "read_parquet('" + str(c) + "', file_row_number = true) ORDER BY file_row_number")
    _rewrite(c, "SELECT * EXCLUDE (file_row_number) FROM {f}")
    want.add(("error", "flag_value", "stock_changes", rel(c), 1, "deleted"))
    # a file in another month's directory
    sc = _first_file(lake, "scans")
    moved = sc.parent.parent / "month=2030-01" / sc.name
    moved.parent.mkdir()
    sc.rename(moved)
    want.add(("warning", "month_directory", "scans", rel(moved), 1, "month"))
    # what the engines do not read, and a file that is not Parquet
    (lake / "sales" / "notes.txt").write_text("sent by the platform")
    (lake / "salse").mkdir()
    broken = lake / "items" / "store=_" / "broken.parquet"
    broken.write_bytes(b"not parquet")
    want |= {("warning", "stray_file", "sales", "sales/notes.txt", None, ""),
             ("warning", "unknown_folder", "salse", "salse", None, ""),
             ("error", "unreadable", "items", rel(broken), None, "")}
    return lake, want


def test_a_lake_written_by_invreconcile_passes_and_every_row_is_counted(clean):
    lake, db = clean
    result = check_lake(lake)
    assert result.problems == []
    for table, n in result.rows.items():
        assert n == db.conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0], table
    assert {"sales", "settlements", "code_events", "code_ancestors"} <= set(result.rows)


def test_every_planted_problem_is_named_by_file_row_and_column_and_nothing_else(planted):
    lake, want = planted
    result = check_lake(lake)
    got = {(p.level, p.check, p.table, str(Path(p.file).relative_to(lake)), p.row, p.column) for p in result.problems}
    assert got == want
    by = {(p.check, p.column): p for p in result.problems}
    assert by["bad_value", "qty"].found == "'three'" and by["bad_value", "qty"].expected == "INTEGER"
    assert by["unknown_column", "itemid"].expected == "item_id?" and by["unknown_folder", ""].expected == "sales?"
    epoch = by["time_mismatch", "epoch"]
    assert int(epoch.found.strip("'")) - int(epoch.expected) == 3600
    assert by["id_repeated", "id"].count > 1 and "stock_counts/store=" in by["id_repeated", "id"].found
    # errors first, each line saying what to do
    assert [p.level for p in result.problems] == sorted(p.level for p in result.problems)
    assert "Correct the value and write the file again." in by["bad_value", "qty"].text("en")
    assert "第 4 行" in by["bad_value", "qty"].text("zh") and "qty 列" in by["bad_value", "qty"].text("zh")


def test_cli_check_lake(clean, planted):
    r = CliRunner().invoke(main, ["check-lake", str(clean[0])])
    assert r.exit_code == 0 and "0 个错误，0 个警告" in r.output
    r = CliRunner().invoke(main, ["check-lake", str(planted[0])])
    assert r.exit_code == 1 and "第 4 行，qty 列" in r.output and "Traceback" not in r.output
    r = CliRunner().invoke(main, ["--lang", "en", "check-lake", "--json", str(planted[0])])
    assert r.exit_code == 1
    out = json.loads(r.output)
    assert out["errors"] == len(planted[1]) - 4 and out["warnings"] == 4
    assert {p["check"] for p in out["problems"]} == {w[1] for w in planted[1]}
    r = CliRunner().invoke(main, ["check-lake", str(planted[0] / "nothing")])
    assert r.exit_code == 1 and "目录不存在" in r.output


def test_a_folder_that_is_not_the_lake_is_refused_naming_the_one_to_give(planted, tmp_path):
    """A table folder or the lake's parent read as an empty lake: 0 findings, exit 0."""
    lake = planted[0]
    run = lambda *args: CliRunner().invoke(main, ["--lang", "en", *args])   # noqa: E731
    inside = f"a folder inside the lake, not the lake: give {lake} "
    for args in (["check-lake", str(lake / "sales")],
                 ["audit", "--engine", "duckdb", "--db", str(tmp_path / "f.db"), "--lake", str(lake / "sales")],
                 ["report", "-o", str(tmp_path / "r.json"), "--db", str(tmp_path / "f.db"), "--lake",
                  str(next((lake / "code_events").iterdir()))],
                 ["trace", "X", "--lake", str(lake / "settlements")]):
        r = run(*args)
        assert r.exit_code == 1 and inside in r.output and "Traceback" not in r.output, args
    r = run("audit", "--engine", "duckdb", "--db", str(tmp_path / "f.db"), "--lake", str(lake.parent))
    assert r.exit_code == 1 and f"not a lake, but {lake} is: give that folder" in r.output
    r = run("rank", "--db", str(tmp_path / "f.db"), "--lake", str(tmp_path))
    assert r.exit_code == 1 and "not a lake: none of its folders is a table of the layout" in r.output


@pytest.mark.parametrize("batch_bytes", [None, 1])
def test_audit_names_the_file_row_and_column_of_a_value_it_cannot_read(clean, tmp_path, batch_bytes):
    """A value that does not read as its column's type stopped the audit with DuckDB's
    conversion error and a traceback; now with the check's error, in memory and in batches."""
    lake = tmp_path / "lake"
    shutil.copytree(clean[0], lake)
    s = _first_file(lake, "sales", 2)
    _rewrite(s, "SELECT * REPLACE (CASE WHEN file_row_number = 1 THEN '2 boxes' ELSE CAST(qty AS VARCHAR) END AS qty) "
                "FROM read_parquet('" + str(s) + "', file_row_number = true) ORDER BY file_row_number")
    _rewrite(s, "SELECT * EXCLUDE (file_row_number) FROM {f}")
    with pytest.raises(ConfigError, match=r"row 2, column qty: value does not read as its column's type.*found "
                                          r"'2 boxes'.* check-lake"):
        run_audit(None, engine=DuckDBEngine(lake, batch_bytes=batch_bytes), save_findings=False)
    r = CliRunner().invoke(main, ["audit", "--db", str(tmp_path / "cli.db"), "--engine", "duckdb", "--lake", str(lake)])
    assert r.exit_code == 1 and "第 2 行，qty 列" in r.output and "Traceback" not in r.output


def test_audit_refuses_a_file_that_is_not_parquet(clean, tmp_path):
    lake = tmp_path / "lake"
    shutil.copytree(clean[0], lake)
    (_first_file(lake, "settlements").parent / "broken.parquet").write_bytes(b"not parquet")
    with pytest.raises(ConfigError, match=r"broken\.parquet: cannot be read as Parquet"):
        run_audit(None, engine=DuckDBEngine(lake), save_findings=False)


@pytest.mark.parametrize("batch_bytes", [None, 1])
def test_audit_refuses_files_outside_the_store_directories(clean, tmp_path, batch_bytes):
    """A batch reads its stores' directories only: a file directly in the table's folder
    was left out of every batch (and read by an audit in memory). Now neither runs."""
    lake = tmp_path / "lake"
    shutil.copytree(clean[0], lake)
    _first_file(lake, "sales").rename(lake / "sales" / "part-x.parquet")
    with pytest.raises(ConfigError, match=r"sales/part-x\.parquet: outside the store= directories"):
        run_audit(None, engine=DuckDBEngine(lake, batch_bytes=batch_bytes), save_findings=False)


def test_values_that_read_as_their_type_are_warned_about_once_and_others_named(clean, tmp_path):
    """A platform's own types: flags as booleans, quantities as doubles or decimals read as
    the ledger's integers (a warning per column and type); a quantity of 2.5 does not (the
    error names it)."""
    lake = tmp_path / "lake"
    shutil.copytree(clean[0], lake)
    a, b = _first_file(lake, "sales", 0), _first_file(lake, "sales", 1)
    _rewrite(a, "SELECT * REPLACE (deleted = 1 AS deleted, CAST(qty AS DOUBLE) AS qty) FROM {f}")
    _rewrite(b, "SELECT * REPLACE (CASE WHEN file_row_number = 4 THEN 2.5 ELSE qty END::DECIMAL(18, 1) AS qty) FROM "
                "read_parquet('" + str(b) + "', file_row_number = true) ORDER BY file_row_number")
    _rewrite(b, "SELECT * EXCLUDE (file_row_number) FROM {f}")
    got = {(p.level, p.check, p.file, p.row, p.column, p.found, p.count) for p in check_lake(lake).problems}
    assert got == {("warning", "column_type", str(a), None, "deleted", "bool", 1),
                   ("warning", "column_type", str(a), None, "qty", "double", 1),
                   ("warning", "column_type", str(b), None, "qty", "decimal128(18, 1)", 1),
                   ("error", "bad_value", str(b), 5, "qty", "'2.5'", 1)}
