"""Comparing the findings of two engines (tests/test_engines.py, tests/test_spark.py), and a
findings step that fails midway (tests/test_audit.py, tests/test_engines.py)."""
from __future__ import annotations

from pathlib import Path


def sample_lake(root: Path):
    """The sample chain (6 stores, 31 days) generated under ``root``/data, imported into
    ``root``/ledger.db and exported to ``root``/lake; returns the ledger."""
    from invreconcile.importer import import_paths
    from invreconcile.lake import export_lake
    from invreconcile.ledger import open_ledger
    from invreconcile.sample import generate
    generate(root / "data", stores=6, days=31, customers=300)
    db = open_ledger(root / "ledger.db")
    import_paths(db, [root / "data"])
    export_lake(db, root / "lake")
    return db


def assert_same_findings(expected, got) -> None:
    """Same ids, amounts, severities, periods, lists, evidence, messages and order."""
    assert expected.errors == {} and got.errors == {}
    assert len(expected.findings) > 50
    a = {f.id: f for f in expected.findings}
    b = {f.id: f for f in got.findings}
    assert sorted(a) == sorted(b)
    for fid, f in a.items():
        g = b[fid]
        assert (f.amount_fen, f.severity, f.period, f.day_first, f.day_last, f.setl_ids, f.codes, f.psn_nos, f.items) == \
               (g.amount_fen, g.severity, g.period, g.day_first, g.day_last, g.setl_ids, g.codes, g.psn_nos, g.items), fid
        assert f.evidence == g.evidence and f.evidence_total == g.evidence_total, fid
        assert f.message_en == g.message_en and f.message_zh == g.message_zh, fid  # lists shown sorted
    # the order of findings is part of the interface too
    assert [f.id for f in expected.findings] == [f.id for f in got.findings]


def disk_full_at(n: int, monkeypatch) -> list:
    """Make an audit's n-th finding fail as a full disk would (OSError 28) when it is
    added; returns the list of the findings added up to then."""
    from invreconcile.findings import Collector
    made: list = []

    def add(self, f):
        made.append(f)
        if len(made) == n:
            raise OSError(28, "No space left on device")
    monkeypatch.setattr(Collector, "add", add)
    return made
