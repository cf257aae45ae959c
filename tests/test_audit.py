"""The audit end to end on the sample chain: accuracy targets, determinism, trace, explain."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from invreconcile.audit import run_audit
from invreconcile.cli import main
from invreconcile.evaluation import evaluate
from invreconcile.findings import Collector
from invreconcile.importer import import_paths
from invreconcile.ledger import open_ledger
from invreconcile.rules import load_config
from invreconcile.sample import generate


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    out = tmp_path_factory.mktemp("chain")
    generate(out / "data")
    db = open_ledger(out / "ledger.db")
    import_paths(db, [out / "data"])
    config = load_config(out / "data" / "invreconcile.toml")
    result = run_audit(db, config=config)
    truth = json.loads((out / "data" / "ground_truth.json").read_text(encoding="utf-8"))
    return out, db, config, result, truth


def test_accuracy_targets_on_default_sample(chain):
    _, _, _, result, truth = chain
    assert result.errors == {}
    report = evaluate(truth, [f.as_dict() for f in result.findings])
    low_recall = {p: r["recall"] for p, r in report["patterns"].items() if r["recall"] < 0.95}
    assert low_recall == {}
    assert report["overall"]["precision"] >= 0.90
    assert report["clean_stores"]["high"] == 0


def test_findings_have_the_documented_shape(chain):
    _, _, _, result, _ = chain
    keys = {"id", "rule", "category", "severity", "store", "setl_ids", "codes", "psn_nos", "items",
            "amount_at_risk", "period", "title_zh", "title_en", "message", "evidence"}
    for f in result.findings:
        d = f.as_dict()
        assert keys <= set(d)
        assert d["severity"] in ("low", "medium", "high")
        assert isinstance(d["amount_at_risk"], float) and round(d["amount_at_risk"], 2) == d["amount_at_risk"]
        assert "{" not in d["message"], f"unfilled template in {f.rule}: {d['message']}"
        for ev in d["evidence"]:
            assert ev["src_file"] and ev["src_row"] >= 1


def test_same_input_same_findings_same_order(chain, tmp_path):
    out, _, config, result, _ = chain
    db2 = open_ledger(tmp_path / "again.db")
    import_paths(db2, [out / "data"])
    again = run_audit(db2, config=config)
    assert [f.id for f in again.findings] == [f.id for f in result.findings]
    assert [f.amount_fen for f in again.findings] == [f.amount_fen for f in result.findings]


def test_trace_and_explain_show_sources(chain):
    out, _, _, result, truth = chain
    resold = next(i for i in truth["incidents"] if i["pattern"] == "resold_code_cross_store")
    runner = CliRunner()
    db_arg = ["--db", str(out / "ledger.db")]
    res = runner.invoke(main, ["--lang", "en", "trace", resold["codes"][0], *db_arg])
    assert res.exit_code == 0
    sold_lines = [line for line in res.output.splitlines() if " sold " in f" {line} " or "settled" in line]
    assert len({line.split()[2] for line in sold_lines}) >= 2  # settled in two stores
    assert "received" in res.output and ".json" in res.output
    finding = next(f for f in result.findings if f.rule == "code_resold")
    exp = runner.invoke(main, ["--lang", "en", "explain", finding.id, *db_arg])
    assert exp.exit_code == 0 and finding.id in exp.output and "Evidence" in exp.output
    assert ".csv:" in exp.output and (" sale  {" in exp.output or " settlement line  {" in exp.output)
    zh = runner.invoke(main, ["explain", finding.id, *db_arg]).output   # evidence tables named in the user's language
    assert "证据（" in zh and (" 销售  {" in zh or " 结算明细  {" in zh) and " sales  {" not in zh
    assert runner.invoke(main, ["explain", "nope", *db_arg]).exit_code == 1


def test_console_output_masks_persons_unless_revealed(chain, tmp_path):
    """audit (its summary and --json), explain and trace print person numbers, names and
    ID numbers masked, as the reports do; --reveal shows them as stored."""
    import shutil
    out, db, config, result, _ = chain
    runner = CliRunner()
    ledger = tmp_path / "copy.db"
    shutil.copy(out / "ledger.db", ledger)
    f = next(f for f in result.findings if f.rule == "person_monthly_amount")
    psn = f.psn_nos[0]
    masked = "*" * (len(psn) - 4) + psn[-4:]
    assert psn in f.message_zh

    def run(*args):
        r = runner.invoke(main, [*args, "--db", str(ledger)])
        assert r.exit_code == 0, r.output
        return r.output

    shown = run("audit", "--config", str(out / "data" / "invreconcile.toml"), "--rules", "person_monthly_amount",
                "--json", "-")
    assert psn not in shown and masked in shown
    assert psn in run("audit", "--config", str(out / "data" / "invreconcile.toml"), "--rules", "person_monthly_amount",
                      "--json", "-", "--reveal")
    summary = run("audit", "--config", str(out / "data" / "invreconcile.toml"), "--rules", "person_monthly_amount")
    assert f.id in summary and psn not in summary and masked in summary

    name, certno = db.conn.execute("SELECT psn_name, certno FROM settlements WHERE psn_no = ? AND psn_name IS NOT NULL "
                                   "AND certno IS NOT NULL", (psn,)).fetchone()
    explained = run("explain", f.id)
    assert masked in explained and psn not in explained
    assert f'"psn_name": "{name[0]}' in explained and name not in explained and certno not in explained
    revealed = run("explain", f.id, "--reveal")
    assert psn in revealed and name in revealed and certno in revealed

    code, code_psn = db.conn.execute("SELECT code, psn_no FROM code_events WHERE event = 'settled' "
                                     "AND psn_no IS NOT NULL ORDER BY code LIMIT 1").fetchone()
    traced = run("trace", code)
    assert "psn=" + "*" * (len(code_psn) - 4) + code_psn[-4:] in traced and code_psn not in traced
    assert " 医保结算 " in traced and " settled " not in traced   # events named in the user's language
    assert "psn=" + code_psn in run("trace", code, "--reveal")


def test_findings_saved_a_chunk_at_a_time_are_those_held_in_memory(chain, monkeypatch):
    """A saved audit's findings go to the ledger a chunk at a time and are read back from it;
    the same findings, order, evidence and summary as an audit held in memory."""
    _, db, config, _, _ = chain
    held = run_audit(db, config=config, save_findings=False)
    monkeypatch.setattr(Collector, "CHUNK", 7)
    saved = run_audit(db, config=config)
    assert len(held.findings) > 7 * 10
    assert [f.as_dict() for f in saved.iter_findings()] == [f.as_dict() for f in held.findings]
    assert saved.summary() == held.summary() and saved.summary()["findings"] == len(held.findings)


def test_store_and_period_filters(chain):
    _, db, config, result, _ = chain
    store = result.findings[0].store
    only = run_audit(db, stores=[store], since="2026-10-01", until="2026-10-31", config=config, save_findings=False)
    assert only.findings and all(f.store == store for f in only.findings)
    assert all((f.day_last or "9999") >= "2026-10-01" for f in only.findings)


def test_audit_leaves_the_report_tables_and_no_scratch_files(chain):
    """The schedule on all cores builds some shared views in scratch files beside the
    ledger: after the audit they are gone, and the ledger holds the views the reports read."""
    out, db, _, _, _ = chain
    from invreconcile.audit import KEPT_VIEWS
    tables = set(db.table_names())
    assert set(KEPT_VIEWS) <= tables and "v_code_tx" not in tables
    assert not [p.name for p in out.iterdir() if p.name.endswith(".tmp")]
    stock = db.conn.execute("SELECT COUNT(*) FROM v_count_book").fetchone()[0]
    assert stock > 0


def test_rule_failure_is_reported_and_the_others_run(chain, monkeypatch):
    """A rule whose SQL fails (here: a table that does not exist) is named in the result's
    errors; the rules scheduled with it still give their findings."""
    _, db, config, result, _ = chain
    import invreconcile.audit as audit
    real = audit.builtin_rules

    def broken():
        import dataclasses
        rules = real()
        rules[0] = dataclasses.replace(rules[0], sql=rules[0].sql.replace("FROM ", "FROM no_such_table_x, ", 1))
        return rules
    monkeypatch.setattr(audit, "builtin_rules", broken)
    again = run_audit(db, config=config, save_findings=False)
    name = real()[0].id
    assert list(again.errors) == [name] and "no_such_table_x" in again.errors[name]
    assert [f.id for f in again.findings] == [f.id for f in result.findings if f.rule != name]


def test_engine_tells_how_far_the_rules_have_come(chain, monkeypatch):
    """The engine's progress hook hears the rules start (0 done), then each rule done, the
    failed one too, in order, up to all of them (the SQLite schedule runs them on several
    threads)."""
    _, db, config, _, _ = chain
    import dataclasses
    import invreconcile.audit as audit
    from invreconcile.engines import SQLiteEngine
    real = audit.builtin_rules
    monkeypatch.setattr(audit, "builtin_rules", lambda: [
        dataclasses.replace(r, sql=r.sql.replace("FROM ", "FROM no_such_table_x, ", 1)) if i == 0 else r
        for i, r in enumerate(real())])
    engine, heard = SQLiteEngine(db), []
    engine.progress = lambda *told: heard.append(told)
    again = run_audit(db, config=config, save_findings=False, engine=engine)
    n = len(real())
    assert again.errors and heard == [("rules", k, n) for k in range(n + 1)]


def test_audit_progress_line_on_a_terminal(monkeypatch, capsys):
    """What `invreconcile audit` shows on a terminal's stderr as the engine tells it how far
    it has come: one line, rewritten; nothing when stderr is not a terminal."""
    from invreconcile.cli import _Progress
    monkeypatch.setenv("INVRECONCILE_LANG", "en")
    shown = _Progress()
    shown.active = True
    shown.audit("plan", 0, 1)
    shown.audit("rules", 4, 4)
    shown.audit("batches", 3, 34)
    shown.close()
    err = capsys.readouterr().err
    assert err.startswith("\raudit: planning the batches of stores, 0 s")
    assert "\raudit: rule 4 of 4, 0 s" in err and "\raudit: batch 3 of 34 of stores, 0 s" in err
    assert err.endswith("\n") and err.count("\n") == 1
    quiet = _Progress()
    quiet.active = False
    quiet.audit("rules", 1, 2)
    quiet.close()
    assert capsys.readouterr().err == ""


def test_statistics_refreshed_only_when_a_table_changed(tmp_path):
    from invreconcile.engines import SQLiteEngine
    db = open_ledger(tmp_path / "l.db")
    db.conn.execute("CREATE TABLE t (a INTEGER)")
    db.conn.executemany("INSERT INTO t VALUES (?)", [(i,) for i in range(100)])
    engine = SQLiteEngine(db)
    assert "t" in engine._stale_tables()          # never analysed
    engine.analyze()
    assert engine._stale_tables() == []
    db.conn.executemany("INSERT INTO t VALUES (?)", [(i,) for i in range(10)])
    assert engine._stale_tables() == []           # 10% more rows: statistics still good
    db.conn.executemany("INSERT INTO t VALUES (?)", [(i,) for i in range(40)])
    assert engine._stale_tables() == ["t"]        # 50% more


_ALLOCATIONS = """
import sqlite3, sys
from invreconcile.ledger import _sqlite_allocations, _sqlite_library, open_ledger
first = sqlite3.connect(":memory:") if sys.argv[2] == "connection first" else None
db = open_ledger(sys.argv[1])
lib = _sqlite_library()
if lib is None:
    sys.exit(3)   # SQLite built into Python's module: the setting is out of reach
