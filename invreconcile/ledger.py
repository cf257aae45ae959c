"""The ledger: one SQLite file holding every record of every store, with provenance.

Open it with :func:`open_ledger`; the schema is created on first use and its version
is kept in ``PRAGMA user_version``.

Conventions shared by every fact table
======================================

* ``store``: the designated institution code (fixmedins_code) the fact belongs to.
* Provenance: ``src_file`` (path as given on import), ``src_sha256`` (of the file's bytes),
  ``src_row`` (spreadsheet row number, header = 1; JSON Lines line number; 1-based index in
  a JSON array).
* ``rec_hash``: SHA-256 of the record kind and its canonical content. A technical
  re-upload (the same record again, in the same or another file) is stored once;
  ``uploads`` counts how often it was seen.
* Money is integer fen: ``price_fen`` (per unit of ``qty_orig``), ``amount_fen`` (line),
  settlement header amounts ``*_fen``. Never floats.
* Quantities: ``qty`` in the minimum pricing unit (tablets, capsules ...), ``qty_orig`` and
  ``unit_orig`` as the file stated them (a pack unit is converted with the catalog's
  ``convrat``).
* Times are local China time (UTC+8). The principal time of a row is ``ts``
  (``YYYY-MM-DD HH:MM:SS``) with derived columns so that SQL rules need no date functions:
  ``day`` (``YYYY-MM-DD``), ``month`` (``YYYY-MM``), ``epoch`` (seconds since 1970 UTC),
  ``hour`` (0-23), ``tod_min`` (minutes since local midnight), ``dow`` (1 = Monday).
  ``ts`` and its derived columns are NULL when the source had no usable time.
* ``codes``: normalised trace codes of the row, comma separated, and ``code_count``.
  The life of each code is in ``code_events``.
* ``deleted``: 1 when a 3507 deletion withdrew the row (rules skip deleted rows).

Tables
======

``files``           one row per imported file (sha256, path, kind, store, counts).
``rejects``         rows that could not be accepted: file, row, column, reason code, what
                    was found and what was expected.
``items``           catalog: store ('' = shared by all stores), item_id, item_name,
                    med_list_codg, spec, pack_unit, min_unit, convrat, category,
                    covered, rx_flag, drug_prod_barc, trace_prefix, price_fen (per pack).
``item_products``   which code product keys (7-digit prefix, GTIN-14, barcode) belong to
                    which item.
``purchases``       3503 (is_return = 0) and 3504 (is_return = 1).
``sales``           3505 (is_return = 0) and 3506 (is_return = 1).
``settlements``     2102 headers (is_reversal = 0) and 2103 reversals (is_reversal = 1,
                    ``orig_setl_id`` names the settlement reversed).
``settlement_lines`` 2102 drug detail lines.
``stock_counts``    3501.
``stock_changes``   3502 (``chg_type`` = inv_chg_type, ``peer_store`` for transfers).
``deletions``       3507.
``code_relations``  case / middle pack / box relations (code, parent_code, code_level,
                    box_amount).
``code_ancestors``  derived: every code in a relation with each of its ancestors and
                    itself, so that "received through its case code" is one join.
``scans``           scan logs of the stations.
``code_events``     one row per (code, event): ``event`` is one of received,
                    returned_to_supplier, sold, returned, settled, transfer_in,
                    transfer_out, stock_in, stock_out, counted, scanned. ``code`` is the
                    trace code key (see :mod:`invreconcile.codes`), or the normalised text
                    for things that are not trace codes, whose ``code_kind`` says what
                    they are (ean13, drug_std_code, split_placeholder, invalid).
                    ``src_table``/``src_id`` point at the row it came from.
``name_map``        product-name matching results (see :mod:`invreconcile.match`).
``findings``        audit findings (see :mod:`invreconcile.findings`).
"""
from __future__ import annotations

import ctypes
import sqlite3
import threading
from pathlib import Path

import sqlite_utils

from .errors import LedgerError

SCHEMA_VERSION = 2  # 2: indexes on document numbers for the stations' --doc lookups

PROVENANCE = """
    src_file TEXT NOT NULL,
    src_sha256 TEXT NOT NULL,
    src_row INTEGER NOT NULL,
    rec_hash TEXT NOT NULL UNIQUE,
    uploads INTEGER NOT NULL DEFAULT 1,
    deleted INTEGER NOT NULL DEFAULT 0"""

