"""The Parquet lake: the ledger's canonical tables as Parquet files, partitioned by store
and month, for the DuckDB and Spark engines (layout in docs/lake.md).

::

    LAKE/<table>/store=<store>/month=<YYYY-MM>/part-0.parquet   tables with a time
    LAKE/<table>/store=<store>/part-0.parquet                   items, item_products, code_relations
    LAKE/<table>/part-0.parquet                                  code_ancestors, files, rejects

Every file carries all the table's columns (``store`` and ``month`` included), with the
ledger's names and types (see :mod:`invreconcile.ledger`): INTEGER -> int64, TEXT ->
string, REAL -> double. Directory names only sort the files: ``store=_`` holds rows with
an empty or NULL store, ``month=none`` rows without a time. ``id`` columns are the
ledger's row ids (evidence refers to them as ``table:id``).

* :func:`export_lake` writes a SQLite ledger's tables to a lake;
* :func:`import_to_lake` reads source files with the same readers and record conversion
  as :mod:`invreconcile.importer` (same rows, ids, de-duplication, rejects, deletions, code
  events and code ancestry) and writes Parquet in batches, never touching SQLite.
"""
from __future__ import annotations

import shutil
import sqlite3
from functools import lru_cache
from pathlib import Path
from typing import Callable, Iterable

from .errors import ConfigError

#: canonical tables of the lake, in the order they are written.
TABLES = ("files", "rejects", "items", "item_products", "purchases", "sales", "settlements",
          "settlement_lines", "stock_counts", "stock_changes", "deletions", "code_relations",
          "code_ancestors", "scans", "code_events")
BY_STORE_MONTH = ("purchases", "sales", "settlements", "settlement_lines", "stock_counts",
                  "stock_changes", "deletions", "scans", "code_events")
BY_STORE = ("items", "item_products", "code_relations")
BATCH_ROWS = 200_000
#: an import holds at most this many new rows of a table before writing them to a staged
#: Parquet part (rows are dicts: 20,000 of them take some 20-40 MB)
STAGE_ROWS = 20_000
#: memory DuckDB may use to merge the staged parts into the lake; beyond it, it spills to
#: the staging directory (so an import's memory does not grow with the data it merges)
FINISH_MEMORY = "1GB"
#: the merged tables are sorted for writing a range of about this many rows at a time
SORT_ROWS = 1_000_000


def require_lake(lake: str | Path) -> Path:
    """``lake`` if it is a lake: a folder holding a table folder of the layout (docs/lake.md).
    Otherwise a :class:`ConfigError` saying what the folder is and which one to give: the
    engines read a folder without tables as an empty lake, and an audit of a table folder
    or of the lake's parent gave 0 findings with exit code 0."""
    lake = Path(lake)
    write = (f"Write one with 'invreconcile export-lake {lake}' or 'invreconcile import --lake {lake} FILES'.",
             f"可用 'invreconcile export-lake {lake}' 或 'invreconcile import --lake {lake} 文件' 写出。")
    if not lake.is_dir():
        raise ConfigError(f"{lake}: no lake here (no such folder). {write[0]}", zh=f"{lake}：这里没有数据湖（目录不存在）。{write[1]}")
    folders = sorted(p.name for p in lake.iterdir() if p.is_dir())
    if set(folders) & set(TABLES):
        return lake
    table = next((p for p in (lake, *lake.parents) if p.name in TABLES), None)
    if table is not None:
        top = table.parent
        raise ConfigError(f"{lake}: a folder inside the lake, not the lake: give {top} (the folder that holds "
                          f"{', '.join(t + '/' for t in TABLES[4:7])} ...).",
                          zh=f"{lake}：这是数据湖里的目录，不是数据湖本身：请给出 {top}（包含 "
                             f"{'、'.join(t + '/' for t in TABLES[4:7])} 等的目录）。")
    inner = [lake / f for f in folders if any((lake / f / t).is_dir() for t in TABLES)]
    if inner:
        raise ConfigError(f"{lake}: not a lake, but {inner[0]} is: give that folder.",
                          zh=f"{lake}：不是数据湖，{inner[0]} 才是：请给出该目录。")
    raise ConfigError(f"{lake}: not a lake: none of its folders is a table of the layout "
                      f"({', '.join(t + '/' for t in TABLES[4:7])} ...; docs/lake.md). {write[0]}",
                      zh=f"{lake}：不是数据湖：其中没有布局规定的数据表目录（{'、'.join(t + '/' for t in TABLES[4:7])} 等，"
                         f"见 docs/lake.md）。{write[1]}")


def _need_arrow():
    try:
        import pyarrow  # noqa: F401
        import pyarrow.parquet  # noqa: F401
    except ImportError as exc:  # pragma: no cover
        raise ConfigError(f"the Parquet lake needs pyarrow ({exc}). Install: pip install 'invreconcile[bureau]'")


def read_parquet_sql(files, filename: bool = False, union: bool = True) -> str:
    """DuckDB's reading of the Parquet files ``files`` (a glob, or a list of paths or globs):
    by column name (``union``: a file may lack a column, read as NULL); the
    ``store=``/``month=`` directories are not read as columns (``store=_`` holds the rows of
    store '' and of no store: the files' own ``store`` column says which). ``filename``:
    with each row's file as a column ``filename``."""
    listed = [files] if isinstance(files, (str, Path)) else files
    names = ", ".join("'" + str(f).replace("'", "''") + "'" for f in listed)
    return (f"read_parquet([{names}], union_by_name = {'true' if union else 'false'}, hive_partitioning = false"
            f"{', filename = true' if filename else ''})")


@lru_cache(maxsize=None)
def _table_info() -> dict[str, tuple[tuple, ...]]:
    """``PRAGMA table_info`` of each canonical table of the ledger schema."""
    from .ledger import DDL
    conn = sqlite3.connect(":memory:")
    conn.executescript(DDL)
    return {t: tuple(conn.execute(f"PRAGMA table_info({t})")) for t in TABLES}


