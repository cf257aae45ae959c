"""The report model: everything a report shows, built once from the ledger and its
findings, then written as XLSX, HTML, JSON or CSV by the writers.

Money is integer fen inside the model (``*_fen``); writers format yuan. Personal data is
already masked / pseudonymised here (see :mod:`invreconcile.reports.privacy`), so that
no writer can leak it. Everything is sorted, so the same ledger gives the same report.

>>> from invreconcile.ledger import open_ledger
>>> r = build_report(open_ledger(":memory:"))
>>> r.findings, r.summary["findings"], r.privacy_mode
([], 0, 'masked')
"""
from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Iterator

from ..findings import SEVERITIES, load as load_findings
from ..ledger import placeholders, scope_sql, status as ledger_status
from ..records import reason_text
from .privacy import PERSONAL_COLUMNS, Privacy, ledger_persons
from .ranking import money_at_risk, rank_stores

#: largest stock differences kept for the chart
STOCK_GAPS_LIMIT = 50
#: evidence columns taken from the row of the table an evidence reference points at
EVIDENCE_COLUMNS = ("store", "ts", "item_id", "item_name", "qty", "amount_fen", "insurance_fen", "setl_id",
                    "psn_no", "psn_name", "certno", "codes", "code")


class Document:
    """What every report model offers its writers: its fields as a dict, and the text in
    its language (subclasses have a ``lang`` field, 'zh' or 'en')."""

    def as_dict(self) -> dict:
        return asdict(self)

    def t(self, zh: str, en: str) -> str:
        return en if self.lang == "en" else zh


@dataclass
class Report(Document):
    generated_for: list          # store codes covered
    period: dict                 # {"first": day, "last": day} (None when unknown)
    lang: str
    privacy_mode: str            # masked / revealed / pseudonymised
    privacy_note: str            # sentence for the first page
    loaded: list = field(default_factory=list)        # ledger.status per_store_month rows
    totals: dict = field(default_factory=dict)        # ledger.status totals
    summary: dict = field(default_factory=dict)
    findings: list = field(default_factory=list)
    evidence: list = field(default_factory=list)
    data_quality: list = field(default_factory=list)
    rejects: list = field(default_factory=list)
    ranking: list = field(default_factory=list)
    charts: dict = field(default_factory=dict)


def _table_exists(db, name: str) -> bool:
    """Whether the ledger (or a lake's records) has the table or view ``name``."""
    return name in db.table_names() or name in db.view_names()


def mask_finding(d: dict, privacy: Privacy, persons: dict) -> dict:
    """A finding dict with its persons and the person values in its texts replaced."""
    d = dict(d)
    own = {p: "psn" for p in d.get("psn_nos") or []}
    d["psn_nos"] = [privacy.psn(p) for p in d.get("psn_nos") or []]
    for k in ("message", "message_zh", "message_en"):
        d[k] = privacy.scrub(d.get(k), persons, own)
    return d


@dataclass
class _Shared:
    """What each store's page of a report split by store takes from the whole report
    (:func:`store_reports`) instead of working it out again from the store's records: its
    row of the whole ranking, the evidence rows and code timelines of its findings (which
    may lie in other stores), its stock gaps (all stores' in one pass)."""
    ranked: dict
    evidence: dict
    timelines: dict
    stock_gaps: dict