TIME = """
    ts TEXT, day TEXT, month TEXT, epoch INTEGER, hour INTEGER, tod_min INTEGER, dow INTEGER"""

ITEM_REF = """
    item_id TEXT, item_name TEXT, med_list_codg TEXT"""

DDL = f"""
CREATE TABLE IF NOT EXISTS files (
    sha256 TEXT PRIMARY KEY,
    path TEXT NOT NULL,
    kind TEXT,
    store TEXT,
    imported_at TEXT NOT NULL,
    rows_read INTEGER NOT NULL,
    rows_accepted INTEGER NOT NULL,
    rows_duplicate INTEGER NOT NULL,
    rows_rejected INTEGER NOT NULL,
    header_guesses TEXT
);
CREATE TABLE IF NOT EXISTS rejects (
    id INTEGER PRIMARY KEY,
    src_file TEXT NOT NULL, src_sha256 TEXT NOT NULL, src_row INTEGER NOT NULL,
    kind TEXT, store TEXT,
    column_name TEXT, reason TEXT NOT NULL, found TEXT, expected TEXT
);
CREATE TABLE IF NOT EXISTS items (
    id INTEGER PRIMARY KEY,
    store TEXT NOT NULL DEFAULT '',
    {ITEM_REF},
    spec TEXT, pack_unit TEXT, min_unit TEXT, convrat INTEGER,
    category TEXT, covered INTEGER NOT NULL DEFAULT 0, rx_flag TEXT,
    drug_prod_barc TEXT, trace_prefix TEXT, price_fen INTEGER,
    {PROVENANCE}
);
CREATE UNIQUE INDEX IF NOT EXISTS items_store_item ON items(store, item_id);
CREATE TABLE IF NOT EXISTS item_products (
    product_key TEXT NOT NULL, store TEXT NOT NULL, item_id TEXT NOT NULL,
    PRIMARY KEY (product_key, store, item_id)
);
CREATE TABLE IF NOT EXISTS purchases (
    id INTEGER PRIMARY KEY, store TEXT NOT NULL, is_return INTEGER NOT NULL,
    {ITEM_REF},
    dynt_no TEXT, bchno TEXT, lotnum TEXT, spler_name TEXT, prodentp_name TEXT,
    aprvno TEXT, manu_date TEXT, expy_end TEXT,
    qty INTEGER, qty_orig TEXT, unit_orig TEXT, price_fen INTEGER, amount_fen INTEGER,
    invoice_no TEXT, opter TEXT, medins_prod_purc_no TEXT, memo TEXT,
    codes TEXT, code_count INTEGER NOT NULL DEFAULT 0,
    {TIME},
    {PROVENANCE}
);
CREATE TABLE IF NOT EXISTS sales (
    id INTEGER PRIMARY KEY, store TEXT NOT NULL, is_return INTEGER NOT NULL,
    {ITEM_REF},
    bchno TEXT, lotnum TEXT, manu_date TEXT, expy_end TEXT, rx_flag TEXT,
    trdn_flag INTEGER, setl_id TEXT, mdtrt_sn TEXT, psn_no TEXT, psn_name TEXT,
    psn_cert_type TEXT, certno TEXT, hi_feesetl_type TEXT, rxno TEXT, rtal_docno TEXT,
    stoout_no TEXT, drug_prod_barc TEXT, prsc_dr_name TEXT, phar_name TEXT,
    qty INTEGER, qty_orig TEXT, unit_orig TEXT, price_fen INTEGER, amount_fen INTEGER,
    opter TEXT, medins_prod_sel_no TEXT, memo TEXT,
    codes TEXT, code_count INTEGER NOT NULL DEFAULT 0,
    {TIME},
    {PROVENANCE}
);
CREATE TABLE IF NOT EXISTS settlements (
    id INTEGER PRIMARY KEY, store TEXT NOT NULL, setl_id TEXT NOT NULL,
    is_reversal INTEGER NOT NULL, orig_setl_id TEXT,
    mdtrt_id TEXT, psn_no TEXT, psn_name TEXT, psn_cert_type TEXT, certno TEXT,
    insutype TEXT,
    medfee_fen INTEGER, fulamt_ownpay_fen INTEGER, overlmt_selfpay_fen INTEGER,
    inscp_scp_fen INTEGER, hifp_pay_fen INTEGER, fund_pay_fen INTEGER,
    psn_part_fen INTEGER, acct_pay_fen INTEGER, psn_cash_fen INTEGER,
    acct_mulaid_fen INTEGER, balc_fen INTEGER, refd_setl_flag TEXT,
    insurance_fen INTEGER,
    {TIME},
    {PROVENANCE}
);
CREATE TABLE IF NOT EXISTS settlement_lines (
    id INTEGER PRIMARY KEY, store TEXT NOT NULL, setl_id TEXT NOT NULL, psn_no TEXT,
    feedetl_sn TEXT, rxno TEXT,
    {ITEM_REF},
    qty INTEGER, qty_orig TEXT, unit_orig TEXT, price_fen INTEGER, amount_fen INTEGER,
    trdn_flag INTEGER,
    codes TEXT, code_count INTEGER NOT NULL DEFAULT 0,
    {TIME},
    {PROVENANCE}
);
CREATE TABLE IF NOT EXISTS stock_counts (
    id INTEGER PRIMARY KEY, store TEXT NOT NULL,
    {ITEM_REF},
    rx_flag TEXT, qty INTEGER, qty_orig TEXT, unit_orig TEXT,
    lotnum TEXT, bchno TEXT, manu_date TEXT, expy_end TEXT, memo TEXT,
    codes TEXT, code_count INTEGER NOT NULL DEFAULT 0,
    {TIME},
    {PROVENANCE}
);
CREATE TABLE IF NOT EXISTS stock_changes (
    id INTEGER PRIMARY KEY, store TEXT NOT NULL,
    {ITEM_REF},
    chg_type INTEGER, price_fen INTEGER, amount_fen INTEGER,
    qty INTEGER, qty_orig TEXT, unit_orig TEXT,
    opter TEXT, trdn_flag INTEGER, bchno TEXT, lotnum TEXT, expy_end TEXT,
    peer_store TEXT, memo TEXT,
    codes TEXT, code_count INTEGER NOT NULL DEFAULT 0,
    {TIME},
    {PROVENANCE}
);
CREATE TABLE IF NOT EXISTS deletions (
    id INTEGER PRIMARY KEY, store TEXT NOT NULL,
    inv_data_type INTEGER NOT NULL, bchno TEXT NOT NULL, applied INTEGER NOT NULL DEFAULT 0,
    {TIME},
    {PROVENANCE}
);
CREATE TABLE IF NOT EXISTS code_relations (
    id INTEGER PRIMARY KEY, store TEXT,
    code TEXT NOT NULL, parent_code TEXT, code_level INTEGER, box_amount INTEGER,
    {PROVENANCE}
);
CREATE TABLE IF NOT EXISTS code_ancestors (
    code TEXT NOT NULL, ancestor TEXT NOT NULL, depth INTEGER NOT NULL,
    PRIMARY KEY (code, ancestor)
);
CREATE TABLE IF NOT EXISTS scans (
    id INTEGER PRIMARY KEY, store TEXT NOT NULL, station_id TEXT, mode TEXT,
    session_id TEXT, doc_no TEXT, raw TEXT, code TEXT, code_kind TEXT,
    product_key TEXT, verdict TEXT,
    {TIME},
    {PROVENANCE}
);
CREATE TABLE IF NOT EXISTS code_events (
    id INTEGER PRIMARY KEY,
    code TEXT NOT NULL, code_kind TEXT NOT NULL, product_key TEXT,
    event TEXT NOT NULL, store TEXT NOT NULL, item_id TEXT, qty INTEGER,
    trdn_flag INTEGER, setl_id TEXT, psn_no TEXT, doc_no TEXT, peer_store TEXT,
    expy_end TEXT, detail TEXT,
    src_table TEXT NOT NULL, src_id INTEGER NOT NULL,
    {TIME}
);
CREATE INDEX IF NOT EXISTS code_events_code ON code_events(code, epoch);
CREATE INDEX IF NOT EXISTS code_events_src ON code_events(src_table, src_id);
CREATE INDEX IF NOT EXISTS code_events_event ON code_events(event, store);
CREATE INDEX IF NOT EXISTS purchases_item ON purchases(store, item_id);
CREATE INDEX IF NOT EXISTS sales_item ON sales(store, item_id);
CREATE INDEX IF NOT EXISTS sales_setl ON sales(setl_id);
CREATE INDEX IF NOT EXISTS sales_docno ON sales(rtal_docno);
CREATE INDEX IF NOT EXISTS purchases_dynt ON purchases(dynt_no);
CREATE INDEX IF NOT EXISTS settlements_setl ON settlements(setl_id);
CREATE INDEX IF NOT EXISTS settlements_orig ON settlements(orig_setl_id);
CREATE INDEX IF NOT EXISTS settlements_psn ON settlements(psn_no, epoch);
CREATE INDEX IF NOT EXISTS settlements_store ON settlements(store, epoch);
CREATE INDEX IF NOT EXISTS settlement_lines_setl ON settlement_lines(setl_id);
CREATE INDEX IF NOT EXISTS stock_counts_item ON stock_counts(store, item_id);
CREATE INDEX IF NOT EXISTS stock_changes_item ON stock_changes(store, item_id);
CREATE INDEX IF NOT EXISTS code_relations_code ON code_relations(code);
CREATE INDEX IF NOT EXISTS code_relations_parent ON code_relations(parent_code);
CREATE INDEX IF NOT EXISTS scans_code ON scans(code);
CREATE INDEX IF NOT EXISTS rejects_file ON rejects(src_sha256);
CREATE TABLE IF NOT EXISTS name_map (
    store TEXT NOT NULL, till_name TEXT NOT NULL, insurance_name TEXT NOT NULL,
    score REAL NOT NULL, verdict TEXT NOT NULL, source TEXT NOT NULL DEFAULT 'rapidfuzz',
    PRIMARY KEY (store, till_name, insurance_name)
);
"""

