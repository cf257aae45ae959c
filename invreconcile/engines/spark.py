"""Spark engine: the same rule texts on a cluster (or ``local[*]``), over a Parquet lake
(see :mod:`invreconcile.lake`).

Each ledger table is a temporary view over its Parquet files (every ``*.parquet`` under
``LAKE/<table>/``, columns cast to the canonical types, INTEGER as BIGINT); a table the
lake lacks is an empty view with the canonical columns. The audit's prepared views
(``v_*``) and small tables (``store_hours``, ``name_map``) are cached temporary views of
the engine's own session, so that several engines can share one SparkContext.

The rules are written for SQLite; each statement is transpiled with sqlglot
(``read="sqlite"``, ``write="spark"``) and adjusted where Spark's semantics differ:

* ``GROUP_CONCAT(x[, sep])`` becomes ``ARRAY_JOIN(ARRAY_SORT(COLLECT_LIST(x)), sep)``:
  sorted, because the order of COLLECT_LIST depends on partitioning and would change
  from run to run (and Spark 3.5 has no LISTAGG); the ids sort lists in Python anyway;
* a decimal literal (``1.0``) is a DOUBLE, as in SQLite (Spark would make it a DECIMAL
  and compute in fixed point);
* ``CAST(x AS INTEGER)`` becomes ``CAST(x AS BIGINT)``: Spark's INT is 32-bit; both
  truncate toward zero;
* the session runs with ``spark.sql.ansi.enabled=false``: division by zero and bad casts
  give NULL, as in SQLite.

Integer division cannot be told apart without types (SQLite truncates ``int / int``,
Spark always divides exactly), so the rule texts write it portably: ``CAST(a / b AS
INTEGER)`` or a quotient that is exact (see invreconcile/rules/__init__.py).

Nothing is fetched at run time: plain Parquet and SQL need no extra jars.

>>> translate("SELECT GROUP_CONCAT(a), CAST(b * 1.0 / c AS INTEGER) FROM t")
"SELECT ARRAY_JOIN(ARRAY_SORT(COLLECT_LIST(a)), ','), CAST(b * CAST(1.0 AS DOUBLE) / c AS BIGINT) FROM t"
"""
from __future__ import annotations

import decimal
import gc
import os
import sqlite3
import tempfile
import warnings
from pathlib import Path
from typing import Iterable, Sequence

from ..errors import ConfigError
from ..lake import require_lake
from . import TranslatingEngine, inline_params, reading_the_lake

try:  # pip install 'invreconcile[spark]'
    import sqlglot
    from sqlglot import exp
except ImportError as _exc:  # pragma: no cover - reported when the engine is asked for
    sqlglot = None
    _IMPORT_ERROR: Exception | None = _exc
else:
    _IMPORT_ERROR = None

#: Spark settings of a session this engine builds (``conf`` adds to / overrides them).
LOG_CONFIG = Path(__file__).with_name("spark-log4j2.properties")
DEFAULT_CONF = {
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.ansi.enabled": "false",            # NULL on division by zero, as SQLite
    "spark.sql.session.timeZone": "UTC",          # the ledger's times are text; epoch is plain seconds
    "spark.sql.shuffle.partitions": "16",
    "spark.sql.adaptive.enabled": "true",
}


# --------------------------------------------------------------------------- SQL

def _spark_node(node):
    if isinstance(node, exp.GroupConcat):
        arg = node.this
        collect = "COLLECT_LIST"
        if isinstance(arg, exp.Distinct):
            collect = "COLLECT_SET"
            arg = arg.expressions[0]
        arg = arg.transform(_spark_node)
        sep = node.args.get("separator") or exp.Literal.string(",")
        items = exp.Anonymous(this="ARRAY_SORT", expressions=[exp.Anonymous(this=collect, expressions=[arg])])
        return exp.Anonymous(this="ARRAY_JOIN", expressions=[items, sep])
    if isinstance(node, exp.Literal) and not node.is_string and any(c in node.this for c in ".eE"):
        return exp.Cast(this=node.copy(), to=exp.DataType.build("DOUBLE"))
    if isinstance(node, exp.Cast) and node.to.is_type(*exp.DataType.INTEGER_TYPES):
        node.set("to", exp.DataType.build("BIGINT"))  # in place: the walk goes on below it
    return node


