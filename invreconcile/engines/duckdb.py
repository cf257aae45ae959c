"""DuckDB engine: the same rule texts on one workstation, out of core and on all cores,
over a Parquet lake (see :mod:`invreconcile.lake` and docs/lake.md).

The rules are written for SQLite; this engine transpiles each statement with sqlglot
(``read="sqlite"``, ``write="duckdb"``) and adds SQLite's semantics where DuckDB differs:

* ``CAST(x AS INTEGER)`` truncates toward zero in SQLite and rounds in DuckDB: it becomes
  ``CAST(TRUNC(x) AS BIGINT)`` (BIGINT also because DuckDB's INTEGER is 32-bit);
* NULLs sort first in SQLite: sqlglot writes ``NULLS FIRST`` where it matters;
* ``GROUP_CONCAT`` becomes the group's values as a sorted list joined by the separator, so that lists shown in messages
  come out in the same order on every run (SQLite gives its scan order; finding ids and
  list columns do not depend on it: lists are split and sorted in Python);
* division by zero gives NULL as in SQLite (sqlglot's ``NULLIF``).

Integer division cannot be told apart without types, so the rule texts write it portably
(``CAST(a / b AS INTEGER)`` or an exact quotient); see invreconcile/rules/__init__.py.

Every lake table is first a view over its Parquet files. Before the rules run, the audit
tells the engine which SQL it is about to run (:meth:`DuckDBEngine.load`); the tables that
SQL reads are then loaded once into DuckDB's memory, with only the columns it names (plus
``id``, ``src_file`` and ``src_row`` for evidence): the rules read the big tables many
times, and reading 3,500 Parquet files per query costs more than loading them once. Past
the memory limit DuckDB spills to a temporary directory.
"""
from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import Iterable, Sequence

from ..errors import ConfigError
from . import TranslatingEngine, inline_params

try:  # the bureau extra: pip install 'invreconcile[bureau]'
    import duckdb
    import sqlglot
    from sqlglot import exp
except ImportError as _exc:  # pragma: no cover - reported when the engine is asked for
    duckdb = None
    _IMPORT_ERROR = _exc
else:
    _IMPORT_ERROR = None

def _int_cast(node):
    if isinstance(node, exp.Cast) and node.to.is_type(*exp.DataType.INTEGER_TYPES):
        return exp.Cast(this=exp.Anonymous(this="TRUNC", expressions=[node.this]),
                        to=exp.DataType.build("BIGINT"))
    return node


def _sorted_concat(node):
    """``GROUP_CONCAT([DISTINCT] x[, sep])`` -> the values sorted, joined by ``sep``, NULL
    when there are none (as in SQLite). Collected as a list and sorted per group, which is
    several times faster in DuckDB than an ordered aggregate (``LISTAGG ... ORDER BY``)."""
    if not isinstance(node, exp.GroupConcat):
        return node
    arg = node.this
    distinct = isinstance(arg, exp.Distinct)
    value = arg.expressions[0] if distinct else arg
    sep = node.args.get("separator") or exp.Literal.string(",")
    values = exp.Anonymous(this="LIST", expressions=[exp.Distinct(expressions=[value.copy()]) if distinct else value.copy()])
    joined = exp.Anonymous(this="ARRAY_TO_STRING", expressions=[
        exp.Anonymous(this="LIST_SORT", expressions=[values]), sep.copy()])
    return exp.Case(ifs=[exp.If(this=exp.EQ(this=exp.Count(this=value.copy()), expression=exp.Literal.number(0)),
                                true=exp.Null())], default=joined)


def translate(sql: str) -> str:
    """One SQLite statement as DuckDB SQL, with SQLite's semantics.

    >>> translate("SELECT CAST(a / b AS INTEGER), GROUP_CONCAT(c) FROM t ORDER BY d")
    "SELECT CAST(TRUNC(a / NULLIF(b, 0)) AS BIGINT), CASE WHEN COUNT(c) = 0 THEN NULL ELSE ARRAY_TO_STRING(LIST_SORT(LIST(c)), ',') END FROM t ORDER BY d NULLS FIRST"
    """
    tree = sqlglot.parse_one(sql, read="sqlite")
    tree = tree.transform(_int_cast).transform(_sorted_concat)
    return tree.sql(dialect="duckdb")


