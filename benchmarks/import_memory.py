"""Import one set of source files and print time and memory as it goes: the process's
resident memory (now and peak) when each file starts, when the lake import's final merge
starts and when it ends, then records per second.

    python benchmarks/import_memory.py lake|sqlite SRC OUT [--customers N]

``lake`` imports straight to a Parquet lake in OUT (``import --lake``), ``sqlite`` into the
ledger OUT/ledger.db. With ``--customers``, SRC is first written by the sample generator
when it does not exist (92,000 customers: some 960,000 settlement lines, 3.9 million
records, 1.6 GB of files; 920,000: about ten times that, 16 GB, 14-18 minutes). The
generator's memory stays with the process (1.8 GB at 920,000 customers), so measure the
import in a second run, once SRC exists. OUT is replaced. Run one measurement at a time:
the machine's other core is not idle otherwise.
"""
from __future__ import annotations

import argparse
import resource
import shutil
import time
from pathlib import Path


def rss() -> str:
    now = int(Path("/proc/self/statm").read_text().split()[1]) * 4096 // 2**20
    return f"rss {now:,} MB, peak {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024:,} MB"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("target", choices=("lake", "sqlite"))
    ap.add_argument("src", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--customers", type=int, help="generate SRC with this many customers if it does not exist")
    a = ap.parse_args()
    if a.customers and not a.src.exists():
        from invreconcile.sample import generate
        t = time.perf_counter()
        generate(a.src, customers=a.customers)
        print(f"generated {a.src} in {time.perf_counter() - t:.1f} s", flush=True)
    shutil.rmtree(a.out, ignore_errors=True)
    t0 = time.perf_counter()
    last = [None]

    def progress(path, rows):
        if path != last[0]:
            last[0] = path
            print(f"{time.perf_counter() - t0:8.1f} s  start {Path(path).name}  {rss()}", flush=True)

    if a.target == "lake":
        from invreconcile import lake
        finish = lake._LakeImport.finish

        def timed_finish(self):
            print(f"{time.perf_counter() - t0:8.1f} s  final merge  {rss()}", flush=True)
            out = finish(self)
            print(f"{time.perf_counter() - t0:8.1f} s  merged  {rss()}", flush=True)
            return out

        lake._LakeImport.finish = timed_finish
        results = lake.import_to_lake([a.src], a.out, progress=progress)
    else:
        from invreconcile.importer import import_paths
        from invreconcile.ledger import open_ledger
        a.out.mkdir(parents=True)
        results = import_paths(open_ledger(a.out / "ledger.db"), [a.src], progress=progress)
    wall = time.perf_counter() - t0
    n = sum(r.rows_read for r in results)
    dup = sum(r.rows_duplicate for r in results)
    print(f"{wall:8.1f} s  done: {n:,} records ({dup:,} uploaded again), {n / wall:,.0f} records/s  {rss()}")


if __name__ == "__main__":
    main()
