"""Verdicts for scanner stations: what one scanned code means here and now, and the
durable record of the scan.

A station calls :func:`verdict` for every line the scanner sends, then
:func:`record_scan` (which commits before it returns), then shows the verdict. A
stocktake ends with :func:`stocktake_report`.

The verdict is read from ``code_events`` (indexed on ``(code, epoch)``) of the code and of
the case / middle-pack codes it came in (``code_ancestors``):

* a box is **sold** when its last sale or settlement event that is not a split-pack sale
  (``trdn_flag`` = 1) has no later sale return (3506 ``returned``) and its settlement
  was not reversed (2103: ``settlements.is_reversal`` = 1 naming it in ``orig_setl_id``);
* a box is **received here** when the store has an event bringing it in (``received``,
  ``transfer_in``, ``stock_in``, ``returned``) for it or for its case;
* it is **in stock here** when the last event moving it (in, sold, transferred out,
  returned to the supplier, written off) left it in this store.

>>> from invreconcile.ledger import open_ledger
>>> db = open_ledger(":memory:")
>>> v = verdict(db, '6901234567892', store='P1', mode='dispense')
>>> v.status, v.ok
('product_barcode', False)
>>> v = verdict(db, '81234567890123456789', store='P1', mode='receive')
>>> v.status
'ok'
>>> scan_id = record_scan(db, v, store='P1', station_id='desk1', mode='receive', session_id='s1', doc_no=None)
>>> verdict(db, '81234567890123456789', store='P1', mode='receive', session='s1').status
'duplicate_in_session'
>>> verdict(db, '81234567890123456789', store='P1', mode='dispense').status
'never_received'
"""
from __future__ import annotations

import datetime as dt
import hashlib
import time
from dataclasses import dataclass, field

from . import codes as codes_mod
from .reports.privacy import mask_psn

__all__ = ["Verdict", "verdict", "record_scan", "stocktake_report", "StocktakeReport",
           "STATUSES", "MODES", "code_state"]

CHINA = dt.timezone(dt.timedelta(hours=8))
MODES = ("receive", "dispense", "stocktake", "verify")

#: Every status a verdict can have, with its short title in Chinese and English.
STATUSES = {
    "ok": ("通过", "OK"),
    "already_sold": ("已售出", "ALREADY SOLD"),
    "not_in_stock": ("不在本店库存", "NOT IN STOCK HERE"),
    "never_received": ("本店未入库", "NEVER RECEIVED HERE"),
    "expired": ("已过期", "EXPIRED"),
    "wrong_product": ("品种与单据不符", "WRONG PRODUCT FOR DOCUMENT"),
    "product_barcode": ("扫的是商品条码", "PRODUCT BARCODE, NOT TRACE CODE"),
    "invalid": ("无效码", "NOT A VALID CODE"),
    "duplicate_in_session": ("本次重复扫码", "DUPLICATE SCAN IN THIS SESSION"),
    "unknown_item": ("目录中无此品种", "PRODUCT NOT IN CATALOG"),
}

IN_EVENTS = ("received", "transfer_in", "stock_in", "returned")
OUT_EVENTS = ("transfer_out", "stock_out", "returned_to_supplier")
SALE_EVENTS = ("sold", "settled")

_EVENT_SQL = (
    "SELECT id, code, event, store, item_id, trdn_flag, setl_id, psn_no, doc_no, peer_store, "
    "expy_end, ts, epoch FROM code_events WHERE code IN ({}) AND event <> 'scanned' "
    "ORDER BY epoch, id"
)
_EVENT_COLS = ("id", "code", "event", "store", "item_id", "trdn_flag", "setl_id", "psn_no",
               "doc_no", "peer_store", "expy_end", "ts", "epoch")


