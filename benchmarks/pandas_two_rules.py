"""What a data analyst would write in pandas for two rules, over the Parquet lake:
resold codes (one trace code dispensed in two transactions) and negative running stock.

    python benchmarks/pandas_two_rules.py LAKE

Prints the number of resold codes and of (store, item) with negative stock, and the time.
It is the yardstick for the engines (benchmarks/bureau.py), not a rule implementation:
no split packs, returns, reversals or tolerances.
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
    m = m.dropna(subset=["epoch", "delta"]).sort_values(["store", "item_id", "epoch"], kind="stable")
    m["stock"] = m.groupby(["store", "item_id"])["delta"].cumsum()
    neg = m[m.stock < 0]
    return neg.groupby(["store", "item_id"], as_index=False)["stock"].min()


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
    print(main(sys.argv[1]))