#: Fact tables that carry provenance and can be listed by ``status``.
FACT_TABLES = (
    "items", "purchases", "sales", "settlements", "settlement_lines", "stock_counts",
    "stock_changes", "deletions", "code_relations", "scans",
)

#: what the ledger's tables are called in a language: (Chinese, English)
TABLE_NAMES = {
    "settlements": ("结算", "settlement"), "settlement_lines": ("结算明细", "settlement line"),
    "sales": ("销售", "sale"), "purchases": ("采购", "purchase"), "stock_counts": ("盘存", "stock count"),
    "stock_changes": ("库存变更", "stock change"), "code_events": ("追溯码事件", "code event"),
    "scans": ("扫码记录", "scan"), "items": ("目录", "catalog"), "deletions": ("删除", "deletion"),
    "code_relations": ("码关联", "code relation"),
}

#: 3507 inv_data_type -> table whose rows a deletion withdraws.
DELETION_TARGETS = {1: "stock_counts", 2: "stock_changes", 3: "purchases", 4: "sales"}


def placeholders(values) -> str:
    """``?,?,?`` for an ``IN (...)`` with one parameter per value."""
    return ",".join("?" * len(values))


def scope_sql(stores=None, since: str | None = None, until: str | None = None, *,
              day_col: str = "day", store_col: str = "store") -> tuple[str, list]:
    """``AND ...`` conditions (and their parameters) limiting rows to stores and days."""
    sql, args = "", []
    if stores:
        sql += f" AND {store_col} IN ({placeholders(stores)})"
        args += list(stores)
    if since:
        sql += f" AND {day_col} >= ?"
        args.append(since)
    if until:
        sql += f" AND {day_col} <= ?"
        args.append(until)
    return sql, args