def build_report(db, *, stores=None, since: str | None = None, until: str | None = None, lang: str = "zh",
                 privacy: Privacy = Privacy(), records=None, _shared: _Shared | None = None) -> Report:
    """Build the report of ``stores`` (all when None) over [since, until] (days, inclusive)
    from the findings in the ledger ``db`` and the records in ``records``: the same ledger
    by default, the lake an audit on DuckDB or Spark read
    (:class:`~invreconcile.lakerecords.LakeRecords`) for the findings of such an audit."""
    data = records if records is not None else db
    conn = data.conn
    stores = sorted(stores) if stores else None
    persons = ledger_persons(data) if privacy.mode != "revealed" else {}
    found = [f for f in load_findings(db, stores=stores) if f.within(since, until)]

    # stores and period covered
    covered = set(stores or [])
    if not stores:
        for table in ("settlements", "sales", "purchases", "stock_counts"):
            covered |= {s for (s,) in conn.execute(f"SELECT DISTINCT store FROM {table}") if s}
        covered |= {f.store for f in found if f.store}
    first = last = None
    for table in ("settlements", "sales", "purchases", "stock_counts", "stock_changes"):
        w, a = scope_sql(stores, since, until)
        lo, hi = conn.execute(f"SELECT MIN(day), MAX(day) FROM {table} WHERE deleted = 0{w}", a).fetchone()
        if lo and (first is None or lo < first):
            first = lo
        if hi and (last is None or hi > last):
            last = hi
    period = {"first": since or first, "last": until or last}

    st = ledger_status(data)
    months = (since[:7] if since else None, until[:7] if until else None)
    loaded = [r for r in st["per_store_month"]
              if (not stores or r["store"] in stores)
              and (months[0] is None or r["month"] == "?" or r["month"] >= months[0])
              and (months[1] is None or r["month"] == "?" or r["month"] <= months[1])]

    findings = []
    for f in found:
        d = f.as_dict(lang)
        d["amount_fen"] = f.amount_fen
        d["title"] = f.title_en if lang == "en" else f.title_zh
        findings.append(mask_finding(d, privacy, persons))
    accusations = [f for f in found if not f.rule.startswith("dq_")]

    # summary
    by_cat: dict[str, dict[str, int]] = {}
    for f in found:
        by_cat.setdefault(f.category, {k: 0 for k in SEVERITIES})[f.severity] += 1
    insurance: dict = {}   # each settlement's insurance money, asked once for all categories
    money_store = money_at_risk(data, accusations, insurance)
    money_cat: dict[str, int] = {}
    money_store_cat = []
    for cat in sorted({f.category for f in accusations}):
        fs = [f for f in accusations if f.category == cat]
        per_store = money_at_risk(data, fs, insurance)
        money_cat[cat] = sum(per_store.values())
        counts = Counter(f.store for f in fs)   # counted once, not once per store
        for store, fen in sorted(per_store.items()):
            money_store_cat.append({"store": store, "category": cat, "amount_fen": fen, "findings": counts[store]})
    w, a = scope_sql(stores, since, until)
    n_setl, ins = conn.execute("SELECT COUNT(*), COALESCE(SUM(insurance_fen), 0) FROM settlements "
                               f"WHERE deleted = 0 AND is_reversal = 0{w}", a).fetchone()
    summary = {
        "findings": len(found),
        "accusations": len(accusations),
        "data_quality_findings": len(found) - len(accusations),
        "by_category_severity": {c: by_cat[c] for c in sorted(by_cat)},
        "by_severity": {k: sum(1 for f in found if f.severity == k) for k in SEVERITIES},
        "by_rule": {r: sum(1 for f in found if f.rule == r) for r in sorted({f.rule for f in found})},
        "money_at_risk_fen": sum(money_store.values()),
        "money_by_store_fen": {s: money_store[s] for s in sorted(money_store)},
        "money_by_category_fen": money_cat,
        "findings_amount_sum_fen": sum(f.amount_fen for f in accusations),
        "settlements": n_setl,
        "insurance_fen": int(ins),
        "stores": len(covered),
    }

    data_quality = [d for d in findings if d["rule"].startswith("dq_")]
    rejects = _rejects(data, stores, lang, privacy, persons)
    charts = {"hourly": _hourly(data, stores, since, until), "money_by_store_category": money_store_cat}
    if _shared is None:
        evidence = _evidence(data, found, privacy, persons)
        ranking = rank_stores(data, found, stores=stores, since=since, until=until, lang=lang, insurance=insurance)
        charts["stock_gaps"] = _stock_gaps(data, stores, since, until).get(None, [])
        charts["code_timelines"] = _code_timelines(data, found, privacy)
    else:   # one store's page
        evidence = [e for f in findings for e in _shared.evidence.get(f["id"], [])]
        ranking = [_shared.ranked[s] for s in stores if s in _shared.ranked]
        charts["stock_gaps"] = [g for s in stores for g in _shared.stock_gaps.get(s, [])]
        charts["code_timelines"] = [_shared.timelines[c] for c in sorted({c for f in found if f.rule == "code_resold"
                                                                         for c in f.codes}) if c in _shared.timelines]
    return Report(generated_for=sorted(covered), period=period, lang=lang, privacy_mode=privacy.mode,
                  privacy_note=privacy.note(lang), loaded=loaded, totals=st["totals"], summary=summary,
                  findings=findings, evidence=evidence, data_quality=data_quality, rejects=rejects,
                  ranking=ranking, charts=charts)


