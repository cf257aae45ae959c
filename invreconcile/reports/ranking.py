"""Bureau view: rank stores by risk with the reasons for each score, and pick stores to
inspect at random (双随机), reproducibly from a published seed.

The score (0-100) is a weighted sum of four parts, each scaled to 0..1 against the stores
ranked together, so that every point can be traced to a number in the report:

======================  ======  ===============================================================
part                    weight  value (0..1)
======================  ======  ===============================================================
money at risk           40      store's money at risk / the largest money at risk of all stores
severity                25      store's severity points (high 3, medium 2, low 1 per finding) /
                                the largest of all stores
findings rate           20      findings per 1,000 settlements / the largest of all stores
peer comparison         15      robust z of the money-at-risk rate (money at risk / insurance
                                paid), clipped to 0..3, divided by 3
======================  ======  ===============================================================

Money at risk of a store counts each settlement once: the insurance money (fund + personal
account) of the distinct settlements named by its findings, plus the amount of findings
that name no settlement (stock differences valued at sale price). Data-quality findings
(``dq_``) are not accusations and count for nothing.

The robust z is ``(rate - median) / (1.4826 * MAD)`` over all stores ranked; when the MAD
is 0 the mean absolute deviation from the median (times 1.2533) is used, and when that is
0 too, z is 0.
"""
from __future__ import annotations

import random
import statistics
import sys

from ..findings import SEVERITY_RANK
from ..ledger import placeholders, scope_sql

WEIGHTS = {"money": 40.0, "severity": 25.0, "rate": 20.0, "peer": 15.0}
Z_CAP = 3.0


def _get(f, key):
    return f[key] if isinstance(f, dict) else getattr(f, key)


def _amount_fen(f) -> int:
    if isinstance(f, dict):
        if "amount_fen" in f:
            return int(f["amount_fen"])
        return int(round(float(f.get("amount_at_risk") or 0) * 100))
    return int(f.amount_fen)


def settlement_stats(db, stores=None, since=None, until=None) -> dict[str, dict]:
    """store -> {settlements, insurance_fen} of the settlements (not reversals) in the period."""
    sql = ("SELECT store, COUNT(*), COALESCE(SUM(insurance_fen), 0) FROM settlements "
           "WHERE deleted = 0 AND is_reversal = 0")
    scope, args = scope_sql(stores, since, until)
    sql += scope
    return {s: {"settlements": n, "insurance_fen": int(m)}
            for s, n, m in db.conn.execute(sql + " GROUP BY store ORDER BY store", args)}


def money_at_risk(db, findings, insurance: dict | None = None) -> dict[str, int]:
    """store -> money at risk in fen, each settlement counted once (see module doc).
    ``insurance``: (store, setl_id) -> fen of the settlements looked up before, filled
    here, so that the calls for parts of the same findings (the report's categories) do
    not ask again."""
    setl_by_store: dict[str, set] = {}
    other: dict[str, int] = {}
    for f in findings:
        if _get(f, "rule").startswith("dq_"):
            continue
        store = _get(f, "store") or ""
        setl_ids = _get(f, "setl_ids") or []
        if setl_ids:
            setl_by_store.setdefault(store, set()).update(setl_ids)
        else:
            other[store] = other.get(store, 0) + _amount_fen(f)
    out = dict(other)
    known = insurance if insurance is not None else {}
    for store, ids in setl_by_store.items():
        ask = sorted(i for i in ids if (store, i) not in known)
        for i in range(0, len(ask), 500):
            chunk = ask[i:i + 500]
            known.update({(store, c): 0 for c in chunk})
            known.update({(store, c): int(m) for c, m in db.conn.execute(
                "SELECT setl_id, COALESCE(SUM(insurance_fen), 0) FROM settlements WHERE deleted = 0 AND is_reversal = 0 "
                f"AND store = ? AND setl_id IN ({placeholders(chunk)}) GROUP BY setl_id", [store, *chunk])})
        out[store] = out.get(store, 0) + sum(known[(store, i)] for i in ids)
    for store in {(_get(f, "store") or "") for f in findings}:
        out.setdefault(store, 0)
    return out


def robust_z(values: list[float]) -> list[float]:
    """Robust z-scores: (x - median) / (1.4826 * MAD).

    >>> [round(z, 2) for z in robust_z([1, 1, 1, 5])]
    [0.0, 0.0, 0.0, 3.19]
    >>> [round(z, 2) for z in robust_z([1, 2, 3, 4, 100])]
    [-1.35, -0.67, 0.0, 0.67, 65.43]
    """
    if not values:
        return []
    med = statistics.median(values)
    mad = statistics.median(abs(v - med) for v in values)
    scale = 1.4826 * mad
    if scale == 0:
        scale = 1.2533 * statistics.fmean(abs(v - med) for v in values)
    if scale == 0:
        return [0.0 for _ in values]
    return [(v - med) / scale for v in values]


def _yuan(fen: int) -> str:
    return f"{fen / 100:,.2f}"


