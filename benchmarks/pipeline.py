"""Time the embedded pipeline: generate -> import -> audit, at a few sizes.

    python benchmarks/pipeline.py                 # default sample and 4x customers
    python benchmarks/pipeline.py --scale 1 --scale 10

Prints one markdown row per size: rows written, import rows/s, audit seconds, peak RSS.
Figures are for comparison within one run on one machine, not targets.
"""
from __future__ import annotations

import argparse
import platform
import resource
import tempfile
import time
from pathlib import Path

from invreconcile.audit import run_audit
from invreconcile.importer import import_paths
from invreconcile.ledger import open_ledger
from invreconcile.rules import load_config
from invreconcile.sample import generate


def run(scale: int, tmp: Path) -> dict:
    out = tmp / f"s{scale}"
    t0 = time.perf_counter()
    summary = generate(out, customers=600 * scale)
    t1 = time.perf_counter()
    db = open_ledger(tmp / f"s{scale}.db")
    results = import_paths(db, [out])
    t2 = time.perf_counter()
    result = run_audit(db, config=load_config(out / "invreconcile.toml"))
    t3 = time.perf_counter()
    rows = sum(r.rows_read for r in results)
    lines = db.conn.execute("SELECT COUNT(*) FROM settlement_lines").fetchone()[0]
    return {"scale": scale, "rows": rows, "settlement_lines": lines, "generate_s": t1 - t0,
            "import_s": t2 - t1, "import_rows_per_s": rows / (t2 - t1), "audit_s": t3 - t2,
            "findings": len(result.findings),
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=int, action="append", help="customers multiplier (repeatable)")
    args = ap.parse_args()
    scales = args.scale or [1, 4]
    print(f"machine: {platform.machine()}, Python {platform.python_version()}, {platform.system()}")
    print("| scale | records read | settlement lines | import s | import rows/s | audit s | findings | peak RSS MB |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as d:
        for s in scales:
            r = run(s, Path(d))
            print(f"| {s} | {r['rows']:,} | {r['settlement_lines']:,} | {r['import_s']:.1f} | "
                  f"{r['import_rows_per_s']:,.0f} | {r['audit_s']:.1f} | {r['findings']:,} | {r['peak_rss_mb']:.0f} |",
                  flush=True)


if __name__ == "__main__":
    main()