@lru_cache(maxsize=None)
def _schemas() -> dict[str, tuple[tuple[str, str], ...]]:
    return {t: tuple((r[1], r[2].upper() or "TEXT") for r in info) for t, info in _table_info().items()}


def table_schema(table: str) -> tuple[tuple[str, str], ...]:
    """(column, SQLite type) of a canonical table."""
    return _schemas()[table]


def duck_type(sqlite_type: str) -> str:
    """The DuckDB type a lake column of this ledger (SQLite) type is read as."""
    t = sqlite_type.upper()
    if "INT" in t:
        return "BIGINT"
    if "REAL" in t or "FLOA" in t or "DOUB" in t:
        return "DOUBLE"
    return "VARCHAR"


def not_null(table: str) -> tuple[str, ...]:
    """The columns of a canonical table the ledger declares NOT NULL (or its key)."""
    return tuple(r[1] for r in _table_info()[table] if r[3] or r[5])


def arrow_schema(table: str):
    import pyarrow as pa
    kinds = {"INTEGER": pa.int64(), "REAL": pa.float64(), "TEXT": pa.string()}
    return pa.schema([(c, kinds.get(t, pa.string())) for c, t in table_schema(table)])


def _part_dir(lake: Path, table: str, store, month) -> Path:
    d = lake / table
    if table in BY_STORE_MONTH or table in BY_STORE:
        d = d / f"store={store or '_'}"
    if table in BY_STORE_MONTH:
        d = d / f"month={month or 'none'}"
    return d


def order_by(table: str) -> str:
    if table in BY_STORE_MONTH:
        return "store, month, id" if table != "deletions" else "store, month, id"
    if table in BY_STORE:
        return "store, " + ("id" if table != "item_products" else "product_key, item_id")
    return {"code_ancestors": "code, ancestor", "files": "sha256"}.get(table, "id")


class _PartitionedWriter:
    """Writes rows sorted by (store, month) into one file per partition."""

    def __init__(self, lake: Path, table: str):
        import pyarrow.parquet as pq
        self.pq, self.lake, self.table = pq, lake, table
        self.schema = arrow_schema(table)
        self.key = None
        self.writer = None
        self.files: dict = {}   # partition (store, month) -> files written (a partition met again gets another file)
        self.rows = 0
        self.keyed = table in BY_STORE_MONTH or table in BY_STORE
        shutil.rmtree(lake / table, ignore_errors=True)

    def _open(self, key):
        if self.writer is not None:
            self.writer.close()
        d = _part_dir(self.lake, self.table, *key)
        d.mkdir(parents=True, exist_ok=True)
        n = self.files[key] = self.files.get(key, -1) + 1
        self.writer = self.pq.ParquetWriter(str(d / f"part-{n}.parquet"), self.schema)
        self.key = key

    def write(self, tbl) -> None:
        """``tbl``: a pyarrow Table with the canonical columns, sorted by store, month."""
        tbl = tbl.select(self.schema.names).cast(self.schema)
        n = tbl.num_rows
        if n == 0:
            return
        self.rows += n
        if not self.keyed:
            if self.writer is None:
                self._open((None, None))
            self.writer.write_table(tbl)
            return
        stores = tbl.column("store").to_pylist()
        months = tbl.column("month").to_pylist() if self.table in BY_STORE_MONTH else [None] * n
        start = 0
        for i in range(1, n + 1):
            if i == n or stores[i] != stores[start] or months[i] != months[start]:
                key = ((stores[start] or None), months[start])
                if key != self.key or self.writer is None:
                    self._open(key)
                self.writer.write_table(tbl.slice(start, i - start))
                start = i

    def close(self) -> int:
        if self.writer is not None:
            self.writer.close()
        elif not (self.lake / self.table).exists():
            (self.lake / self.table).mkdir(parents=True, exist_ok=True)
        return self.rows

    def dirs(self) -> list[Path]:
        """The partition directories written, relative to the table's."""
        return sorted(_part_dir(self.lake, self.table, *key).relative_to(self.lake / self.table) for key in self.files)


def _arrow_from_rows(table: str, names: list[str], rows: list[tuple]):
    import pyarrow as pa
    schema = arrow_schema(table)
    cols = list(zip(*rows)) if rows else [[] for _ in names]
    by_name = dict(zip(names, cols))
    return pa.table({f.name: pa.array(by_name.get(f.name, [None] * len(rows)), type=f.type) for f in schema},
                    schema=schema)


# --------------------------------------------------------------------------- export

def export_lake(db, lake: str | Path, *, progress: Callable[[str, int], None] | None = None) -> dict[str, int]:
    """Write every canonical table of the SQLite ledger ``db`` to ``lake`` (replacing the
    tables there). Returns rows written per table."""
    _need_arrow()
    lake = Path(lake)
    lake.mkdir(parents=True, exist_ok=True)
    conn = db.conn
    counts = {}
    for table in TABLES:
        names = [c for c, _ in table_schema(table)]
        w = _PartitionedWriter(lake, table)
        cur = conn.execute(f"SELECT {', '.join(names)} FROM {table} ORDER BY {order_by(table)}")
        while True:
            rows = cur.fetchmany(BATCH_ROWS)
            if not rows:
                break
            w.write(_arrow_from_rows(table, names, rows))
        counts[table] = w.close()
        if progress:
            progress(table, counts[table])
    return counts


# --------------------------------------------------------------------------- import

#: ids a worker process gives the rows of file ``k`` of an import: ``WORKER_IDS + (k << 32) + n``
#: for its n-th row of a table, renumbered in file order when the import finishes
WORKER_IDS = 1 << 62