@dataclass(frozen=True)
class Verdict:
    """What a scan means. ``basis`` holds the code events (dicts) the verdict rests on:
    for ``already_sold`` the sale (store, ts, setl_id, doc_no); for ``not_in_stock`` the
    event that took it out; for ``expired`` the date."""

    status: str
    message_zh: str
    message_en: str
    code: codes_mod.TraceCode
    mode: str
    store: str
    key: str | None = None
    item_ids: tuple = ()
    expiry: str | None = None
    basis: tuple = ()
    doc_no: str | None = None
    ts: str = ""
    elapsed_ms: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def title(self, lang: str = "zh") -> str:
        zh, en = STATUSES[self.status]
        return en if lang == "en" else zh

    def message(self, lang: str = "zh") -> str:
        return self.message_en if lang == "en" else self.message_zh


@dataclass
class CodeState:
    """The life of one box as far as the ledger knows it."""

    events: list = field(default_factory=list)
    reversed_setl_ids: set = field(default_factory=set)
    sale: dict | None = None          # last sale that still stands (not split, not undone)
    location: str | None = None       # store holding it after the last moving event
    last_move: dict | None = None
    received_at: set = field(default_factory=set)
    expy_end: str | None = None
    item_ids: set = field(default_factory=set)

    @property
    def sold(self) -> bool:
        return self.sale is not None

    def in_stock(self, store: str) -> bool:
        return self.location == store


def _now() -> dt.datetime:
    return dt.datetime.now(CHINA).replace(tzinfo=None, microsecond=0)


def code_state(db, key: str) -> CodeState:
    """Read the events of ``key`` and of its case / middle-pack codes and work out where
    the box is."""
    conn = db.conn
    ancestors = [a for (a,) in conn.execute(
        "SELECT ancestor FROM code_ancestors WHERE code = ? AND depth > 0", (key,))]
    codes = [key, *ancestors]
    rows = conn.execute(_EVENT_SQL.format(",".join("?" * len(codes))), codes).fetchall()
    st = CodeState(events=[dict(zip(_EVENT_COLS, r)) for r in rows])
    setl_ids = sorted({e["setl_id"] for e in st.events if e["setl_id"] and e["event"] in SALE_EVENTS})
    if setl_ids:
        st.reversed_setl_ids = {s for (s,) in conn.execute(
            "SELECT orig_setl_id FROM settlements WHERE is_reversal = 1 AND deleted = 0 "
            f"AND orig_setl_id IN ({','.join('?' * len(setl_ids))})", setl_ids)}
    for e in st.events:
        ev = e["event"]
        if e["item_id"]:
            st.item_ids.add(e["item_id"])
        if e["expy_end"]:
            st.expy_end = e["expy_end"]
        if ev in SALE_EVENTS:
            if e["trdn_flag"] == 1 or (e["setl_id"] and e["setl_id"] in st.reversed_setl_ids):
                continue  # split-pack sale, or a settlement reversed by 2103
            st.sale = e
            st.location = None
            st.last_move = e
        elif ev in IN_EVENTS:
            if ev == "returned":
                st.sale = None
            st.received_at.add(e["store"])
            st.location = e["store"]
            st.last_move = e
        elif ev in OUT_EVENTS:
            if st.location in (None, e["store"]):
                st.location = None
                st.last_move = e
    return st


# --------------------------------------------------------------------------- documents

_DOC_CACHE: dict = {}
_DOC_TTL = 30.0


def document_items(db, store: str, mode: str, doc_no: str) -> set[str]:
    """Item ids on a purchase document (receive) or a sale / settlement / retail document
    (other modes). Empty when the ledger does not know the document (yet)."""
    cache_key = (id(db.conn), store, mode, doc_no)
    hit = _DOC_CACHE.get(cache_key)
    if hit and time.monotonic() - hit[0] < _DOC_TTL:
        return hit[1]
    conn = db.conn
    if mode == "receive":
        rows = conn.execute(
            "SELECT item_id FROM purchases WHERE store = ? AND deleted = 0 AND is_return = 0 "
            "AND (dynt_no = ? OR bchno = ? OR invoice_no = ? OR medins_prod_purc_no = ?)",
            (store, doc_no, doc_no, doc_no, doc_no))
    else:
        rows = conn.execute(
            "SELECT item_id FROM sales WHERE store = ? AND deleted = 0 AND is_return = 0 "
            "AND (setl_id = ? OR rtal_docno = ? OR stoout_no = ?) "
            "UNION SELECT item_id FROM settlement_lines WHERE store = ? AND setl_id = ?",
            (store, doc_no, doc_no, doc_no, store, doc_no))
    items = {i for (i,) in rows if i}
    _DOC_CACHE[cache_key] = (time.monotonic(), items)
    if len(_DOC_CACHE) > 256:
        _DOC_CACHE.pop(next(iter(_DOC_CACHE)))
    return items


