"""Accuracy of findings against the ground truth of the sample generator (``sample.py``).

Matching (documented in ``docs/sample-data.md``): a finding *overlaps* an incident when they
share a setl_id, a code or a psn_no; a finding that carries none of these overlaps an incident
of the same store sharing an item, and a finding carrying only a store (no items either)
overlaps the store-level incidents of that store (``store_outlier``). An incident is *found*
when an overlapping finding's rule is one of the pattern's expected rules. A finding is *true*
when it overlaps any incident. Rules starting with ``dq_`` are data-quality notices: counted
apart, not in precision.

>>> gt = {"stores": [{"store": "P1", "clean": False}, {"store": "P2", "clean": True}],
...       "incidents": [{"id": "a", "pattern": "resold_code", "store": "P1", "setl_ids": ["S1"],
...                      "codes": ["C1"], "psn_nos": [], "items": ["I1"]}]}
>>> r = evaluate(gt, [{"rule": "code_resold", "store": "P1", "codes": ["C1"], "severity": "high"},
...                   {"rule": "night_swipe", "store": "P2", "setl_ids": ["S9"], "severity": "medium"}])
>>> r["patterns"]["resold_code"]["recall"], r["overall"]["precision"], r["clean_stores"]["medium_or_high"]
(1.0, 0.5, 1)
"""
from __future__ import annotations

#: incident pattern -> rule ids expected to catch it.
PATTERN_RULES: dict[str, tuple[str, ...]] = {
    "phantom_sale": ("code_sold_then_counted", "count_surplus"),
    "settlement_without_sale": ("settlement_without_sale",),
    "negative_stock": ("negative_stock",),
    "substitution": ("covered_surplus_noncovered_shortage",),
    "code_product_mismatch": ("code_product_mismatch",),
    "resold_code": ("code_resold",),
    "resold_code_cross_store": ("code_resold",),
    "unknown_code": ("code_never_received",),
    "fewer_codes": ("codes_fewer_than_boxes",),
    "product_barcode": ("product_barcode_as_code",),
    "expired_sale": ("expired_at_sale",),
    "price_markup": ("price_markup",),
    "name_mismatch": ("name_mismatch",),
    "frequent_swipes": ("person_frequent",),
    "monthly_amount": ("person_monthly_amount",),
    "large_settlement": ("person_large_settlement",),
    "night_swipe": ("night_swipe",),
    "multi_store": ("person_multi_store",),
    "split_settlement": ("split_settlement",),
    "swipe_refund_cycle": ("swipe_refund_cycle",),
    "excess_supply": ("excess_supply",),
    "card_collection": ("card_collection",),
    "identical_baskets": ("identical_baskets",),
    "store_outlier": ("store_outlier",),
}


def _set(x) -> set:
    if not x:
        return set()
    if isinstance(x, str):
        return {x}
    return {str(v) for v in x if v not in (None, "")}


class _Index:
    """Incidents (or look-alikes) indexed by setl_id, code, psn_no, (store, item) and store."""

    def __init__(self, entries):
        self.entries = list(entries)
        self.by: dict[tuple, list[int]] = {}
        for k, e in enumerate(self.entries):
            for key in ("setl_ids", "codes", "psn_nos"):
                for v in _set(e.get(key)):
                    self.by.setdefault((key, v), []).append(k)
            for it in _set(e.get("items")):
                self.by.setdefault(("item", e.get("store"), it), []).append(k)
            if not _set(e.get("items")):
                self.by.setdefault(("store", e.get("store")), []).append(k)

    def overlapping(self, f: dict) -> list[int]:
        hits: dict[int, None] = {}
        keyed = False
        for key in ("setl_ids", "codes", "psn_nos"):
            for v in _set(f.get(key)):
                keyed = True
                for k in self.by.get((key, v), ()):
                    hits[k] = None
        if not keyed:
            items = _set(f.get("items"))
            for it in items:
                for k in self.by.get(("item", f.get("store"), it), ()):
                    hits[k] = None
            if not items:
                for k in self.by.get(("store", f.get("store")), ()):
                    hits[k] = None
        return list(hits)