def rank_stores(db, findings, *, stores=None, since=None, until=None, lang: str = "zh",
                insurance: dict | None = None) -> list[dict]:
    """Rank stores by risk. ``findings`` are Finding objects or finding dicts.

    Every store with settlements in the period or with findings is ranked. Each row:
    rank, store, score, parts (points per part), money_at_risk_fen, insurance_fen,
    money_rate, settlements, findings, by_severity, severity_points, per_1000, peer_z,
    reasons (sentences in ``lang``). Sorted by score (highest first), then store.
    ``insurance``: as :func:`money_at_risk` takes it.
    """
    findings = [f for f in findings if not stores or _get(f, "store") in stores]
    stats = settlement_stats(db, stores, since, until)
    money = money_at_risk(db, findings, insurance)
    names = sorted(set(stats) | {s for s in money if s})
    by_store: dict[str, list] = {}   # each store's findings, data quality aside (grouped once:
    for f in findings:               # a pass over all findings per store took 190 s at 10M lines)
        if not _get(f, "rule").startswith("dq_"):
            by_store.setdefault(_get(f, "store"), []).append(f)
    rows = []
    for store in names:
        fs = by_store.get(store, [])
        by_sev = {k: sum(1 for f in fs if _get(f, "severity") == k) for k in ("high", "medium", "low")}
        st = stats.get(store, {"settlements": 0, "insurance_fen": 0})
        m = money.get(store, 0)
        rows.append({
            "store": store, "money_at_risk_fen": m, "insurance_fen": st["insurance_fen"],
            "money_rate": (m / st["insurance_fen"]) if st["insurance_fen"] else 0.0,
            "settlements": st["settlements"], "findings": len(fs), "by_severity": by_sev,
            "severity_points": sum(SEVERITY_RANK[k] * n for k, n in by_sev.items()),
            "per_1000": (1000 * len(fs) / st["settlements"]) if st["settlements"] else 0.0,
            "rules": sorted({_get(f, "rule") for f in fs}),
        })
    zs = robust_z([r["money_rate"] for r in rows])
    top = {k: max([r[k] for r in rows], default=0) for k in ("money_at_risk_fen", "severity_points", "per_1000")}
    for r, z in zip(rows, zs):
        r["peer_z"] = round(z, 2)
        parts = {
            "money": WEIGHTS["money"] * (r["money_at_risk_fen"] / top["money_at_risk_fen"] if top["money_at_risk_fen"] else 0),
            "severity": WEIGHTS["severity"] * (r["severity_points"] / top["severity_points"] if top["severity_points"] else 0),
            "rate": WEIGHTS["rate"] * (r["per_1000"] / top["per_1000"] if top["per_1000"] else 0),
            "peer": WEIGHTS["peer"] * min(max(z, 0.0), Z_CAP) / Z_CAP,
        }
        r["parts"] = {k: round(v, 1) for k, v in parts.items()}
        r["score"] = round(sum(parts.values()), 1)
        r["per_1000"] = round(r["per_1000"], 2)
        r["money_rate"] = round(r["money_rate"], 4)
    rows.sort(key=lambda r: (-r["score"], -r["money_at_risk_fen"], r["store"]))
    n = len(rows)
    for i, r in enumerate(rows, 1):
        r["rank"] = i
        r["reasons"] = _reasons(r, top, n, lang)
    return rows


def _reasons(r: dict, top: dict, n: int, lang: str) -> list[str]:
    p = r["parts"]
    s = r["by_severity"]
    first_money = r["money_at_risk_fen"] and r["money_at_risk_fen"] == top["money_at_risk_fen"]
    if lang == "en":
        out = [
            f"Money at risk {_yuan(r['money_at_risk_fen'])} yuan"
            + (" (the highest of the stores ranked)" if first_money else
               f" ({_yuan(top['money_at_risk_fen'])} yuan is the highest)")
            + f", {r['money_rate']:.1%} of the {_yuan(r['insurance_fen'])} yuan insurance paid: {p['money']} of {WEIGHTS['money']:.0f} points.",
            f"{r['findings']} findings ({s['high']} high, {s['medium']} medium, {s['low']} low severity), "
            f"{r['severity_points']} severity points (highest {top['severity_points']}): {p['severity']} of {WEIGHTS['severity']:.0f} points.",
            f"{r['per_1000']} findings per 1,000 settlements ({r['settlements']} settlements; highest {top['per_1000']:.2f}): "
            f"{p['rate']} of {WEIGHTS['rate']:.0f} points.",
            f"Peer comparison: robust z of the money-at-risk rate against {n} stores is {r['peer_z']}"
            + (" (far above its peers)" if r["peer_z"] >= 2 else " (above its peers)" if r["peer_z"] > 0 else " (not above its peers)")
            + f": {p['peer']} of {WEIGHTS['peer']:.0f} points.",
        ]
        if r["rules"]:
            out.append("Rules that fired: " + ", ".join(r["rules"]) + ".")
        return out
    out = [
        f"涉及医保基金 {_yuan(r['money_at_risk_fen'])} 元"
        + ("（参与排名门店中最高）" if first_money else f"（最高为 {_yuan(top['money_at_risk_fen'])} 元）")
        + f"，占本店医保结算 {_yuan(r['insurance_fen'])} 元的 {r['money_rate']:.1%}：得 {p['money']} 分（满分 {WEIGHTS['money']:.0f}）。",
        f"疑点 {r['findings']} 条（高 {s['high']}、中 {s['medium']}、低 {s['low']}），严重程度 {r['severity_points']} 分"
        f"（最高 {top['severity_points']}）：得 {p['severity']} 分（满分 {WEIGHTS['severity']:.0f}）。",
        f"每千笔结算疑点 {r['per_1000']} 条（结算 {r['settlements']} 笔；最高 {top['per_1000']:.2f}）："
        f"得 {p['rate']} 分（满分 {WEIGHTS['rate']:.0f}）。",
        f"同行比较：基金风险占比相对 {n} 家门店的稳健 z 值为 {r['peer_z']}"
        + ("（远高于同行）" if r["peer_z"] >= 2 else "（高于同行）" if r["peer_z"] > 0 else "（不高于同行）")
        + f"：得 {p['peer']} 分（满分 {WEIGHTS['peer']:.0f}）。",
    ]
    if r["rules"]:
        out.append("触发规则：" + "、".join(r["rules"]) + "。")
    return out


