"""Import files into the ledger: each file in one transaction, every row accepted,
counted as a duplicate or rejected with a reason.

    >>> from invreconcile.ledger import open_ledger
    >>> db = open_ledger(":memory:")
    >>> import_paths(db, [])
    []
"""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator

from . import codes as codes_mod
from .errors import InputError
from .headers import KINDS
from .ledger import refresh_derived
from .readers import Source, open_source, read_records
from .records import STORELESS_KINDS, Converted, Ctx, Rejected, code_text, convert

BATCH = 2000
REJECT_EXAMPLES = 3   # rejected rows a file's result names (all are in the ledger's rejects table)


@dataclass
class FileResult:
    path: str
    kind: str | None
    store: str | None
    sha256: str
    skipped: bool = False            # already imported (same bytes)
    rows_read: int = 0
    rows_accepted: int = 0
    rows_duplicate: int = 0          # technical re-uploads: accepted once, counted
    rows_rejected: int = 0
    by_table: dict = field(default_factory=dict)
    header_guesses: list = field(default_factory=list)
    ignored_columns: list = field(default_factory=list)
    reject_reasons: dict = field(default_factory=dict)
    #: the first rejected rows (REJECT_EXAMPLES of them): (row, reason, column, found, expected)
    reject_examples: list = field(default_factory=list)

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def expand_paths(paths: Iterable[str | Path]) -> list[Path]:
    """Files given, folders walked (sorted); catalogs first so quantities can be converted."""
    out: list[Path] = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            out.extend(sorted(x for x in p.rglob("*") if x.is_file() and not x.name.startswith(".")
                              and x.suffix.lower() in (".csv", ".xlsx", ".json", ".jsonl", ".ndjson")
                              and x.name != "ground_truth.json"))
        else:
            out.append(p)

    def order(path: Path):
        name = path.name.lower()
        first = 0 if ("catalog" in name or "目录" in name) else 1 if "relation" in name else 2
        return (first, str(path))
    return sorted(dict.fromkeys(out), key=order)


def load_catalog(db) -> dict:
    return {
        (store, item_id): {"convrat": convrat, "pack_unit": pack_unit, "min_unit": min_unit}
        for store, item_id, convrat, pack_unit, min_unit in db.conn.execute(
            "SELECT store, item_id, convrat, pack_unit, min_unit FROM items")
    }


def check_kind(kind: str | None) -> None:
    """Refuse a ``kind`` given that is not a record kind."""
    if kind is not None and kind not in KINDS:
        raise InputError(kind, "is not a record kind.", f"Use one of: {', '.join(KINDS)}.",
                         "不是记录类型。", f"请使用其中之一：{'、'.join(KINDS)}。")


def import_paths(db, paths: Iterable[str | Path], *, kind: str | None = None, store: str | None = None,
                 progress: Callable[[str, int], None] | None = None) -> list[FileResult]:
    """Import every file (folders are walked). Raises InputError for a file that cannot be read
    at all; files before it stay imported. ``progress(path, records_read)`` is called as
    each file goes."""
    check_kind(kind)
    results = []
    try:
        for path in expand_paths(paths):
            step = (lambda rows, p=str(path): progress(p, rows)) if progress else None
            results.append(import_file(db, path, kind=kind, store=store, progress=step))
    finally:  # the files imported before a bad one are complete, derived tables included
        if results:
            with db.conn:
                db.conn.execute("BEGIN")
                refresh_derived(db)
    return results


def import_file(db, path, *, kind: str | None = None, store: str | None = None,
                progress: Callable[[int], None] | None = None) -> FileResult:
    src = open_source(path, kind)
    res = FileResult(path=str(path), kind=kind, store=store, sha256=src.sha256)
    conn = db.conn
    if conn.execute("SELECT 1 FROM files WHERE sha256 = ?", (src.sha256,)).fetchone():
        res.skipped = True
        return res
    ctx = Ctx(store, load_catalog(db))
    conn.execute("BEGIN IMMEDIATE")
    try:
        def reject(row, rkind, rstore, rej: Rejected) -> None:
            conn.execute(
                "INSERT INTO rejects(src_file, src_sha256, src_row, kind, store, column_name, reason, found, expected) "
                "VALUES (?,?,?,?,?,?,?,?,?)",
                (str(src.path), src.sha256, row, rkind, rstore, rej.column, rej.reason, rej.found, rej.expected))

        for batch in converted_batches(src, res, ctx, store, reject, progress):
            _flush(conn, src, res, batch)
        meta = file_row(src, res, store)
        conn.execute(f"INSERT INTO files({', '.join(meta)}) VALUES ({','.join('?' * len(meta))})", list(meta.values()))
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return res


