"""Spark engine: the same rule texts on Spark (local mode) over the Parquet lake give the
findings SQLite gives on the ledger (same ids, amounts, evidence), and DuckDB's too.

One local SparkSession for the module (``local[2]``, one shuffle partition, no UI, no
whole-stage code generation and no adaptive re-planning: the sample is small, and
compiling code or re-planning per query costs more than it saves)."""
from __future__ import annotations

import json
import os
import re
import shutil
import time

import pytest

pytest.importorskip("pyspark")
pytest.importorskip("sqlglot")
pytest.importorskip("pyarrow")

if not (shutil.which("java") or os.environ.get("JAVA_HOME")):
    pytest.skip("Spark needs a Java runtime (17): no java on PATH and no JAVA_HOME", allow_module_level=True)

from click.testing import CliRunner  # noqa: E402

from invreconcile.audit import _no_gc, run_audit  # noqa: E402
from invreconcile.cli import main  # noqa: E402
from invreconcile.engines import ENGINES, SQLiteEngine, get_engine  # noqa: E402
from invreconcile.engines.spark import SparkEngine, build_session, translate  # noqa: E402
from invreconcile.errors import ConfigError  # noqa: E402
from invreconcile.ledger import open_ledger  # noqa: E402
from invreconcile.rules import load_config  # noqa: E402
from parity import assert_same_findings, sample_lake  # noqa: E402  (tests/ is on sys.path)

pytestmark = pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas")

CONF = {"spark.sql.shuffle.partitions": "1", "spark.sql.codegen.wholeStage": "false",
        "spark.sql.adaptive.enabled": "false", "spark.default.parallelism": "2"}


@pytest.fixture(scope="module")
def spark(tmp_path_factory):
    scratch = tmp_path_factory.mktemp("spark-scratch")   # its shuffle files, for the test that counts them
    given = os.environ.pop("SPARK_LOCAL_DIRS", None)      # would take the place of spark.local.dir
    try:
        session = build_session("local[2]", {**CONF, "spark.local.dir": str(scratch)}, app_name="invreconcile-tests")
    finally:
        if given is not None:
            os.environ["SPARK_LOCAL_DIRS"] = given
    yield session
    session.stop()


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("spark")
    db = sample_lake(root)
    config = load_config(root / "data" / "invreconcile.toml")
    on_sqlite = run_audit(db, config=config, save_findings=False)
    return root, db, config, on_sqlite


@pytest.fixture(scope="module")
def on_spark(world, spark):
    root, db, config, _ = world
    engine = SparkEngine(root / "lake", db, spark=spark, conf=CONF, cache_tables=True)
    result = run_audit(db, config=config, engine=engine, save_findings=False)
    engine.close()
    return result


def test_spark_is_a_known_engine():
    assert "spark" in ENGINES


def test_spark_findings_equal_sqlite(world, on_spark):
    _, _, _, on_sqlite = world
    assert_same_findings(on_sqlite, on_spark)


def test_three_engines_same_ids_and_amounts(world, on_spark):
    pytest.importorskip("duckdb")
    root, db, config, on_sqlite = world
    engine = get_engine("duckdb", db, lake=root / "lake")
    on_duckdb = run_audit(db, config=config, engine=engine, save_findings=False)
    engine.close()
    got = [{f.id: f.amount_fen for f in r.findings} for r in (on_sqlite, on_duckdb, on_spark)]
    assert got[0] == got[1] == got[2]


# ----------------------------------------------------------------------------- SQL semantics

def _both(spark, tmp_path, sql, params=None):
    """``sql`` on SQLite and on Spark over the same small table t(a, b, s, g)."""
    rows = [(7, 2, "x", 1), (-7, 2, "y", 1), (5, 0, None, 2), (None, 3, "z", 2)]
    ddl = "CREATE TABLE t (a INTEGER, b INTEGER, s TEXT, g INTEGER)"
    db = open_ledger(tmp_path / "t.db")
    engines = [SQLiteEngine(db), SparkEngine(ledger=db, spark=spark, conf=CONF)]
    out = []
    for engine in engines:
        engine.write_rows("t", ("a", "b", "s", "g"), rows, ddl)
        out.append(engine.query(sql, params)[1])
    engines[1].close()
    return out


@pytest.mark.parametrize("sql", [
    # integer casts truncate toward zero; a decimal literal makes the division real
    "SELECT a, CAST(a * 1.0 / b AS INTEGER), CAST(ROUND(a * 1.0 / b) AS INTEGER) FROM t ORDER BY a",
    # division by zero is NULL; || propagates NULL
    "SELECT a * 1.0 / b, 'k:' || s, s || ':' || a FROM t ORDER BY a",
    # % keeps the sign of the dividend
    "SELECT a % 3, a - a % 2 FROM t WHERE a IS NOT NULL ORDER BY a",
    # windows, NULLs first, correlated EXISTS
    "SELECT a, LAG(a) OVER (PARTITION BY g ORDER BY a), ROW_NUMBER() OVER (ORDER BY a DESC) FROM t ORDER BY a",
    "SELECT x.a FROM t x WHERE EXISTS (SELECT 1 FROM t y WHERE y.g = x.g AND y.a > x.a) ORDER BY 1",
    "SELECT g, COUNT(*), SUM(a), GROUP_CONCAT(s) FROM t GROUP BY g HAVING COUNT(*) >= :n ORDER BY g",
])
def test_sqlite_semantics_on_spark(spark, tmp_path, sql):
    on_sqlite, on_spark = _both(spark, tmp_path, sql, {"n": 2})
    assert on_spark == on_sqlite