_MEMSTATUS_LOCK = threading.Lock()
_memstatus_tried = False


def _sqlite_library():
    """The libsqlite3 Python's sqlite3 runs on, through ctypes; None where it is not a
    shared library this process has mapped (not Linux, SQLite built into Python's module as
    in python-build-standalone) or is older than 3.10."""
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as maps:
            path = next((line.split()[-1] for line in maps if "/libsqlite3" in line), None)
        if path is None:
            return None
        lib = ctypes.CDLL(path)
        lib.sqlite3_status64.restype = ctypes.c_int   # SQLite 3.10 or later
        lib.sqlite3_malloc.restype = ctypes.c_void_p
        lib.sqlite3_free.argtypes = [ctypes.c_void_p]
    except (OSError, AttributeError):
        return None
    return lib


def _sqlite_allocations(lib) -> int:
    """SQLite's allocations outstanding (``SQLITE_STATUS_MALLOC_COUNT``; 0 while its memory
    statistics are off)."""
    count, highest = ctypes.c_int64(), ctypes.c_int64()
    lib.sqlite3_status64(9, ctypes.byref(count), ctypes.byref(highest), 0)
    return count.value


def _sqlite_memory_statistics_off() -> bool:
    """Turn off SQLite's memory statistics in this process (``SQLITE_CONFIG_MEMSTATUS``,
    which SQLite's own documentation recommends leaving off): they take one process-wide
    lock for every allocation, so that the audit's threads, each on a connection of its
    own, wait for each other (session 10, 1M lines on SQLite back to back: 75.9-84.2 s ->
    54.2-58.4 s, system time 44-46 -> 26-32 s). Python's sqlite3 does not offer
    the setting; it is reached through the libsqlite3 the process has loaded (Linux, where
    Python links it as a shared library). SQLite takes it only between shut down and
    initialised, which is safe only while it holds no memory at all (no connection, no
    statement): counted first, else nothing is done. Returns whether the statistics are off."""
    lib = _sqlite_library()
    if lib is None:
        return False
    before = _sqlite_allocations(lib)
    probe = lib.sqlite3_malloc(64)
    counted = _sqlite_allocations(lib)
    lib.sqlite3_free(probe)
    if counted == 0:   # not counting: off already
        return True
    if before:   # a connection or statement is open: shutting SQLite down would break it
        return False
    if lib.sqlite3_shutdown() != 0:
        return False
    off = lib.sqlite3_config(9, ctypes.c_int(0)) == 0   # SQLITE_CONFIG_MEMSTATUS
    lib.sqlite3_initialize()
    return off


