"""The audit: name matching, then every rule's SQL over the ledger, then findings.

>>> from invreconcile.ledger import open_ledger
>>> result = run_audit(open_ledger(":memory:"))
>>> result.findings
[]
"""
from __future__ import annotations

import gc
from contextlib import contextmanager
from typing import Iterator

from .errors import ConfigError
from .findings import Collector, Finding, finding_id, first_refs, iterate, load, split_list
from .match import PAIRS_SQL, refresh_name_map
from .engines import STORES_SQL, SQLiteEngine, tables_read
from .rules import Config, Rule, builtin_rules, view_names, view_statements


class AuditResult:
    """What an audit found. Findings saved to the ledger stay there and are read from it
    when asked for (:meth:`iter_findings` reads them as it goes; :attr:`findings` all at
    once); those of an audit not saved are held here."""

    def __init__(self, rules_run: list[str], errors: dict, findings: list[Finding] | None = None, db=None,
                 stores: list[str] | None = None):
        self.rules_run, self.errors = rules_run, errors   # errors: rule id -> message (a rule that failed to run)
        self._findings, self._db, self._stores = findings, db, stores

    @property
    def findings(self) -> list[Finding]:
        if self._findings is None:
            self._findings = load(self._db, stores=self._stores)
        return self._findings

    def iter_findings(self) -> Iterator[Finding]:
        return iter(self._findings) if self._findings is not None else iterate(self._db, stores=self._stores)

    def summary(self) -> dict:
        by_cat: dict[str, dict[str, int]] = {}
        money: dict[str, int] = {}
        if self._findings is not None:
            counts = [(f.category, f.severity, f.store, 1, f.amount_fen) for f in self._findings]
        else:
            where = f"WHERE store IN ({','.join('?' * len(self._stores))})" if self._stores else ""
            counts = self._db.conn.execute(f"SELECT category, severity, store, COUNT(*), SUM(amount_fen) FROM findings "
                                           f"{where} GROUP BY 1, 2, 3", list(self._stores or [])).fetchall()
        for cat, sev, store, n, fen in sorted(counts, key=lambda r: (r[0], r[1], r[2] or "")):
            by_cat.setdefault(cat, {"low": 0, "medium": 0, "high": 0})[sev] += n
            money[store] = money.get(store, 0) + fen
        return {"findings": sum(r[3] for r in counts), "by_category": by_cat,
                "amount_at_risk_by_store": {k: round(v / 100, 2) for k, v in sorted(money.items())},
                "rules_run": self.rules_run, "errors": self.errors}


VIEW_INDEXES = (
    ("v_movements", ("store", "item_id", "epoch")),
    ("v_item", ("store", "item_id")),
    ("v_count_book", ("store", "day")),
    ("v_settlement", ("store", "epoch")),
    ("v_settlement", ("psn_no", "epoch")),
    ("v_code_tx", ("code", "epoch")),
    ("v_line_money", ("setl_id", "store", "item_id")),
    ("v_line_money", ("id",)),
)


#: list columns some messages show besides setl_ids, codes, psn_nos and items
MESSAGE_LISTS = ("stores", "other_items", "units")


#: shared views the reports read after the audit (the others are the audit's own)
KEPT_VIEWS = ("v_movements", "v_count_book", "v_item")


class _Fmt(dict):
    def __missing__(self, key):
        return "{" + key + "}"


def _shown(row: dict) -> _Fmt:
    """A row's values as messages show them (money in yuan), for ``template.format_map``."""
    return _Fmt({k: ("" if v is None else (f"{v / 100:.2f}" if k.endswith("_fen") and isinstance(v, int) else v))
                 for k, v in row.items()})


def select_rules(rules: list[Rule], wanted: list[str] | None, config: Config) -> list[Rule]:
    by_id = {r.id: r for r in rules}
    if wanted:
        unknown = [w for w in wanted if w not in by_id and not any(r.category == w for r in rules)]
        if unknown:
            raise ConfigError(f"unknown rule or category: {', '.join(unknown)}. See 'invreconcile rules'.",
                              f"无法识别的规则或类别：{', '.join(unknown)}。见 invreconcile rules。")
        rules = [r for r in rules if r.id in wanted or r.category in wanted]
    return [r for r in rules if r.id not in config.disabled]


def _needed(rules: list[Rule]) -> set[str]:
    """The shared views (and their dependencies) and helper tables the rules read."""
    return tables_read([*zip(view_names(), view_statements()), ("store_hours", ""), ("name_map", "")],
                       [r.sql for r in rules])


