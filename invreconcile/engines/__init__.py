"""Query engines the audit runs on. The rule texts are written once, in the SQL that
SQLite, DuckDB and Spark share; an engine runs them on its own tables.

An engine offers what :mod:`invreconcile.audit` needs and nothing more:

* ``query(sql, params) -> (columns, rows)`` for a SELECT with ``:name`` parameters,
* ``queries(jobs)``: independent SELECTs, each result rows or the exception raised
  (SQLite runs them on all cores),
* ``create_table_as(name, select_sql)``, ``create_tables(pairs)`` (in order; SQLite builds
  the costliest independent one on a second core), ``drop(name)``, ``index(name, columns)``,
* ``write_rows(table, columns, rows, ddl)`` to (re)create a small table from Python rows,
* ``analyze(tables=())`` after bulk changes (a no-op where it means nothing),
* ``load(texts)`` with the SQL about to run (an engine over files may load what it reads),
* ``source_rows(table, ids)``: where evidence rows come from (file and row),
* ``ledger``: the sqlite_utils Database where findings are stored, or None.

Engines: :class:`SQLiteEngine` (the embedded ledger, the default),
:class:`invreconcile.engines.duckdb.DuckDBEngine` and
:class:`invreconcile.engines.spark.SparkEngine` (both over the Parquet lake of
:mod:`invreconcile.lake`; they translate the rule texts from SQLite's dialect with sqlglot
and give SQLite's results: same finding ids and amounts, tested in tests/test_engines.py
and tests/test_spark.py).
"""
from __future__ import annotations

import os
import re
import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable, Iterable, Sequence

from ..errors import ConfigError

ENGINES = ("sqlite", "duckdb", "spark")
#: at most this many rules run at once on SQLite (one core each)
MAX_WORKERS = 4

_PARAM = re.compile(r"'(?:[^']|'')*'|--[^\n]*|(?<![:\w]):([A-Za-z_]\w*)")


def inline_params(sql: str, params: dict) -> str:
    """Replace ``:name`` parameters by SQL literals (outside strings and comments), for
    engines whose drivers bind parameters differently.

    >>> inline_params("SELECT ':x', a FROM t WHERE b > :min_n AND c = :s -- :x", {"min_n": 2, "s": "it's"})
    "SELECT ':x', a FROM t WHERE b > 2 AND c = 'it''s' -- :x"
    """
    def literal(value) -> str:
        if isinstance(value, bool):
            return "1" if value else "0"
        if isinstance(value, (int, float)):
            return repr(value)
        if value is None:
            return "NULL"
        return "'" + str(value).replace("'", "''") + "'"

    def sub(m: re.Match) -> str:
        name = m.group(1)
        if name is None:
            return m.group(0)
        if name not in params:
            raise ConfigError(f"SQL parameter :{name} has no value.")
        return literal(params[name])
    return _PARAM.sub(sub, sql)


class Engine:
    """What every engine shares."""

    def load(self, texts: Iterable[str]) -> None:
        """Called with the SQL the audit is about to run, before it runs: an engine over
        files may load what that SQL reads (DuckDB does). Nothing to do by default."""

    def queries(self, jobs: Sequence[tuple[str, dict]]) -> list:
        """Run independent SELECTs (``(sql, params)``); each result is ``(columns, rows)``
        or the exception the query raised, so that one failing rule does not stop the rest."""
        out = []
        for sql, params in jobs:
            try:
                out.append(self.query(sql, params))
            except Exception as exc:  # reported per rule by the audit
                out.append(exc)
        return out

    def create_tables(self, statements: Sequence[tuple[str, str]]) -> None:
        """Materialise ``(name, select_sql)`` pairs, in order (a statement may read the
        tables made before it)."""
        for name, select_sql in statements:
            self.create_table_as(name, select_sql)

    def source_rows(self, table: str, ids: Sequence[int]) -> list[tuple]:
        """``(id, src_file, src_row)`` of the rows of ``table`` with these ids: where a
        finding's evidence comes from."""
        _, rows = self.query(f"SELECT id, src_file, src_row FROM {table} WHERE id IN ({','.join(map(str, ids))})")
        return rows


class TranslatingEngine(Engine):
    """For engines that run the SQLite rule texts through their ``translate`` (sqlglot):
    each text is translated once per engine object."""

    def sql(self, sql: str) -> str:
        cache = self.__dict__.setdefault("_translated", {})
        out = cache.get(sql)
        if out is None:
            out = cache[sql] = self.translate(sql)
        return out