# --------------------------------------------------------------------------- verdict

_WHERE_LABELS = {"zh": ("时间不详", "{ts} 在 {store}", "结算", "单据", "人员", "，"),
                 "en": ("time unknown", "{ts} at {store}", "settlement", "document", "person", ", ")}


def _where(e: dict, lang: str) -> str:
    unknown, at, setl, doc, person, sep = _WHERE_LABELS["zh" if lang == "zh" else "en"]
    parts = [at.format(ts=e["ts"] or unknown, store=e["store"])]
    for label, key in ((setl, "setl_id"), (doc, "doc_no"), (person, "psn_no")):
        if e[key]:   # the person number masked, as everywhere it is shown (reports.privacy)
            parts.append(f"{label} {mask_psn(e[key]) if key == 'psn_no' else e[key]}")
    return sep.join(parts)


_OUT_ZH = {"transfer_out": "调出", "stock_out": "出库/报损", "returned_to_supplier": "退回供应商"}


def verdict(db, raw: str, *, store: str, mode: str, doc_no: str | None = None,
            session: str | None = None, today: dt.date | None = None) -> Verdict:
    """The verdict for one scanned text at ``store`` in ``mode`` (receive, dispense,
    stocktake, verify). ``doc_no`` is the purchase document (receive) or the settlement
    id / retail document number (dispense) the box must belong to; ``session`` the scan
    session, for duplicate detection. Never writes."""
    t0 = time.perf_counter()
    if mode not in MODES:
        raise ValueError(f"mode {mode!r}: expected one of {', '.join(MODES)}")
    now = _now()
    today = today or now.date()
    tc = codes_mod.parse(raw)
    base = dict(code=tc, mode=mode, store=store, doc_no=doc_no, ts=now.strftime("%Y-%m-%d %H:%M:%S"))

    def done(status, zh, en, **kw):
        return Verdict(status, zh, en, elapsed_ms=(time.perf_counter() - t0) * 1000, **base, **kw)

    if tc.kind in ("ean13", "drug_std_code") or tc.reason == "product_barcode":
        return done("product_barcode", tc.describe("zh"), tc.describe("en"))
    if not tc.is_trace_code:
        return done("invalid", tc.describe("zh"), tc.describe("en"))
    key = tc.key
    base["key"] = key
    conn = db.conn
    if session and conn.execute(
            "SELECT 1 FROM scans WHERE code = ? AND session_id = ? AND store = ? LIMIT 1",
            (key, session, store)).fetchone():
        return done("duplicate_in_session", f"本次已扫过此码 {key}，请勿重复扫描同一盒",
                    f"{key} was already scanned in this session: do not scan one box twice.")
    st = code_state(db, key)
    item_ids = set(st.item_ids)
    if tc.product_key:
        item_ids.update(i for (i,) in conn.execute(
            "SELECT item_id FROM item_products WHERE product_key = ? AND store IN (?, '')",
            (tc.product_key, store)))
    base["item_ids"] = tuple(sorted(item_ids))
    expiry = tc.expiry.isoformat() if tc.expiry else st.expy_end
    base["expiry"] = expiry

    if st.sold:
        s = st.sale
        if mode == "stocktake":
            zh = f"台账显示此盒已售出（{_where(s, 'zh')}），却仍在货架上：可能是虚假销售，请核查"
            en = (f"The ledger says this box was sold ({_where(s, 'en')}) yet it is on the "
                  "shelf: possible phantom sale, check it.")
        else:
            zh = f"此盒已售出（{_where(s, 'zh')}），没有退货记录：可能是回流药或重复结算，请勿收货/销售"
            en = (f"This box was already sold ({_where(s, 'en')}) with no return since: "
                  "possibly resold or settled twice; do not accept or sell it.")
        return done("already_sold", zh, en, basis=(s,))
    if mode != "receive":
        if store not in st.received_at:
            return done("never_received", f"本店({store})没有此盒的入库记录，请核对来源或先办理入库",
                        f"No record of this box being received at {store}: check where it came "
                        "from or book it in first.")
        if not st.in_stock(store):
            m = st.last_move or {}
            what = _OUT_ZH.get(m.get("event"), m.get("event") or "")
            return done("not_in_stock",
                        f"台账显示此盒已{what}（{_where(m, 'zh')}），不在本店库存",
                        f"The ledger says this box left the store ({m.get('event')}, "
                        f"{_where(m, 'en')}): it is not in stock here.", basis=(m,))
    if doc_no:
        doc_items = document_items(db, store, mode, doc_no)
        if doc_items and item_ids and not (doc_items & item_ids):
            return done("wrong_product",
                        f"此盒品种({','.join(sorted(item_ids))})不在单据 {doc_no} 上"
                        f"(单据品种: {','.join(sorted(doc_items))})，请核对",
                        f"This box's product ({','.join(sorted(item_ids))}) is not on document "
                        f"{doc_no} (document has: {','.join(sorted(doc_items))}): check it.")
    if expiry and expiry < today.isoformat():
        return done("expired", f"已过有效期（{expiry}），不得销售", f"Expired on {expiry}: must not be sold.")
    if not item_ids and conn.execute("SELECT 1 FROM items LIMIT 1").fetchone():
        return done("unknown_item", f"商品目录中找不到此码的品种（标识 {tc.product_key}），请维护目录",
                    f"No catalog item has this code's product key ({tc.product_key}): update the catalog.")
    extra_zh = f"，有效期至 {expiry}" if expiry else ""
    extra_en = f" Expires {expiry}." if expiry else ""
    items = ",".join(sorted(item_ids))
    return done("ok", f"{tc.describe('zh')}{('，品种 ' + items) if items else ''}{extra_zh}",
                f"{tc.describe('en')}{(' Item ' + items + '.') if items else ''}{extra_en}")


