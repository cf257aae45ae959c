"""The life of one trace code: every event of the code, of the case and middle-pack
codes it came in, and the reversals of the settlements that billed it, in time order."""
from __future__ import annotations

from . import codes as codes_mod
from .engines import SQLiteEngine
from .findings import resolve_evidence

EVENT_SQL = """
SELECT e.ts, e.store, e.event, e.item_id, e.qty, e.setl_id, e.psn_no, e.doc_no, e.peer_store, e.detail,
       e.code, e.src_table, e.src_id, e.epoch
FROM code_events e
WHERE e.code = :code
   OR e.code IN (SELECT ancestor FROM code_ancestors WHERE code = :code AND depth > 0)
"""

REVERSAL_SQL = """
SELECT r.ts, r.store, 'reversed' AS event, NULL, NULL, r.orig_setl_id, r.psn_no, r.setl_id, NULL, NULL,
       :code, 'settlements', r.id, r.epoch
FROM settlements r
WHERE r.is_reversal = 1 AND r.deleted = 0 AND r.orig_setl_id IN (
    SELECT setl_id FROM code_events WHERE code = :code AND event = 'settled')
"""


def code_history(db, text: str, mask_psn=lambda psn: psn, engine=None):
    """Return (TraceCode, events) for a code as scanned or as stored; person numbers in
    the events' details pass through ``mask_psn``. Read from the ledger ``db``, or through
    ``engine`` (a DuckDB engine over the lake an audit read)."""
    tc = codes_mod.parse(text)
    key = tc.key or tc.text
    engine = engine or SQLiteEngine(db)
    _, rows = engine.query(f"{EVENT_SQL} UNION ALL {REVERSAL_SQL} ORDER BY 14, 3", {"code": key})
    # the source file and row of every event, one query per table
    sources = resolve_evidence(engine, [[f"{r[11]}:{r[12]}"] for r in rows])
    events = []
    for (ts, store, event, item, qty, setl, psn, doc, peer, detail, code, table, sid, _), (ev, _n) in zip(rows, sources):
        src = (ev[0]["src_file"], ev[0]["src_row"]) if ev else (None, None)
        parts = []
        if code != key:
            parts.append(f"via {code}")
        for label, v in (("item", item), ("qty", qty), ("setl_id", setl), ("psn", mask_psn(psn)), ("doc", doc),
                         ("peer", peer), ("mode", detail)):
            if v not in (None, ""):
                parts.append(f"{label}={v}")
        events.append({"ts": ts, "store": store, "event": event, "detail": " ".join(parts),
                       "src_table": table, "src_id": sid, "src_file": src[0], "src_row": src[1]})
    return tc, events