def prepare(engine, config: Config, rules: list[Rule] | None = None, jobs=()) -> Iterator[tuple[int, object]]:
    """Tables the rules read besides the ledger: opening hours per store, name matches,
    the shared views (materialised once per audit and indexed, so that rules reading them
    several times do not recompute them); then ``jobs`` (the rules' ``(sql, params)``, one
    per rule in ``rules``), whose answers are returned as they come: ``(position, answer)``
    pieces (see :meth:`Engine.build_and_query`).
    Only what ``rules`` (default: all) need is built."""
    rules = rules if rules is not None else builtin_rules()
    need = _needed(rules)
    engine.load([*(r.sql for r in rules), STORES_SQL,
                 *(stmt for name, stmt in zip(view_names(), view_statements()) if name in need),
                 *([PAIRS_SQL] if "name_map" in need else [])])
    if "store_hours" in need:
        open_min = config.globals.get("open_min", 7 * 60)
        close_min = config.globals.get("close_min", 23 * 60)
        engine.write_rows(
            "store_hours", ("store", "open_min", "close_min"),
            [(s, 0 if s in config.stores_24h else open_min, 1440 if s in config.stores_24h else close_min)
             for s in engine.stores()],
            "CREATE TABLE store_hours (store TEXT PRIMARY KEY, open_min INTEGER, close_min INTEGER)")
    engine.analyze()  # statistics, so that the planner picks the selective indexes
    return engine.build_and_query(
        [*([("name_map", refresh_name_map)] if "name_map" in need else []),
         *((name, statement.split(" AS\n", 1)[1]) for name, statement in zip(view_names(), view_statements())
           if name in need)],
        [(name, cols) for name, cols in VIEW_INDEXES if name in need], list(jobs), keep=(*KEPT_VIEWS, "name_map"),
        whole=[i for i, rule in enumerate(rules) if rule.scope == "all_stores" and i < len(jobs)])


def to_finding(rule: Rule, row: dict) -> Finding:
    """A rule's row as a finding; its ``evidence`` the references to resolve
    (:func:`~invreconcile.findings.attach_evidence`)."""
    store = row.get("store") or ""
    day_first, day_last = row.get("day_first"), row.get("day_last") or row.get("day_first")
    period = row.get("period") or (day_first if day_first == day_last else f"{day_first}..{day_last}" if day_first else "")
    lists = {k: split_list(row.get(k)) for k in ("setl_ids", "codes", "psn_nos", "items")}
    severity = row.get("severity") or rule.severity
    fid = finding_id(rule.id, store, period, *lists.values(), row.get("about"))
    # messages show lists sorted: engines concatenate in different orders (item names,
    # which may hold commas, are left as they come)
    shown = _shown({**row, **{k: ",".join(v) for k, v in lists.items() if row.get(k) is not None},
                    **{k: ",".join(split_list(row[k])) for k in MESSAGE_LISTS if row.get(k) is not None}})
    refs, total = first_refs(split_list(row.get("evidence")))
    return Finding(
        id=fid, rule=rule.id, category=rule.category, severity=severity, store=store, period=period,
        day_first=day_first, day_last=day_last, **lists, amount_fen=int(row.get("amount_fen") or 0),
        title_zh=rule.title_zh, title_en=rule.title_en, message_zh=rule.message_zh.format_map(shown),
        message_en=rule.message_en.format_map(shown), evidence=refs,
        evidence_total=total if row.get("evidence_total") is None else int(row["evidence_total"]))


def run_audit(db, *, stores: list[str] | None = None, since: str | None = None, until: str | None = None,
              rules: list[str] | None = None, config: Config | None = None, save_findings: bool = True,
              engine=None) -> AuditResult:
    """Run the rules and keep the findings that touch ``stores`` and the period [since, until].

    ``db`` is the ledger (findings are saved there); ``engine`` the query engine, by default
    SQLite on the ledger itself.
    """
    with _no_gc():
        return _run_audit(db, stores, since, until, rules, config or Config(), save_findings, engine or SQLiteEngine(db))


@contextmanager
def _no_gc():
    """Python's cycle collector paused: the audit makes hundreds of thousands of rows,
    findings and evidence lists, hardly any in a cycle, and the collector walked them all
    again and again (evidence and findings of 10,678 at 1M lines: 0.45 -> 0.32 s)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _run_audit(db, stores, since, until, rules, config: Config, save_findings: bool, engine) -> AuditResult:
    chosen = select_rules(builtin_rules(), rules, config)
    answers = prepare(engine, config, chosen, [(rule.sql, rule.bind(config.overrides(rule))) for rule in chosen])
    errors = {}
    collector = Collector(engine, db if save_findings else None, stores)
    for n, answer in answers:   # as the engine gives them: a rule's rows may come in several pieces
        rule = chosen[n]
        if rule.id in errors:
            continue
        if isinstance(answer, Exception):  # one broken rule must not hide the others' findings
            errors[rule.id] = f"{type(answer).__name__}: {answer}"
            collector.forget(rule.id)   # those of its pieces that came before
            continue
        names, rows = answer
        for values in rows:
            f = to_finding(rule, dict(zip(names, values)))
            if (stores and f.store not in stores) or not f.within(since, until):
                continue
            collector.add(f)
        del answer, rows   # the rows are let go once they are findings
    collector.finish()
    if collector.db is None:
        return AuditResult([r.id for r in chosen], errors, collector.findings)
    return AuditResult([r.id for r in chosen], errors, db=db, stores=stores)
