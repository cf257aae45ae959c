"""How long a scanner station waits for one verdict, on a ledger of N code events.

    python benchmarks/verdict_latency.py                      # 10 million events
    python benchmarks/verdict_latency.py --events 1000000 --queries 2000

Builds (or reuses) a synthetic ledger in a temp folder: about 3 events per box (received;
75 % sold, each sale as a 3505 sale event and a 2102 settlement event; 10 % of those returned; 2 % of settlements reversed by a
2103; 5 % of boxes received through their case code; 3 % transferred to another store),
with the schema and indexes of invreconcile.ledger, inserted directly with executemany in
large transactions. Then times ``invreconcile.verify.verdict`` for random codes (90 %
known boxes, 5 % boxes of cases, 5 % codes the ledger has never seen) and, separately,
``record_scan`` (the committed write a station does before it shows the verdict).
Prints p50 / p95 / p99 / max in milliseconds and the build time.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

from invreconcile.ledger import open_ledger
from invreconcile.verify import record_scan, verdict

N_PRODUCTS = 400
N_STORES = 50
T0 = 1_704_038_400  # 2024-01-01 00:00 China time


def _ts(epoch: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(epoch + 8 * 3600))


def build(path: Path, n_events: int, seed: int = 7) -> dict:
    rng = random.Random(seed)
    db = open_ledger(path)
    conn = db.conn
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("PRAGMA cache_size=-400000")
    prefixes = [f"8{1000000 + i * 17:06d}"[:7] for i in range(N_PRODUCTS)]
    conn.execute("BEGIN")
    conn.executemany(
        "INSERT INTO items(store, item_id, item_name, trace_prefix, convrat, covered, src_file, src_sha256, src_row, rec_hash) "
        "VALUES ('', ?, ?, ?, 24, 1, 'bench', 'bench', ?, ?)",
        [(f"I{i:04d}", f"药品{i}", p, i + 2, hashlib.sha256(p.encode()).hexdigest()) for i, p in enumerate(prefixes)])
    conn.executemany("INSERT INTO item_products(product_key, store, item_id) VALUES (?, '', ?)",
                     [(p, f"I{i:04d}") for i, p in enumerate(prefixes)])
    conn.execute("COMMIT")

    sql = ("INSERT INTO code_events(code, code_kind, product_key, event, store, item_id, qty, trdn_flag, setl_id, "
           "psn_no, doc_no, peer_store, expy_end, src_table, src_id, ts, day, epoch) "
           "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)")
    events: list[tuple] = []
    ancestors: list[tuple] = []
    reversals: list[tuple] = []
    n = 0
    n_codes = 0
    setl_no = 0
    per_product = int(n_events / 2.5 / N_PRODUCTS) + 1
    sample_codes: list[tuple[str, str]] = []
    sample_case_boxes: list[tuple[str, str]] = []
    t_start = time.perf_counter()
    conn.execute("BEGIN")

    def flush():
        conn.executemany(sql, events)
        events.clear()
        if ancestors:
            conn.executemany("INSERT OR IGNORE INTO code_ancestors(code, ancestor, depth) VALUES (?,?,?)", ancestors)
            ancestors.clear()
        if reversals:
            conn.executemany(
                "INSERT INTO settlements(store, setl_id, is_reversal, orig_setl_id, ts, epoch, src_file, src_sha256, "
                "src_row, rec_hash) VALUES (?,?,1,?,?,?,'bench','bench',0,?)", reversals)
            reversals.clear()
        conn.execute("COMMIT")
        conn.execute("BEGIN")

    for pi, prefix in enumerate(prefixes):
        item = f"I{pi:04d}"
        case = None
        for serial in range(per_product):
            if n >= n_events:
                break
            code = f"{prefix}{serial:013d}"
            n_codes += 1
            store = f"P{rng.randrange(N_STORES):04d}"
            t = T0 + rng.randrange(0, 300 * 86400)
            expy = "2027-06-30"
            day = _ts(t)[:10]
            if rng.random() < 0.05:       # received through its case code
                if case is None or case[1] >= 20:
                    case = [f"83{pi:05d}{serial:013d}", 0]
                    events.append((case[0], "cn20", case[0][:7], "received", store, None, None, None, None, None,
                                   f"PO{serial % 9973}", None, expy, "purchases", n, _ts(t), day, t))
                    ancestors.append((case[0], case[0], 0))
                    n += 1
                case[1] += 1
                ancestors.extend([(code, code, 0), (code, case[0], 1)])
                if len(sample_case_boxes) < 50_000:
                    sample_case_boxes.append((code, store))
            else:
                events.append((code, "cn20", prefix, "received", store, item, 24, None, None, None,
                               f"PO{serial % 9973}", None, expy, "purchases", n, _ts(t), day, t))
                n += 1
            r = rng.random()
            if r < 0.03:
                peer = f"P{rng.randrange(N_STORES):04d}"
                t2 = t + rng.randrange(3600, 30 * 86400)
                events.append((code, "cn20", prefix, "transfer_out", store, item, 24, None, None, None, None, peer,
                               expy, "stock_changes", n, _ts(t2), _ts(t2)[:10], t2))
                events.append((code, "cn20", prefix, "transfer_in", peer, item, 24, None, None, None, None, store,
                               expy, "stock_changes", n + 1, _ts(t2), _ts(t2)[:10], t2))
                n += 2
            elif r < 0.78:
                setl_no += 1
                setl = f"S{setl_no:010d}"
                t2 = t + rng.randrange(3600, 60 * 86400)
                split = 1 if rng.random() < 0.05 else 0
                events.append((code, "cn20", prefix, "sold", store, item, 24, split, setl, f"PSN{rng.randrange(10**6)}",
                               f"R{setl_no}", None, expy, "sales", n, _ts(t2), _ts(t2)[:10], t2))
                events.append((code, "cn20", prefix, "settled", store, item, 24, split, setl, None, None, None,
                               expy, "settlement_lines", n + 1, _ts(t2), _ts(t2)[:10], t2))
                n += 2
                if rng.random() < 0.10:
                    t3 = t2 + rng.randrange(600, 7 * 86400)
                    events.append((code, "cn20", prefix, "returned", store, item, 24, None, setl, None, None, None,
                                   expy, "sales", n, _ts(t3), _ts(t3)[:10], t3))
                    n += 1
                elif rng.random() < 0.02:
                    reversals.append((store, "R" + setl, setl, _ts(t2 + 300), t2 + 300,
                                      hashlib.sha256(setl.encode()).hexdigest()))
            if len(sample_codes) < 200_000 or rng.random() < 0.01:
                sample_codes.append((code, store))
            if len(events) >= 200_000:
                flush()
                done = n / n_events
                el = time.perf_counter() - t_start
                print(f"\r  {n:,} events  {el:6.0f} s  (eta {el / done - el:5.0f} s)", end="", file=sys.stderr)
    flush()
    conn.execute("COMMIT")
    print(file=sys.stderr)
    conn.execute("ANALYZE")
    build_s = time.perf_counter() - t_start
    conn.execute("CREATE TABLE IF NOT EXISTS bench_meta(k TEXT PRIMARY KEY, v TEXT)")
    conn.execute("INSERT OR REPLACE INTO bench_meta VALUES ('build_s', ?), ('events', ?), ('codes', ?)",
                 (f"{build_s:.1f}", str(n), str(n_codes)))
    conn.close()
    return {"build_s": build_s, "events": n, "codes": n_codes}


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=10_000_000)
    ap.add_argument("--queries", type=int, default=2000)
    ap.add_argument("--writes", type=int, default=300, help="record_scan calls to time")
    ap.add_argument("--db", type=Path, help="ledger to build or reuse (default: in the temp folder)")
    ap.add_argument("--rebuild", action="store_true")
    ap.add_argument("--stations", type=int, default=3,
                    help="then run this many station processes at once, --writes scans each (0: skip)")
    args = ap.parse_args(argv)
    path = args.db or Path(tempfile.gettempdir()) / "invreconcile-bench" / f"ledger-{args.events}.db"
    path.parent.mkdir(parents=True, exist_ok=True)
    if args.rebuild and path.exists():
        for suffix in ("", "-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)
    if path.exists():
        db = open_ledger(path)
        meta = dict(db.conn.execute("SELECT k, v FROM bench_meta").fetchall())
        print(f"reusing {path}: {int(meta['events']):,} events, {int(meta['codes']):,} codes "
              f"(built in {meta['build_s']} s)")
    else:
        print(f"building {path} with {args.events:,} code events ...")
        info = build(path, args.events)
        print(f"built: {info['events']:,} events, {info['codes']:,} codes in {info['build_s']:.1f} s "
              f"({info['events'] / info['build_s']:,.0f} events/s)")
        db = open_ledger(path)
    conn = db.conn
    (n_events,) = conn.execute("SELECT MAX(id) FROM code_events").fetchone()
    print(f"ledger file: {os.path.getsize(path) / 2**30:.2f} GiB")

    rng = random.Random(11)
    # sample codes straight from the table by id, so no Python-side list is needed on reuse
    queries = []
    for _ in range(args.queries):
        r = rng.random()
        if r < 0.05:
            queries.append((f"8{rng.randrange(10**19):019d}", "P0001"))
            continue
        while True:
            row = conn.execute("SELECT code, store FROM code_events WHERE id = ?",
                               (rng.randrange(1, n_events + 1),)).fetchone()
            if row and (r >= 0.10 or not row[0].startswith("83")):
                break
        if r < 0.10:  # a box of a case
            box = conn.execute("SELECT code FROM code_ancestors WHERE ancestor = ? AND depth = 1 LIMIT 1",
                               (row[0],)).fetchone()
            if box:
                row = (box[0], row[1])
        queries.append(row)
    statuses: dict[str, int] = {}
    times = []
    for code, store in queries:
        t = time.perf_counter()
        v = verdict(db, code, store=store, mode="dispense", session="bench")
        times.append((time.perf_counter() - t) * 1000)
        statuses[v.status] = statuses.get(v.status, 0) + 1
    print(f"verdict latency over {len(times)} scans on {n_events:,} code events: "
          f"p50 {pct(times, 50):.2f} ms  p95 {pct(times, 95):.2f} ms  p99 {pct(times, 99):.2f} ms  "
          f"max {max(times):.2f} ms  mean {statistics.mean(times):.2f} ms")
    print("  statuses:", ", ".join(f"{k} {v}" for k, v in sorted(statuses.items())))

    conn.execute("PRAGMA synchronous=FULL")  # as the station runs
    wtimes = []
    session = f"bench-{time.time_ns()}"
    for code, store in queries[: args.writes]:
        t = time.perf_counter()
        v = verdict(db, code, store=store, mode="stocktake", session=session)
        record_scan(db, v, store=store, station_id="bench", mode="stocktake", session_id=session, doc_no=None)
        wtimes.append((time.perf_counter() - t) * 1000)
    if wtimes:
        print(f"verdict + record_scan (committed, synchronous=FULL) over {len(wtimes)} scans: "
              f"p50 {pct(wtimes, 50):.2f} ms  p95 {pct(wtimes, 95):.2f} ms  p99 {pct(wtimes, 99):.2f} ms  "
              f"max {max(wtimes):.2f} ms")
    if args.stations:
        db.conn.close()
        concurrent_stations(path, args.stations, args.writes)
    return 0


def concurrent_stations(path: Path, n: int, scans: int) -> None:
    """Start ``n`` station processes on the ledger at once, each receiving ``scans`` new
    codes through a pipe; report the wall time per scan of each, startup excluded."""
    import subprocess

    procs = []
    for k in range(n):
        codes = [f"8{9000000 + k:07d}{time.time_ns() % 10**6:06d}{i:06d}"[:20] for i in range(scans)]
        cmd = [sys.executable, "-m", "scanners.station", "--db", str(path), "--store", "P0001",
               "--station", f"bench{k}", "--mode", "receive", "--lang", "en"]
        p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
        procs.append((p, codes))
    for p, _ in procs:  # wait until every station has started (header printed)
        p.stdout.readline()
        p.stdout.readline()
    t0 = time.perf_counter()
    for p, codes in procs:
        p.stdin.write("\n".join(codes) + "\n:q\n")
        p.stdin.flush()
    ends = []
    for p, _ in procs:
        acks = sum(1 for line in p.stdout if line.startswith("  #"))
        ends.append((time.perf_counter() - t0, acks))
        p.wait()
    wall = max(e for e, _ in ends)
    total = sum(a for _, a in ends)
    print(f"{n} stations at once, {scans} scans each: {total} acknowledged of {n * scans}, "
          f"all done in {wall:.2f} s = {wall / scans * 1000:.2f} ms per scan per station "
          f"(verdict + committed write + screen)")


if __name__ == "__main__":
    sys.exit(main())
