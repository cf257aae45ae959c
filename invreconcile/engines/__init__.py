"""Query engines the audit runs on. The rule texts are written once, in the SQL that
SQLite, DuckDB and Spark share; an engine runs them on its own tables.

An engine offers what :mod:`invreconcile.audit` needs and nothing more:

* ``query(sql, params) -> (columns, rows)`` for a SELECT with ``:name`` parameters,
* ``answers(jobs)``: independent SELECTs, their rows as they come, or the exception raised,
* ``build_and_query(tables, indexes, jobs, keep, whole)``: materialise the shared views,
  index them, then run the rules and give their rows as they come (SQLite does all of it
  as one schedule on all cores, DuckDB a lake larger than memory in groups of stores),
* ``create_table_as(name, select_sql)``, ``create_tables(pairs)`` (in order),
  ``drop(name)``, ``index(name, columns)``,
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

import functools
import inspect
import itertools
import os
import queue
import re
import sqlite3
import threading
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

import sqlite_utils

from ..errors import ConfigError

ENGINES = ("sqlite", "duckdb", "spark")
#: at most this many views and rules are built or run at once on SQLite (one core each)
MAX_WORKERS = 4
#: rows of a large answer turned into Python objects at a time (:meth:`Engine.query_pieces`)
ROWS_PER_PIECE = 50_000

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


def tables_read(tables: Sequence[tuple[str, object]], sqls: Iterable[str]) -> set[str]:
    """Names of ``tables`` (``(name, select_sql)`` pairs; a Python-made table's SQL is not
    text and reads nothing named here) that ``sqls`` read, directly or through another.

    >>> sorted(tables_read([("a", "SELECT 1"), ("b", "SELECT * FROM a"), ("c", "SELECT 2")], ["SELECT * FROM b"]))
    ['a', 'b']
    """
    texts = {name: sql if isinstance(sql, str) else "" for name, sql in tables}
    todo, found = list(sqls), set()
    while todo:
        text = todo.pop()
        for name in texts:
            if name not in found and re.search(rf"\b{name}\b", text):
                found.add(name)
                todo.append(texts[name])
    return found


def cursor_pieces(cur) -> Iterator[tuple[list[str], list[tuple]]]:
    """A DB-API cursor's answer as ``(columns, rows)`` pieces of :data:`ROWS_PER_PIECE`
    rows (the last one may be empty)."""
    columns = [d[0] for d in cur.description]
    while True:
        rows = cur.fetchmany(ROWS_PER_PIECE)
        yield columns, rows
        if len(rows) < ROWS_PER_PIECE:
            return


#: the stores an audit covers: those with settlements or sales
STORES_SQL = "SELECT DISTINCT store FROM settlements UNION SELECT DISTINCT store FROM sales"


def reading_the_lake(method):
    """An engine method whose failures to read the lake's files, raised or given as a
    rule's answer, come out as :meth:`Engine._lake_error` tells them."""
    if inspect.isgeneratorfunction(method):
        @functools.wraps(method)
        def pieces(self, *args, **kwargs):
            try:
                for piece in method(self, *args, **kwargs):
                    if isinstance(piece, tuple) and len(piece) == 2 and isinstance(piece[1], Exception):
                        piece = (piece[0], self._lake_error(piece[1]) or piece[1])
                    yield piece
            except Exception as exc:
                _raise_explained(self, exc)
        return pieces

    @functools.wraps(method)
    def call(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except Exception as exc:
            _raise_explained(self, exc)
    return call


def _raise_explained(engine, exc: Exception):
    err = engine._lake_error(exc)
    if err is None:
        raise exc
    raise err from None


class Engine:
    """What every engine shares."""

    #: ``progress(stage, done, total)``, when set, is told how far the audit's queries have
    #: come: ``("rules", k, n)`` as the k-th of n rules is done (k = 0 as they start),
    #: ``("batches", k, n)`` as the k-th of n batches of stores is (DuckDB over a lake larger
    #: than memory, which tells ``("plan", 0, 1)`` as it starts planning them). It may be
    #: called from the engine's worker threads, one call at a time.
    progress: Callable[[str, int, int], None] | None = None
    #: the Parquet lake the engine reads (None: the ledger's tables)
    lake: Path | None = None

    def _lake_error(self, exc: Exception, fallback: bool = False) -> ConfigError | None:
        """``exc``, a failure to read a file of the lake, as an error naming the file, row
        and column that the file's check finds (a value that does not read as its column's
        type, a file that is not Parquet: :func:`invreconcile.lakecheck.explain_read_error`),
        and pointing at ``invreconcile check-lake``; when the check finds nothing, None, or
        with ``fallback`` an error naming the file and the engine's message. None for a
        failure that names no file of the lake."""
        if self.lake is None:
            return None
        from ..lakecheck import explain_read_error
        found = explain_read_error(str(exc))
        if found is None or (found[1] is None and not fallback):
            return None
        path, problem = found
        check = f"'invreconcile check-lake {self.lake}' lists every problem of the lake."
        check_zh = f"'invreconcile check-lake {self.lake}' 列出数据湖的全部问题。"
        if problem is not None:
            return ConfigError(f"{problem.text('en', level=False)} {check}",
                               zh=f"{problem.text('zh', level=False)}{check_zh}")
        first = str(exc).splitlines()[0]
        return ConfigError(f"{path}: the file does not read as its table of the lake ({first}). {check}",
                           zh=f"{path}：该文件不能按数据湖的表读取（{first}）。{check_zh}")

    def _tell(self, stage: str, done: int, total: int) -> None:
        if self.progress is not None:
            self.progress(stage, done, total)

    def _counter(self, stage: str, total: int, tell: Callable[[str, int, int], None] | None = None) -> Callable[[], None]:
        """Tells ``tell`` (:meth:`_tell` by default) that none of ``total`` things of
        ``stage`` is done yet, and gives the function to call as each one is: it tells the
        count, one call at a time whatever thread calls it."""
        tell = tell or self._tell
        lock, done = threading.Lock(), itertools.count(1)
        tell(stage, 0, total)

        def step() -> None:
            with lock:
                tell(stage, next(done), total)
        return step

    def stores(self) -> list[str]:
        """The stores with settlements or sales, sorted."""
        return sorted(s for (s,) in self.query(STORES_SQL)[1])

    def load(self, texts: Iterable[str]) -> None:
        """Called with the SQL the audit is about to run, before it runs: an engine over
        files may load what that SQL reads (DuckDB does). Nothing to do by default."""

    def answers(self, jobs: Sequence[tuple[str, dict]]) -> Iterator[tuple[int, object]]:
        """Run independent SELECTs (``(sql, params)``) one after the other and give
        ``(position, answer)`` as they come: the answer ``(columns, rows)``, a job's rows
        possibly in several pieces (:meth:`query_pieces`), or the exception the query
        raised, so that one failing rule does not stop the rest."""
        step = self._counter("rules", len(jobs))
        for i, (sql, params) in enumerate(jobs):
            try:
                for piece in self.query_pieces(sql, params):
                    yield i, piece
            except Exception as exc:  # reported per rule by the audit
                yield i, exc
            step()

    def query_pieces(self, sql: str, params: dict | None = None) -> Iterator[tuple[list[str], list[tuple]]]:
        """:meth:`query`'s answer as ``(columns, rows)`` pieces; one piece unless the engine
        can hand out a large answer a part at a time (DuckDB does)."""
        yield self.query(sql, params)

    def create_tables(self, statements: Sequence[tuple[str, str]]) -> None:
        """Materialise ``(name, select_sql)`` pairs, in order (a statement may read the
        tables made before it). In place of the SQL, a function ``make(engine)`` that
        writes the table itself (name matches are scored in Python)."""
        for name, select_sql in statements:
            if callable(select_sql):
                select_sql(self)
            else:
                self.create_table_as(name, select_sql)

    @reading_the_lake
    def build_and_query(self, tables: Sequence[tuple[str, str]], indexes: Sequence[tuple[str, Sequence[str]]],
                        jobs: Sequence[tuple[str, dict]], keep: Sequence[str] = (),
                        whole: Sequence[int] = ()) -> Iterator[tuple[int, object]]:
        """Materialise ``tables`` (``(name, select_sql)`` pairs as :meth:`create_tables`
        takes them; one may read those before it), create ``indexes`` (``(table, columns)``)
        and planner statistics on them, then run ``jobs`` and give their answers as
        :meth:`answers` does, ``(position, answer)`` as they come: a job's rows may come in
        several pieces (parts of a large answer, groups of stores), in no set order between
        jobs; a job that fails in one piece gives its exception as one of them, and its
        other pieces are to be set aside. Giving the rows as they come lets the caller turn
        them into findings and let them go: an audit's rows held all at once took gigabytes
        at millions of findings. ``keep`` names the tables wanted in the ledger after the
        audit (an engine may drop the others); ``whole`` the positions of jobs that compare
        all stores with each other (an engine working through the stores in groups runs
        them over all at once)."""
        self.create_tables(tables)
        for name, columns in indexes:
            self.index(name, columns)
        self.analyze([name for name, _ in tables])
        yield from self.answers(jobs)

    def source_rows(self, table: str, ids: Sequence[int]) -> list[tuple]:
        """``(id, src_file, src_row)`` of the rows of ``table`` with these ids: where a
        finding's evidence comes from (any number of ids: asked 5,000 at a time)."""
        ids = list(ids)
        out = []
        for i in range(0, len(ids), 5000):
            out += self.query(f"SELECT id, src_file, src_row FROM {table} WHERE id IN ({','.join(map(str, ids[i:i + 5000]))})")[1]
        return out


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

    def drop(self, name: str) -> None:
        for (kind,) in self.conn.execute("SELECT type FROM sqlite_master WHERE name = ?", (name,)).fetchall():
            self.conn.execute(f"DROP {kind.upper()} {name}")

    def create_table_as(self, name: str, select_sql: str) -> None:
        self.drop(name)
        self.conn.execute(f"CREATE TABLE {name} AS {select_sql}")

    def build_and_query(self, tables, indexes, jobs, keep=(), whole=()) -> Iterator[tuple[int, object]]:
        """As :meth:`Engine.build_and_query`, as one schedule on all cores, so that no core
        waits while another builds a table:

        * the tables in ``keep`` are built in the ledger, one after the other (SQLite
          writes one table at a time per file); each of the others by a worker thread in
          a scratch file of its own beside the ledger, removed after the audit; each with
          its indexes and statistics;
        * a rule starts as soon as the tables it names are built, and reads the scratch
          ones through its connection (attached read-only).

        A table made by a Python function (see :meth:`Engine.create_tables`) is written in
        the ledger too, on a connection of the worker's own.

        Workers take the first ready task in this order: tables (longest chain of
        dependent tables first), then rules (most rows named first). A rule's rows are
        handed over :data:`ROWS_PER_PIECE` at a time as it reads them, while the schedule
        goes on (:func:`handed_over`). A ledger in memory, or a machine with one core,
        builds and runs them one after the other."""
        path = self._path()
        workers = min(os.cpu_count() or 1, MAX_WORKERS)
        if not path or workers < 2:
            yield from super().build_and_query(tables, indexes, jobs)
            return
        names = [name for name, _ in tables]

        def named(sql) -> list[str]:
            return [n for n in names if isinstance(sql, str) and re.search(rf"\b{n}\b", sql)]

        scratch = {name: f"{path}-{name}.tmp" for name, sql in tables if name not in keep and isinstance(sql, str)}
        ledger_ro = Path(path).as_uri() + "?mode=ro"

        def attach(conn, sql: str, attached: set) -> None:
            for other in named(sql):
                if other in scratch and other not in attached:
                    conn.execute(f"ATTACH DATABASE ? AS s_{other}", (Path(scratch[other]).as_uri() + "?mode=ro",))
                    attached.add(other)

        for name in scratch:  # an earlier audit's table would hide the new one (main is searched first)
            self.drop(name)
        local, opened, lock, cancelled = threading.local(), [], threading.Lock(), threading.Event()

        def build(name: str, sql):
            if cancelled.is_set():
                raise InterruptedError("the audit was stopped")
            if name in scratch:
                _remove(scratch[name])
                conn = sqlite3.connect(Path(scratch[name]).as_uri(), uri=True, isolation_level=None,
                                       check_same_thread=False)
                conn.execute("PRAGMA journal_mode=OFF")
                conn.execute("PRAGMA synchronous=OFF")
                conn.execute("ATTACH DATABASE ? AS ledger", (ledger_ro,))
            else:
                conn = sqlite3.connect(path, timeout=120, isolation_level=None, check_same_thread=False)
            with lock:
                opened.append(conn)   # interrupted if the caller stops
            try:
                attach(conn, sql, {name})
                conn.execute("BEGIN IMMEDIATE")  # readers see the table with its indexes, or not at all
                if callable(sql):  # a table Python writes (into the ledger), on this thread's connection
                    sql(SQLiteEngine(sqlite_utils.Database(conn)))
                else:
                    conn.execute(f"DROP TABLE IF EXISTS main.{name}")  # the last audit's, in the ledger
                    conn.execute(f"CREATE TABLE main.{name} AS {sql}")
                    for t, cols in indexes:
                        if t == name:
                            conn.execute(_index_sql("main", name, cols))
                    conn.execute(f"ANALYZE main.{name}")
                conn.execute("COMMIT")
            finally:
                conn.close()

        def rule(i: int, sql: str, params: dict, put: Callable) -> None:
            if cancelled.is_set():
                raise InterruptedError("the audit was stopped")
            conn = getattr(local, "conn", None)
            if conn is None:
                conn = local.conn = sqlite3.connect(ledger_ro, uri=True, check_same_thread=False, timeout=30)
                local.attached = set()
                with lock:
                    opened.append(conn)
            try:
                attach(conn, sql, local.attached)
                for piece in cursor_pieces(conn.execute(sql, params)):
                    put((i, piece))
            finally:
                step()

        reads = {name: [n for n in named(sql) if n != name] for name, sql in tables}
        table_cost = self._rows_named(sql if isinstance(sql, str) else "" for _, sql in tables)
        cost = {name: table_cost(i) for i, name in enumerate(names)}
        chain: dict[str, int] = {}

        def longest(name: str) -> int:  # rows named along the longest chain of tables from this one
            if name not in chain:
                chain[name] = cost[name] + max([longest(n) for n in names if name in reads[n]], default=0)
            return chain[name]

        order = sorted(tables, key=lambda t: -longest(t[0]))
        in_ledger = [name for name, _ in order if name not in scratch]
        after_in_ledger = dict(zip(in_ledger[1:], in_ledger))  # one writer of the ledger at a time
        tasks = [(("table", name), (lambda n=name, q=sql: build(n, q)),
                  [("table", d) for d in [*reads[name], *([after_in_ledger[name]] if name in after_in_ledger else [])]])
                 for name, sql in order]
        rule_cost = self._rows_named(sql for sql, _ in jobs)
        rules = sorted(range(len(jobs)), key=rule_cost, reverse=True)

        step = self._counter("rules", len(jobs))   # told as each rule is done

        def produce(put: Callable) -> None:
            try:
                done = run_schedule(tasks + [(("rule", i), (lambda i=i: rule(i, jobs[i][0], jobs[i][1] or {}, put)),
                                              [("table", n) for n in named(jobs[i][0])]) for i in rules], workers)
            finally:
                for conn in opened:
                    conn.close()
                for file in scratch.values():
                    _remove(file)
            failed = next((done[key] for key, _, _ in tasks if isinstance(done[key], Exception)), None)
            if failed is not None:
                raise failed
            for i in rules:
                if isinstance(done[("rule", i)], Exception):
                    put((i, done[("rule", i)]))

        def interrupt() -> None:   # the caller stopped: no task starts, the running statements end
            cancelled.set()
            with lock:
                for conn in opened:
                    try:
                        conn.interrupt()
                    except sqlite3.ProgrammingError:   # closed already
                        pass
        yield from handed_over(produce, interrupt)

    def _rows_named(self, sqls) -> Callable[[int], int]:
        """A cost estimate for each of ``sqls`` (by position): the rows of the tables it
        names, from the planner statistics (none before the first ANALYZE)."""
        rows = self._stat_rows()
        costs = [sum(n for t, n in rows.items() if re.search(rf"\b{t}\b", sql)) for sql in sqls]
        return costs.__getitem__

    def _path(self) -> str:
        """The ledger's file, '' for a ledger in memory."""
        return next((row[2] for row in self.conn.execute("PRAGMA database_list") if row[1] == "main"), "")

    def index(self, name: str, columns: Sequence[str]) -> None:
        self.conn.execute(_index_sql("main", name, columns))

    def write_rows(self, table: str, columns: Sequence[str], rows: Iterable[tuple], ddl: str) -> None:
        self.drop(table)
        self.conn.execute(ddl)
        self.conn.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
                              list(rows))

    def analyze(self, tables: Sequence[str] = ()) -> None:
        """Planner statistics for ``tables``; when none are named, for every table whose
        statistics are missing or whose size changed by more than a quarter since they
        were gathered (a full ANALYZE reads every index: seconds on a big ledger, wasted
        when an audit runs again on the same data). Counting rows reads the smallest
        index of each table: a tenth of a second for 5 million rows."""
        for table in tables or self._stale_tables():
            self.conn.execute(f"ANALYZE main.{table}")

    def _stale_tables(self) -> list[str]:
        names = [n for (n,) in self.conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")]
        gathered = self._stat_rows()
        stale = []
        for name in names:
            size = self.conn.execute(f"SELECT COUNT(*) FROM {name}").fetchone()[0]
            if size and (name not in gathered or abs(size - gathered[name]) > gathered[name] / 4):
                stale.append(name)
        return stale

    def _stat_rows(self) -> dict[str, int]:
        """Rows per table when the planner statistics were gathered (none before the first ANALYZE)."""
        try:
            return {t: int(stat.split()[0]) for t, stat in self.conn.execute("SELECT tbl, stat FROM sqlite_stat1")}
        except sqlite3.OperationalError:  # never analysed
            return {}


def _index_sql(schema: str, table: str, columns: Sequence[str]) -> str:
    return (f"CREATE INDEX IF NOT EXISTS {schema}.{table}_{'_'.join(columns)} ON {table}({', '.join(columns)})")


def _remove(file: str) -> None:
    for old in (file, file + "-journal"):
        if os.path.exists(old):
            os.remove(old)


def run_schedule(tasks: Sequence[tuple], workers: int) -> dict:
    """Run ``(key, fn, after)`` tasks on ``workers`` threads: a task starts when the tasks
    whose keys are in ``after`` are done; a free worker takes the first ready task in
    list order. Returns ``{key: result}``, where the result is the exception a task
    raised (or the one that failed a task it waited for).

    >>> run_schedule([("b", lambda: 2, ["a"]), ("a", lambda: 1, []), ("c", lambda: 1 / 0, []),
    ...               ("d", lambda: 4, ["c"])], 2)["d"]
    ZeroDivisionError('division by zero')
    """
    keys = {key for key, _, _ in tasks}
    for key, _, after in tasks:
        if not set(after) <= keys:
            raise ValueError(f"task {key} waits for unknown tasks {set(after) - keys}")
    pending, done, ready_or_done = list(tasks), {}, threading.Condition()

    def worker():
        while True:
            with ready_or_done:
                while True:
                    if not pending:
                        return
                    task = next((t for t in pending if all(a in done for a in t[2])), None)
                    if task is not None:
                        pending.remove(task)
                        break
                    ready_or_done.wait()
                failed = next((done[a] for a in task[2] if isinstance(done[a], Exception)), None)
            key, fn, _ = task
            if failed is not None:
                out = failed
            else:
                try:
                    out = fn()
                except Exception as exc:  # reported by the caller, per task
                    out = exc
            with ready_or_done:
                done[key] = out
                ready_or_done.notify_all()

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(max(1, workers))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return done


class _Gone(Exception):
    """The caller of :func:`handed_over` stopped taking what is produced."""


def handed_over(produce: Callable[[Callable[[object], None]], None], interrupt: Callable[[], None] | None = None,
                size: int = 8) -> Iterator:
    """Run ``produce(put)`` on a thread of its own (it may start more) and give what it
    puts as it comes, at most ``size`` items waiting: the caller works on one while the
    producer makes the next. What ``produce`` raises is raised here, after the items put
    before it. When the caller stops early (an error, Ctrl-C), ``put`` raises in the
    producer's threads, ``interrupt()`` is called to cut short what they are running, and
    the producer is waited for (it cleans up after itself).

    >>> list(handed_over(lambda put: [put(n) for n in range(3)]))
    [0, 1, 2]
    """
    items: queue.Queue = queue.Queue(maxsize=size)
    stop, end = threading.Event(), object()

    def put(item) -> None:
        while True:
            if stop.is_set():
                raise _Gone
            try:
                return items.put(item, timeout=0.1)
            except queue.Full:
                continue

    def run() -> None:
        try:
            produce(put)
            last: tuple = (end, None)
        except BaseException as exc:   # raised in the caller's thread
            last = (end, exc)
        try:
            put(last)
        except _Gone:
            pass
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    finished = False
    try:
        while True:
            item = items.get()
            if isinstance(item, tuple) and item and item[0] is end:
                finished = True
                if item[1] is not None:
                    raise item[1]
                return
            yield item
    finally:
        stop.set()
        if not finished and interrupt is not None:
            interrupt()
        thread.join()


def get_engine(name: str, db=None, **options):
    """The engine called ``name`` over the ledger ``db`` (or the data ``options`` name)."""
    if name == "sqlite":
        if db is None:
            raise ConfigError("the sqlite engine needs a ledger (--db).", "sqlite 引擎需要台账（--db）。")
        return SQLiteEngine(db)
    if name == "duckdb":
        from .duckdb import DuckDBEngine
        return DuckDBEngine(options.get("lake"), ledger=db, memory_limit=options.get("memory_limit"),
                            threads=options.get("threads"))
    if name == "spark":
        from .spark import SparkEngine
        return SparkEngine(options.get("lake"), ledger=db, master=options.get("spark_master") or "local[*]",
                           conf=options.get("spark_conf"))
    raise ConfigError(f"unknown engine '{name}'. Known: {', '.join(ENGINES)}.",
                      f"没有引擎「{name}」。可用的有：{', '.join(ENGINES)}。")