def converted_batches(src: Source, res: FileResult, ctx: Ctx, store: str | None,
                      reject: Callable[[int, str | None, str | None, Rejected], None],
                      progress: Callable[[int], None] | None = None) -> Iterator[list[tuple[int, Converted]]]:
    """Read and convert one file's records: yields batches of (row, Converted), hands each
    rejected record to ``reject(row, kind, store, Rejected)``, counts into ``res``.
    Shared by the SQLite importer and the lake importer."""
    pending: list[tuple[int, Converted]] = []
    kinds_seen: set[str] = set()
    first = True
    for raw in read_records(src):
        if first:
            first = False
            if src.kind and src.kind not in STORELESS_KINDS and not src.has_store_column and not store:
                raise InputError(src.path, "has no fixmedins_code (定点机构编码) column, so its store is unknown.",
                                 "Give the store with --store CODE.",
                                 "没有 fixmedins_code（定点机构编码）列，不知道是哪家门店的记录。",
                                 "请用 --store 门店编码 指定门店。")
            res.header_guesses = src.headers.guesses if src.headers else []
            res.ignored_columns = src.headers.ignored if src.headers else []
        res.rows_read += 1
        rkind = raw.kind or src.kind
        try:
            if "__error__" in raw.fields:
                col, msg = raw.fields["__error__"]
                raise Rejected(col, None, msg)
            kinds_seen.add(rkind)
            conv = convert(rkind, raw.fields, raw.columns, ctx, raw.store)
        except Rejected as rej:
            res.rows_rejected += 1
            res.reject_reasons[rej.reason] = res.reject_reasons.get(rej.reason, 0) + 1
            if len(res.reject_examples) < REJECT_EXAMPLES:
                res.reject_examples.append((raw.row, rej.reason, rej.column, rej.found, rej.expected))
            reject(raw.row, rkind, raw.store or store, rej)
            continue
        if conv.table == "items":
            ctx.catalog[(conv.row["store"], conv.row["item_id"])] = {
                k: conv.row[k] for k in ("convrat", "pack_unit", "min_unit")}
        pending.append((raw.row, conv))
        if len(pending) >= BATCH:
            yield pending
            pending = []
            if progress:
                progress(res.rows_read)
    yield pending
    if progress:
        progress(res.rows_read)
    res.kind = res.kind or src.kind or ",".join(sorted(k for k in kinds_seen if k)) or None


def file_row(src: Source, res: FileResult, store: str | None) -> dict:
    """The ``files`` record of an imported file."""
    return {"sha256": src.sha256, "path": res.path, "kind": res.kind, "store": store,
            "imported_at": dt.datetime.now(dt.timezone(dt.timedelta(hours=8))).isoformat(timespec="seconds"),
            "rows_read": res.rows_read, "rows_accepted": res.rows_accepted, "rows_duplicate": res.rows_duplicate,
            "rows_rejected": res.rows_rejected,
            "header_guesses": json.dumps(res.header_guesses, ensure_ascii=False) if res.header_guesses else None}