def test_translate_keeps_one_source():
    assert translate("SELECT GROUP_CONCAT(DISTINCT 'r:' || id) FROM t") == \
        "SELECT ARRAY_JOIN(ARRAY_SORT(COLLECT_SET('r:' || id)), ',') FROM t"
    assert "AS BIGINT" in translate("SELECT CAST(x AS INTEGER) FROM t")


def test_finished_statements_leave_no_shuffle_files(world, spark):
    """The audit pauses Python's cycle collector; Spark must still be able to delete the
    shuffle files of each statement once it has run, or they fill the scratch disk (at
    10M lines, the 45 GB that were free)."""
    root, db, _, _ = world
    engine = SparkEngine(root / "lake", db, spark=spark, conf=CONF)
    scratch = spark.conf.get("spark.local.dir")

    def shuffle_files():
        return {os.path.join(d, f) for d, _, files in os.walk(scratch) for f in files if f.startswith("shuffle_")}

    before = shuffle_files()
    try:
        with _no_gc():   # as during an audit
            for column in ("store", "psn_no", "day"):
                engine.query(f"SELECT {column}, COUNT(*) AS n FROM settlements GROUP BY {column}")
            made = shuffle_files() - before
            assert made, "the GROUP BYs should have shuffled"
            deadline = time.monotonic() + 60
            while made & shuffle_files() and time.monotonic() < deadline:
                spark._jvm.System.gc()   # Spark deletes them once the JVM collects the statements' plans
                time.sleep(0.5)
            assert not made & shuffle_files()
    finally:
        engine.close()


def test_get_engine_needs_data():
    with pytest.raises(ConfigError, match="lake"):
        get_engine("spark", None)


def test_cli_audit_on_spark(world, spark, tmp_path):
    root, db, config, on_sqlite = world
    ledger = tmp_path / "cli.db"
    shutil.copy(root / "ledger.db", ledger)
    out = tmp_path / "f.json"
    r = CliRunner().invoke(main, ["audit", "--db", str(ledger), "--engine", "spark", "--lake", str(root / "lake"),
                                  "--spark-master", "local[2]", "--rules", "swipe_refund_cycle",
                                  "--config", str(root / "data" / "invreconcile.toml"), "--json", str(out)])
    assert r.exit_code == 0, r.output
    got = {f["id"]: f["amount_at_risk"] for f in json.loads(out.read_text(encoding="utf-8"))}
    want = {f.id: f.amount_at_risk for f in on_sqlite.findings if f.rule == "swipe_refund_cycle"}
    assert got == want and got


def _lake_with_a_bad_value(root, tmp_path):
    """A copy of the sample lake whose first sales file holds 'three' in qty (row 3)."""
    import duckdb
    lake = tmp_path / "lake"
    shutil.copytree(root / "lake", lake)
    f = sorted((lake / "sales").rglob("*.parquet"))[0]
    tmp = f.with_suffix(".tmp")
    duckdb.connect().execute(
        f"COPY (SELECT * EXCLUDE (file_row_number) REPLACE (CASE WHEN file_row_number = 2 THEN 'three' ELSE "
        f"CAST(qty AS VARCHAR) END AS qty) FROM read_parquet('{f}', file_row_number = true) ORDER BY file_row_number) "
        f"TO '{tmp}' (FORMAT parquet)")
    tmp.replace(f)
    return lake


def test_the_command_line_shows_what_spark_cannot_read_without_its_java_log(world, tmp_path):
    """The Spark session the command line starts logs errors only and not a failing task's
    Java stack, nor its shell's two log-level lines (61 lines on stderr before the error;
    tests/test_spark.py's own session is shared, so this one runs the command in a process
    of its own)."""
    import subprocess
    import sys
    lake = _lake_with_a_bad_value(world[0], tmp_path)
    r = subprocess.run([sys.executable, "-c", "from invreconcile.cli import run; run()", "--lang", "en", "audit",
                        "--engine", "spark", "--spark-master", "local[1]", "--lake", str(lake), "--db",
                        str(tmp_path / "f.db"), "--rules", "negative_stock"], capture_output=True, text=True, timeout=600)
    assert r.returncode == 1 and "row 3, column qty: value does not read as its column's type" in r.stderr
    logged = [line for line in r.stderr.splitlines() if re.match(r"\d\d/\d\d/\d\d \d\d:\d\d:\d\d (WARN|ERROR) ", line)]
    assert not logged and "\tat org.apache" not in r.stderr and "Setting default log level" not in r.stderr, r.stderr
    assert len(r.stderr.splitlines()) <= 3, r.stderr   # the JVM's incubator notice, the error and what to do


def test_spark_names_the_file_row_and_column_of_a_value_it_cannot_read(world, spark, tmp_path):
    """Spark's failure to read a lake file (its Java error, in a traceback) comes out as the
    lake check's error, as on DuckDB (tests/test_lakecheck.py)."""
    lake = _lake_with_a_bad_value(world[0], tmp_path)
    engine = SparkEngine(lake, None, spark=spark, conf=CONF)
    with pytest.raises(ConfigError, match=r"row 3, column qty: value does not read as its column's type.*'three'"):
        run_audit(None, engine=engine, rules=["negative_stock"], save_findings=False)