def translate(sql: str) -> str:
    """One SQLite statement as Spark SQL, with SQLite's semantics (see the module doc)."""
    if sqlglot is None:
        raise ConfigError(f"the spark engine needs sqlglot ({_IMPORT_ERROR}). Install: pip install 'invreconcile[spark]'")
    tree = sqlglot.parse_one(sql, read="sqlite")
    return tree.transform(_spark_node).sql(dialect="spark")


# --------------------------------------------------------------------------- schema

def _sqlite_schemas() -> dict[str, list[tuple[str, str]]]:
    """Canonical columns of every ledger table, from the ledger's own DDL."""
    from ..ledger import DDL
    conn = sqlite3.connect(":memory:")
    try:
        conn.executescript(DDL)
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {t: [(r[1], r[2]) for r in conn.execute(f"PRAGMA table_info({t})")] for t in tables}
    finally:
        conn.close()


def canonical_schemas() -> dict[str, list[tuple[str, str]]]:
    """table -> [(column, sqlite type)]: the lake's canonical tables when the lake module
    names them, else the ledger's tables."""
    try:
        from ..lake import TABLES, table_schema  # type: ignore[attr-defined]
    except ImportError:
        return _sqlite_schemas()
    return {t: list(table_schema(t)) for t in TABLES}


def spark_type(sqlite_type: str) -> str:
    t = (sqlite_type or "").upper()
    if "INT" in t:
        return "BIGINT"
    if any(k in t for k in ("REAL", "FLOA", "DOUB", "NUMERIC", "DECIMAL")):
        return "DOUBLE"
    return "STRING"


def _ddl_columns(ddl: str) -> list[tuple[str, str]]:
    """(column, type) of a CREATE TABLE statement, in order."""
    tree = sqlglot.parse_one(ddl, read="sqlite")
    out = []
    for col in tree.find_all(exp.ColumnDef):
        kind = col.args.get("kind")
        out.append((col.name, kind.sql(dialect="sqlite") if kind is not None else "TEXT"))
    return out


def _release() -> None:
    """Free the Python side of the Java objects a statement used, so that the JVM can drop
    the statement's plan and Spark its shuffle files. py4j's objects reference themselves
    (a JavaObject keeps the methods called on it, and they point back to it), so only
    Python's cycle collector frees them, and the audit pauses that collector
    (audit._no_gc): Spark then kept every statement's shuffle files in ``spark.local.dir``
    until the session ended (531 MB at the end of a 100k-line audit, 79 MB at most with
    this; at 10M lines 12 rules failed for want of the 45 GB of disk that was free, and
    with this the audit ran through at 12.8 GB at most). The statement's objects are new,
    so a collection of the youngest generation finds them."""
    gc.collect(0)


def _plain(value):
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


# --------------------------------------------------------------------------- engine