def evaluate(ground_truth: dict, findings: list[dict]) -> dict:
    """Recall per pattern, precision per rule and overall, findings in clean stores."""
    incidents = ground_truth.get("incidents", [])
    idx = _Index(incidents)
    look = _Index(ground_truth.get("lookalikes", []))
    clean = {s["store"] for s in ground_truth.get("stores", []) if s.get("clean")}
    found: dict[int, list[str]] = {}
    rules: dict[str, dict] = {}
    dq: dict[str, int] = {}
    false_look: dict[str, int] = {}
    clean_mh = clean_h = 0
    n_true = n_judged = 0
    false_examples = []
    for f in findings:
        rule = str(f.get("rule", ""))
        sev = str(f.get("severity", "low"))
        if f.get("store") in clean and sev in ("medium", "high"):
            clean_mh += 1
            clean_h += sev == "high"
        if rule.startswith("dq_"):
            dq[rule] = dq.get(rule, 0) + 1
            continue
        hits = idx.overlapping(f)
        r = rules.setdefault(rule, {"raised": 0, "true": 0, "false": 0, "precision": None, "by_severity": {}})
        r["raised"] += 1
        r["by_severity"][sev] = r["by_severity"].get(sev, 0) + 1
        n_judged += 1
        if hits:
            r["true"] += 1
            n_true += 1
            for k in hits:
                if rule in PATTERN_RULES.get(incidents[k].get("pattern"), ()):
                    found.setdefault(k, []).append(str(f.get("id", rule)))
        else:
            r["false"] += 1
            for k in look.overlapping(f):
                kind = look.entries[k].get("kind")
                false_look[kind] = false_look.get(kind, 0) + 1
            if len(false_examples) < 20:
                false_examples.append({"id": f.get("id"), "rule": rule, "store": f.get("store"),
                                       "severity": sev, "title": f.get("title_en") or f.get("message")})
    for r in rules.values():
        r["precision"] = round(r["true"] / r["raised"], 4) if r["raised"] else None
    patterns: dict[str, dict] = {}
    for k, inc in enumerate(incidents):
        p = patterns.setdefault(inc.get("pattern"), {"injected": 0, "found": 0, "recall": None, "missed": [],
                                                        "rules": list(PATTERN_RULES.get(inc.get("pattern"), ()))})
        p["injected"] += 1
        if k in found:
            p["found"] += 1
        else:
            p["missed"].append(inc.get("id"))
    for p in patterns.values():
        p["recall"] = round(p["found"] / p["injected"], 4) if p["injected"] else None
    total_inj = sum(p["injected"] for p in patterns.values())
    total_found = sum(p["found"] for p in patterns.values())
    return {
        "patterns": dict(sorted(patterns.items())),
        "rules": dict(sorted(rules.items())),
        "dq": dict(sorted(dq.items())),
        "overall": {"incidents": total_inj, "found": total_found,
                    "recall": round(total_found / total_inj, 4) if total_inj else None,
                    "findings": n_judged, "true": n_true, "false": n_judged - n_true,
                    "precision": round(n_true / n_judged, 4) if n_judged else None},
        "clean_stores": {"stores": sorted(clean), "medium_or_high": clean_mh, "high": clean_h},
        "false_on_lookalikes": dict(sorted(false_look.items())),
        "false_examples": false_examples,
    }


def _pct(x) -> str:
    return "-" if x is None else f"{x * 100:.0f}%"


def format_report(result: dict, lang: str = "en") -> str:
    """Plain-text table of an :func:`evaluate` result (``lang``: 'en' or 'zh')."""
    zh = lang == "zh"
    L = []
    o = result["overall"]
    L.append("准确性评估" if zh else "Accuracy against ground truth")
    L.append((f"事件 {o['incidents']}，发现 {o['found']}，召回率 {_pct(o['recall'])}；"
              f"发现项 {o['findings']}，误报 {o['false']}，精确率 {_pct(o['precision'])}") if zh else
             (f"incidents {o['incidents']}, found {o['found']}, recall {_pct(o['recall'])}; "
              f"findings {o['findings']}, false {o['false']}, precision {_pct(o['precision'])}"))
    c = result["clean_stores"]
    L.append((f"无违规门店中的中/高风险发现：{c['medium_or_high']}（高：{c['high']}）") if zh else
             (f"medium/high findings in clean stores: {c['medium_or_high']} (high: {c['high']})"))
    L.append("")
    L.append(f"{'模式' if zh else 'pattern':<26}{'注入' if zh else 'injected':>9}{'发现' if zh else 'found':>7}"
             f"{'召回' if zh else 'recall':>8}  {'规则' if zh else 'rules'}")
    for name, p in result["patterns"].items():
        L.append(f"{name:<26}{p['injected']:>9}{p['found']:>7}{_pct(p['recall']):>8}  {', '.join(p['rules'])}")
    L.append("")
    L.append(f"{'规则' if zh else 'rule':<38}{'发现项' if zh else 'raised':>7}{'误报' if zh else 'false':>7}"
             f"{'精确率' if zh else 'precision':>11}")
    for name, r in result["rules"].items():
        L.append(f"{name:<38}{r['raised']:>7}{r['false']:>7}{_pct(r['precision']):>11}")
    if result["dq"]:
        L.append("")
        L.append("数据质量提示（不计入精确率）：" if zh else "data-quality notices (not in precision):")
        for name, n in result["dq"].items():
            L.append(f"  {name}: {n}")
    if result["false_on_lookalikes"]:
        L.append("")
        L.append("误报命中的合法情形：" if zh else "false findings touching legitimate look-alikes:")
        for name, n in result["false_on_lookalikes"].items():
            L.append(f"  {name}: {n}")
    return "\n".join(L) + "\n"