def lake_glob(lake: Path, table: str) -> str:
    return str(Path(lake) / table / "**" / "*.parquet")


class DuckDBEngine(TranslatingEngine):
    """Rules on DuckDB over a Parquet lake (``lake``), findings stored in ``ledger`` (a
    SQLite ledger, may be None). ``database`` is DuckDB's database file; by default the
    tables are held in memory when the lake is small enough for ``memory_limit`` (e.g.
    ``"4GB"``; DuckDB's default is 80% of RAM), else in a temporary database file, which
    DuckDB compresses and pages (about half as fast to load). ``threads`` defaults to all
    cores."""

    translate = staticmethod(translate)

    name = "duckdb"

    def __init__(self, lake: str | Path | None = None, ledger=None, *, database: str | None = None,
                 memory_limit: str | None = None, threads: int | None = None, conn=None):
        if duckdb is None:
            raise ConfigError(f"the duckdb engine needs duckdb, sqlglot and pyarrow ({_IMPORT_ERROR}). "
                              "Install them with: pip install 'invreconcile[bureau]'")
        self.ledger = ledger
        self.lake = Path(lake) if lake is not None else None
        self._tmp = None
        if conn is None:
            if database is None:
                self._tmp = tempfile.TemporaryDirectory(prefix="invreconcile-duckdb-")
                if not _fits_in_memory(self.lake, memory_limit):
                    database = os.path.join(self._tmp.name, "scratch.duckdb")
            conn = duckdb.connect(database or ":memory:")
            if self._tmp is not None:
                conn.execute(f"SET temp_directory = '{self._tmp.name}'")
                # a scratch file is never reopened: no checkpoints (loading twice as fast)
                conn.execute("SET checkpoint_threshold = '1TB'")
            if memory_limit:
                conn.execute(f"SET memory_limit = '{memory_limit}'")
            if threads:
                conn.execute(f"SET threads = {int(threads)}")
            conn.execute("SET preserve_insertion_order = false")
            conn.execute("SET parquet_metadata_cache = true")  # footers read once, at attach
        self.conn = conn
        if self.lake is not None:
            self.attach_lake(self.lake)

    # ------------------------------------------------------------------ the lake
    def attach_lake(self, lake: Path) -> None:
        """A view per canonical table over its Parquet files; an empty table with the
        canonical columns where the lake has none."""
        from ..lake import TABLES, table_schema
        if not Path(lake).is_dir():
            raise ConfigError(f"{lake}: no lake here. Write one with 'invreconcile export-lake {lake}' "
                              f"or 'invreconcile import --lake {lake} FILES'.")
        self._on_parquet: dict[str, str] = {}
        for table in TABLES:
            schema = table_schema(table)
            if Path(lake, table).is_dir() and next(Path(lake, table).rglob("*.parquet"), None):
                self._on_parquet[table] = self._parquet_select(table, [c for c, _ in schema])
                self.conn.execute(f"CREATE OR REPLACE VIEW {table} AS {self._on_parquet[table]}")
            else:
                cols = ", ".join(f'"{c}" {_duck_type(t)}' for c, t in schema)
                self.conn.execute(f"CREATE OR REPLACE TABLE {table} ({cols})")

    def _parquet_select(self, table: str, columns: list[str]) -> str:
        from ..lake import table_schema
        types = dict(table_schema(table))
        cols = ", ".join(f'CAST("{c}" AS {_duck_type(types[c])}) AS "{c}"' for c in columns)
        return (f"SELECT {cols} FROM read_parquet('{lake_glob(self.lake, table)}', union_by_name = true, "
                f"hive_partitioning = false)")

    def load(self, texts: Iterable[str]) -> None:
        """Load the lake tables that ``texts`` (SQL about to run) read into DuckDB, with the
        columns they name and those evidence needs; the others stay views over Parquet.
        A name is taken as read when it occurs as a word anywhere in the texts, which can
        load a column too many, never one too few."""
        from ..lake import table_schema
        words = set(re.findall(r"\w+", " ".join(texts)))
        for table, select in list(getattr(self, "_on_parquet", {}).items()):
            if table not in words:
                continue
            cols = [c for c, _ in table_schema(table) if c in words or c in ("id", "src_file", "src_row")]
            self.conn.execute(f"DROP VIEW {table}")
            self.conn.execute(f"CREATE TABLE {table} AS {self._parquet_select(table, cols)}")
            del self._on_parquet[table]

    # ------------------------------------------------------------------ engine interface
    def query(self, sql: str, params: dict | None = None) -> tuple[list[str], list[tuple]]:
        text = self.sql(inline_params(sql, params or {}))
        cur = self.conn.execute(text)
        return [d[0] for d in cur.description], cur.fetchall()

    def source_rows(self, table: str, ids: Sequence[int]) -> list[tuple]:
        # the ids as one list parameter: a semi-join instead of parsing thousands of literals
        return self.conn.execute(f"SELECT id, src_file, src_row FROM {table} WHERE id IN (SELECT UNNEST(?::BIGINT[]))",
                                 [list(ids)]).fetchall()

    def _kind(self, name: str) -> str | None:
        row = self.conn.execute(
            "SELECT table_type FROM information_schema.tables WHERE table_name = ? AND table_schema = 'main'",
            [name]).fetchall()
        if not row:
            return None
        return "VIEW" if row[0][0] == "VIEW" else "TABLE"

    def drop(self, name: str) -> None:
        kind = self._kind(name)
        if kind:
            self.conn.execute(f"DROP {kind} {name}")

    def create_table_as(self, name: str, select_sql: str) -> None:
        self.drop(name)
        self.conn.execute(f"CREATE TABLE {name} AS {self.sql(select_sql)}")

    def index(self, name: str, columns: Sequence[str]) -> None:
        """No-op: DuckDB scans columns and keeps min/max per row group."""

    def write_rows(self, table: str, columns: Sequence[str], rows: Iterable[tuple], ddl: str) -> None:
        self.drop(table)
        self.conn.execute(self.sql(ddl))
        rows = list(rows)
        if rows:
            self.conn.executemany(
                f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})", rows)

    def analyze(self, tables=()) -> None:
        """No-op: DuckDB keeps its statistics itself."""

    def close(self) -> None:
        self.conn.close()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None


