"""Findings: what the rules saw, with the evidence rows behind it.

The JSON shape of a finding is the stable interface others script against
(docs/findings.md): ``id``, ``rule``, ``category``, ``severity``, ``store``, ``setl_ids``,
``codes``, ``psn_nos``, ``items``, ``amount_at_risk`` (yuan, two decimals), ``period``,
``title_zh``, ``title_en``, ``message`` (in the requested language), ``message_zh``,
``message_en`` and ``evidence`` (list of ``{table, id, src_file, src_row}``).

Ids are deterministic: the rule id and a hash of what the finding is about, so that the
same input gives the same findings, in the same order.
"""
from __future__ import annotations

import hashlib
import json
import re
import sys
from dataclasses import dataclass, field, fields
from typing import Iterable, Iterator

SEVERITY_RANK = {"high": 3, "medium": 2, "low": 1}
EVIDENCE_LIMIT = 200
#: what a category and a severity are called in a language: (Chinese, English)
CATEGORIES = {
    "phantom_sale": ("虚假购药", "Phantom sale"),
    "substitution": ("串换药品", "Substitution"),
    "duplicate_code": ("追溯码重复结算（回流药）", "Resold trace code"),
    "unknown_code": ("来源不明的追溯码", "Unknown trace code"),
    "abnormal_swipe": ("异常刷卡", "Abnormal card swipes"),
    "stock_mismatch": ("账实不符", "Stock mismatch"),
    "price_anomaly": ("价格异常", "Price anomaly"),
    "data_quality": ("数据质量（无法判断）", "Data quality (could not judge)"),
}
SEVERITIES = {"high": ("高", "High"), "medium": ("中", "Medium"), "low": ("低", "Low")}


def word(words: dict, key, lang: str):
    """``key``'s name in ``lang`` from ``words`` (key -> (Chinese, English, ...):
    :data:`CATEGORIES`, :data:`SEVERITIES`, the ledger's table names, the HTML report's
    events); a key it does not know as it is."""
    names = words.get(key)
    return key if names is None else names[1 if lang == "en" else 0]


FINDINGS_DDL = """
CREATE TABLE IF NOT EXISTS findings (
    id TEXT PRIMARY KEY, rule TEXT NOT NULL, category TEXT NOT NULL, severity TEXT NOT NULL,
    store TEXT, period TEXT, day_first TEXT, day_last TEXT,
    setl_ids TEXT, codes TEXT, psn_nos TEXT, items TEXT, amount_fen INTEGER NOT NULL,
    title_zh TEXT, title_en TEXT, message_zh TEXT, message_en TEXT,
    evidence TEXT, evidence_total INTEGER, ord INTEGER
);
CREATE INDEX IF NOT EXISTS findings_store ON findings(store, category);
"""


def split_list(value) -> list[str]:
    if value is None:
        return []
    items = set(map(str.strip, str(value).split(",")))
    items.discard("")
    return sorted(items)


@dataclass(slots=True)   # slots: an audit may hold millions
class Finding:
    id: str
    rule: str
    category: str
    severity: str
    store: str
    period: str
    day_first: str | None
    day_last: str | None
    setl_ids: list = field(default_factory=list)
    codes: list = field(default_factory=list)
    psn_nos: list = field(default_factory=list)
    items: list = field(default_factory=list)
    amount_fen: int = 0
    title_zh: str = ""
    title_en: str = ""
    message_zh: str = ""
    message_en: str = ""
    evidence: list = field(default_factory=list)   # [{table, id, src_file, src_row}]
    evidence_total: int = 0

    def within(self, since: str | None = None, until: str | None = None) -> bool:
        """Whether the days the finding spans meet the period [since, until] (YYYY-MM-DD)."""
        return not ((since and self.day_last and self.day_last < since)
                    or (until and self.day_first and self.day_first > until))

    @property
    def amount_at_risk(self) -> float:
        return round(self.amount_fen / 100, 2)

    def as_dict(self, lang: str = "zh") -> dict:
        # dataclasses.asdict's copy (the lists and the evidence rows copied too), made
        # directly: its recursion and deepcopy made writing the JSON of 10,678 findings
        # take 1.4-1.8 s instead of 0.7-0.9 s
        d = {name: getattr(self, name) for name in _FIELDS}
        for name in _LISTS:
            d[name] = [dict(v) if isinstance(v, dict) else v for v in d[name]]
        d.pop("amount_fen")
        d["amount_at_risk"] = self.amount_at_risk
        d["message"] = self.message_en if lang == "en" else self.message_zh
        return d


_FIELDS = tuple(f.name for f in fields(Finding))


