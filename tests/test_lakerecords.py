"""Reports and ranking of an audit run on a lake: findings in the ledger, records in the
lake (invreconcile.lakerecords). They must be those of the same audit run on a ledger
holding the records."""
from __future__ import annotations

import json

import pytest

pytest.importorskip("duckdb")
from click.testing import CliRunner  # noqa: E402

from invreconcile.audit import run_audit  # noqa: E402
from invreconcile.cli import main  # noqa: E402
from invreconcile.engines.duckdb import DuckDBEngine  # noqa: E402
from invreconcile.lakerecords import LakeRecords  # noqa: E402
from invreconcile.ledger import open_ledger  # noqa: E402
from invreconcile.reports import build_report  # noqa: E402

from parity import sample_lake  # noqa: E402


@pytest.fixture(scope="module")
def audited(tmp_path_factory):
    """(the ledger with records and the SQLite audit's findings, a ledger with the findings
    of the DuckDB audit of its lake only, the lake)."""
    root = tmp_path_factory.mktemp("lakerecords")
    full = sample_lake(root)
    run_audit(full)
    findings_only = open_ledger(root / "findings.db")
    run_audit(findings_only, engine=DuckDBEngine(root / "lake", findings_only))
    return full, findings_only, root / "lake"


def test_report_from_the_lake_is_the_report_from_the_ledger(audited):
    full, findings_only, lake = audited
    want = build_report(full).as_dict()
    got = build_report(findings_only, records=LakeRecords(lake)).as_dict()
    hollow = build_report(findings_only).as_dict()
    assert hollow["summary"]["settlements"] == 0 and hollow["summary"]["money_at_risk_fen"] < \
        want["summary"]["money_at_risk_fen"]   # what a bureau got before
    assert want["evidence"] and any(e["ts"] for e in want["evidence"])
    assert want["charts"]["stock_gaps"]   # book against count, computed from the lake's records
    assert got == want


def test_rank_and_sample_with_the_lake(audited, tmp_path):
    full, findings_only, lake = audited
    run = lambda *args: CliRunner().invoke(main, ["--lang", "en", *args])   # noqa: E731
    want = run("rank", "--json", "--db", full.conn.execute("PRAGMA database_list").fetchone()[2])
    got = run("rank", "--json", "--db", str(lake.parent / "findings.db"), "--lake", str(lake), "--memory-limit", "1GB")
    assert want.exit_code == 0 and got.exit_code == 0
    assert json.loads(got.stdout) == json.loads(want.stdout) and json.loads(got.stdout)[0]["settlements"] > 0
    hollow = run("rank", "--json", "--db", str(lake.parent / "findings.db"))
    assert "the ledger holds findings but no records" in hollow.stderr
    draw = run("sample", "--stores", "2", "--seed", "7", "--settlements", "3", "--db", str(lake.parent / "findings.db"),
               "--lake", str(lake), "-o", str(tmp_path / "draw.json"))
    assert draw.exit_code == 0, draw.output
    picks = json.loads((tmp_path / "draw.json").read_text(encoding="utf-8"))["picks"]
    assert all(len(p["settlements"]) == 3 for p in picks)


def test_store_reports_from_the_lake_are_those_from_the_ledger(audited):
    """A report split by store (report --format html --by-store --lake): each store's page
    read from its own files of the lake, its evidence and code timelines (which may lie in
    other stores) from the whole report."""
    from invreconcile.reports.model import store_reports
    full, findings_only, lake = audited
    records = LakeRecords(lake)
    want = list(store_reports(full, build_report(full)))
    got = list(store_reports(findings_only, build_report(findings_only, records=records), records=records))
    assert [s for s, _ in got] == [s for s, _ in want] and len(got) == 6
    crossing = gaps = 0
    for (store, a), (_, b) in zip(want, got):
        a, b = a.as_dict(), b.as_dict()
        assert b == a, store
        alone = build_report(full, stores=[store]).as_dict()   # the page's parts worked out for the store alone
        assert {**alone, "ranking": None} == {**a, "ranking": None}, store
        gaps += len(b["charts"]["stock_gaps"])
        crossing += sum(e["store"] != store for e in b["evidence"])
    assert crossing   # rows of other stores cited (person_multi_store, code_resold), with their values
    assert gaps   # each store's own largest stock gaps


def test_selfcheck_from_the_lake_is_the_selfcheck_from_the_ledger(audited, tmp_path):
    """The statement a bureau hands a pharmacy after a lake audit: refunds with their
    settlements' money, stock corrections with book and count (the audit's views computed
    from the lake), process gaps and rejected rows; as from the ledger holding the records."""
    from invreconcile.reports.selfcheck import build_selfcheck
    full, findings_only, lake = audited
    records = LakeRecords(lake)
    corrections = 0
    for (store,) in full.conn.execute("SELECT DISTINCT store FROM findings ORDER BY store"):
        want = build_selfcheck(full, store).as_dict()
        got = build_selfcheck(findings_only, store, records=records.for_stores([store])).as_dict()
        assert got == want, store
        corrections += sum(c["book"] is not None and c["book_lowest"] is not None for c in got["stock_corrections"])
    assert corrections and want["refunds"]
    hollow = build_selfcheck(findings_only, store).as_dict()
    assert hollow["totals"]["refund_fen"] == 0 < want["totals"]["refund_fen"]   # what a bureau got before
    out = CliRunner().invoke(main, ["--lang", "en", "selfcheck", "--store", store, "-o", str(tmp_path / "sc.xlsx"),
                                    "--db", str(lake.parent / "findings.db"), "--lake", str(lake)])
    assert out.exit_code == 0, out.output
    assert f"{want['totals']['refund_fen'] / 100:,.2f} yuan" in out.stdout


def test_explain_and_trace_with_the_lake(audited):
    """explain (a finding's evidence rows) and trace (a code's life) read the lake an audit
    read: the same output as from the ledger holding the records."""
    full, findings_only, lake = audited
    path = lambda db: db.conn.execute("PRAGMA database_list").fetchone()[2]   # noqa: E731
    run = lambda *args: CliRunner().invoke(main, ["--lang", "en", *args])   # noqa: E731
    fid, codes = findings_only.conn.execute(
        "SELECT id, codes FROM findings WHERE rule = 'code_resold' ORDER BY ord LIMIT 1").fetchone()
    want, got = run("explain", fid, "--db", path(full)), run("explain", fid, "--db", path(findings_only), "--lake", str(lake))
    assert got.exit_code == 0 and got.stdout == want.stdout and '"ts": "' in got.stdout
    hollow = run("explain", fid, "--db", path(findings_only))
    assert "the ledger holds findings but no records" in hollow.stderr
    code = json.loads(codes)[0]
    want, got = run("trace", code, "--db", path(full)), run("trace", code, "--lake", str(lake))
    assert got.exit_code == 0 and got.stdout == want.stdout and " sold " in got.stdout


def test_status_of_a_lake(audited):
    full, _, lake = audited
    run = lambda *args: CliRunner().invoke(main, ["--lang", "en", *args])   # noqa: E731
    want = run("status", "--json", "--db", full.conn.execute("PRAGMA database_list").fetchone()[2])
    got = run("status", "--json", "--lake", str(lake), "--memory-limit", "1GB")
    assert got.exit_code == 0 and json.loads(got.stdout) == json.loads(want.stdout)
    assert json.loads(got.stdout)["per_store_month"]