count = _sqlite_allocations(lib)
db.execute("SELECT COUNT(*) FROM sales").fetchone()
print(count, first.execute("SELECT 1").fetchone()[0] if first else "")
"""


@pytest.mark.parametrize("order", ["ledger first", "connection first"])
def test_sqlite_memory_statistics_off_unless_a_connection_was_open(tmp_path, order):
    """The audit's threads wait for each other on SQLite's memory-statistics lock unless the
    statistics are off (1M lines: 83 -> 56 s); they are turned off when the first ledger
    opens, never under a connection that is already open."""
    import subprocess
    import sys
    done = subprocess.run([sys.executable, "-c", _ALLOCATIONS, str(tmp_path / "l.db"), order],
                          capture_output=True, text=True)
    if done.returncode == 3 or not sys.platform.startswith("linux"):
        pytest.skip("Python's SQLite is not a shared library this process can reach")
    assert done.returncode == 0, done.stderr
    counted, still_works = done.stdout.split(" ", 1)
    if order == "ledger first":
        assert int(counted) == 0   # an open ledger is not counted: statistics off
    else:
        assert int(counted) > 0 and still_works.strip() == "1"   # left on; the connection unharmed


def test_sqlite_hands_rows_over_in_pieces_and_stops_its_schedule_when_findings_fail(chain, monkeypatch):
    """On SQLite's schedule on all cores a rule's rows are handed over a piece at a time
    while the other rules run: the same findings as in one piece. When making findings
    fails midway (a full disk on the third), the audit stops with that error: the running
    statements are interrupted, no thread is left and no scratch file beside the ledger."""
    import threading
    import invreconcile.engines as engines
    from parity import disk_full_at
    out, db, config, result, _ = chain
    monkeypatch.setattr(engines, "ROWS_PER_PIECE", 2)
    pieces = run_audit(db, config=config, save_findings=False)
    assert [f.as_dict() for f in pieces.findings] == [f.as_dict() for f in result.findings]
    made = disk_full_at(3, monkeypatch)
    before = threading.active_count()
    with pytest.raises(OSError, match="No space left"):
        run_audit(db, config=config)
    assert len(made) == 3 and threading.active_count() == before
    assert not [p.name for p in out.iterdir() if p.name.endswith(".tmp")]