def finding_id(rule: str, store: str, period: str, setl_ids, codes, psn_nos, items, about=None) -> str:
    key = json.dumps([rule, store, period, setl_ids, codes, psn_nos, items, *([about] if about is not None else [])],
                     ensure_ascii=False)
    return f"{rule}-{hashlib.sha1(key.encode('utf-8')).hexdigest()[:10]}"


def sort_key(f: Finding):
    return (-SEVERITY_RANK[f.severity], -f.amount_fen, f.store or "", f.rule, f.id)


_COLUMNS = ("id", "rule", "category", "severity", "store", "period", "day_first", "day_last", "setl_ids", "codes",
            "psn_nos", "items", "amount_fen", "title_zh", "title_en", "message_zh", "message_en", "evidence",
            "evidence_total")
_LISTS = ("setl_ids", "codes", "psn_nos", "items", "evidence")
_RANK_SQL = ("CASE severity " + " ".join(f"WHEN '{k}' THEN {v}" for k, v in SEVERITY_RANK.items())
             + " END DESC, amount_fen DESC, COALESCE(store, ''), rule, id")   # sort_key in SQL


def _row(f: Finding) -> tuple:
    return tuple(json.dumps(v, ensure_ascii=False) if k in _LISTS else v
                 for k, v in ((k, getattr(f, k)) for k in _COLUMNS))


def _twin_key(f: Finding) -> str:
    """Of two rows of a rule with one finding id, the one kept has the smaller key: the
    same whatever order an engine gives them in (``evidence`` still references)."""
    return f.message_en + "\n" + ",".join(f"{t}:{i}" for t, i in f.evidence)


class Collector:
    """An audit's findings as they are made: one per id (:func:`_twin_key`), their
    evidence resolved (:func:`attach_evidence`), numbered in :func:`sort_key` order.

    Without a ledger they are kept in memory (:attr:`findings`). With one, ``CHUNK`` at a
    time go to a temporary table of it and, at :meth:`finish`, replace the stored findings
    (of ``stores`` only, when given): an audit may find millions, about 3 KB each in Python
    (2.6M: 9.7 GB held in memory)."""

    CHUNK = 20_000

    def __init__(self, engine, db=None, stores: list[str] | None = None):
        self.engine, self.db, self.stores = engine, db, stores
        self.pending: dict[str, tuple[str, Finding]] = {}
        self.findings: list[Finding] = []
        if db is not None:
            db.conn.executescript(FINDINGS_DDL)
            db.conn.execute("DROP TABLE IF EXISTS temp.run_findings")
            db.conn.execute("CREATE TEMP TABLE run_findings AS SELECT * FROM findings WHERE 0")
            db.conn.execute("ALTER TABLE temp.run_findings ADD COLUMN twin TEXT")
            db.conn.execute("CREATE UNIQUE INDEX temp.run_findings_id ON run_findings(id)")

    def add(self, f: Finding) -> None:
        key = _twin_key(f)
        twin = self.pending.get(f.id)
        if twin is None or key < twin[0]:
            self.pending[f.id] = (key, f)
            if self.db is not None and len(self.pending) >= self.CHUNK:
                self._flush()

    def forget(self, rule: str) -> None:
        """Set aside the findings of ``rule`` collected so far (it failed in a later piece)."""
        self.pending = {fid: kf for fid, kf in self.pending.items() if kf[1].rule != rule}
        if self.db is not None:
            with self.db.conn:
                self.db.conn.execute("DELETE FROM temp.run_findings WHERE rule = ?", (rule,))

    def _flush(self) -> None:
        chunk, self.pending = self.pending, {}
        attach_evidence(self.engine, (f for _, f in chunk.values()))
        conn = self.db.conn
        with conn:
            conn.execute("BEGIN")
            conn.executemany("DELETE FROM temp.run_findings WHERE id = ? AND twin > ?",
                             ((fid, key) for fid, (key, _) in chunk.items()))
            conn.executemany(f"INSERT OR IGNORE INTO temp.run_findings VALUES ({','.join('?' * (len(_COLUMNS) + 2))})",
                             ((*_row(f), None, key) for key, f in chunk.values()))

    def finish(self) -> None:
        if self.db is None:
            findings = [f for _, f in self.pending.values()]
            self.pending = {}
            attach_evidence(self.engine, findings)
            self.findings = sorted(findings, key=sort_key)
            return
        self._flush()
        conn, cols = self.db.conn, ", ".join(_COLUMNS)
        with conn:
            conn.execute("BEGIN")
            if self.stores:
                conn.execute(f"DELETE FROM findings WHERE store IN ({','.join('?' * len(self.stores))})", list(self.stores))
            else:
                conn.execute("DELETE FROM findings")
            conn.execute(f"INSERT OR REPLACE INTO findings ({cols}, ord) "
                         f"SELECT {cols}, ROW_NUMBER() OVER (ORDER BY {_RANK_SQL}) - 1 FROM temp.run_findings")
        conn.execute("DROP TABLE temp.run_findings")