class _Stage:
    """New rows staged as Parquet parts (``<stage>/<table>/<prefix>-<n>.parquet``), each
    given the next id of its table."""

    def __init__(self, stage: Path, prefix: str = "part", first_id: int = 1):
        self.stage, self.prefix = stage, prefix
        self.next_id: dict[str, int] = {t: first_id for t in TABLES}
        self.buffers: dict[str, list[dict]] = {}
        self.parts: dict[str, int] = {}

    def add(self, table: str, row: dict) -> int:
        rid = self.next_id[table]
        self.next_id[table] = rid + 1
        row["id"] = rid
        self._hold(table, row)
        return rid

    def _hold(self, table: str, row: dict) -> None:
        self.buffers.setdefault(table, []).append(row)
        if len(self.buffers[table]) >= STAGE_ROWS:
            self.flush_table(table)

    def flush_table(self, table: str) -> None:
        rows = self.buffers.pop(table, [])
        if not rows:
            return
        import pyarrow.parquet as pq
        names = [c for c, _ in table_schema(table)]
        tbl = _arrow_from_rows(table, names, [tuple(map(r.get, names)) for r in rows])
        n = self.parts.get(table, 0)
        self.parts[table] = n + 1
        (self.stage / table).mkdir(exist_ok=True)
        pq.write_table(tbl, str(self.stage / table / f"{self.prefix}-{n:05d}.parquet"))