# --------------------------------------------------------------------------- random selection

def _seed_value(seed):
    """A seed as published: digits are an integer, anything else is used as text."""
    if isinstance(seed, int):
        return seed
    text = str(seed).strip()
    return int(text) if text.lstrip("-").isdigit() else text


def sample_stores(ranking_or_population, n: int, seed, weighted: bool = False, settlements_per_store: int = 0,
                  db=None, since: str | None = None, until: str | None = None) -> dict:
    """Pick ``n`` stores to inspect (and optionally settlements inside each), reproducibly.

    ``ranking_or_population``: the rows of :func:`rank_stores` (weights = 1 + score) or a
    list of store codes (weight 1 each). The record returned says everything needed to
    re-run the draw: seed, method, algorithm, the sorted population with weights, picks.

    >>> pop = ['S1', 'S2', 'S3', 'S4', 'S5']
    >>> sample_stores(pop, 2, 7)['picks'] == sample_stores(list(reversed(pop)), 2, 7)['picks']
    True
    """
    population = []
    for row in ranking_or_population:
        if isinstance(row, dict):
            population.append((row["store"], round(1.0 + float(row.get("score") or 0.0), 4)))
        else:
            population.append((str(row), 1.0))
    population = sorted(dict(population).items())
    if n < 0:
        raise ValueError("n must be >= 0")
    n = min(n, len(population))
    seed_v = _seed_value(seed)
    rng = random.Random(seed_v)
    stores = [s for s, _ in population]
    if weighted:
        keys = {s: rng.random() ** (1.0 / w) for s, w in population}
        order = sorted(stores, key=lambda s: (-keys[s], s))[:n]
        picks = [{"store": s, "weight": dict(population)[s], "key": round(keys[s], 12)} for s in order]
        method = "weighted"
        algorithm = ("Weighted sampling without replacement (Efraimidis-Spirakis): population sorted by store code; "
                     "rng = Python random.Random(seed); for each store in that order key = rng.random() ** (1 / weight), "
                     "weight = 1 + risk score; the n largest keys are picked.")
    else:
        order = rng.sample(stores, n)
        picks = [{"store": s, "weight": 1.0} for s in order]
        method = "uniform"
        algorithm = ("Uniform sampling without replacement: population sorted by store code; "
                     "Python random.Random(seed).sample(population, n).")
    record = {
        "seed": seed_v, "method": method, "algorithm": algorithm, "n": n,
        "population": [{"store": s, "weight": w} for s, w in population],
        "population_size": len(population),
        "picks": picks,
        "python": f"{sys.version_info.major}.{sys.version_info.minor}",
    }
    if settlements_per_store:
        if db is None:
            raise ValueError("settlements_per_store needs db")
        record["settlements_per_store"] = settlements_per_store
        record["settlement_algorithm"] = (
            "For each picked store: its settlements (2102, not reversed records, not deleted"
            + (f", day >= {since}" if since else "") + (f", day <= {until}" if until else "")
            + ") sorted by setl_id; Python random.Random(f'{seed}:{store}').sample(those, k).")
        for pick in picks:
            scope, args = scope_sql([pick["store"]], since, until)
            ids = sorted({s for (s,) in db.conn.execute(
                "SELECT setl_id FROM settlements WHERE deleted = 0 AND is_reversal = 0" + scope, args)})
            k = min(settlements_per_store, len(ids))
            pick["settlement_population"] = len(ids)
            pick["settlements"] = random.Random(f"{seed_v}:{pick['store']}").sample(ids, k)
    try:
        from importlib.metadata import version
        record["invreconcile"] = version("invreconcile")
    except Exception:  # noqa: BLE001 - not installed: no version to record
        pass
    return record