def open_ledger(path: str | Path = "invreconcile.db", *, create: bool = True) -> sqlite_utils.Database:
    """Open (and create or migrate) the ledger at ``path``.

    WAL mode lets several scanner stations and an audit use one file at once. The first
    call in a process turns SQLite's memory statistics off if it can
    (:func:`_sqlite_memory_statistics_off`).
    """
    global _memstatus_tried
    with _MEMSTATUS_LOCK:
        if not _memstatus_tried:
            _memstatus_tried = True
            _sqlite_memory_statistics_off()
    path = Path(path)
    if not create and not path.exists():
        raise LedgerError(
            f"{path}: no ledger here. Run 'invreconcile import FILES' or 'invreconcile demo' first, "
            "or give the right file with --db.",
            f"{path}：这里没有台账。请先运行 invreconcile import 文件 或 invreconcile demo，或用 --db 指定正确的台账文件。"
        )
    try:
        conn = sqlite3.connect(str(path), timeout=30, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA busy_timeout=30000")
        version = conn.execute("PRAGMA user_version").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        raise LedgerError(
            f"{path}: not an invreconcile ledger ({exc}). Give another file with --db.",
            f"{path}：不是 invreconcile 台账（{exc}）。请用 --db 指定另一个文件。"
        ) from exc
    if version > SCHEMA_VERSION:
        raise LedgerError(
            f"{path}: ledger schema version {version} is newer than this invreconcile "
            f"understands ({SCHEMA_VERSION}). Upgrade invreconcile.",
            f"{path}：台账结构版本 {version} 比本版 invreconcile 能读的（{SCHEMA_VERSION}）新。请升级 invreconcile。"
        )
    if version < SCHEMA_VERSION:  # the DDL is idempotent: it creates what an older ledger lacks
        conn.executescript(DDL)
        conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
    return sqlite_utils.Database(conn)


def refresh_derived(db: sqlite_utils.Database) -> None:
    """Rebuild derived tables after an import: code ancestry and applied deletions."""
    conn = db.conn
    conn.execute("DELETE FROM code_ancestors")
    conn.execute(
        "INSERT OR IGNORE INTO code_ancestors(code, ancestor, depth) "
        "SELECT code, code, 0 FROM code_relations WHERE deleted = 0 "
        "UNION SELECT parent_code, parent_code, 0 FROM code_relations "
        "WHERE deleted = 0 AND parent_code IS NOT NULL AND parent_code <> ''"
    )
    for depth in range(1, 4):
        conn.execute(
            "INSERT OR IGNORE INTO code_ancestors(code, ancestor, depth) "
            "SELECT a.code, r.parent_code, ? FROM code_ancestors a "
            "JOIN code_relations r ON r.code = a.ancestor AND r.deleted = 0 "
            "WHERE a.depth = ? AND r.parent_code IS NOT NULL AND r.parent_code <> ''",
            (depth, depth - 1),
        )
    for data_type, table in DELETION_TARGETS.items():
        conn.execute(
            f"UPDATE {table} SET deleted = 1 WHERE deleted = 0 AND EXISTS ("
            f"SELECT 1 FROM deletions d WHERE d.inv_data_type = ? AND d.store = {table}.store "
            f"AND d.bchno = {table}.bchno)",
            (data_type,),
        )
        conn.execute(
            f"UPDATE deletions SET applied = 1 WHERE applied = 0 AND inv_data_type = ? AND EXISTS ("
            f"SELECT 1 FROM {table} t WHERE t.deleted = 1 AND t.store = deletions.store AND t.bchno = deletions.bchno)",
            (data_type,),
        )
    conn.execute(
        "DELETE FROM code_events WHERE src_table IN ('purchases','sales','stock_counts','stock_changes') "
        "AND EXISTS (SELECT 1 FROM purchases p WHERE code_events.src_table = 'purchases' AND p.id = code_events.src_id AND p.deleted = 1 "
        "UNION ALL SELECT 1 FROM sales s WHERE code_events.src_table = 'sales' AND s.id = code_events.src_id AND s.deleted = 1 "
        "UNION ALL SELECT 1 FROM stock_counts c WHERE code_events.src_table = 'stock_counts' AND c.id = code_events.src_id AND c.deleted = 1 "
        "UNION ALL SELECT 1 FROM stock_changes g WHERE code_events.src_table = 'stock_changes' AND g.id = code_events.src_id AND g.deleted = 1)"
    )


def status(db: sqlite_utils.Database) -> dict:
    """What the ledger holds: per store and month, rows per record kind; files; rejects."""
    conn = db.conn
    per_store: dict[tuple[str, str], dict[str, int]] = {}
    tables = ("purchases", "sales", "settlements", "settlement_lines", "stock_counts",
              "stock_changes", "scans")
    for table in tables:
        for store, month, n in conn.execute(
            f"SELECT store, COALESCE(month, '?'), COUNT(*) FROM {table} WHERE deleted = 0 "
            "GROUP BY store, month"
        ):
            per_store.setdefault((store, month), {})[table] = n
    for store, month, n in conn.execute(
        "SELECT store, COALESCE(month, '?'), COUNT(DISTINCT code) FROM code_events "
        "WHERE code_kind IN ('cn20', 'gs1', 'ma') GROUP BY store, month"
    ):
        per_store.setdefault((store, month), {})["codes"] = n
    rows = [
        {"store": s, "month": m, **{t: c.get(t, 0) for t in tables + ("codes",)}}
        for (s, m), c in sorted(per_store.items())
    ]
    files = [dict(zip([d[0] for d in cur.description], r)) for cur in [conn.execute(
        "SELECT path, kind, store, rows_read, rows_accepted, rows_duplicate, rows_rejected "
        "FROM files ORDER BY imported_at, path")] for r in cur.fetchall()]
    reasons = [   # with the first row's value found and expected, an example
        {"reason": r, "column": c, "count": n, "found": f, "expected": e}
        for r, c, n, f, e in conn.execute(
            "SELECT g.reason, COALESCE(g.column_name, ''), g.n, r.found, r.expected FROM (SELECT reason, column_name, "
            "COUNT(*) AS n, MIN(id) AS first FROM rejects GROUP BY reason, column_name) g JOIN rejects r ON r.id = g.first "
            "ORDER BY g.n DESC, g.reason, g.column_name"
        )
    ]
    totals = dict(zip(
        ("rows_read", "rows_accepted", "rows_duplicate", "rows_rejected"),
        conn.execute("SELECT COALESCE(SUM(rows_read),0), COALESCE(SUM(rows_accepted),0), "
                     "COALESCE(SUM(rows_duplicate),0), COALESCE(SUM(rows_rejected),0) FROM files").fetchone(),
    ))
    totals["items"] = conn.execute("SELECT COUNT(*) FROM items").fetchone()[0]
    totals["code_relations"] = conn.execute("SELECT COUNT(*) FROM code_relations").fetchone()[0]
    return {"per_store_month": rows, "files": files, "reject_reasons": reasons, "totals": totals}