class _LakeImport(_Stage):
    """The importer's bookkeeping (ids, de-duplication by rec_hash, uploads, rejects, code
    events) without SQLite: rows are staged as Parquet batches and finished by DuckDB."""

    def __init__(self, lake: Path):
        import duckdb
        self.lake = lake
        super().__init__(lake / "_staging")
        shutil.rmtree(self.stage, ignore_errors=True)
        self.stage.mkdir(parents=True)
        self.counted: dict[str, dict[int, int]] = {}   # table -> worker file -> rows it staged (_import_in_workers)
        self.swapping = False
        self.duck = duckdb.connect()
        self.duck.execute("SET preserve_insertion_order = false")
        self.duck.execute(f"SET memory_limit = '{FINISH_MEMORY}'")
        self.duck.execute(f"SET temp_directory = '{self.stage / '_duckdb_tmp'}'")
        self.first_new: dict[str, int] = {}       # table -> the first id this import gives
        self.item_hashes: dict[str, int] = {}     # the catalog's rec_hash -> id (the catalog stays in memory)
        self.gaps: dict = {}                      # table -> sorted ids of the repeats dropped (numpy)
        self.items: dict[tuple, dict] = {}        # (store, item_id) -> row (the catalog stays in memory)
        self.item_products: set = set()
        self.files: dict[str, tuple | None] = {}   # sha256 -> (source, FileResult, store); None: in the lake before
        self.had_lake = {}
        for table in TABLES:
            files = list((lake / table).rglob("*.parquet")) if (lake / table).is_dir() else []
            self.had_lake[table] = bool(files)
            self.next_id[table] = self.first_new[table] = 1
            if not files:
                continue
            src = read_parquet_sql(lake / table / "**/*.parquet")
            if table == "files":
                for row in self.duck.execute(f"SELECT * FROM {src}").fetchall():
                    self.files[row[0]] = None
            elif table == "items":
                cur = self.duck.execute(f"SELECT * FROM {src}")
                names = [d[0] for d in cur.description]
                for row in cur.fetchall():
                    r = dict(zip(names, row))
                    self.items[(r["store"], r["item_id"])] = r
                    self.item_hashes[r["rec_hash"]] = r["id"]
            elif table == "item_products":
                self.item_products.update(self.duck.execute(
                    f"SELECT product_key, store, item_id FROM {src}").fetchall())
            if "id" in dict(table_schema(table)):
                self.next_id[table] = (self.duck.execute(f"SELECT MAX(id) FROM {src}").fetchall()[0][0] or 0) + 1
                self.first_new[table] = self.next_id[table]

    def catalog(self) -> dict:
        return {k: {"convrat": r["convrat"], "pack_unit": r["pack_unit"], "min_unit": r["min_unit"]}
                for k, r in self.items.items()}

    # rows ------------------------------------------------------------------
    def _hold(self, table: str, row: dict) -> None:
        if table == "items":   # the catalog stays in memory
            self.items[(row["store"], row["item_id"])] = row
        else:
            super()._hold(table, row)

    def delete_item(self, store, item_id) -> None:
        old = self.items.pop((store, item_id), None)
        if old is not None:
            self.item_hashes.pop(old["rec_hash"], None)
            # SQLite gives the next row max(id) + 1: a deleted last row's id is used again
            self.next_id["items"] = max([r["id"] for r in self.items.values()], default=0) + 1

    # finishing ---------------------------------------------------------------
    def _drop_repeats(self) -> None:
        """Records uploaded again (the rec_hash of a row the lake held or this import read
        first): the first row stays and its ``uploads`` counts the repeats; the repeats and
        their code events go, and the files' counts are corrected. Done here, by DuckDB
        within its memory limit, rather than with an index of every record's hash held
        while the files are read (some 200 bytes a record: 1.2 GB at 1M settlement lines,
        and the whole lake's for an import into a large lake). The ids after a repeat close
        up as the tables are written (:meth:`_closed_up`), as SQLite numbers the rows it keeps."""
        import numpy as np
        d = self.duck
        events_gone = []
        for table in TABLES:
            if table in ("items", "code_events") or "rec_hash" not in dict(table_schema(table)):
                continue
            first, t = self.first_new[table], f"t_{table}"
            d.execute(f"CREATE OR REPLACE TEMP TABLE repeats AS SELECT t.id, t.src_sha256, f.first_id FROM {t} t "
                      f"JOIN (SELECT rec_hash, MIN(id) AS first_id FROM {t} WHERE rec_hash IN "
                      f"(SELECT rec_hash FROM {t} WHERE id >= {first}) GROUP BY rec_hash HAVING COUNT(*) > 1) f "
                      f"ON f.rec_hash = t.rec_hash AND t.id <> f.first_id AND t.id >= {first}")
            for sha256, n in d.execute("SELECT src_sha256, COUNT(*) FROM repeats GROUP BY src_sha256").fetchall():
                res = self.files[sha256][1]
                res.rows_accepted -= n
                res.rows_duplicate += n
                res.by_table[table] -= n
            gone = d.execute("SELECT id FROM repeats ORDER BY id").fetchnumpy()["id"]
            if len(gone):
                d.execute(f"UPDATE {t} SET uploads = uploads + c.n FROM (SELECT first_id, COUNT(*) AS n FROM repeats "
                          f"GROUP BY first_id) c WHERE {t}.id = c.first_id")
                d.execute(f"DELETE FROM {t} WHERE id IN (SELECT id FROM repeats)")
                events_gone.append(d.execute(
                    f"DELETE FROM t_code_events WHERE src_table = '{table}' AND src_id IN (SELECT id FROM repeats) "
                    "RETURNING id").fetchnumpy()["id"])
                self.gaps[table] = np.asarray(gone, dtype=np.int64)
            d.execute("DROP TABLE repeats")
        if events_gone:
            self.gaps["code_events"] = np.sort(np.concatenate(events_gone).astype(np.int64))

    def _closed_up(self, table: str, batch):
        """``batch`` (rows of ``table`` about to be written, an Arrow record batch) as a
        table, its ids (and for code_events the ids of their records) closed up over the
        rows that went: each less the number of ids gone before it."""
        import numpy as np
        import pyarrow as pa
        import pyarrow.compute as pc
        out = pa.Table.from_batches([batch])
        if table in self.gaps:
            ids = out.column("id").to_numpy()
            out = out.set_column(out.schema.get_field_index("id"), "id",
                                 pa.array(ids - np.searchsorted(self.gaps[table], ids)))
        of_records = {t: gone for t, gone in self.gaps.items() if t != "code_events"}
        if table == "code_events" and of_records:
            src = out.column("src_id").to_numpy().copy()
            of = out.column("src_table")
            for t, gone in of_records.items():
                mask = pc.equal(of, t).to_numpy(zero_copy_only=False)
                src[mask] -= np.searchsorted(gone, src[mask])
            out = out.set_column(out.schema.get_field_index("src_id"), "src_id", pa.array(src))
        return out

    def finish(self) -> dict[str, int]:
        """Merge the staged batches with what the lake held, apply uploads, deletions
        and the derived tables (as :func:`invreconcile.ledger.refresh_derived`), write
        the partitioned tables."""
        for table in list(self.buffers):
            self.flush_table(table)
        self.item_hashes.clear()
        d = self.duck
        # the partitions each table's import changes (None: the table is written whole)
        parts = {t: self._changed_parts(t) for t in BY_STORE_MONTH if t != "deletions" and self.had_lake[t]}
        if self.had_lake["code_relations"] and self.had_lake["code_ancestors"] and not (self.stage / "code_relations").is_dir():
            parts["code_relations"] = parts["code_ancestors"] = set()   # no relation added: both stay as they are
        for table in [t for t in TABLES if t != "files"] + ["files"]:   # files once their counts are final
            if table == "files":
                self._drop_repeats()
            names = [c for c, _ in table_schema(table)]

            def rows_of(files) -> str:
                return f"SELECT {', '.join(names)} FROM {read_parquet_sql(files)}"
            sources, whole = [], self.lake / table / "**/*.parquet"
            if parts.get(table) is not None:   # the lake's rows of the partitions this import changes
                old = [f for rel in sorted(parts[table]) for f in sorted((self.lake / table / rel).glob("*.parquet"))]
                sources += [rows_of(old)] if old else []
            elif self.had_lake[table] and table not in ("items", "item_products", "files"):
                sources.append(rows_of(whole))
            staged = [self._staged(table, names)] if (self.stage / table).is_dir() else []
            sources += staged
            if table == "items":
                rows = sorted(self.items.values(), key=lambda r: r["id"])
                d.register("_items_rows", _arrow_from_rows(table, names, [tuple(map(r.get, names)) for r in rows]))
                sources = ["SELECT * FROM _items_rows"]
            elif table == "item_products":
                d.register("_ip_rows", _arrow_from_rows(table, ["product_key", "store", "item_id"], sorted(self.item_products)))
                sources = ["SELECT * FROM _ip_rows"]
            elif table == "files":
                from .importer import file_row
                rows = [tuple(file_row(*r).get(c) for c in names) for r in self.files.values() if r is not None]
                d.register("_files_rows", _arrow_from_rows(table, names, rows))
                sources += [rows_of(whole)] if self.had_lake[table] else []
                sources.append("SELECT * FROM _files_rows")
            if table == "code_ancestors":
                continue
            if not sources:
                self._empty(table)
            else:
                d.execute(f"CREATE OR REPLACE TABLE t_{table} AS " + " UNION ALL ".join(sources))
            if parts.get(table) and not self._within(table, parts[table]):
                parts[table] = None   # a row the lake held outside its partition's directory: all of it
                d.execute(f"CREATE OR REPLACE TABLE t_{table} AS " + " UNION ALL ".join([rows_of(whole), *staged]))
        # deletions (3507) withdraw rows; their code events go too
        from .ledger import DELETION_TARGETS
        for data_type, table in DELETION_TARGETS.items():
            d.execute(f"UPDATE t_{table} SET deleted = 1 WHERE deleted = 0 AND EXISTS (SELECT 1 FROM t_deletions x "
                      f"WHERE x.inv_data_type = {data_type} AND x.store = t_{table}.store AND x.bchno = t_{table}.bchno)")
        d.execute("UPDATE t_deletions SET applied = 0 WHERE applied IS NULL")   # the ledger's default
        for data_type, table in DELETION_TARGETS.items():   # as refresh_derived marks them
            d.execute(f"UPDATE t_deletions SET applied = 1 WHERE applied = 0 AND inv_data_type = {data_type} AND EXISTS ("
                      f"SELECT 1 FROM t_{table} t WHERE t.deleted = 1 AND t.bchno = t_deletions.bchno "
                      "AND t.store = t_deletions.store)")
        d.execute("DELETE FROM t_code_events WHERE src_table IN ('purchases','sales','stock_counts','stock_changes') AND ("
                  "src_id IN (SELECT id FROM t_purchases WHERE deleted = 1) AND src_table = 'purchases' OR "
                  "src_id IN (SELECT id FROM t_sales WHERE deleted = 1) AND src_table = 'sales' OR "
                  "src_id IN (SELECT id FROM t_stock_counts WHERE deleted = 1) AND src_table = 'stock_counts' OR "
                  "src_id IN (SELECT id FROM t_stock_changes WHERE deleted = 1) AND src_table = 'stock_changes')")
        if parts.get("code_ancestors") is None:
            self._ancestry()
        else:
            self._empty("code_ancestors")
        # every table written beside the lake first; then each takes the place of the old
        # files (whole, or partition by partition), so that an import that fails before
        # leaves the lake as it was
        out, replaced = self.stage / "_out", self.stage / "_replaced"
        counts, written = {}, {}
        for table in TABLES:
            w = _PartitionedWriter(out, table)
            for batch in _sorted_batches(d, table):
                w.write(self._closed_up(table, batch))
            counts[table], written[table] = w.close(), w.dirs()
            d.execute(f"DROP TABLE t_{table}")
        self.swapping = True   # from here on, _staging holds the lake's old files moved aside
        for table in TABLES:
            moves = [Path()] if parts.get(table) is None else written[table]
            for rel in moves:
                if (self.lake / table / rel).exists():
                    (replaced / table / rel).parent.mkdir(parents=True, exist_ok=True)
                    (self.lake / table / rel).rename(replaced / table / rel)
                (self.lake / table / rel).parent.mkdir(parents=True, exist_ok=True)
                (out / table / rel).rename(self.lake / table / rel)
        shutil.rmtree(self.stage, ignore_errors=True)
        return counts

    def _staged(self, table: str, names: list[str]) -> str:
        """SELECT of the staged rows of ``table``; the ids worker processes gave (and the
        code events' ``src_id`` of their records) renumbered in file order: each file's
        first id (:func:`_import_in_workers`) plus the row's number in its file."""
        rows = read_parquet_sql(self.stage / table / "*.parquet")
        if not self.counted:
            return f"SELECT {', '.join(names)} FROM {rows} s"
        if "worker_ids" not in {t for (t,) in self.duck.execute("SHOW TABLES").fetchall()}:
            self.duck.execute("CREATE TABLE worker_ids (t VARCHAR, k BIGINT, first BIGINT)")
            self.duck.executemany("INSERT INTO worker_ids VALUES (?, ?, ?)",
                                  [(t, k, first) for t, by_file in self.counted.items() for k, first in by_file.items()])

        def renumbered(col: str, of: str) -> str:
            return (f"CASE WHEN s.{col} >= {WORKER_IDS} THEN (SELECT w.first FROM worker_ids w WHERE w.t = {of} "
                    f"AND w.k = (s.{col} - {WORKER_IDS}) >> 32) + ((s.{col} - {WORKER_IDS}) & 4294967295) - 1 "
                    f"ELSE s.{col} END AS {col}")
        cols = [renumbered(c, f"'{table}'") if c == "id" else renumbered(c, "s.src_table")
                if (c, table) == ("src_id", "code_events") else f"s.{c}" for c in names]
        return f"SELECT {', '.join(cols)} FROM {rows} s"

    def _empty(self, table: str) -> None:
        """``t_<table>`` with the table's columns and no rows."""
        cols = ", ".join(f'"{c}" {"BIGINT" if t == "INTEGER" else "DOUBLE" if t == "REAL" else "VARCHAR"}'
                         for c, t in table_schema(table))
        self.duck.execute(f"CREATE OR REPLACE TABLE t_{table} ({cols})")

    def _ancestry(self) -> None:
        """``t_code_ancestors`` from ``t_code_relations``."""
        # code ancestry: each code with itself and its ancestors up to three steps up, the
        # nearest depth kept (as refresh_derived's breadth-first steps give): every walk of
        # 0-3 steps, then the shortest per pair, in one aggregate, which spills to disk. Three
        # steps each checked against all pairs found so far ran out of memory at 10M lines.
        d = self.duck
        d.execute("CREATE OR REPLACE TEMP TABLE edges AS SELECT DISTINCT code, parent_code AS parent FROM t_code_relations "
                  "WHERE deleted = 0 AND parent_code IS NOT NULL AND parent_code <> ''")
        d.execute("CREATE OR REPLACE TABLE t_code_ancestors AS "
                  "WITH w1 AS (SELECT code, parent AS ancestor FROM edges), "
                  "w2 AS (SELECT w.code, e.parent AS ancestor FROM w1 w JOIN edges e ON e.code = w.ancestor), "
                  "w3 AS (SELECT w.code, e.parent AS ancestor FROM w2 w JOIN edges e ON e.code = w.ancestor) "
                  "SELECT code, ancestor, MIN(depth)::BIGINT AS depth FROM ("
                  "SELECT code, code AS ancestor, 0 AS depth FROM t_code_relations WHERE deleted = 0 "
                  "UNION ALL SELECT parent, parent, 0 FROM edges "
                  "UNION ALL SELECT code, ancestor, 1 FROM w1 UNION ALL SELECT code, ancestor, 2 FROM w2 "
                  "UNION ALL SELECT code, ancestor, 3 FROM w3) GROUP BY code, ancestor")
        d.execute("DROP TABLE edges")

    def _changed_parts(self, table: str) -> set[Path] | None:
        """The partition directories (``store=.../month=...``) of ``table`` that this import
        changes: those of its new rows, of the rows the lake held that it reads again (their
        ``uploads`` grow), of those a deletion withdraws, and of the code events of withdrawn
        records; the others are left as they are (a month's import into a year's lake then
        rewrites that month). None when a file of the table lies outside such a directory:
        the table is rewritten whole, as the layout's own writer would."""
        from .ledger import DELETION_TARGETS
        old = sorted((self.lake / table).rglob("*.parquet"))
        if any(len(f.relative_to(self.lake / table).parts) != 3 for f in old):
            return None
        staged = self.stage / table
        new = read_parquet_sql(staged / "*.parquet") if staged.is_dir() else None
        d = self.duck
        out = set()
        if new:
            out |= {_part_dir(Path(), table, store, month).relative_to(table)
                    for store, month in d.execute(f"SELECT DISTINCT store, month FROM {new}").fetchall()}

        def withdrawn(t: str) -> str:
            """Rows of table t that a deletion of this import names (withdrawn now, or marking
            it applied), or that one the lake holds withdraws and which are not yet."""
            n = next(k for k, v in DELETION_TARGETS.items() if v == t)

            def named(deletions: Path) -> str:
                return (f"EXISTS (SELECT 1 FROM {read_parquet_sql(deletions)} x WHERE x.inv_data_type = {n} "
                        "AND x.store = o.store AND x.bchno = o.bchno)")
            new_ones = self.stage / "deletions"
            return " OR ".join([named(new_ones / "*.parquet")] * new_ones.is_dir() + [
                f"(o.deleted = 0 AND {named(self.lake / 'deletions' / '**/*.parquet')})"] * self.had_lake["deletions"]) or "FALSE"
        conds = []
        if new and "rec_hash" in dict(table_schema(table)):
            conds.append(f"o.rec_hash IN (SELECT rec_hash FROM {new})")
        if table in DELETION_TARGETS.values():
            conds.append(f"({withdrawn(table)})")
        if table == "code_events":   # the records withdrawn (now or before) first: few, often none
            records = [f"SELECT '{t}' AS t, o.id FROM {read_parquet_sql(self.lake / t / '**/*.parquet')} o "
                       f"WHERE o.deleted = 1 OR {withdrawn(t)}" for t in DELETION_TARGETS.values() if self.had_lake[t]]
            d.execute("CREATE OR REPLACE TEMP TABLE withdrawn AS " + (" UNION ALL ".join(records) or
                                                                       "SELECT NULL::VARCHAR AS t, NULL::BIGINT AS id"))
            if d.execute("SELECT COUNT(*) FROM withdrawn").fetchall()[0][0]:
                conds.append("EXISTS (SELECT 1 FROM withdrawn w WHERE w.t = o.src_table AND w.id = o.src_id)")
        if conds and old:
            out |= {Path(f).parent.relative_to(self.lake / table) for (f,) in d.execute(
                f"SELECT DISTINCT filename FROM {read_parquet_sql(old, filename=True)} o WHERE {' OR '.join(conds)}").fetchall()}
        return out

    def _within(self, table: str, parts: set[Path]) -> bool:
        """Whether every row of ``t_<table>`` belongs in one of the partition directories
        ``parts`` (a row the lake held in another store's or month's directory would
        otherwise be written twice, or its partition replaced without the rest of it)."""
        keys = self.duck.execute(f"SELECT DISTINCT store, month FROM t_{table}").fetchall()
        return all(_part_dir(Path(), table, s, m).relative_to(table) in parts for s, m in keys)


