"""What a data analyst would write in pandas for two rules, over the Parquet lake:
resold codes (one trace code dispensed in two transactions) and negative running stock;
and the same two computations as DuckDB SQL, to compare the engines on equal work.

    python benchmarks/pandas_two_rules.py LAKE [--duckdb]

Prints the number of resold codes and of (store, item) with negative stock, and the time.
It is the yardstick for the engines (benchmarks/bureau.py), not a rule implementation:
no split packs, returns, reversals, money or tolerances (the rules code_resold and
negative_stock do all of that, and their evidence).
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import pandas as pd


def read(lake: Path, table: str, columns: list[str]) -> pd.DataFrame:
    # the directory names repeat columns the files hold: do not read them as partitions
    return pd.read_parquet(lake / table, columns=columns, partitioning=None)


def resold_codes(lake: Path) -> pd.DataFrame:
    ev = read(lake, "code_events", ["code", "code_kind", "event", "store", "setl_id", "doc_no", "epoch"])
    ev = ev[ev.event.isin(["sold", "settled"]) & ev.code_kind.isin(["cn20", "gs1", "ma"])]
    ev = ev.assign(tx=ev.setl_id.fillna(ev.doc_no))
    tx = ev.groupby(["code", "store", "tx"], as_index=False)["epoch"].min()
    tx = tx.sort_values(["code", "epoch"])
    tx["prev_tx"] = tx.groupby("code")["tx"].shift()
    tx["prev_epoch"] = tx.groupby("code")["epoch"].shift()
    again = tx[tx.prev_tx.notna() & (tx.tx != tx.prev_tx)]
    return again.groupby("code", as_index=False).agg(n=("tx", "size"), first=("prev_epoch", "min"))


def negative_stock(lake: Path) -> pd.DataFrame:
    cols = ["store", "item_id", "epoch", "qty", "deleted"]
    p = read(lake, "purchases", cols + ["is_return"])
    s = read(lake, "sales", cols + ["is_return"])
    c = read(lake, "stock_changes", cols + ["chg_type"])
    p["delta"] = p.qty.where(p.is_return == 0, -p.qty)
    s["delta"] = (-s.qty).where(s.is_return == 0, s.qty)
    c = c[~c.chg_type.isin([108, 109])]
    c["delta"] = c.qty.where(c.chg_type.isin([101, 103, 106, 110]), -c.qty)
    m = pd.concat([x[x.deleted == 0][["store", "item_id", "epoch", "delta"]] for x in (p, s, c)])
    # ties at one second: purchases before sales before changes, then row id (as DuckDB below)
    m = m.dropna(subset=["epoch", "delta"]).sort_values(["store", "item_id", "epoch"], kind="stable")
    m["stock"] = m.groupby(["store", "item_id"])["delta"].cumsum()
    neg = m[m.stock < 0]
    return neg.groupby(["store", "item_id"], as_index=False)["stock"].min()


RESOLD_SQL = """
WITH ev AS (
    SELECT code, store, COALESCE(setl_id, doc_no) AS tx, epoch FROM read_parquet('{lake}/code_events/**/*.parquet', hive_partitioning = false)
    WHERE event IN ('sold', 'settled') AND code_kind IN ('cn20', 'gs1', 'ma') AND COALESCE(setl_id, doc_no) IS NOT NULL
), tx AS (
    SELECT code, store, tx, MIN(epoch) AS epoch FROM ev GROUP BY code, store, tx
), seq AS (
    SELECT *, LAG(tx) OVER w AS prev_tx, LAG(epoch) OVER w AS prev_epoch FROM tx
    WINDOW w AS (PARTITION BY code ORDER BY epoch)
)
SELECT code, COUNT(*) AS n, MIN(prev_epoch) AS first FROM seq WHERE prev_tx IS NOT NULL AND tx <> prev_tx GROUP BY code
"""

NEGATIVE_SQL = """
WITH m AS (
    SELECT store, item_id, epoch, id, 0 AS src, CASE WHEN is_return = 0 THEN qty ELSE -qty END AS delta
    FROM read_parquet('{lake}/purchases/**/*.parquet', hive_partitioning = false) WHERE deleted = 0
    UNION ALL
    SELECT store, item_id, epoch, id, 1, CASE WHEN is_return = 0 THEN -qty ELSE qty END
    FROM read_parquet('{lake}/sales/**/*.parquet', hive_partitioning = false) WHERE deleted = 0
    UNION ALL
    SELECT store, item_id, epoch, id, 2, CASE WHEN chg_type IN (101, 103, 106, 110) THEN qty ELSE -qty END
    FROM read_parquet('{lake}/stock_changes/**/*.parquet', hive_partitioning = false)
    WHERE deleted = 0 AND chg_type NOT IN (108, 109)
), run AS (
    SELECT store, item_id, SUM(delta) OVER (PARTITION BY store, item_id ORDER BY epoch, src, id
                                            ROWS UNBOUNDED PRECEDING) AS stock
    FROM m WHERE epoch IS NOT NULL AND delta IS NOT NULL
)
SELECT store, item_id, MIN(stock) AS stock FROM run WHERE stock < 0 GROUP BY store, item_id
"""


def duckdb_main(lake: str) -> dict:
    """The same two computations in DuckDB SQL over the same files (all cores)."""
    import duckdb
    con = duckdb.connect()
    t0 = time.perf_counter()
    a = con.execute(RESOLD_SQL.format(lake=lake)).fetchall()
    t1 = time.perf_counter()
    b = con.execute(NEGATIVE_SQL.format(lake=lake)).fetchall()
    t2 = time.perf_counter()
    return {"resold_codes": len(a), "negative_items": len(b), "resold_s": t1 - t0, "negative_s": t2 - t1,
            "total_s": t2 - t0}


def main(lake: str) -> dict:
    lake = Path(lake)
    t0 = time.perf_counter()
    a = resold_codes(lake)
    t1 = time.perf_counter()
    b = negative_stock(lake)
    t2 = time.perf_counter()
    return {"resold_codes": len(a), "negative_items": len(b), "resold_s": t1 - t0, "negative_s": t2 - t1,
            "total_s": t2 - t0}


if __name__ == "__main__":
    print(duckdb_main(sys.argv[1]) if "--duckdb" in sys.argv else main(sys.argv[1]))
