"""Bureau-scale benchmark: import speed, full-audit time and peak memory per engine, and a
pandas script for two rules on the same data (benchmarks/pandas_two_rules.py).

    python benchmarks/bureau.py --lines 1000000 [--lines 10000000] [--base-customers 2400] [--work DIR] [--reuse]
                                [--resold-across-copies]
                                [--duckdb-memory 3GB] [--spark-up-to LINES] [--spark-memory 8g]

How the data is made: the sample generator writes one base chain (``--base-customers``;
the default gives about 26,000 settlement lines and 106,000 records; 92,000 customers give
960,000 lines and 3.9 million records, for import speed at 1M lines). It is imported twice
to measure import speed (SQLite ledger, and straight to the lake). The base ledger is then
copied inside SQLite as many times as needed to reach ``--lines`` settlement lines: each
copy gets new store codes, person numbers, settlement ids, trace codes, batch numbers
and row ids (suffix ``x<k>``), so copies do not meet each other in any rule, and purchases,
sales, stock counts and code events grow in proportion. The big ledger is exported to the
lake. Sizes above ``--sqlite-up-to`` (2 M) are not built in SQLite (10 M lines would be a
40 GB ledger): the largest lake is copied again by DuckDB (``replicate_lake``, suffix
``y<k>``) and only the lake engines run on them. Every audit runs in its own process (peak
RSS of that process, plus that of Spark's JVM for the Spark audits, which run in local mode
on all cores with ``--spark-memory`` of driver memory, up to ``--spark-up-to`` lines);
invreconcile's DuckDB audits under jemalloc where the system has it, as the command line
runs them (``invreconcile.engines.duckdb.allocator_env``). ``--reuse`` keeps the data of an
earlier run in ``--work``. ``--resold-across-copies`` also audits each lake on DuckDB with
one box of every chain copy resold in the next copy (``resell_across_copies``; alone:
``python benchmarks/bureau.py --resell-across-copies LAKE OUT``): the copies then share
codes, so every store is one group, which the engine cuts into batches.

The two-rule comparison runs the audit's own rules code_resold and negative_stock on
DuckDB, and the analyst's simpler version of both (benchmarks/pandas_two_rules.py) in
pandas and, the same computation, in DuckDB SQL.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SUFFIXED = {"store", "peer_store", "setl_id", "orig_setl_id", "psn_no", "certno", "mdtrt_id", "code",
            "parent_code", "ancestor", "doc_no", "bchno", "rtal_docno", "dynt_no", "rec_hash", "mdtrt_sn"}
OFFSET = 100_000_000
SPARK_MEMORY = "8g"   # Spark's driver memory in local mode, unless --spark-memory says otherwise


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def step(kind: str, args: list[str]) -> dict:
    """Run one measured step in this process (called in a child)."""
    from invreconcile.ledger import open_ledger
    t0 = time.perf_counter()
    out: dict = {}
    if kind == "import_sqlite":
        from invreconcile.importer import import_paths
        res = import_paths(open_ledger(args[1]), [args[0]])
        out["records"] = sum(r.rows_read for r in res)
    elif kind == "import_lake":
        from invreconcile.lake import import_to_lake
        tree = _TreePeak()   # the import's worker processes are children of this one
        try:
            res = import_to_lake([args[0]], args[1])
        finally:
            out["tree_peak_mb"] = tree.stop() / 1024
        out["records"] = sum(r.rows_read for r in res)
    elif kind == "audit_sqlite":
        from invreconcile.audit import run_audit
        r = run_audit(open_ledger(args[0]), save_findings=False, rules=args[1:] or None)
        out["findings"], out["errors"] = len(r.findings), r.errors
    elif kind == "audit_duckdb":
        from invreconcile.audit import run_audit
        from invreconcile.engines.duckdb import DuckDBEngine
        eng = DuckDBEngine(args[0], ledger=None, memory_limit=os.environ.get("BENCH_DUCKDB_MEMORY") or None)
        r = run_audit(None, engine=eng, save_findings=False, rules=args[1:] or None)
        out["findings"], out["errors"] = len(r.findings), r.errors
    elif kind == "audit_spark":
        from invreconcile.audit import run_audit
        from invreconcile.engines.spark import SparkEngine
        # Spark's scratch disk (shuffle files): a directory of its own, in the one the user
        # gave Spark (SPARK_LOCAL_DIRS) or the system's temporary one, its size sampled
        base = os.environ.get("SPARK_LOCAL_DIRS", "").split(",")[0] or None
        scratch = Path(tempfile.mkdtemp(prefix="invreconcile-spark-scratch-", dir=base))
        os.environ["SPARK_LOCAL_DIRS"] = str(scratch)   # read by the JVM started below
        sampler = _DiskPeak(scratch)
        eng = SparkEngine(args[0], conf={"spark.driver.memory": os.environ.get("BENCH_SPARK_MEMORY", SPARK_MEMORY)})
        try:
            r = run_audit(None, engine=eng, save_findings=False, rules=args[1:] or None)
            out["findings"], out["errors"] = len(r.findings), r.errors
            # local mode: the work is done in Spark's JVM, a process of its own (its peak RSS
            # added to this one's below)
            out["jvm_peak_rss_mb"] = _peak_rss_mb(eng.spark.sparkContext._gateway.proc.pid)
        finally:
            out["scratch_peak_mb"] = sampler.stop() / 2**20
            eng.close()
            shutil.rmtree(scratch, ignore_errors=True)
    elif kind in ("pandas", "duckdb_sql"):
        sys.path.insert(0, str(HERE))
        import pandas_two_rules
        out.update((pandas_two_rules.main if kind == "pandas" else pandas_two_rules.duckdb_main)(args[0]))
    elif kind == "export":
        from invreconcile.lake import export_lake
        out["rows"] = export_lake(open_ledger(args[0]), args[1])
    out["seconds"] = time.perf_counter() - t0
    out["peak_rss_mb"] = max(_rss_mb() + out.get("jvm_peak_rss_mb", 0), out.get("tree_peak_mb", 0))
    return out


class _DiskPeak:
    """The largest size of the files under ``folder``, sampled every ``interval`` s in a thread."""

    def __init__(self, folder: Path, interval: float = 2):
        self.folder, self.peak, self._done, self.interval = folder, 0, threading.Event(), interval
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _size(self) -> int:
        total = 0
        for root, _, files in os.walk(self.folder):
            for name in files:
                try:
                    total += os.path.getsize(os.path.join(root, name))
                except OSError:   # deleted while walked
                    pass
        return total

    def _run(self) -> None:
        while not self._done.is_set():
            self.peak = max(self.peak, self._size())
            self._done.wait(self.interval)

    def stop(self) -> int:
        self._done.set()
        self._thread.join()
        return max(self.peak, self._size())


class _TreePeak(_DiskPeak):
    """The largest memory of this process and its children together, sampled every 0.5 s
    (kB): the sum of their proportional set sizes (``Pss`` in /proc/PID/smaps_rollup), so
    that pages a forked child shares with its parent count once."""

    def __init__(self):
        super().__init__(Path(f"/proc/{os.getpid()}"), interval=0.5)

    def _size(self) -> int:
        me, total = os.getpid(), 0
        pids = [me] + [int(d) for d in os.listdir("/proc") if d.isdigit() and _ppid(d) == me]
        for pid in pids:
            try:
                for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                    if line.startswith("Pss:"):
                        total += int(line.split()[1])
            except OSError:   # ended meanwhile
                pass
        return total


def _ppid(pid: str) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


def _peak_rss_mb(pid: int) -> float:
    """Peak RSS of another process (VmHWM in /proc; Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmHWM for process {pid}")


def child(kind: str, *args, timeout: float | None = None) -> dict:
    """Run one step in a child process. A measured step that fails or runs past ``timeout``
    seconds is recorded as such ({"failed": why}) and the benchmark goes on."""
    from invreconcile.engines.duckdb import allocator_env
    # invreconcile's DuckDB audits under the allocator the command line runs them with
    env = allocator_env() if kind == "audit_duckdb" else None
    try:
        p = subprocess.run([sys.executable, __file__, "--step", kind, *map(str, args)], capture_output=True,
                           text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return {"failed": f"stopped after {timeout:.0f} s"}
    if p.returncode != 0:
        if kind in ("import_sqlite", "import_lake", "export"):
            raise RuntimeError(f"{kind} failed:\n{p.stderr[-3000:]}")
        return {"failed": (p.stderr.strip().splitlines() or [f"exit {p.returncode}"])[-1][:200]}
    return json.loads(p.stdout.strip().splitlines()[-1])


def _cell(x: dict, key: str, fmt: str) -> str:
    """One figure of a step's result; for a step that failed, why in its time cell (once a row)."""
    if "failed" in x:
        return "failed: " + x["failed"] if key in ("seconds", "total_s") else "-"
    return format(x[key], fmt)


def _renamed(cols: list[str], suffix: str, offset: int) -> str:
    """SELECT list of one copy: ids moved by ``offset``, names in SUFFIXED get ``suffix``."""
    exprs = []
    for c in cols:
        if c in ("id", "src_id"):
            exprs.append(f"{c} + {offset} AS {c}")
        elif c in SUFFIXED:
            exprs.append(f"CASE WHEN {c} IS NULL OR {c} = '' THEN {c} ELSE {c} || '{suffix}' END AS {c}")
        else:
            exprs.append(c)
    return ", ".join(exprs)


def replicate(db_path: Path, copies: int) -> int:
    """Append ``copies - 1`` renamed copies of every fact row; returns settlement lines."""
    import sqlite3
    from invreconcile.lake import TABLES, table_schema
    conn = sqlite3.connect(str(db_path), isolation_level=None)
    conn.execute("PRAGMA journal_mode=OFF")  # a scratch copy: no rollback needed, no multi-GB WAL
    conn.execute("PRAGMA synchronous=OFF")
    # secondary indexes are rebuilt once at the end instead of maintained row by row
    indexes = conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL").fetchall()
    for name, _ in indexes:
        conn.execute(f"DROP INDEX {name}")
    conn.execute("BEGIN")
    for table in TABLES:
        if table in ("files", "rejects"):
            continue
        cols = [c for c, _ in table_schema(table)]
        where = "WHERE store <> ''" if table in ("items", "item_products") else ""
        if "id" in cols:
            where = (where + " AND " if where else "WHERE ") + f"id < {OFFSET}"
        else:  # no id: copy only the base rows (copies carry an 'x<k>' suffix)
            first = next(c for c in cols if c in SUFFIXED)
            where = (where + " AND " if where else "WHERE ") + f"({first} IS NULL OR {first} NOT GLOB '*x[0-9]*')"
        for k in range(1, copies):
            conn.execute(f"INSERT INTO {table} ({', '.join(cols)}) SELECT {_renamed(cols, f'x{k}', k * OFFSET)} "
                         f"FROM {table} {where}")
    conn.execute("COMMIT")
    for _, sql in indexes:
        conn.execute(sql)
    conn.execute("ANALYZE")
    n = conn.execute("SELECT COUNT(*) FROM settlement_lines").fetchone()[0]
    conn.close()
    return n


def replicate_lake(src: Path, dst: Path, copies: int) -> int:
    """A lake ``copies`` times the size of ``src``: ``src`` itself plus ``copies - 1``
    renamed copies written by DuckDB (suffix ``y<k>``, ids + k * 10**10), in the lake
    layout (docs/lake.md). For sizes where building the SQLite ledger first would take tens
    of GB and an hour. Returns settlement lines."""
    import duckdb
    from invreconcile.engines.duckdb import lake_glob
    from invreconcile.lake import BY_STORE, BY_STORE_MONTH, TABLES, table_schema
    shutil.rmtree(dst, ignore_errors=True)
    shutil.copytree(src, dst)
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    con.execute(f"SET memory_limit = '{os.environ.get('BENCH_DUCKDB_MEMORY') or '3GB'}'")
    con.execute("SET preserve_insertion_order = false")
    for table in TABLES:
        if table in ("files", "rejects") or not next((src / table).rglob("*.parquet"), None):
            continue
        cols = [c for c, _ in table_schema(table)]
        where = "WHERE store <> ''" if table in ("items", "item_products") else ""
        parts = ("store", "month") if table in BY_STORE_MONTH else ("store",) if table in BY_STORE else ()
        for k in range(1, copies):
            select = (f"SELECT {_renamed(cols, f'y{k}', k * 10**10)} FROM read_parquet('{lake_glob(src, table)}', "
                      f"hive_partitioning = false, union_by_name = true) {where}")
            if not parts:
                con.execute(f"COPY ({select}) TO '{dst / table / f'part-y{k}.parquet'}' (FORMAT parquet)")
                continue
            # rows without a store go to store=_ (docs/lake.md), the others to their store's directory
            for target, rows, by in ((dst / table, "store IS NOT NULL AND store <> ''", parts),
                                     (dst / table / "store=_", "COALESCE(store, '') = ''", parts[1:])):
                if con.execute(f"SELECT COUNT(*) FROM ({select}) WHERE {rows}").fetchone()[0] == 0:
                    continue
                opts = (f", PARTITION_BY ({', '.join(by)}), WRITE_PARTITION_COLUMNS true, OVERWRITE_OR_IGNORE true, "
                        f"FILENAME_PATTERN 'part-y{k}-{{i}}'" if by else "")
                out = target if by else target / f"part-y{k}.parquet"
                out.parent.mkdir(parents=True, exist_ok=True)
                con.execute(f"COPY (SELECT * FROM ({select}) WHERE {rows}) TO '{out}' (FORMAT parquet{opts})")
    return _lake_lines(dst)


def resell_across_copies(src: Path, dst: Path) -> int:
    """``src`` copied to ``dst`` (files hard-linked) with one box of each chain copy resold
    in the next copy (the last one's in the first): its settled code settled again a
    minute later, in another settlement, in the next copy's second store. Copies of the
    base chain share no code, so ``src`` falls into groups of one chain copy each; a box
    resold from chain to chain ties every store of ``dst`` into one group, as a city's
    resold boxes would, and adds one ``code_resold`` finding per copy. Returns the boxes
    resold."""
    import duckdb
    from invreconcile.engines.duckdb import lake_glob
    shutil.rmtree(dst, ignore_errors=True)
    subprocess.run(["cp", "-al", str(src), str(dst)], check=True)
    stores = sorted(p.name[len("store="):] for p in (dst / "settlements").iterdir() if p.name != "store=_")
    base = sorted(s for s in stores if len(s) == min(map(len, stores)))   # the base chain's own stores
    copies = sorted(s[len(base[0]):] for s in stores if s.startswith(base[0]))
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    top = con.execute(f"SELECT MAX(id) FROM read_parquet('{lake_glob(dst, 'code_events')}')").fetchone()[0]
    firsts = [str(dst / "code_events" / f"store={base[0]}{k}" / "**" / "*.parquet") for k in copies]
    # each copy's first settled trace code in its first store, settled in a minute that is
    # not an hour's last (a minute later: the same day and hour)
    con.execute(f"CREATE TABLE pick AS SELECT * EXCLUDE (n) FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY store ORDER BY id) AS n "
                f"FROM read_parquet({firsts!r}, hive_partitioning = false) WHERE event = 'settled' "
                "AND code_kind = 'cn20' AND setl_id IS NOT NULL AND tod_min % 60 < 59) WHERE n = 1")
    for i, k in enumerate(copies):
        target = base[1] + copies[(i + 1) % len(copies)]
        select = (f"SELECT * REPLACE ('{target}' AS store, {top + 1 + i} AS id, 'RESOLD-{i}' AS setl_id, epoch + 60 AS epoch, "
                  "strftime(CAST(ts AS TIMESTAMP) + INTERVAL 60 SECOND, '%Y-%m-%d %H:%M:%S') AS ts, tod_min + 1 AS tod_min) "
                  f"FROM pick WHERE store = '{base[0]}{k}'")
        (month,) = con.execute(f"SELECT SUBSTR(ts, 1, 7) FROM ({select})").fetchone()
        folder = dst / "code_events" / f"store={target}" / f"month={month}"
        folder.mkdir(parents=True, exist_ok=True)
        con.execute(f"COPY ({select}) TO '{folder / 'resold.parquet'}' (FORMAT parquet)")
    return len(copies)


def main() -> None:
    from invreconcile.engines.duckdb import allocator_env
    ap = argparse.ArgumentParser()
    ap.add_argument("--lines", type=int, action="append", help="settlement lines (repeatable)")
    ap.add_argument("--base-customers", type=int, default=2400)
    ap.add_argument("--work", default="/tmp/invreconcile-bureau")
    ap.add_argument("--sqlite-up-to", type=int, default=2_000_000,
                    help="sizes up to this are built as a SQLite ledger (and audited on SQLite); larger "
                         "ones are lakes copied from the largest of those (replicate_lake)")
    ap.add_argument("--step-timeout", type=float, default=1800, help="seconds before a measured step is stopped")
    ap.add_argument("--reuse", action="store_true", help="keep data already in --work from an earlier run")
    ap.add_argument("--spark-up-to", type=int, default=2_000_000,
                    help="sizes up to this are also audited on Spark (local mode, all cores; 1M lines took 8 "
                         "minutes on 2 cores, so 10M is left out unless asked for)")
    ap.add_argument("--spark-memory", default=SPARK_MEMORY, help="Spark's driver memory in local mode (spark.driver.memory)")
    ap.add_argument("--duckdb-memory", help="DuckDB's memory limit for the audits (e.g. 3GB; default: DuckDB's "
                                            "own, 80%% of RAM), as invreconcile audit --memory-limit")
    ap.add_argument("--resold-across-copies", action="store_true",
                    help="also audit each lake on DuckDB with one box of each chain copy resold in the next "
                         "(resell_across_copies: every store one group, cut into batches)")
    a = ap.parse_args()
    if a.duckdb_memory:
        os.environ["BENCH_DUCKDB_MEMORY"] = a.duckdb_memory  # read by the measured steps
    os.environ["BENCH_SPARK_MEMORY"] = a.spark_memory
    spark = _spark_version()
    from invreconcile.sample import generate
    work = Path(a.work)
    if not a.reuse:
        shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True, exist_ok=True)
    if not (work / "base.db").exists():
        shutil.rmtree(work / "base", ignore_errors=True)
        t0 = time.perf_counter()
        generate(work / "base", customers=a.base_customers)
        print(f"generated base in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    for old in (work / "base_import.db", work / "base_import.db-wal", work / "base_import.db-shm"):
        old.unlink(missing_ok=True)
    shutil.rmtree(work / "base_lake", ignore_errors=True)
    imp_sql = child("import_sqlite", work / "base", work / "base_import.db")
    imp_lake = child("import_lake", work / "base", work / "base_lake")
    if not (work / "base.db").exists():
        shutil.move(work / "base_import.db", work / "base.db")
    print("import sqlite", imp_sql, "\nimport lake", imp_lake, file=sys.stderr)
    import sqlite3
    base_lines = sqlite3.connect(str(work / "base.db")).execute("SELECT COUNT(*) FROM settlement_lines").fetchone()[0]
    rows = []
    two = ["code_resold", "negative_stock"]
    largest = None   # (lines, lake) of the largest lake built from a SQLite ledger
    for target in sorted(a.lines or [1_000_000]):
        lake = work / f"lake{target}"
        db = work / f"big{target}.db" if target <= a.sqlite_up_to else None
        t = time.perf_counter()
        if db is not None:
            copies = max(1, round(target / base_lines))
            if not (a.reuse and db.exists() and lake.exists()):
                shutil.copy(work / "base.db", db)
                replicate(db, copies)
                child("export", db, lake)
            lines = sqlite3.connect(str(db)).execute("SELECT COUNT(*) FROM settlement_lines").fetchone()[0]
            largest = (lines, lake)
        else:
            if largest is None:
                raise SystemExit("a lake above --sqlite-up-to is copied from a smaller one: give a smaller --lines too")
            copies = max(1, round(target / largest[0]))
            if not (a.reuse and lake.exists()):
                replicate_lake(largest[1], lake, copies)
            lines = _lake_lines(lake)
        print(f"{lines} lines ready in {time.perf_counter() - t:.0f} s", file=sys.stderr)
        res = {"lines": lines}
        limit = a.step_timeout
        res["duckdb"] = child("audit_duckdb", lake, timeout=limit)
        if a.resold_across_copies:
            resell_across_copies(lake, work / f"{lake.name}_resold")
            res["duckdb_resold"] = child("audit_duckdb", work / f"{lake.name}_resold", timeout=limit)
            shutil.rmtree(work / f"{lake.name}_resold")
        res["duckdb_two"] = child("audit_duckdb", lake, *two, timeout=limit)
        res["duckdb_sql_two"] = child("duckdb_sql", lake, timeout=limit)
        res["pandas_two"] = child("pandas", lake, timeout=limit)
        if db is not None:
            res["sqlite"] = child("audit_sqlite", db, timeout=limit)
        if lines <= a.spark_up_to and spark:
            res["spark"] = child("audit_spark", lake, timeout=limit)
        print(json.dumps(res), file=sys.stderr)
        rows.append(res)
    jemalloc = (allocator_env() or os.environ).get("LD_PRELOAD", "")   # as the audits' children run
    print(f"\nmachine: {os.cpu_count()} cores, {_mem_gb():.0f} GB RAM, {platform.machine()}, Python {platform.python_version()}, "
          f"{platform.platform()}; DuckDB memory limit {a.duckdb_memory or 'DuckDB default (80% of RAM)'}; "
          f"invreconcile on DuckDB under {'jemalloc' if 'jemalloc' in jemalloc else 'the system allocator'}"
          + (f"; Spark {spark} in local mode, driver memory {a.spark_memory} (peak RSS: Python and JVM)"
             if any("spark" in r for r in rows) else "; Spark not run" if spark else "; Spark not installed"))
    print(f"import (base: {imp_sql['records']:,} records, {base_lines:,} settlement lines): "
          f"SQLite {imp_sql['records'] / imp_sql['seconds']:,.0f} records/s (peak {imp_sql['peak_rss_mb']:.0f} MB), "
          f"lake {imp_lake['records'] / imp_lake['seconds']:,.0f} records/s (peak {imp_lake['peak_rss_mb']:.0f} MB)")
    print("\n| settlement lines | engine | full audit s | findings | peak RSS MB |")
    print("|---:|---|---:|---:|---:|")
    for r in rows:
        for eng, label in (("sqlite", "sqlite"), ("duckdb", "duckdb"), ("duckdb_resold", "duckdb, boxes resold across copies"),
                           ("spark", "spark")):
            if eng in r:
                x = r[eng]
                print(f"| {r['lines']:,} | {label} | {_cell(x, 'seconds', '.1f')} | {_cell(x, 'findings', ',')} "
                      f"| {_cell(x, 'peak_rss_mb', '.0f')} |")
    scratch = [f"{r['lines']:,} lines {_cell(r['spark'], 'scratch_peak_mb', ',.0f')} MB" for r in rows if "spark" in r]
    if scratch:
        print("Spark's scratch disk (shuffle files) at its largest: " + "; ".join(scratch))
    print("\nTwo rules (resold codes, negative running stock), seconds / peak RSS MB:")
    print("| settlement lines | invreconcile rules on DuckDB | analyst's version in pandas | same in DuckDB SQL | pandas / DuckDB SQL |")
    print("|---:|---:|---:|---:|---:|")
    for r in rows:
        d, p, q = r["duckdb_two"], r["pandas_two"], r["duckdb_sql_two"]
        ratio = f"{p['total_s'] / q['total_s']:.1f}x" if "failed" not in p and "failed" not in q else ""
        print(f"| {r['lines']:,} | {_cell(d, 'seconds', '.1f')} / {_cell(d, 'peak_rss_mb', '.0f')} "
              f"| {_cell(p, 'total_s', '.1f')} / {_cell(p, 'peak_rss_mb', '.0f')} "
              f"| {_cell(q, 'total_s', '.1f')} / {_cell(q, 'peak_rss_mb', '.0f')} | {ratio} |")


def _lake_lines(lake: Path) -> int:
    import duckdb
    from invreconcile.engines.duckdb import lake_glob
    return duckdb.connect().execute(f"SELECT COUNT(*) FROM read_parquet('{lake_glob(lake, 'settlement_lines')}', "
                                    "hive_partitioning = false)").fetchone()[0]


def _spark_version() -> str:
    """PySpark's version, '' when it is not installed (pip install '.[spark]')."""
    try:
        import pyspark
    except ImportError:
        return ""
    return pyspark.__version__


def _mem_gb() -> float:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--step":
        print(json.dumps(step(sys.argv[2], sys.argv[3:]), default=str))
    elif len(sys.argv) == 4 and sys.argv[1] == "--resell-across-copies":   # LAKE OUT
        print(resell_across_copies(Path(sys.argv[2]), Path(sys.argv[3])), "boxes resold")
    else:
        main()
