"""Product-name matching: the name billed to insurance against the name sold at the till.

Runs in Python (rapidfuzz) before the rules and stores its result in ``name_map`` with
scores, so that a user can review it and override a verdict (rows with ``source =
'user'`` are never overwritten). Specs are normalised first, so that
``0.25g*24粒`` and ``0.25克×24粒/盒`` compare equal.

>>> normalize_name("阿莫西林胶囊(0.25克×24粒/盒)") == normalize_name("阿莫西林胶囊 0.25g*24粒")
True
>>> name_score("阿莫西林胶囊 0.25g*24粒", "阿莫西林胶囊(0.25克×24粒/盒)")
100.0
>>> name_score("阿莫西林胶囊", "海飞丝洗发水") < 50
True
"""
from __future__ import annotations

import re
import unicodedata

from rapidfuzz import fuzz

#: score at or above which two names are taken as the same product.
MATCH_SCORE = 80

_UNITS = [("毫克", "mg"), ("微克", "ug"), ("μg", "ug"), ("克", "g"), ("毫升", "ml"), ("升", "l"),
          ("×", "*"), ("x", "*"), ("X", "*")]
_PACK_SUFFIX = re.compile(r"/(盒|瓶|袋|支|板|包|罐|箱)$")


def normalize_name(name: str | None) -> str:
    s = unicodedata.normalize("NFKC", name or "").lower()
    for a, b in _UNITS:
        s = s.replace(a, b)
    s = re.sub(r"[()\[\]【】（）\s]+", " ", s).strip()
    s = " ".join(_PACK_SUFFIX.sub("", part) for part in s.split())
    s = re.sub(r"(\d)\s*\*\s*(\d)", r"\1*\2", s)
    return s.replace(" ", "")


def name_score(a: str | None, b: str | None) -> float:
    na, nb = normalize_name(a), normalize_name(b)
    if not na or not nb:
        return 0.0
    return float(round(max(fuzz.ratio(na, nb), fuzz.token_set_ratio(na, nb),
                            fuzz.partial_ratio(na, nb) if min(len(na), len(nb)) >= 4 else 0), 1))


PAIRS_SQL = (
    # only lines the till did not sell under the same item id need their name compared: those
    # first, then their settlement's sales (joining all lines to all sales first took twice
    # as long on both engines: DuckDB 0.14 -> 0.07 s a batch at 10M lines, SQLite 2.1 -> 1.4 s at 1M)
    "SELECT DISTINCT l.store, s.item_name, l.item_name FROM "
    "(SELECT setl_id, store, item_id, item_name FROM settlement_lines l WHERE l.deleted = 0 AND l.item_name IS NOT NULL "
    "AND NOT EXISTS (SELECT 1 FROM sales x WHERE x.setl_id = l.setl_id AND x.store = l.store "
    "AND x.item_id = l.item_id AND x.deleted = 0 AND x.is_return = 0)) l "
    "JOIN sales s ON s.setl_id = l.setl_id AND s.store = l.store AND s.deleted = 0 "
    "WHERE s.is_return = 0 AND COALESCE(s.item_id, '') <> COALESCE(l.item_id, '') AND s.item_name IS NOT NULL")


def refresh_name_map(engine, threshold: float = MATCH_SCORE) -> int:
    """Score the (till name, insurance name) pairs of settlement lines that the till did
    not sell under the same item id; keep user overrides. Returns the number of pairs scored."""
    _, pairs = engine.query(PAIRS_SQL)
    rows = []
    for store, till, ins in sorted(pairs):
        score = name_score(till, ins)
        rows.append((store, till, ins, score, "match" if score >= threshold else "mismatch"))
    ledger = engine.ledger
    if ledger is not None:  # the reviewable mapping lives in the ledger; user verdicts win
        ledger.conn.executemany(
            "INSERT INTO name_map(store, till_name, insurance_name, score, verdict, source) VALUES (?,?,?,?,?,'rapidfuzz') "
            "ON CONFLICT(store, till_name, insurance_name) DO UPDATE SET score = excluded.score, "
            "verdict = excluded.verdict WHERE name_map.source <> 'user'", rows)
    if engine.name != "sqlite":  # another engine reads its own copy, user overrides included
        if ledger is not None:
            rows = ledger.conn.execute("SELECT store, till_name, insurance_name, score, verdict FROM name_map "
                                       "ORDER BY 1, 2, 3").fetchall()
        engine.write_rows("name_map", ("store", "till_name", "insurance_name", "score", "verdict"), rows,
                          "CREATE TABLE name_map (store VARCHAR, till_name VARCHAR, insurance_name VARCHAR, "
                          "score DOUBLE, verdict VARCHAR)")
    return len(pairs)


VERDICTS = ("match", "mismatch")


def list_names(db, *, store: str | None = None, verdict: str | None = None) -> list[dict]:
    """The name pairs scored so far (after an audit), for review."""
    sql = "SELECT store, till_name, insurance_name, score, verdict, source FROM name_map WHERE 1=1"
    args: list = []
    if store:
        sql += " AND store = ?"
        args.append(store)
    if verdict:
        sql += " AND verdict = ?"
        args.append(verdict)
    cur = db.conn.execute(sql + " ORDER BY store, score, till_name, insurance_name", args)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r)) for r in cur.fetchall()]


def set_verdict(db, store: str, till_name: str, insurance_name: str, verdict: str) -> None:
    """A user's verdict on a name pair; later audits keep it (source = 'user')."""
    from .errors import ConfigError

    if verdict not in VERDICTS:
        raise ConfigError(f"verdict must be one of {', '.join(VERDICTS)}, not '{verdict}'.",
                          f"结论应为 {', '.join(VERDICTS)} 之一，而不是「{verdict}」。")
    score = name_score(till_name, insurance_name)
    db.conn.execute(
        "INSERT INTO name_map(store, till_name, insurance_name, score, verdict, source) VALUES (?,?,?,?,?,'user') "
        "ON CONFLICT(store, till_name, insurance_name) DO UPDATE SET verdict = excluded.verdict, source = 'user'",
        (store, till_name, insurance_name, score, verdict))