def store_reports(db, report: Report, *, since: str | None = None, until: str | None = None, lang: str = "zh",
                  privacy: Privacy = Privacy(), records=None) -> Iterator[tuple[str, Report]]:
    """``(store, its report)`` for each store of ``report`` (a report split by store,
    :func:`~invreconcile.reports.html.write_html_by_store`), one at a time: built from the
    store's own records (a lake's: :meth:`~invreconcile.lakerecords.LakeRecords.for_stores`),
    with its row of ``report``'s ranking (its rank among all stores) and ``report``'s
    evidence rows and code timelines, which may lie in other stores."""
    evidence: dict[str, list] = {}
    for e in report.evidence:
        evidence.setdefault(e["finding_id"], []).append(e)
    shared = _Shared(ranked={r["store"]: r for r in report.ranking}, evidence=evidence,
                     timelines={t["code"]: t for t in report.charts.get("code_timelines", [])},
                     stock_gaps=_stock_gaps(records if records is not None else db, None, since, until, per_store=True))
    for store in sorted(set(report.generated_for) | set(shared.ranked)):
        mine = records.for_stores([store]) if records is not None else None
        try:
            yield store, build_report(db, stores=[store], since=since, until=until, lang=lang, privacy=privacy,
                                      records=mine, _shared=shared)
        finally:
            if mine is not None:
                mine.close()


def _evidence(db, found, privacy: Privacy, persons: dict) -> list[dict]:
    conn = db.conn
    wanted: dict[str, set] = {}
    for f in found:
        for ev in f.evidence:
            wanted.setdefault(ev["table"], set()).add(ev["id"])
    rows: dict[tuple[str, int], dict] = {}
    for table, ids in wanted.items():
        if not table.isidentifier() or not _table_exists(db, table):
            continue
        cols = {r[1] for r in conn.execute(f"PRAGMA table_info({table})")}
        read = [c for c in ("id", *EVIDENCE_COLUMNS, "medfee_fen") if c in cols]
        for names, got in _rows_by_id(db, table, sorted(ids), read):
            for values in got:
                r = dict(zip(names, values))
                out = {c: r.get(c) for c in EVIDENCE_COLUMNS if c in cols}
                if table == "settlements":
                    out["amount_fen"] = r.get("medfee_fen")
                if "code" in out and "codes" not in out:
                    out["codes"] = out.pop("code")
                out.pop("code", None)
                rows[(table, r["id"])] = out
    evidence = []
    for f in found:
        for ev in f.evidence:
            r = rows.get((ev["table"], ev["id"]), {})
            e = {"finding_id": f.id, "rule": f.rule, "table": ev["table"], "id": ev["id"],
                 "src_file": ev.get("src_file"), "src_row": ev.get("src_row")}
            for c in ("store", "ts", "item_id", "item_name", "qty", "amount_fen", "insurance_fen", "setl_id",
                      "psn_no", "psn_name", "certno", "codes"):
                e[c] = r.get(c)
            e["psn_no"] = privacy.psn(e["psn_no"])
            e["psn_name"] = privacy.name(e["psn_name"])
            e["certno"] = privacy.id(e["certno"])
            evidence.append(e)
    return evidence


def _rows_by_id(db, table: str, ids: list[int], columns: list[str]):
    """``(columns, rows)`` of ``table``'s rows with these ids: 500 a query from a ledger,
    all in one from a lake's records (a query there is a scan of the table's files)."""
    if hasattr(db, "rows_by_id"):
        yield db.rows_by_id(table, ids, columns)
        return
    for i in range(0, len(ids), 500):
        chunk = ids[i:i + 500]
        cur = db.conn.execute(f"SELECT {', '.join(columns)} FROM {table} WHERE id IN ({placeholders(chunk)})", chunk)
        yield columns, cur.fetchall()