def _flush(conn, src: Source, res: FileResult, pending: list[tuple[int, Converted]]) -> None:
    if not pending:
        return
    by_table: dict[str, list[tuple[int, Converted]]] = {}
    for row_no, conv in pending:
        by_table.setdefault(conv.table, []).append((row_no, conv))
    for table, items in by_table.items():
        hashes = [c.row["rec_hash"] for _, c in items]
        existing = set()
        for i in range(0, len(hashes), 500):
            chunk = hashes[i:i + 500]
            existing.update(h for (h,) in conn.execute(
                f"SELECT rec_hash FROM {table} WHERE rec_hash IN ({','.join('?' * len(chunk))})", chunk))
        new, dup_counts = split_new(items, existing, res, table)
        if table == "items":
            # a later catalog replaces an item's earlier description
            conn.executemany("DELETE FROM items WHERE store = ? AND item_id = ?",
                             [(c.row["store"], c.row["item_id"]) for _, c in new.values()])
        if new:
            cols = list(next(iter(new.values()))[1].row) + ["src_file", "src_sha256", "src_row"]
            conn.executemany(
                f"INSERT INTO {table} ({','.join(cols)}) VALUES ({','.join('?' * len(cols))})",
                [(*c.row.values(), str(src.path), src.sha256, row_no) for row_no, c in new.values()])
        if dup_counts:
            conn.executemany(f"UPDATE {table} SET uploads = uploads + ? WHERE rec_hash = ?",
                             [(n, h) for h, n in dup_counts.items()])
        if not new:
            continue
        new_hashes = list(new)
        ids = {}
        for i in range(0, len(new_hashes), 500):
            chunk = new_hashes[i:i + 500]
            ids.update(conn.execute(
                f"SELECT rec_hash, id FROM {table} WHERE rec_hash IN ({','.join('?' * len(chunk))})", chunk).fetchall())
        if table == "items":
            conn.executemany(
                "INSERT OR IGNORE INTO item_products(product_key, store, item_id) VALUES (?,?,?)",
                [(key, c.row["store"], c.row["item_id"]) for c in (x[1] for x in new.values())
                 for key in product_keys(c.row)])
        events = [tuple(e.values()) for h, (_, conv) in new.items() for e in code_events_of(conv, table, ids[h])]
        if events:
            conn.executemany(
                f"INSERT INTO code_events({', '.join(EVENT_COLUMNS)}) VALUES ({','.join('?' * len(EVENT_COLUMNS))})",
                events)


EVENT_COLUMNS = ("code", "code_kind", "product_key", "event", "store", "item_id", "qty", "trdn_flag", "setl_id",
                 "psn_no", "doc_no", "peer_store", "expy_end", "detail", "src_table", "src_id",
                 "ts", "day", "month", "epoch", "hour", "tod_min", "dow")


def split_new(items: list[tuple[int, Converted]], known, res: FileResult, table: str):
    """Records new to the ledger (first of each hash) and the count of repeats per hash;
    counts them in ``res``. ``known``: hashes the ledger already holds."""
    new: dict[str, tuple[int, Converted]] = {}
    dup_counts: dict[str, int] = {}
    for row_no, conv in items:
        h = conv.row["rec_hash"]
        if h in known or h in new:
            dup_counts[h] = dup_counts.get(h, 0) + 1
        else:
            new[h] = (row_no, conv)
    res.rows_duplicate += sum(dup_counts.values())
    res.rows_accepted += len(new)
    res.by_table[table] = res.by_table.get(table, 0) + len(new)
    return new, dup_counts


def code_events_of(conv: Converted, table: str, row_id: int) -> list[dict]:
    """The code_events rows of one accepted record (columns in EVENT_COLUMNS order)."""
    if not conv.event:
        return []
    r = conv.row
    out = []
    for tc in conv.codes:
        code = code_text(tc)
        if not code:
            continue
        out.append({
            "code": code, "code_kind": tc.kind, "product_key": tc.product_key, "event": conv.event,
            "store": r["store"], "item_id": r.get("item_id"), "qty": r.get("qty"), "trdn_flag": r.get("trdn_flag"),
            "setl_id": r.get("setl_id"), "psn_no": r.get("psn_no"),
            "doc_no": r.get("rtal_docno") or r.get("dynt_no") or r.get("doc_no"), "peer_store": r.get("peer_store"),
            "expy_end": tc.expiry.isoformat() if getattr(tc, "expiry", None) else r.get("expy_end"),
            "detail": r.get("mode"), "src_table": table, "src_id": row_id,
            **{k: r.get(k) for k in ("ts", "day", "month", "epoch", "hour", "tod_min", "dow")}})
    return out


def product_keys(row: dict) -> list[str]:
    keys = []
    for p in (row.get("trace_prefix") or "").split(","):
        if p:
            keys.append(p)
    if row.get("drug_prod_barc"):
        keys.append(codes_mod.normalize(row["drug_prod_barc"]))
    return keys