# --------------------------------------------------------------------------- recording

def record_scan(db, verdict: Verdict, *, store: str, station_id: str, mode: str,
                session_id: str, doc_no: str | None) -> int:
    """Insert the scan into ``scans`` and its ``scanned`` code event, in one transaction
    that is committed before this returns. Returns the id of the ``scans`` row.

    Provenance: ``src_file`` = ``station:<station_id>``, ``src_sha256`` = SHA-256 of the
    session id, ``src_row`` = sequence number of the scan in the session."""
    tc = verdict.code
    code = tc.key or tc.text
    t = dt.datetime.strptime(verdict.ts, "%Y-%m-%d %H:%M:%S") if verdict.ts else _now()
    tcols = dict(ts=t.strftime("%Y-%m-%d %H:%M:%S"), day=t.strftime("%Y-%m-%d"), month=t.strftime("%Y-%m"),
                 epoch=int(t.replace(tzinfo=CHINA).timestamp()), hour=t.hour,
                 tod_min=t.hour * 60 + t.minute, dow=t.isoweekday())
    session_sha = hashlib.sha256(session_id.encode("utf-8")).hexdigest()
    item_id = verdict.item_ids[0] if len(verdict.item_ids) == 1 else None
    conn = db.conn
    conn.execute("BEGIN IMMEDIATE")
    try:
        (seq,) = conn.execute(
            "SELECT COUNT(*) + 1 FROM scans WHERE src_sha256 = ? AND src_file = ?",
            (session_sha, f"station:{station_id}")).fetchone()
        rec_hash = hashlib.sha256("\x1f".join(
            ("scan", store, station_id, session_id, str(seq), tcols["ts"], tc.raw)).encode("utf-8")).hexdigest()
        cur = conn.execute(
            "INSERT INTO scans(store, station_id, mode, session_id, doc_no, raw, code, code_kind, product_key, "
            "verdict, ts, day, month, epoch, hour, tod_min, dow, src_file, src_sha256, src_row, rec_hash) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (store, station_id, mode, session_id, doc_no, tc.raw, code, tc.kind, tc.product_key,
             verdict.status, *tcols.values(), f"station:{station_id}", session_sha, seq, rec_hash))
        scan_id = cur.lastrowid
        if code:
            conn.execute(
                "INSERT INTO code_events(code, code_kind, product_key, event, store, item_id, doc_no, expy_end, "
                "detail, src_table, src_id, ts, day, month, epoch, hour, tod_min, dow) "
                "VALUES (?,?,?,'scanned',?,?,?,?,?,'scans',?,?,?,?,?,?,?,?)",
                (code, tc.kind, tc.product_key, store, item_id, doc_no, verdict.expiry, mode, scan_id,
                 *tcols.values()))
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return scan_id