def _rejects(db, stores, lang: str, privacy: Privacy, persons: dict) -> list[dict]:
    sql = ("SELECT src_file, src_row, kind, store, column_name, reason, found, expected FROM rejects "
           "WHERE 1=1")
    args: list = []
    if stores:
        sql += f" AND (store IS NULL OR store = '' OR store IN ({placeholders(stores)}))"
        args += list(stores)
    out = []
    for src_file, src_row, kind, store, column, reason, found, expected in db.conn.execute(
            sql + " ORDER BY src_file, src_row, id", args):
        found_shown = privacy.scrub(found, persons)
        if column in PERSONAL_COLUMNS and privacy.mode != "revealed" and found:
            found_shown = privacy.apply(PERSONAL_COLUMNS[column], found)
        out.append({"file": src_file, "row": src_row, "kind": kind, "store": store, "column": column,
                    "reason": reason, "reason_text": reason_text(reason, column, found_shown, expected, lang),
                    "found": found_shown, "expected": expected})
    return out


def _hourly(db, stores, since, until) -> list[dict]:
    w, a = scope_sql(stores, since, until)
    return [{"store": s, "dow": d, "hour": h, "settlements": n, "insurance_fen": int(m)}
            for s, d, h, n, m in db.conn.execute(
                "SELECT store, dow, hour, COUNT(*), COALESCE(SUM(insurance_fen), 0) FROM settlements "
                f"WHERE deleted = 0 AND is_reversal = 0 AND hour IS NOT NULL{w} "
                "GROUP BY store, dow, hour ORDER BY store, dow, hour", a)]


def _stock_gaps(db, stores, since, until, per_store: bool = False) -> dict:
    """The largest gaps between book and counted stock, ``STOCK_GAPS_LIMIT`` of them: of all
    ``stores`` (key None) or of each store (key: the store) in one pass."""
    if not _table_exists(db, "v_count_book"):
        return {}   # the audit materialises v_count_book; without an audit there is nothing to show
    w, a = scope_sql(stores, since, until, day_col="c.day", store_col="c.store")
    part, order = ("PARTITION BY c.store ", "store, k") if per_store else ("", "k")
    rows = db.conn.execute(
        "SELECT * FROM (SELECT c.store, c.item_id, COALESCE(i.item_name, g.item_name), c.day, c.book, c.counted, "
        f"c.counted - c.book, ROW_NUMBER() OVER ({part}ORDER BY ABS(c.counted - c.book) DESC, c.store, c.item_id, "
        "c.day, c.epoch) AS k "
        "FROM v_count_book c LEFT JOIN items i ON i.store = c.store AND i.item_id = c.item_id "
        "LEFT JOIN items g ON g.store = '' AND g.item_id = c.item_id "
        f"WHERE c.book IS NOT NULL AND c.counted IS NOT NULL AND c.counted <> c.book{w}) WHERE k <= ? ORDER BY {order}",
        [*a, STOCK_GAPS_LIMIT]).fetchall()
    out: dict = {}
    for s, i, n, d, b, c, diff, _ in rows:
        out.setdefault(s if per_store else None, []).append(
            {"store": s, "item_id": i, "item_name": n, "day": d, "book": b, "counted": c, "diff": diff})
    return out


def _code_timelines(db, found, privacy: Privacy) -> list[dict]:
    codes = sorted({c for f in found if f.rule == "code_resold" for c in f.codes})
    events: dict[str, list] = {c: [] for c in codes}
    for i in range(0, len(codes), 500):   # 500 codes a query (one a query: a scan of a lake's events each)
        chunk = codes[i:i + 500]
        for code, ts, store, event, setl_id, psn, item, qty in db.conn.execute(
                "SELECT code, ts, store, event, setl_id, psn_no, item_id, qty FROM code_events "
                f"WHERE code IN ({placeholders(chunk)}) ORDER BY code, epoch IS NULL, epoch, id", chunk):
            events[code].append({"ts": ts, "store": store, "event": event, "setl_id": setl_id,
                                 "psn_no": privacy.psn(psn), "item_id": item, "qty": qty})
    return [{"code": code, "events": events[code]} for code in codes]