def iterate(db, *, finding_id: str | None = None, stores=None, categories=None, severities=None) -> Iterator[Finding]:
    """The stored findings, in order, read as they go."""
    conn = db.conn
    conn.executescript(FINDINGS_DDL)
    sql = f"SELECT {', '.join(_COLUMNS)} FROM findings WHERE 1=1"
    args: list = []
    if finding_id:
        sql += " AND id = ?"
        args.append(finding_id)
    for col, values in (("store", stores), ("category", categories), ("severity", severities)):
        if values:
            sql += f" AND {col} IN ({','.join('?' * len(values))})"
            args.extend(values)
    for row in conn.execute(sql + " ORDER BY ord", args):
        r = dict(zip(_COLUMNS, row))
        for k in _LISTS:
            r[k] = json.loads(r[k] or "[]")
        yield Finding(**r)


def load(db, **filters) -> list[Finding]:
    """The stored findings, in order (:func:`iterate`'s filters)."""
    return list(iterate(db, **filters))


#: a ``table:id`` reference in a comma-separated list (the whole item, spaces around it aside)
_REF = r"(?:^|,)\s*{table}:(\d+)\s*(?=,|$)"
_ANY_REF = re.compile(_REF.format(table=r"([A-Za-z_]\w*)"))
_TABLE = re.compile(_REF.format(table=r"([A-Za-z_]\w*)").replace(r"(\d+)", r"\d+"))


def parse_refs(refs) -> set[tuple[str, int]]:
    """``(table, id)`` of the ``table:id`` evidence references (others are ignored).

    >>> sorted(parse_refs(["sales:3", "settlements:12", "junk", "sales:4x", " sales:03 "]))
    [('sales', 3), ('settlements', 12)]
    """
    return {(sys.intern(table), int(rid)) for table, rid in _ANY_REF.findall(",".join(refs))}


def first_refs(refs: list[str], limit: int = EVIDENCE_LIMIT) -> tuple[list[tuple[str, int]], int]:
    """The references a finding shows: the first ``limit`` of :func:`parse_refs` in
    (table, id) order, and how many there are. One regular-expression pass per table
    rather than a Python step per reference (long lists: tens of thousands of references).

    >>> first_refs(["sales:10", "sales:9", "junk", "a:1", "sales:09"], 2)
    ([('a', 1), ('sales', 9)], 3)
    """
    if len(refs) <= limit:   # the usual few: one step per reference is quicker
        ordered = sorted(parse_refs(refs))
        return ordered, len(ordered)
    joined = ",".join(refs)
    out: list[tuple[str, int]] = []
    total = 0
    for table in sorted(set(map(sys.intern, _TABLE.findall(joined)))):
        ids = sorted(set(map(int, re.findall(_REF.format(table=re.escape(table)), joined))))
        total += len(ids)
        out += [(table, rid) for rid in ids[:max(0, limit - len(out))]]
    return out, total


def _sources(engine, wanted: Iterable[list[tuple[str, int]]]) -> dict[tuple[str, int], tuple]:
    """``(table, id) -> (src_file, src_row)`` of every reference in ``wanted``: one query
    per table for all findings, so that engines with a per-query cost (DuckDB, Spark) stay
    fast. Each file name is held once, however many rows name it."""
    by_table: dict[str, set[int]] = {}
    for refs in wanted:
        for table, rid in refs:
            by_table.setdefault(table, set()).add(rid)
    found: dict[tuple[str, int], tuple] = {}
    files: dict[str, str] = {}
    for table, ids in by_table.items():
        for r in engine.source_rows(table, sorted(ids)):
            found[(table, r[0])] = (files.setdefault(r[1], r[1]), r[2])
    return found


def _evidence(refs: list[tuple[str, int]], found: dict) -> list[dict]:
    return [{"table": t, "id": rid, "src_file": found[(t, rid)][0], "src_row": found[(t, rid)][1]}
            for t, rid in refs if (t, rid) in found]


def resolve_evidence(engine, ref_lists: list[list[str]]) -> list[tuple[list[dict], int]]:
    """For each list of ``table:id`` references: the rows with their source file and row
    (the first EVIDENCE_LIMIT, sorted) and how many there are."""
    wanted = [first_refs(refs) for refs in ref_lists]
    found = _sources(engine, (refs for refs, _ in wanted))
    return [(_evidence(refs, found), total) for refs, total in wanted]


def attach_evidence(engine, findings: Iterable[Finding]) -> None:
    """Findings whose ``evidence`` still holds ``(table, id)`` pairs (as
    :func:`first_refs` gives them) get the rows with their source file and row instead."""
    findings = list(findings)
    found = _sources(engine, (f.evidence for f in findings))
    for f in findings:
        f.evidence = _evidence(f.evidence, found)