class SQLiteEngine(Engine):
    """The embedded default: rules run on the SQLite ledger itself."""

    name = "sqlite"

    def __init__(self, db):
        self.ledger = db
        self.conn = db.conn

    def query(self, sql: str, params: dict | None = None) -> tuple[list[str], list[tuple]]:
        cur = self.conn.execute(sql, params or {})
        return [d[0] for d in cur.description], cur.fetchall()

    def queries(self, jobs: Sequence[tuple[str, dict]]) -> list:
        """Independent SELECTs on all cores: one read-only connection per worker thread
        (SQLite runs a statement without holding Python's GIL). A ledger in memory, or a
        machine with one core, runs them one after the other."""
        path = self._path()
        workers = min(len(jobs), os.cpu_count() or 1, MAX_WORKERS)
        if not path or workers < 2:
            return super().queries(jobs)
        local, opened, lock = threading.local(), [], threading.Lock()

        def run(job):
            conn = getattr(local, "conn", None)
            if conn is None:
                conn = local.conn = sqlite3.connect(Path(path).as_uri() + "?mode=ro", uri=True,
                                                    check_same_thread=False, timeout=30)
                with lock:
                    opened.append(conn)
            try:
                cur = conn.execute(*job)
                return [d[0] for d in cur.description], cur.fetchall()
            except Exception as exc:  # reported per rule by the audit
                return exc

        # the costliest first (rows of the tables they name), so that the last ones to
        # finish are short and both cores stay busy to the end
        order = sorted(range(len(jobs)), key=self._rows_named(sql for sql, _ in jobs), reverse=True)
        try:
            with ThreadPoolExecutor(workers) as pool:
                done = dict(zip(order, pool.map(run, [(jobs[i][0], jobs[i][1] or {}) for i in order])))
            return [done[i] for i in range(len(jobs))]
        finally:
            for conn in opened:
                conn.close()

    def drop(self, name: str) -> None:
        for (kind,) in self.conn.execute("SELECT type FROM sqlite_master WHERE name = ?", (name,)).fetchall():
            self.conn.execute(f"DROP {kind.upper()} {name}")

    def create_table_as(self, name: str, select_sql: str) -> None:
        self.drop(name)
        self.conn.execute(f"CREATE TABLE {name} AS {select_sql}")

    def create_tables(self, statements: Sequence[tuple[str, str]]) -> None:
        """As :meth:`Engine.create_tables`, on two cores: the costliest statement that
        reads none of the others and that none of the others read is built by a second
        thread into a scratch database file beside the ledger (SQLite writes one table at
        a time per file) while this connection builds the rest; then it is copied in."""
        path = self._path()
        names = [name for name, _ in statements]
        reads = {name: {other for other in names if other != name and re.search(rf"\b{other}\b", sql)}
                 for name, sql in statements}
        alone = [(name, sql) for name, sql in statements
                 if not reads[name] and not any(name in reads[other] for other in names)]
        if not path or (os.cpu_count() or 1) < 2 or len(statements) < 2 or not alone:
            return super().create_tables(statements)
        cost = self._rows_named(sql for _, sql in alone)
        side_name, side_sql = alone[max(range(len(alone)), key=cost)]
        side_file = f"{path}-{side_name}.tmp"
        for old in (side_file, side_file + "-journal"):
            if os.path.exists(old):
                os.remove(old)

        def build_side():
            conn = sqlite3.connect(Path(side_file).as_uri(), uri=True, isolation_level=None, check_same_thread=False)
            try:
                conn.execute("PRAGMA journal_mode=OFF")
                conn.execute("ATTACH DATABASE ? AS ledger", (Path(path).as_uri() + "?mode=ro",))
                conn.execute(f"CREATE TABLE {side_name} AS {side_sql}")
            finally:
                conn.close()

        try:
            with ThreadPoolExecutor(1) as pool:
                side = pool.submit(build_side)
                super().create_tables([(n, q) for n, q in statements if n != side_name])
                side.result()
            self.drop(side_name)
            self.conn.execute("ATTACH DATABASE ? AS side", (side_file,))
            try:
                self.conn.execute(f"CREATE TABLE main.{side_name} AS SELECT * FROM side.{side_name}")
            finally:
                self.conn.execute("DETACH DATABASE side")
        finally:
            for old in (side_file, side_file + "-journal"):
                if os.path.exists(old):
                    os.remove(old)

    def _rows_named(self, sqls) -> Callable[[int], int]:
        """A cost estimate for each of ``sqls`` (by position): the rows of the tables it
        names, from the planner statistics (none before the first ANALYZE)."""
        try:
            rows = {t: int(stat.split()[0]) for t, stat in self.conn.execute("SELECT tbl, stat FROM sqlite_stat1")}
        except sqlite3.OperationalError:
            rows = {}
        costs = [sum(n for t, n in rows.items() if re.search(rf"\b{t}\b", sql)) for sql in sqls]
        return costs.__getitem__

    def _path(self) -> str:
        """The ledger's file, '' for a ledger in memory."""
        return next((row[2] for row in self.conn.execute("PRAGMA database_list") if row[1] == "main"), "")

    def index(self, name: str, columns: Sequence[str]) -> None:
        self.conn.execute(f"CREATE INDEX IF NOT EXISTS {name}_{'_'.join(columns)} ON {name}({', '.join(columns)})")

    def write_rows(self, table: str, columns: Sequence[str], rows: Iterable[tuple], ddl: str) -> None:
        self.drop(table)
        self.conn.execute(ddl)
        self.conn.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
                              list(rows))

    def analyze(self, tables: Sequence[str] = ()) -> None:
        """Planner statistics for ``tables`` (all tables when none are named)."""
        for statement in [f"ANALYZE {t}" for t in tables] or ["ANALYZE"]:
            self.conn.execute(statement)


def get_engine(name: str, db=None, **options):
    """The engine called ``name`` over the ledger ``db`` (or the data ``options`` name)."""
    if name == "sqlite":
        if db is None:
            raise ConfigError("the sqlite engine needs a ledger (--db).")
        return SQLiteEngine(db)
    if name == "duckdb":
        from .duckdb import DuckDBEngine
        return DuckDBEngine(options.get("lake"), ledger=db, memory_limit=options.get("memory_limit"),
                            threads=options.get("threads"))
    if name == "spark":
        from .spark import SparkEngine
        return SparkEngine(options.get("lake"), ledger=db, master=options.get("spark_master") or "local[*]",
                           conf=options.get("spark_conf"))
    raise ConfigError(f"unknown engine '{name}'. Known: {', '.join(ENGINES)}.")