def _sorted_batches(d, table: str):
    """The rows of DuckDB table ``t_<table>`` in the lake's order (:func:`order_by`), as
    Arrow batches, sorted a range of about :data:`SORT_ROWS` rows at a time: ranges of
    whole (store, month) partitions, or for the tables without partitions ranges of their
    first sort column cut at a sample's quantiles. One sort of a whole table needs memory
    that grows with the table: at 10M lines sorting ``sales`` ran out of the 1 GB limit
    (session 18). A range is as large as its largest partition or key value at least."""
    names = [c for c, _ in table_schema(table)]
    cols = order_by(table).split(", ")
    order = ", ".join(f"t.{c} NULLS FIRST" for c in cols)
    select = f"SELECT {', '.join('t.' + n for n in names)} FROM t_{table} t"
    n = d.execute(f"SELECT COUNT(*) FROM t_{table}").fetchall()[0][0]
    if n <= SORT_ROWS:
        ranges = [(select, [])]
    elif table in BY_STORE_MONTH or table in BY_STORE:
        keys = ["store", "month"] if table in BY_STORE_MONTH else ["store"]
        by = ", ".join(f"{k} NULLS FIRST" for k in keys)
        d.execute(f"CREATE OR REPLACE TEMP TABLE sort_ranges AS SELECT {', '.join(keys)}, "
                  f"(SUM(n) OVER (ORDER BY {by} ROWS UNBOUNDED PRECEDING) - n) // {SORT_ROWS} AS range_no "
                  f"FROM (SELECT {', '.join(keys)}, COUNT(*) AS n FROM t_{table} GROUP BY ALL)")
        on = " AND ".join(f"t.{k} IS NOT DISTINCT FROM r.{k}" for k in keys)
        ranges = [(f"{select} JOIN sort_ranges r ON {on} WHERE r.range_no = ?", [no]) for (no,) in
                  d.execute("SELECT DISTINCT range_no FROM sort_ranges ORDER BY range_no").fetchall()]
    else:
        key, k = cols[0], -(-n // SORT_ROWS)
        sample = [v for (v,) in d.execute(
            f"SELECT {key} FROM (SELECT {key} FROM t_{table} WHERE {key} IS NOT NULL "
            f"USING SAMPLE reservoir(10000 ROWS) REPEATABLE (1)) ORDER BY {key}").fetchall()]
        edges = [None, *dict.fromkeys(sample[i * len(sample) // k] for i in range(1, k)), None]
        ranges = []
        for lo, hi in zip(edges, edges[1:]):   # [lo, hi); the first range holds the NULLs
            where = " AND ".join([f"t.{key} >= ?"] * (lo is not None) + [f"t.{key} < ?"] * (hi is not None)) or "TRUE"
            ranges.append((f"{select} WHERE " + (where if lo is not None else f"t.{key} IS NULL OR {where}"),
                           [b for b in (lo, hi) if b is not None]))
    for sql, params in ranges:
        yield from d.sql(f"{sql} ORDER BY {order}", params=params).to_arrow_reader(BATCH_ROWS)


def import_to_lake(paths: Iterable[str | Path], lake: str | Path, *, kind: str | None = None,
                   store: str | None = None, progress: Callable[[str, int], None] | None = None,
                   workers: int | None = None):
    """Import source files straight into the lake: the same readers, conversion,
    de-duplication, rejects and code events as :func:`invreconcile.importer.import_paths`
    (so the lake holds what ``import`` + ``export-lake`` would give), written as Parquet.
    Returns the :class:`invreconcile.importer.FileResult` per file.

    Files are read and converted by ``workers`` processes at once (default: one per core,
    at most :data:`IMPORT_WORKERS`; see :func:`_import_in_workers`); the catalogs first,
    in this process, since the others' quantities are converted with them."""
    _need_arrow()
    from .importer import FileResult, check_kind, expand_paths
    from .readers import open_source

    check_kind(kind)
    lake = Path(lake)
    lake.mkdir(parents=True, exist_ok=True)
    files = expand_paths(paths)
    pool = _pool(workers, len(files)) if kind != "catalog" else None   # forked before DuckDB starts its threads
    li = None
    try:
        li = _LakeImport(lake)
        results, todo, seen = [], [], set(li.files)
        for path in files:
            src = open_source(path, kind)
            res = FileResult(path=str(path), kind=kind, store=store, sha256=src.sha256)
            results.append(res)
            if src.sha256 in seen:   # in the lake, or met earlier in this import
                res.skipped = True
                continue
            seen.add(src.sha256)
            todo.append((path, src, res))
        catalogs = [t for t in todo if _catalog_name(t[0])]   # expand_paths puts them first
        for path, src, res in catalogs:
            _import_file(li, path, src, res, kind, store, progress)
        rest = todo[len(catalogs):]
        if pool is not None and len(rest) > 1:
            rest = _import_in_workers(li, pool, rest, kind, store, progress)
        for path, src, res in rest:
            _import_file(li, path, src, res, kind, store, progress)
        li.finish()
    except BaseException:   # the lake stays as it was, without the staged rows
        if li is not None and not li.swapping:
            li.duck.close()
            shutil.rmtree(li.stage, ignore_errors=True)
        raise
    finally:
        if pool is not None:
            pool.terminate()
            pool.join()
    return results


#: at most this many processes read and convert a lake import's files
IMPORT_WORKERS = 4


def _pool(workers: int | None, files: int):
    """Worker processes for an import of ``files`` files (None: one worker or one file, no
    ``fork`` on this system, or called in a daemon process). Forked, so that a script calling the library is not run
    again in each worker (as ``spawn`` would)."""
    import multiprocessing
    import os
    n = min(workers or min(os.cpu_count() or 1, IMPORT_WORKERS), files)
    if n < 2 or "fork" not in multiprocessing.get_all_start_methods() or multiprocessing.current_process().daemon:
        return None   # (a daemon process, such as a pool's worker, may not start processes)
    context = multiprocessing.get_context("fork")
    rows_read = context.Value("q", 0)   # records the workers have read, for progress
    pool = context.Pool(n, initializer=_start_worker, initargs=(rows_read,))
    pool.rows_read = rows_read
    return pool


_ROWS_READ = None   # in a worker process: the count of records read that the pool shares


def _start_worker(rows_read) -> None:
    global _ROWS_READ
    _ROWS_READ = rows_read


def _catalog_name(path: Path) -> bool:
    name = path.name.lower()
    return "catalog" in name or "目录" in name


def _reject_row(src, row, rkind, rstore, rej) -> dict:
    return {"src_file": str(src.path), "src_sha256": src.sha256, "src_row": row, "kind": rkind,
            "store": rstore, "column_name": rej.column, "reason": rej.reason, "found": rej.found, "expected": rej.expected}


def _import_file(li: _LakeImport, path: Path, src, res, kind, store, progress) -> None:
    """One file read, converted and staged in this process."""
    from .importer import converted_batches
    from .records import Ctx
    step = (lambda rows, p=str(path): progress(p, rows)) if progress else None
    for batch in converted_batches(src, res, Ctx(store, li.catalog()), store,
                                   lambda *a: li.add("rejects", _reject_row(src, *a)), step):
        _flush(li, src, res, batch)
    li.files[src.sha256] = (src, res, store)   # its row once the repeats are counted (finish)


def _import_in_workers(li: _LakeImport, pool, todo: list, kind, store, progress) -> list:
    """Read, convert and stage the files of ``todo`` (``(path, source, FileResult)``, in
    import order) in the worker processes of ``pool``, each file with ids of its own
    (:data:`WORKER_IDS`); once all are done, each file's ids follow the previous file's
    (as one process reading them in order gives: ``_LakeImport._staged``). The largest
    files are handed out first. A file with catalog rows (which later files' conversions
    would use) or one that fails is left to this process, with the files after it, in
    order (where a failure is raised as it would be). ``progress(None, rows)`` is told the
    records read in all files, once a second. Returns those files."""
    import dataclasses
    import multiprocessing
    import pickle
    catalog = li.stage / "catalog.pickle"
    catalog.write_bytes(pickle.dumps(li.catalog()))
    jobs, file_of = [], {}   # job k -> its file's place in todo
    for i, (path, src, res) in enumerate(todo):
        for part in _line_parts(src, PART_BYTES) or [None]:
            file_of[len(jobs) + 1] = i
            jobs.append((len(jobs) + 1, dataclasses.replace(src, lines=part), kind, store, str(catalog), str(li.stage)))
    # the largest first, so that the last to finish is a small one
    jobs.sort(key=lambda job: -(job[1].size if job[1].lines is None else PART_BYTES))
    done, results = {}, pool.imap_unordered(_stage_file, jobs)
    while len(done) < len(jobs):
        try:
            k, out = results.next(timeout=1)
            done[k] = out
        except multiprocessing.TimeoutError:
            pass
        if progress:   # the records read in all files so far, once a second
            progress(None, pool.rows_read.value)
    stop = min([file_of[k] for k, out in done.items() if out is None], default=len(todo))   # the first file left
    for k in sorted(done):
        if file_of[k] >= stop:   # what workers staged of the files left to this process
            for part in li.stage.glob(f"*/f{k:07d}-*.parquet"):
                part.unlink()
            continue
        _, src, res = todo[file_of[k]]
        _add_up(res, done[k][0], first=file_of.get(k - 1) != file_of[k])
        li.files[src.sha256] = (src, res, store)
        for table, n in done[k][1].items():
            li.counted.setdefault(table, {})[k] = n
    for table, by_file in li.counted.items():
        first = {}
        for k in sorted(by_file):
            first[k] = li.next_id[table]
            li.next_id[table] += by_file[k]
        by_file.update(first)   # now each file's first id
    return todo[stop:]


#: a JSON Lines file larger than this is read in parts of about this size by several
#: worker processes (the generator's settlements log is 37% of its 10M-line source)
PART_BYTES = 64 << 20


def _line_parts(src, size: int) -> list[tuple[int, int, int]] | None:
    """A JSON Lines file in parts of about ``size`` bytes, each cut after a newline:
    ``(byte offset, first line, last line)``; None for another kind of file, one not larger
    than ``size``, or one with a line ending in a carriage return alone (which the reader
    counts as a line of its own)."""
    import sys
    if src.container != "jsonl" or src.size <= size:
        return None
    parts, start, first, lines, pos, cut, crs, crlfs, last = [], 0, 1, 0, 0, size, 0, 0, b""
    with open(src.path, "rb") as fh:
        while block := fh.read(1 << 20):
            crs += block.count(b"\r")
            crlfs += block.count(b"\r\n") + (last == b"\r" and block[:1] == b"\n")
            while cut < pos + len(block):
                i = block.find(b"\n", max(0, cut - pos))
                if i < 0:
                    break
                upto = lines + block.count(b"\n", 0, i + 1)   # the lines up to this newline
                parts.append((start, first, upto))
                start, first, cut = pos + i + 1, upto + 1, pos + i + 1 + size
            lines, pos, last = lines + block.count(b"\n"), pos + len(block), block[-1:]
    if crs != crlfs or not parts:
        return None
    return parts + [(start, first, sys.maxsize)]


def _add_up(res, part, first: bool) -> None:
    """A file's FileResult ``res`` with a part's (``part``) added; its ``first`` part as it is."""
    from .importer import REJECT_EXAMPLES
    if first:
        res.__dict__.update({k: (dict(v) if isinstance(v, dict) else v) for k, v in part.__dict__.items()})
        return
    for name in ("rows_read", "rows_accepted", "rows_duplicate", "rows_rejected"):
        setattr(res, name, getattr(res, name) + getattr(part, name))
    for name in ("by_table", "reject_reasons"):
        mine = getattr(res, name)
        for key, n in getattr(part, name).items():
            mine[key] = mine.get(key, 0) + n
    res.reject_examples = (res.reject_examples + part.reject_examples)[:REJECT_EXAMPLES]   # parts in file order
    if res.kind != part.kind:   # the kinds the parts met, as one reader lists them
        res.kind = ",".join(sorted(set(filter(None, f"{res.kind or ''},{part.kind or ''}".split(","))))) or None


def _stage_file(job) -> tuple:
    """In a worker process: read, convert and stage file ``k`` (see _import_in_workers):
    ``(k, (FileResult, rows staged per table))``, or ``(k, None)`` when the file has
    catalog rows or fails (the importing process then reads it)."""
    import pickle
    from .importer import FileResult, converted_batches
    from .records import Ctx
    k, src, kind, store, catalog, stage = job
    try:
        res = FileResult(path=str(src.path), kind=kind, store=store, sha256=src.sha256)
        first = WORKER_IDS + (k << 32) + 1
        st = _Stage(Path(stage), f"f{k:07d}", first)
        ctx = Ctx(store, pickle.loads(Path(catalog).read_bytes()))
        counted = [0]

        def step(rows: int) -> None:
            with _ROWS_READ.get_lock():
                _ROWS_READ.value += rows - counted[0]
            counted[0] = rows
        for batch in converted_batches(src, res, ctx, store, lambda *a: st.add("rejects", _reject_row(src, *a)),
                                       step if _ROWS_READ is not None else None):
            if any(conv.table == "items" for _, conv in batch):
                return k, None
            _flush(st, src, res, batch)
        for table in list(st.buffers):
            st.flush_table(table)
        return k, (res, {t: n - first for t, n in st.next_id.items() if n > first})
    except Exception:
        return k, None


def _flush(li: _LakeImport, src, res, pending) -> None:
    """Stage ``pending`` converted records and their code events. Repeats of records the
    lake or this import already holds are found when the import finishes
    (:meth:`_LakeImport._drop_repeats`); only the catalog (items) is de-duplicated here."""
    from .importer import code_events_of, product_keys, split_new

    by_table: dict[str, list] = {}
    for row_no, conv in pending:
        by_table.setdefault(conv.table, []).append((row_no, conv))
    for table, items in by_table.items():
        if table != "items":
            res.rows_accepted += len(items)
            res.by_table[table] = res.by_table.get(table, 0) + len(items)
            for row_no, conv in items:
                rid = li.add(table, {"uploads": 1, "deleted": 0, "code_count": 0, **conv.row,
                                     "src_file": str(src.path), "src_sha256": src.sha256, "src_row": row_no})
                for event in code_events_of(conv, table, rid):
                    li.add("code_events", event)
            continue
        known = li.item_hashes
        new, dup_counts = split_new(items, known, res, table)
        for _, c in new.values():
            li.delete_item(c.row["store"], c.row["item_id"])
        for h, (row_no, conv) in new.items():
            known[h] = li.add(table, {"uploads": 1, "deleted": 0, "code_count": 0, **conv.row,
                                      "src_file": str(src.path), "src_sha256": src.sha256, "src_row": row_no})
            for key in product_keys(conv.row):
                li.item_products.add((key, conv.row["store"], conv.row["item_id"]))
            for event in code_events_of(conv, table, known[h]):
                li.add("code_events", event)
        for h, n in dup_counts.items():
            key = next((k for k, r in li.items.items() if r["rec_hash"] == h), None)
            if key:
                li.items[key]["uploads"] = (li.items[key].get("uploads") or 1) + n