#: memory a lake's tables take in DuckDB per byte of Parquet, with the columns the rules
#: read (measured on the sample lake: about 8 with all columns, half of them are read)
IN_MEMORY_PER_PARQUET_BYTE = 4


def _fits_in_memory(lake: Path | None, memory_limit: str | None) -> bool:
    """Whether the lake's tables fit in half of DuckDB's memory limit."""
    if lake is None or not Path(lake).is_dir():
        return True
    size = sum(f.stat().st_size for f in Path(lake).rglob("*.parquet"))
    if memory_limit:
        m = re.fullmatch(r"\s*([\d.]+)\s*([KMGT]?)I?B?\s*", memory_limit.upper())
        if not m:
            raise ConfigError(f"memory limit '{memory_limit}': expected a size like 4GB or 500MB.")
        budget = float(m.group(1)) * 1024 ** " KMGT".index(m.group(2) or " ")
    else:
        budget = 0.8 * os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return size * IN_MEMORY_PER_PARQUET_BYTE < budget / 2


def _duck_type(sqlite_type: str) -> str:
    t = sqlite_type.upper()
    if "INT" in t:
        return "BIGINT"
    if "REAL" in t or "FLOA" in t or "DOUB" in t:
        return "DOUBLE"
    return "VARCHAR"