def build_session(master: str = "local[*]", conf: dict | None = None, app_name: str = "invreconcile",
                  log_level: str = "ERROR"):
    """A SparkSession for ``master`` with :data:`DEFAULT_CONF` (plus ``conf``)."""
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:
        raise ConfigError(f"the spark engine needs pyspark ({exc}). Install it with: pip install 'invreconcile[spark]' "
                          "(and a Java 17 runtime)") from None
    builder = SparkSession.builder.master(master).appName(app_name)
    # temporary views only: keep Spark from making spark-warehouse/ in the working directory
    warehouse = {"spark.sql.warehouse.dir": os.path.join(tempfile.gettempdir(), "invreconcile-spark-warehouse")}
    for key, value in {**warehouse, **DEFAULT_CONF, **(conf or {})}.items():
        builder = builder.config(key, value)
    # the log of a driver started here: errors only, a failing task's stack not printed before
    # the error Python gives (spark-log4j2.properties); through the launcher's environment,
    # before the Java options a user configured (spark.driver.extraJavaOptions), which win
    given = os.environ.get("SPARK_SUBMIT_OPTS")
    os.environ["SPARK_SUBMIT_OPTS"] = f"-Dlog4j2.configurationFile={LOG_CONFIG} {given or ''}".strip()
    try:
        with warnings.catch_warnings():   # the parity tests run Spark with pandas 3 (tests/test_spark.py)
            warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas", category=FutureWarning)
            session = builder.getOrCreate()
    except Exception as exc:  # no Java, an unreachable master ...
        raise ConfigError(f"could not start Spark (master {master}): {type(exc).__name__}: {exc}. "
                          "Spark needs Java 17 (JAVA_HOME or java on PATH) and a reachable --spark-master.") from None
    finally:
        if given is None:
            os.environ.pop("SPARK_SUBMIT_OPTS", None)
        else:
            os.environ["SPARK_SUBMIT_OPTS"] = given
    session.sparkContext.setLogLevel(log_level)
    return session