# --------------------------------------------------------------------------- stocktake

@dataclass
class StocktakeReport:
    """End of a counting session. ``missing``: boxes the ledger expects on the shelf that
    were not scanned; ``sold_but_present`` / ``never_received`` / ``out_but_present``:
    boxes scanned that the ledger says were sold, never received here, or gone out."""

    store: str
    session_id: str
    scanned: int = 0
    expected: int = 0
    missing: list = field(default_factory=list)
    sold_but_present: list = field(default_factory=list)
    never_received: list = field(default_factory=list)
    out_but_present: list = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not (self.missing or self.sold_but_present or self.never_received or self.out_but_present)


def _boxes(db, code: str) -> list[str]:
    def children(c):
        return [k for (k,) in db.conn.execute(
            "SELECT code FROM code_relations WHERE parent_code = ? AND deleted = 0", (c,))]
    return codes_mod.resolve_boxes(code, children)


def stocktake_report(db, store: str, session_id: str) -> StocktakeReport:
    """Compare a counting session's scans with what the ledger says is on the shelf."""
    conn = db.conn
    rep = StocktakeReport(store, session_id)
    scanned_boxes: dict[str, str] = {}
    for (code,) in conn.execute(
            "SELECT DISTINCT code FROM scans WHERE store = ? AND session_id = ? "
            "AND code_kind IN ('cn20', 'gs1', 'ma') AND code IS NOT NULL", (store, session_id)):
        for box in _boxes(db, code):
            scanned_boxes.setdefault(box, code)
    rep.scanned = len(scanned_boxes)
    candidates: set[str] = set()
    for (code,) in conn.execute(
            "SELECT DISTINCT code FROM code_events WHERE store = ? AND event IN "
            f"({','.join('?' * len(IN_EVENTS))}) AND code_kind IN ('cn20', 'gs1', 'ma')",
            (store, *IN_EVENTS)):
        candidates.update(_boxes(db, code))
    states: dict[str, CodeState] = {}
    for box in sorted(candidates | set(scanned_boxes)):
        states[box] = code_state(db, box)
    for box in sorted(candidates):
        st = states[box]
        if not st.in_stock(store):
            continue
        rep.expected += 1
        if box not in scanned_boxes:
            e = st.last_move or {}
            rep.missing.append({"code": box, "item_ids": sorted(st.item_ids), "since": e.get("ts"),
                                "event": e.get("event")})
    for box, via in sorted(scanned_boxes.items()):
        st = states[box]
        entry = {"code": box, "scanned_as": via, "item_ids": sorted(st.item_ids)}
        if st.sold:
            s = st.sale
            rep.sold_but_present.append({**entry, "sold_store": s["store"], "sold_ts": s["ts"],
                                         "setl_id": s["setl_id"], "doc_no": s["doc_no"]})
        elif store not in st.received_at:
            rep.never_received.append(entry)
        elif not st.in_stock(store):
            m = st.last_move or {}
            rep.out_but_present.append({**entry, "event": m.get("event"), "ts": m.get("ts"),
                                        "peer_store": m.get("peer_store")})
    return rep