class SparkEngine(TranslatingEngine):
    """Rules on Spark over a Parquet lake (``lake``), findings stored in ``ledger`` (a
    SQLite ledger, may be None).

    ``spark``: an existing SparkSession (the engine works in a ``newSession()`` of it, so
    its temporary views do not clash with other engines'); otherwise one is built for
    ``master`` (default ``local[*]``) with ``conf`` and stopped by :meth:`close`.
    ``cache_tables``: keep the lake's tables in Spark's memory once read (small lakes,
    tests; the prepared views are cached in any case).

    Without a lake the ledger's tables are copied into Spark through Python: for small
    ledgers and trying things out; a lake is the way for real volumes.
    """

    translate = staticmethod(translate)

    name = "spark"

    def __init__(self, lake: str | Path | None = None, ledger=None, *, master: str = "local[*]",
                 spark=None, conf: dict | None = None, cache_tables: bool = False):
        if _IMPORT_ERROR is not None:
            raise ConfigError(f"the spark engine needs sqlglot ({_IMPORT_ERROR}). Install: pip install 'invreconcile[spark]'")
        if lake is None and ledger is None:
            raise ConfigError("the spark engine needs a lake (--lake DIR) or a ledger (--db).")
        if lake is not None:
            require_lake(lake)
        if spark is None:
            try:
                from pyspark.sql import SparkSession
                existing = SparkSession.getActiveSession()
            except ImportError:  # build_session says what to install
                existing = None
            self._own = existing is None  # close() stops only a session this engine started
        else:
            self._own = False
        root = spark if spark is not None else build_session(master, conf)
        self.spark = root.newSession()
        if spark is not None:
            for key, value in {k: v for k, v in DEFAULT_CONF.items() if not k.startswith("spark.ui")}.items():
                self.spark.conf.set(key, value)
            for key, value in (conf or {}).items():
                self.spark.conf.set(key, value)
        self.ledger = ledger
        self.lake = Path(lake) if lake is not None else None
        self.cache_tables = cache_tables
        self._views: set[str] = set()
        self._datasets: dict = {}
        if self.lake is not None:
            self.attach_lake(self.lake)
        else:
            self.load_ledger(ledger)

    # ------------------------------------------------------------------ data
    def _register(self, table: str, df) -> None:
        df.createOrReplaceTempView(table)
        self._views.add(table)

    def _empty(self, columns: list[tuple[str, str]]):
        schema = ", ".join(f"`{c}` {spark_type(t)}" for c, t in columns)
        return self.spark.createDataFrame([], schema)

    def attach_lake(self, lake: Path) -> None:
        """A view per canonical table over its Parquet files, read with the canonical
        schema (no inference pass; a column a file lacks is NULL); an empty view where the
        lake has none. Directory names (``store=...``) only sort the files: every file
        carries all its columns."""
        for table, columns in canonical_schemas().items():
            folder = Path(lake, table)
            has_files = folder.is_dir() and next(folder.rglob("*.parquet"), None) is not None
            if not has_files:
                self._register(table, self._empty(columns))
                continue
            schema = ", ".join(f"`{c}` {spark_type(t)}" for c, t in columns)
            df = (self.spark.read.schema(schema).option("recursiveFileLookup", "true")
                  .option("pathGlobFilter", "*.parquet").parquet(str(folder)))
            self._register(table, df)
            if self.cache_tables:  # lazily: on first use, so that tables no rule reads cost nothing
                self.spark.sql(f"CACHE LAZY TABLE `{table}`")

    def load_ledger(self, db) -> None:
        """Copy the ledger's tables into Spark (small ledgers only)."""
        for table, columns in _sqlite_schemas().items():
            if table in ("findings", "files", "rejects", "name_map"):
                continue
            names = [c for c, _ in columns]
            rows = db.conn.execute(f"SELECT {', '.join(names)} FROM {table}").fetchall()
            schema = ", ".join(f"`{c}` {spark_type(t)}" for c, t in columns)
            self._register(table, self.spark.createDataFrame(rows, schema) if rows else self._empty(columns))

    # ------------------------------------------------------------------ engine interface
    @reading_the_lake
    def query(self, sql: str, params: dict | None = None) -> tuple[list[str], list[tuple]]:
        df = self.spark.sql(self.sql(inline_params(sql, params or {})))
        rows = df.collect()
        columns = list(df.columns)
        del df
        _release()
        return columns, [tuple(_plain(v) for v in row) for row in rows]

    def source_rows(self, table: str, ids) -> list[tuple]:
        """Evidence rows read from the lake's files with pyarrow, not a Spark job each."""
        try:
            import pyarrow.compute as pc
            import pyarrow.dataset as ds
        except ImportError:
            return super().source_rows(table, ids)
        if self.lake is None:
            return super().source_rows(table, ids)
        folder = self.lake / table
        if not folder.is_dir():
            return []
        data = self._datasets.get(table)
        if data is None:
            data = self._datasets[table] = ds.dataset(str(folder), format="parquet")
        got = data.to_table(columns=["id", "src_file", "src_row"], filter=pc.field("id").isin(ids))
        return [(r["id"], r["src_file"], r["src_row"]) for r in got.to_pylist()]

    def drop(self, name: str) -> None:
        if self.spark.catalog.tableExists(name) or name in self._views:
            try:
                self.spark.catalog.uncacheTable(name)
            except Exception:  # not cached
                pass
            self.spark.catalog.dropTempView(name)
        self._views.discard(name)

    def create_table_as(self, name: str, select_sql: str) -> None:
        """A cached temporary view: computed once, read by every rule after it."""
        self.drop(name)
        df = self.spark.sql(self.sql(select_sql))
        df.createOrReplaceTempView(name)
        self._views.add(name)
        self.spark.sql(f"CACHE TABLE `{name}`")
        del df
        _release()

    def index(self, name: str, columns: Sequence[str]) -> None:
        """No-op: Spark has no indexes."""

    def write_rows(self, table: str, columns: Sequence[str], rows: Iterable[tuple], ddl: str) -> None:
        types = dict(_ddl_columns(ddl))
        schema = ", ".join(f"`{c}` {spark_type(types.get(c, 'TEXT'))}" for c in columns)
        rows = [tuple(r) for r in rows]
        self.drop(table)
        df = self.spark.createDataFrame(rows, schema) if rows else self.spark.createDataFrame([], schema)
        self._register(table, df)
        self.spark.sql(f"CACHE TABLE `{table}`")

    def analyze(self, tables=()) -> None:
        """No-op: Spark's adaptive execution sizes joins from the data it reads."""

    def close(self) -> None:
        for name in list(self._views):
            self.drop(name)
        if self._own:
            self.spark.stop()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
