"""HTML report and HTML self-inspection statement (自查自纠): one self-contained file each.

:func:`write_html` renders a :class:`~invreconcile.reports.model.Report`,
:func:`write_selfcheck_html` the statement built by
:func:`~invreconcile.reports.selfcheck.build_selfcheck`.

The files need no network: CSS and the small filter script are inline, charts are SVG
drawn here in Python (they print as they show). Every value from the ledger is escaped,
so hostile text in an item name or a file name shows as text. The page's script
filters findings by store, category and severity (select boxes, or
``#filter=store:P..,category:..,severity:..`` / ``?store=..`` in the address), updates the
visible count and money, and writes ``data-rendered="N charts"`` on ``<body>`` once the
charts have a size, which the browser test reads.

Charts: insurance money at risk by store and category; settlements by hour of day and
day of week per store; book vs counted stock of the items with the largest gaps; the
timeline of each resold code across stores.

>>> yuan(123456)
'1,234.56'
>>> yuan(-5)
'-0.05'
>>> esc('<script>alert(1)</script>')
'&lt;script&gt;alert(1)&lt;/script&gt;'
"""
from __future__ import annotations

import datetime as dt
import html
import os
from collections import defaultdict
from pathlib import Path

from ..findings import CATEGORIES, SEVERITIES, word
from ..ledger import TABLE_NAMES

__all__ = ["write_html", "render_html", "write_selfcheck_html", "render_selfcheck_html", "yuan", "esc"]

# --------------------------------------------------------------------------- helpers


def esc(value) -> str:
    """Text for HTML (content and quoted attributes)."""
    if value is None:
        return ""
    return html.escape(str(value), quote=True)


def yuan(fen) -> str:
    """Integer fen as yuan with two decimals and thousands separators."""
    if fen is None or fen == "":
        return ""
    fen = int(round(float(fen)))
    sign = "-" if fen < 0 else ""
    fen = abs(fen)
    return f"{sign}{fen // 100:,}.{fen % 100:02d}"


def _fen_of_yuan(value) -> int:
    try:
        return int(round(float(value or 0) * 100))
    except (TypeError, ValueError):
        return 0


def _g(obj, name, default=None):
    """Field of a dataclass-like object or a dict."""
    if obj is None:
        return default
    if isinstance(obj, dict):
        return obj.get(name, default)
    return getattr(obj, name, default)


def _first(obj, names, default=None):
    for n in names:
        v = _g(obj, n)
        if v is not None:
            return v
    return default


def _chart(report, name):
    """Chart data: ``report.charts[name]`` (the model) or ``report.<name>``."""
    charts = _g(report, "charts")
    if charts is not None and _g(charts, name) is not None:
        return _g(charts, name)
    return _g(report, name)


def _records(value) -> list:
    """A list of rows (dicts or objects) from a list, a DataFrame, or None."""
    if value is None:
        return []
    if hasattr(value, "to_dict") and hasattr(value, "columns"):   # pandas DataFrame
        return value.to_dict("records")
    if isinstance(value, dict):
        return [value]
    return list(value)


def _asdict(row) -> dict:
    if isinstance(row, dict):
        return row
    if hasattr(row, "_asdict"):
        return row._asdict()
    if hasattr(row, "__dataclass_fields__"):
        from dataclasses import asdict
        return asdict(row)
    if isinstance(row, (list, tuple)):
        return {str(i): v for i, v in enumerate(row)}
    return dict(vars(row))


def _slug(value) -> str:
    out = []
    for ch in str(value):
        out.append(ch if ch.isascii() and (ch.isalnum() or ch in "-_") else f"_{ord(ch):x}")
    return "".join(out)


def _ts(value):
    if not value:
        return None
    try:
        return dt.datetime.fromisoformat(str(value)[:19])
    except ValueError:
        try:
            return dt.datetime.fromisoformat(str(value)[:10])
        except ValueError:
            return None


# --------------------------------------------------------------------------- words

CATEGORY_COLORS = {
    "phantom_sale": "#c0392b", "substitution": "#d35400", "duplicate_code": "#8e44ad",
    "unknown_code": "#6c3483", "abnormal_swipe": "#2471a3", "stock_mismatch": "#16a085",
    "price_anomaly": "#b7950b", "data_quality": "#7f8c8d",
}
EVENTS = {
    "received": ("入库", "received", "#1e8449", "circle"),
    "returned_to_supplier": ("退供应商", "returned to supplier", "#7d6608", "circle"),
    "sold": ("销售", "sold", "#c0392b", "square"),
    "returned": ("退货", "returned", "#2874a6", "diamond"),
    "settled": ("医保结算", "settled", "#e67e22", "triangle"),
    "transfer_in": ("调入", "transfer in", "#5d6d7e", "circle"),
    "transfer_out": ("调出", "transfer out", "#5d6d7e", "diamond"),
    "stock_in": ("其他入库", "stock in", "#1e8449", "diamond"),
    "stock_out": ("其他出库", "stock out", "#943126", "diamond"),
    "counted": ("盘点发现", "counted", "#6c3483", "square"),
    "scanned": ("扫码", "scanned", "#17202a", "triangle"),
}
DOW = {"zh": ["一", "二", "三", "四", "五", "六", "日"], "en": ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]}

WORDS = {
    "title": ("医保定点零售药店进销存与追溯码核查报告", "Pharmacy stock, trace code and insurance settlement audit report"),
    "generated_for": ("报告对象", "Prepared for"),
    "period": ("数据期间", "Period"),
    "generated_at": ("生成时间", "Generated"),
    "tool": ("生成工具", "Tool"),
    "summary": ("一、概览", "1. Summary"),
    "findings_total": ("疑点数", "Findings"),
    "money_total": ("涉及医保基金及个人账户金额（元）", "Insurance money at risk (yuan)"),
    "stores_n": ("门店数", "Stores"),
    "high_n": ("高风险疑点", "High-severity findings"),
    "by_cat_sev": ("疑点数：类别 × 严重程度", "Findings by category and severity"),
    "category": ("类别", "Category"),
    "severity": ("严重程度", "Severity"),
    "store": ("门店", "Store"),
    "total": ("合计", "Total"),
    "charts": ("二、图表", "2. Charts"),
    "chart_money": ("各门店、各类别涉及金额（元）", "Insurance money at risk by store and category (yuan)"),
    "chart_money_note": ("每个类别内同一笔结算只计一次；同一笔结算可能出现在多个类别中，故各段之和可能大于门店合计（右侧数字）。",
                         "Within a category each settlement counts once; a settlement may appear in several categories, so the "
                         "segments can add up to more than the store's total (the number on the right)."),
    "chart_hourly": ("医保结算时段分布（星期 × 小时，每门店）", "Settlements by day of week and hour, per store"),
    "chart_hourly_note": ("颜色越深结算笔数越多（每门店单独着色）；灰色阴影为夜间 23:00–07:00。夜间刷卡和集中刷卡在此显现。",
                          "Darker means more settlements (scaled per store); the grey band is night, 23:00-07:00. Night swipes and bursts stand out."),
    "chart_stock": ("账面库存与盘点数差异最大的商品", "Book vs counted stock: items with the largest gaps"),
    "chart_stock_note": ("单位：最小计价单位（片、粒、袋……）。", "Unit: minimum pricing unit (tablets, capsules, sachets ...)."),
    "book": ("账面", "Book"),
    "counted": ("盘点", "Counted"),
    "gap": ("差异", "Gap"),
    "chart_codes": ("重复结算追溯码的流转时间线", "Timeline of each resold trace code across stores"),
    "chart_codes_note": ("每个追溯码一行泳道图：纵向为门店，横向为时间；标记为入库、销售、结算、退货、调拨、盘点等事件。",
                         "One swim-lane chart per code: stores down, time across; marks are receipts, sales, settlements, returns, transfers, counts."),
    "no_data": ("无数据。", "No data."),
    "findings": ("三、疑点清单", "3. Findings"),
    "filter_all": ("全部", "All"),
    "showing": ("显示", "Showing"),
    "of": ("/", "of"),
    "findings_unit": ("条疑点，涉及金额", "findings, money at risk"),
    "yuan": ("元", "yuan"),
    "reset": ("清除筛选", "Clear filters"),
    "id": ("编号", "ID"),
    "rule": ("规则", "Rule"),
    "when": ("期间", "Period"),
    "amount": ("金额（元）", "Amount (yuan)"),
    "message": ("说明", "What was seen"),
    "evidence": ("证据", "Evidence"),
    "evidence_rows": ("条证据", "evidence rows"),
    "evidence_title": ("四、证据（来源文件与行号）", "4. Evidence (source file and row)"),
    "evidence_more": ("另有 {n} 行未列出，用 invreconcile explain {id} 查看全部。",
                      "{n} more rows not listed; invreconcile explain {id} shows them all."),
    "back": ("返回疑点", "back to finding"),
    "table": ("数据表", "Table"),
    "src_file": ("来源文件", "Source file"),
    "src_row": ("行号", "Row"),
    "ts": ("时间", "Time"),
    "item": ("商品", "Item"),
    "qty": ("数量", "Qty"),
    "setl_id": ("结算号", "Settlement id"),
    "psn_no": ("人员编号", "Person no."),
    "codes": ("追溯码", "Trace codes"),
    "loaded": ("五、数据范围", "5. Data loaded"),
    "data_quality": ("六、数据质量", "6. Data quality"),
    "rejects": ("被拒绝的记录", "Rejected records"),
    "ranking": ("门店风险排名", "Store risk ranking"),
    "print": ("打印", "Print"),
    "charts_missing": ("图表未绘制", "charts not drawn"),
    "privacy": ("个人信息", "Personal data"),
    "toc": ("目录", "Contents"),
    "on_store_pages": ("门店太多，一页放不下：每个门店的疑点与证据在其单独页面，点击上面排名表（或门店表）中的门店。",
                       "Each store's findings and evidence are on a page of its own: follow the store links of "
                       "the ranking (or store table) above."),
    "all_stores": ("全部门店", "All stores"),
    "events_list": ("事件", "Events"),
    "more_codes": ("另有 {n} 个追溯码未画出。", "{n} more codes not drawn."),
    "night": ("夜间", "night"),
    "settlements_n": ("结算笔数", "settlements"),
    "hour": ("时", "h"),
    "settlements_total": ("医保结算笔数", "Settlements"),
    "insurance_total": ("医保基金及个人账户支付（元）", "Insurance paid (yuan)"),
    "money_dedup_note": ("涉及金额中每笔结算只计一次（多条规则引用同一笔结算时不重复累加）；无结算的疑点（如盘点差异）按售价计。"
                         "疑点清单中的金额为每条疑点各自的金额。",
                         "Money at risk counts each settlement once (several rules citing one settlement add nothing); findings "
                         "without a settlement (such as count differences) are valued at sale price. The findings list shows "
                         "each finding's own amount."),
    "reasons": ("评分依据", "Reasons"),
}

COLUMN_WORDS = {
    "store": ("门店", "Store"), "month": ("月份", "Month"), "day": ("日期", "Day"), "kind": ("类型", "Kind"),
    "rows": ("行数", "Rows"), "count": ("数量", "Count"), "n": ("数量", "Count"), "files": ("文件数", "Files"),
    "rows_read": ("读取行数", "Rows read"), "rows_accepted": ("接受", "Accepted"),
    "rows_duplicate": ("重复上传", "Duplicates"), "rows_rejected": ("拒绝", "Rejected"),
    "src_file": ("来源文件", "Source file"), "src_row": ("行号", "Row"), "column_name": ("列", "Column"),
    "reason": ("原因", "Reason"), "found": ("实际值", "Found"), "expected": ("应为", "Expected"),
    "rule": ("规则", "Rule"), "message": ("说明", "Message"), "rank": ("排名", "Rank"),
    "score": ("风险分", "Score"), "findings": ("疑点数", "Findings"), "high": ("高", "High"),
    "medium": ("中", "Medium"), "low": ("低", "Low"), "item_id": ("商品编码", "Item id"),
    "item_name": ("商品名称", "Item name"), "setl_id": ("结算号", "Settlement id"),
    "psn_no": ("人员编号", "Person no."), "psn_name": ("姓名", "Name"), "ts": ("时间", "Time"),
    "qty": ("数量", "Qty"), "book": ("账面", "Book"), "counted": ("盘点", "Counted"),
    "diff": ("差异", "Difference"), "gap": ("差异", "Gap"), "title": ("名称", "Title"),
    "title_zh": ("名称", "Title"), "title_en": ("名称", "Title"), "category": ("类别", "Category"),
    "severity": ("严重程度", "Severity"), "finding_id": ("疑点编号", "Finding"), "period": ("期间", "Period"),
    "codes": ("追溯码", "Trace codes"), "settlements": ("结算笔数", "Settlements"),
    "amount_at_risk": ("金额（元）", "Amount (yuan)"), "evidence": ("证据", "Evidence"),
    "action": ("整改措施", "Action"), "what_to_do": ("整改措施", "What to do"),
    "unit": ("单位", "Unit"), "first": ("起", "From"), "last": ("止", "To"),
    "day_first": ("起", "From"), "day_last": ("止", "To"), "table": ("数据表", "Table"),
    "file": ("来源文件", "Source file"), "row": ("行号", "Row"), "column": ("列", "Column"),
    "reason_text": ("原因", "Reason"), "purchases": ("采购", "Purchases"), "sales": ("销售", "Sales"),
    "settlement_lines": ("结算明细", "Settlement lines"), "stock_counts": ("盘存", "Stock counts"),
    "stock_changes": ("库存变更", "Stock changes"), "scans": ("扫码", "Scans"), "items": ("目录商品", "Catalog items"),
    "code_relations": ("码关联", "Code relations"), "rejects": ("拒绝", "Rejected"), "deletions": ("删除", "Deletions"),
    "insurance_fen": ("医保支付", "Insurance paid"), "money_at_risk_fen": ("涉及金额", "Money at risk"),
    "certno": ("证件号", "ID number"),
}


class _Words:
    def __init__(self, lang: str):
        self.lang = "en" if lang == "en" else "zh"
        self.i = 1 if self.lang == "en" else 0

    def __call__(self, key: str, **kw) -> str:
        text = WORDS[key][self.i]
        return text.format(**kw) if kw else text

    def cat(self, c):
        return word(CATEGORIES, c, self.lang) if c else ""

    def sev(self, s):
        return word(SEVERITIES, s, self.lang) if s else ""

    def table(self, t):
        return word(TABLE_NAMES, t, self.lang) if t else ""

    def event(self, e):
        return word(EVENTS, e, self.lang) if e else ""

    def col(self, c):
        if c in COLUMN_WORDS:
            return COLUMN_WORDS[c][self.i]
        if c.endswith("_fen"):
            base = c[:-4]
            if base in COLUMN_WORDS:
                return COLUMN_WORDS[base][self.i] + ("（元）" if self.i == 0 else " (yuan)")
            return c[:-4] + ("（元）" if self.i == 0 else " (yuan)")
        return c

    def pick(self, zh, en):
        return en if self.lang == "en" else zh


# --------------------------------------------------------------------------- CSS / JS

CSS = """
:root { --ink:#1c2833; --muted:#5d6d7e; --line:#d5d8dc; --head:#eaf0f6; --accent:#1a5276;
        --high:#b03a2e; --medium:#b9770e; --low:#566573; }
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body { margin: 0; color: var(--ink); background: #fff;
       font: 14px/1.5 "Noto Sans CJK SC","Source Han Sans SC","WenQuanYi Zen Hei","Microsoft YaHei",
             "PingFang SC","Hiragino Sans GB","Helvetica Neue",Arial,sans-serif; }
main { max-width: 1280px; margin: 0 auto; padding: 24px 32px 48px; }
h1 { font-size: 24px; margin: 0 0 8px; color: var(--accent); }
h2 { font-size: 19px; margin: 32px 0 12px; padding-bottom: 4px; border-bottom: 2px solid var(--accent); color: var(--accent); }
h3 { font-size: 15px; margin: 20px 0 8px; }
p.note { color: var(--muted); font-size: 12.5px; margin: 4px 0 10px; }
.meta { display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px; margin: 8px 0 12px; }
.meta dt { color: var(--muted); } .meta dd { margin: 0; }
.privacy { border: 1px solid #aab7b8; background: #f4f6f6; padding: 8px 12px; margin: 12px 0; border-radius: 3px; }
.privacy.revealed { border: 2px solid var(--high); background: #fdedec; color: #78281f; font-weight: bold; }
.cards { display: flex; gap: 12px; flex-wrap: wrap; margin: 12px 0; }
.card { border: 1px solid var(--line); border-radius: 4px; padding: 8px 14px; min-width: 150px; flex: 1 1 0; }
.card .v { font-size: 22px; font-weight: bold; font-variant-numeric: tabular-nums; }
.card .k { color: var(--muted); font-size: 12.5px; }
table { border-collapse: collapse; width: 100%; margin: 6px 0 14px; font-size: 13px; }
th, td { border: 1px solid var(--line); padding: 4px 7px; text-align: left; vertical-align: top; }
th { background: var(--head); font-weight: 600; white-space: nowrap; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.store, a.store { white-space: nowrap; font-family: "DejaVu Sans Mono",Consolas,monospace; font-size: 12px; }
td.code, span.code { font-family: "DejaVu Sans Mono",Consolas,monospace; font-size: 12px; word-break: break-all; }
tbody tr:nth-child(even) td { background: #fafbfc; }
.sev { display: inline-block; min-width: 2.2em; text-align: center; border-radius: 3px; padding: 0 6px;
       color: #fff; font-size: 12px; font-weight: bold; }
.sev-high { background: var(--high); } .sev-medium { background: var(--medium); } .sev-low { background: var(--low); }
.filters { position: sticky; top: 0; z-index: 5; background: #fff; border: 1px solid var(--line);
           padding: 8px 12px; display: flex; gap: 16px; align-items: center; flex-wrap: wrap; }
.filters label { color: var(--muted); } .filters select { font: inherit; padding: 2px 4px; }
#count { font-weight: bold; }
.chart-box { margin: 8px 0 18px; break-inside: avoid; page-break-inside: avoid; }
.legend { display: flex; flex-wrap: wrap; gap: 4px 14px; font-size: 12.5px; margin: 4px 0 8px; }
.legend i { display: inline-block; width: 12px; height: 12px; margin-right: 4px; vertical-align: -1px; }
.grid2 { display: grid; grid-template-columns: repeat(auto-fill, minmax(590px, 1fr)); gap: 8px 24px; }
.timeline { break-inside: avoid; page-break-inside: avoid; border-top: 1px dotted var(--line); padding-top: 6px; }
table.events { width: auto; font-size: 12px; margin: 0 0 10px 120px; }
table.events td, table.events th { padding: 1px 8px; }
td.ts, td.period, td.nowrap { white-space: nowrap; word-break: normal; }
.evidence-block { margin: 10px 0 16px; break-inside: auto; }
.evidence-block h3 { margin-bottom: 2px; }
:target { outline: 3px solid #f5b041; outline-offset: 2px; }
a { color: var(--accent); }
nav.toc { font-size: 13px; margin: 8px 0; } nav.toc a { margin-right: 14px; }
p.sign { margin-top: 56px; font-size: 15px; }
td.refs { font-size: 11px; color: var(--muted); word-break: normal; overflow-wrap: anywhere; min-width: 180px; }
table[id^="sc-"] { font-size: 12px; } td.small { font-size: 11px; } td.desc { min-width: 260px; }
footer { margin-top: 40px; color: var(--muted); font-size: 12px; border-top: 1px solid var(--line); padding-top: 8px; }
svg text { font-family: inherit; }
@media print {
  @page { size: A4 landscape; margin: 12mm; }
  body { font-size: 11px; }
  main { max-width: none; padding: 0; }
  .filters, .no-print, nav.toc { display: none !important; }
  section.page { break-before: page; page-break-before: always; }
  section.first { break-before: auto; page-break-before: auto; }
  tr, .chart-box, svg { break-inside: avoid; page-break-inside: avoid; }
  thead { display: table-header-group; }
  a { color: inherit; text-decoration: none; }
  tr[hidden], .evidence-block[hidden] { display: none; }
  * { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
}
"""

JS = r"""
(function () {
  "use strict";
  var keys = ["store", "category", "severity"];
  function sel(k) { return document.getElementById("filter-" + k); }
  function fmt(fen) {
    var s = fen < 0 ? "-" : ""; fen = Math.abs(Math.round(fen));
    var y = Math.floor(fen / 100).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ",");
    var f = (fen % 100).toString(); if (f.length < 2) { f = "0" + f; }
    return s + y + "." + f;
  }
  function apply(updateUrl) {
    var want = {}, parts = [];
    keys.forEach(function (k) { var s = sel(k); want[k] = s ? s.value : "";
                                if (want[k]) { parts.push(k + ":" + want[k]); } });
    var shown = {}, n = 0, fen = 0;
    var rows = document.querySelectorAll("tr.finding");
    for (var i = 0; i < rows.length; i++) {
      var r = rows[i], ok = true;
      keys.forEach(function (k) { if (want[k] && r.getAttribute("data-" + k) !== want[k]) { ok = false; } });
      r.hidden = !ok;
      if (ok) { n++; fen += parseInt(r.getAttribute("data-fen") || "0", 10); shown[r.getAttribute("data-id")] = 1; }
    }
    var blocks = document.querySelectorAll(".evidence-block");
    for (var j = 0; j < blocks.length; j++) { blocks[j].hidden = !shown[blocks[j].getAttribute("data-id")]; }
    var c = document.getElementById("count");
    if (c) { c.textContent = n; }
    var m = document.getElementById("count-money");
    if (m) { m.textContent = fmt(fen); }
    document.body.setAttribute("data-visible-findings", String(n));
    document.body.setAttribute("data-filter", parts.join(","));
    if (updateUrl && window.history && history.replaceState) {
      try { history.replaceState(null, "", parts.length ? "#filter=" + encodeURIComponent(parts.join(",")) : location.pathname + location.search); } catch (e) { }
    }
  }
  function fromUrl() {
    var want = {};
    var q = location.search.replace(/^\?/, "").split("&");
    q.forEach(function (p) { var kv = p.split("="); if (kv.length === 2 && keys.indexOf(kv[0]) >= 0) { want[kv[0]] = decodeURIComponent(kv[1].replace(/\+/g, " ")); } });
    var h = location.hash;
    if (h.indexOf("#filter=") === 0) {
      decodeURIComponent(h.slice(8)).split(",").forEach(function (p) {
        var i = p.indexOf(":"); if (i > 0 && keys.indexOf(p.slice(0, i)) >= 0) { want[p.slice(0, i)] = p.slice(i + 1); }
      });
    }
    keys.forEach(function (k) {
      var s = sel(k); if (!s || want[k] === undefined) { return; }
      for (var i = 0; i < s.options.length; i++) { if (s.options[i].value === want[k]) { s.value = want[k]; } }
    });
  }
  function charts() {
    var all = document.querySelectorAll("svg.chart"), ok = 0;
    for (var i = 0; i < all.length; i++) {
      var b = all[i].getBoundingClientRect();
      if (b.width > 0 && b.height > 0 && all[i].querySelector("rect,circle,path,polygon,line")) { ok++; }
    }
    document.body.setAttribute("data-rendered", ok + " charts");
    document.body.setAttribute("data-charts-expected", String(all.length));
  }
  function init() {
    keys.forEach(function (k) { var s = sel(k); if (s) { s.addEventListener("change", function () { apply(true); }); } });
    var reset = document.getElementById("filter-reset");
    if (reset) { reset.addEventListener("click", function () { keys.forEach(function (k) { var s = sel(k); if (s) { s.value = ""; } }); apply(true); }); }
    var pr = document.getElementById("print-button");
    if (pr) { pr.addEventListener("click", function () { window.print(); }); }
    window.addEventListener("hashchange", function () { if (location.hash.indexOf("#filter=") === 0) { fromUrl(); apply(false); } });
    fromUrl(); apply(false); charts();
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", init); } else { init(); }
})();
"""


# --------------------------------------------------------------------------- SVG charts

def _svg_open(width, height, label, cls="chart"):
    return (f'<svg class="{cls}" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" role="img" aria-label="{esc(label)}">'
            f'<title>{esc(label)}</title>')


def _axis_max(v: float) -> float:
    """A round number >= v for an axis."""
    if v <= 0:
        return 1
    import math
    mag = 10 ** math.floor(math.log10(v))
    for m in (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10):
        if m * mag >= v:
            return m * mag
    return 10 * mag


def _ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """Round tick values from lo to hi (about n steps).

    >>> _ticks(-600, 600)
    [-500.0, -250.0, 0.0, 250.0, 500.0]
    """
    import math
    span = (hi - lo) or 1
    raw = span / n
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.ceil(lo / step) * step
    out, v = [], first
    while v <= hi + step * 1e-9:
        out.append(float(round(v, 9)))
        v += step
    return out


def _nice_range(lo: float, hi: float, n: int = 5) -> tuple[float, float, list[float]]:
    """Axis bounds widened to whole steps, and their ticks.

    >>> _nice_range(-576, 540)
    (-750.0, 750.0, [-750.0, -500.0, -250.0, 0.0, 250.0, 500.0, 750.0])
    """
    import math
    t = _ticks(lo, hi, n)
    step = (t[1] - t[0]) if len(t) > 1 else 1.0
    lo2, hi2 = math.floor(lo / step) * step, math.ceil(hi / step) * step
    return float(lo2), float(hi2), _ticks(lo2, hi2, round((hi2 - lo2) / step) or 1)


def _num(v) -> str:
    if abs(v - round(v)) < 1e-9:
        return f"{int(round(v)):,}"
    return f"{v:,.1f}"


def chart_money(money: dict, w: _Words, store_totals: dict | None = None) -> str:
    """Horizontal stacked bars: one bar per store, segments per category. money: store -> category -> fen."""
    stores = sorted(money, key=lambda s: (-sum(money[s].values()), s))
    stores = [s for s in stores if sum(money[s].values()) > 0]
    if not stores:
        return f'<p class="note">{esc(w("no_data"))}</p>'
    cats = [c for c in CATEGORIES if any(money[s].get(c) for s in stores)]
    cats += sorted({c for s in stores for c in money[s] if c not in CATEGORIES and money[s][c]})
    left, right, top, bar, gap = 130, 110, 28, 22, 10
    width = 1000
    plot = width - left - right
    height = top + len(stores) * (bar + gap) + 10
    _, vmax, ticks = _nice_range(0, max(sum(money[s].values()) for s in stores) / 100)
    parts = [_svg_open(width, height, w("chart_money"))]
    for t in ticks:
        x = left + plot * t / vmax
        parts.append(f'<line x1="{x:.1f}" y1="{top - 4}" x2="{x:.1f}" y2="{height - 8}" stroke="#e5e8e8"/>')
        parts.append(f'<text x="{x:.1f}" y="{top - 9}" font-size="11" text-anchor="middle" fill="#5d6d7e">{esc(_num(t))}</text>')
    for i, s in enumerate(stores):
        y = top + i * (bar + gap)
        parts.append(f'<text x="{left - 8}" y="{y + bar * 0.7:.1f}" font-size="12.5" text-anchor="end">{esc(s)}</text>')
        x = left
        for c in cats:
            fen = money[s].get(c) or 0
            if fen <= 0:
                continue
            bw = plot * fen / 100 / vmax
            parts.append(f'<rect x="{x:.1f}" y="{y}" width="{max(bw, 0.5):.1f}" height="{bar}" '
                         f'fill="{CATEGORY_COLORS.get(c, "#95a5a6")}"><title>{esc(s)} · {esc(w.cat(c))}: '
                         f'{esc(yuan(fen))} {esc(w("yuan"))}</title></rect>')
            x += bw
        label = (store_totals or {}).get(s, sum(money[s].values()))
        parts.append(f'<text x="{x + 6:.1f}" y="{y + bar * 0.7:.1f}" font-size="12" font-weight="bold">'
                     f'{esc(yuan(label))}</text>')
    parts.append("</svg>")
    legend = "".join(f'<span><i style="background:{CATEGORY_COLORS.get(c, "#95a5a6")}"></i>{esc(w.cat(c))}</span>'
                     for c in cats)
    return f'<div class="legend">{legend}</div>' + "".join(parts)


def chart_hourly(rows: list, w: _Words, max_stores: int = 60) -> str:
    """Small multiples: per store a 7 x 24 heat map of settlement counts."""
    grid: dict = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    for r in rows:
        s = _g(r, "store")
        dow, hour = _g(r, "dow"), _g(r, "hour")
        if s is None or dow is None or hour is None:
            continue
        cell = grid[s][(int(dow), int(hour))]
        cell[0] += int(_first(r, ("settlements", "n", "count"), 0) or 0)
        cell[1] += int(_first(r, ("insurance_fen", "amount_fen"), 0) or 0)
    if not grid:
        return f'<p class="note">{esc(w("no_data"))}</p>'
    stores = sorted(grid)
    more = len(stores) - max_stores
    if more > 0:
        stores = sorted(stores, key=lambda s: -sum(c[0] for c in grid[s].values()))[:max_stores]
        stores.sort()
    cw, ch, left, top = 22, 17, 34, 34
    width, height = left + 24 * cw + 8, top + 7 * ch + 8
    days = DOW[w.lang]
    out = ['<div class="grid2">']
    for s in stores:
        cells = grid[s]
        total = sum(c[0] for c in cells.values())
        night = sum(c[0] for (d, h), c in cells.items() if h >= 23 or h < 7)
        vmax = max((c[0] for c in cells.values()), default=0) or 1
        label = f'{s} — {w("settlements_n")} {total:,}' + (f'，{w("night")} {night:,}' if w.lang == "zh"
                                                          else f', {w("night")} {night:,}')
        p = [_svg_open(width, height, label)]
        p.append(f'<text x="0" y="13" font-size="13" font-weight="bold">{esc(s)}</text>')
        p.append(f'<text x="{width - 4}" y="13" font-size="11.5" text-anchor="end" fill="#5d6d7e">'
                 f'{esc(w("settlements_n"))} {total:,} · {esc(w("night"))} {night:,}</text>')
        for h in list(range(0, 7)) + [23]:
            p.append(f'<rect x="{left + h * cw}" y="{top - 2}" width="{cw}" height="{7 * ch + 4}" fill="#d5d8dc"/>')
        for h in range(0, 24, 2):
            p.append(f'<text x="{left + h * cw + cw / 2:.1f}" y="{top - 6}" font-size="10" text-anchor="middle" '
                     f'fill="#5d6d7e">{h}</text>')
        for d in range(1, 8):
            y = top + (d - 1) * ch
            p.append(f'<text x="{left - 5}" y="{y + ch * 0.75:.1f}" font-size="10.5" text-anchor="end" '
                     f'fill="#5d6d7e">{esc(days[d - 1])}</text>')
            for h in range(24):
                n, fen = cells.get((d, h), (0, 0))
                if n:
                    t = n / vmax
                    # white -> dark red
                    r_, g_, b_ = int(255 - t * (255 - 146)), int(245 - t * (245 - 20)), int(235 - t * (235 - 10))
                    fill = f"rgb({r_},{g_},{b_})"
                else:
                    fill = "#ffffff" if (7 <= h < 23) else "#eceff1"
                p.append(f'<rect x="{left + h * cw + 1}" y="{y + 1}" width="{cw - 2}" height="{ch - 2}" fill="{fill}">'
                         f'<title>{esc(s)} {esc(days[d - 1])} {h:02d}:00–{h:02d}:59 — {n} · {esc(yuan(fen))} '
                         f'{esc(w("yuan"))}</title></rect>')
                if n and n / vmax > 0.5:
                    p.append(f'<text x="{left + h * cw + cw / 2:.1f}" y="{y + ch * 0.72:.1f}" font-size="8.5" '
                             f'text-anchor="middle" fill="#fff">{n}</text>')
        p.append("</svg>")
        out.append('<div class="chart-box">' + "".join(p) + "</div>")
    out.append("</div>")
    if more > 0:
        out.append(f'<p class="note">{esc(w.pick(f"另有 {more} 家门店未画出。", f"{more} more stores not drawn."))}</p>')
    return "".join(out)


def chart_stock(rows: list, w: _Words, top_n: int = 15) -> str:
    """Grouped horizontal bars, book vs counted, for the items with the largest gaps."""
    best: dict = {}
    for r in rows:
        book, counted = _g(r, "book"), _g(r, "counted")
        if book is None or counted is None:
            continue
        key = (_g(r, "store"), _g(r, "item_id"))
        gap = abs(float(counted) - float(book))
        if key not in best or gap > best[key][0]:
            best[key] = (gap, r)
    chosen = sorted(best.values(), key=lambda x: (-x[0], str(_g(x[1], "store")), str(_g(x[1], "item_id"))))[:top_n]
    chosen = [r for gap, r in chosen if gap > 0]
    if not chosen:
        return f'<p class="note">{esc(w("no_data"))}</p>'
    vals = [float(_g(r, v)) for r in chosen for v in ("book", "counted")]
    lo, hi, ticks = _nice_range(min(0.0, min(vals)), max(1.0, max(vals)))
    left, right, top, bar = 330, 90, 26, 11
    row_h = 2 * bar + 10
    width = 1000
    plot = width - left - right
    height = top + len(chosen) * row_h + 8
    span = (hi - lo) or 1

    def X(v):
        return left + plot * (v - lo) / span

    p = [_svg_open(width, height, w("chart_stock"))]
    for t in ticks:
        p.append(f'<line x1="{X(t):.1f}" y1="{top - 4}" x2="{X(t):.1f}" y2="{height - 6}" stroke="#e5e8e8"/>')
        p.append(f'<text x="{X(t):.1f}" y="{top - 9}" font-size="11" text-anchor="middle" fill="#5d6d7e">{esc(_num(t))}</text>')
    p.append(f'<line x1="{X(0):.1f}" y1="{top - 4}" x2="{X(0):.1f}" y2="{height - 6}" stroke="#566573"/>')
    for i, r in enumerate(chosen):
        y = top + i * row_h
        name = _g(r, "item_name") or ""
        label = f'{_g(r, "store") or ""} · {name} ({_g(r, "item_id") or ""})'
        if len(label) > 34:
            label = label[:33] + "…"
        p.append(f'<text x="{left - 8}" y="{y + bar + 3}" font-size="12" text-anchor="end">{esc(label)}'
                 f'<title>{esc(_g(r, "store"))} {esc(name)} {esc(_g(r, "item_id"))} {esc(_g(r, "day"))}</title></text>')
        p.append(f'<text x="{left - 8}" y="{y + 2 * bar + 5}" font-size="10" text-anchor="end" fill="#5d6d7e">'
                 f'{esc(_g(r, "day") or "")}</text>')
        for j, (k, color) in enumerate((("book", "#aab7b8"), ("counted", "#2471a3"))):
            v = float(_g(r, k))
            x0, x1 = sorted((X(0), X(v)))
            yy = y + j * bar
            p.append(f'<rect x="{x0:.1f}" y="{yy}" width="{max(x1 - x0, 0.5):.1f}" height="{bar - 1}" fill="{color}">'
                     f'<title>{esc(w(k))}: {esc(_num(v))}</title></rect>')
            if v < 0:
                p.append(f'<text x="{x0 - 4:.1f}" y="{yy + bar - 2}" font-size="10" text-anchor="end">{esc(_num(v))}</text>')
            else:
                p.append(f'<text x="{x1 + 4:.1f}" y="{yy + bar - 2}" font-size="10">{esc(_num(v))}</text>')
        gap = float(_g(r, "counted")) - float(_g(r, "book"))
        p.append(f'<text x="{width - 4}" y="{y + bar + 3}" font-size="12" text-anchor="end" font-weight="bold" '
                 f'fill="{"#b03a2e" if gap > 0 else "#1a5276"}">{"+" if gap > 0 else ""}{esc(_num(gap))}</text>')
    p.append("</svg>")
    legend = (f'<div class="legend"><span><i style="background:#aab7b8"></i>{esc(w("book"))}</span>'
              f'<span><i style="background:#2471a3"></i>{esc(w("counted"))}</span>'
              f'<span>{esc(w.pick("右侧：盘点 − 账面", "right: counted − book"))}</span></div>')
    return legend + "".join(p)


def _marker(shape, x, y, color, tip):
    t = f"<title>{esc(tip)}</title>"
    if shape == "square":
        return f'<rect x="{x - 5:.1f}" y="{y - 5:.1f}" width="10" height="10" fill="{color}">{t}</rect>'
    if shape == "diamond":
        return (f'<polygon points="{x:.1f},{y - 6:.1f} {x + 6:.1f},{y:.1f} {x:.1f},{y + 6:.1f} {x - 6:.1f},{y:.1f}" '
                f'fill="{color}">{t}</polygon>')
    if shape == "triangle":
        return (f'<polygon points="{x:.1f},{y - 6:.1f} {x + 6:.1f},{y + 5:.1f} {x - 6:.1f},{y + 5:.1f}" '
                f'fill="{color}">{t}</polygon>')
    return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="5" fill="{color}">{t}</circle>'


def chart_code_timelines(timelines, w: _Words, code_findings: dict | None = None, max_codes: int = 40) -> str:
    """One swim-lane chart per code: stores down, time across."""
    items = []
    if isinstance(timelines, dict):
        items = list(timelines.items())
    else:
        for t in _records(timelines):
            items.append((_g(t, "code"), _g(t, "events") or []))
    items = [(c, [_asdict(e) for e in evs]) for c, evs in items if c and evs]
    if not items:
        return f'<p class="note">{esc(w("no_data"))}</p>'
    more = len(items) - max_codes
    items = items[:max_codes]
    used = sorted({e.get("event") for _, evs in items for e in evs if e.get("event")},
                  key=lambda e: (list(EVENTS).index(e) if e in EVENTS else 99, e))
    legend = "".join(
        f'<span>{_legend_marker(EVENTS.get(e, (e, e, "#566573", "circle")))}{esc(w.event(e))}</span>' for e in used)
    out = [f'<div class="legend">{legend}</div>']
    code_findings = code_findings or {}
    for code, evs in items:
        evs = sorted(evs, key=lambda e: (str(e.get("ts") or ""), str(e.get("store") or "")))
        times = [_ts(e.get("ts")) for e in evs]
        known = [t for t in times if t]
        stores = list(dict.fromkeys(str(e.get("store") or "?") for e in evs))
        left, right, top, lane = 120, 30, 22, 24
        width = 1000
        plot = width - left - right
        height = top + len(stores) * lane + 22
        t0, t1 = (min(known), max(known)) if known else (None, None)
        span = (t1 - t0).total_seconds() if known else 0
        span = span or 1

        def X(t):
            if not t or not t0:
                return left
            return left + plot * (t - t0).total_seconds() / span

        p = [_svg_open(width, height, f'{w("codes")} {code}')]
        for i, s in enumerate(stores):
            y = top + i * lane + lane / 2
            p.append(f'<line x1="{left}" y1="{y}" x2="{width - right}" y2="{y}" stroke="#d5d8dc"/>')
            p.append(f'<text x="{left - 8}" y="{y + 4}" font-size="12" text-anchor="end">{esc(s)}</text>')
        # date ticks
        if known:
            for k in range(5):
                tt = t0 + (t1 - t0) * k / 4
                x = X(tt)
                p.append(f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{height - 18}" stroke="#f2f3f4"/>')
                p.append(f'<text x="{x:.1f}" y="{height - 5}" font-size="10" text-anchor="middle" fill="#5d6d7e">'
                         f'{esc(tt.strftime("%m-%d %H:%M"))}</text>')
        seen: dict = defaultdict(int)
        prev = None
        for e, t in zip(evs, times):
            s = str(e.get("store") or "?")
            y = top + stores.index(s) * lane + lane / 2
            x = X(t)
            if prev is not None:
                p.append(f'<line x1="{prev[0]:.1f}" y1="{prev[1]:.1f}" x2="{x:.1f}" y2="{y:.1f}" stroke="#abb2b9" '
                         f'stroke-dasharray="3,2"/>')
            prev = (x, y)
            k = (round(x / 4), s)
            dx = seen[k] * 11   # events at the same moment side by side (sale, then its settlement)
            seen[k] += 1
            label, _, color, shape = (w.event(e.get("event")), None,
                                      *EVENTS.get(e.get("event"), ("", "", "#566573", "circle"))[2:])
            tip = f'{e.get("ts") or ""} {s} {label}'
            if e.get("setl_id"):
                tip += f' {w("setl_id")} {e.get("setl_id")}'
            p.append(_marker(shape, x + dx, y, color, tip))
        p.append("</svg>")
        trs = []
        for e in evs[:30]:
            ev = e.get("event")
            color = EVENTS.get(ev, ("", "", "#566573"))[2]
            trs.append(f'<tr><td class="ts">{esc(e.get("ts"))}</td><td class="store">{esc(e.get("store"))}</td>'
                       f'<td><span style="color:{color}">■</span> {esc(w.event(ev))}</td>'
                       f'<td class="code">{esc(e.get("setl_id"))}</td><td class="code">{esc(e.get("psn_no"))}</td>'
                       f'<td class="code">{esc(e.get("item_id"))}</td><td class="num">{esc(e.get("qty"))}</td></tr>')
        if len(evs) > 30:
            trs.append(f'<tr><td colspan="7">… +{len(evs) - 30}</td></tr>')
        ev_table = (f'<table class="events"><thead><tr><th>{esc(w("ts"))}</th><th>{esc(w("store"))}</th>'
                    f'<th>{esc(w("events_list"))}</th><th>{esc(w("setl_id"))}</th><th>{esc(w("psn_no"))}</th>'
                    f'<th>{esc(w.col("item_id"))}</th><th class="num">{esc(w("qty"))}</th></tr></thead>'
                    f'<tbody>{"".join(trs)}</tbody></table>')
        links = " ".join(f'<a href="{esc(href)}">{esc(fid)}</a>' for fid, href in code_findings.get(code, []))
        out.append(f'<div class="timeline chart-box" id="code-{esc(_slug(code))}"><div><b>{esc(w("codes"))}</b> '
                   f'<span class="code">{esc(code)}</span> {links}</div>' + "".join(p) +
                   f'{ev_table}</div>')
    if more > 0:
        out.append(f'<p class="note">{esc(w("more_codes", n=more))}</p>')
    return "".join(out)


def _legend_marker(ev):
    color, shape = ev[2], ev[3]
    inner = _marker(shape, 7, 7, color, "").replace("<title></title>", "")
    return f'<svg width="14" height="14" viewBox="0 0 14 14" style="vertical-align:-2px;margin-right:4px">{inner}</svg>'


# --------------------------------------------------------------------------- tables

def _generic_table(rows, w: _Words, *, limit: int = 500, cls: str = "") -> str:
    rows = [_asdict(r) for r in _records(rows)]
    if not rows:
        return f'<p class="note">{esc(w("no_data"))}</p>'
    cols: list = []
    for r in rows[:50]:
        for k in r:
            if k not in cols and not k.startswith("_"):
                cols.append(k)
    head = "".join(f'<th class="{"num" if _is_num_col(rows, c) else ""}">{esc(w.col(c))}</th>' for c in cols)
    body = []
    for r in rows[:limit]:
        tds = []
        for c in cols:
            v = r.get(c)
            tds.append(_cell(c, v, w))
        body.append("<tr>" + "".join(tds) + "</tr>")
    more = ""
    if len(rows) > limit:
        more = f'<p class="note">… +{len(rows) - limit}</p>'
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>{more}'


def _is_num_col(rows, c):
    if c.endswith("_fen") or c == "amount_at_risk":
        return True
    vals = [r.get(c) for r in rows[:20] if r.get(c) is not None]
    return bool(vals) and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in vals)


def _cell(col, v, w: _Words) -> str:
    if v is None:
        return "<td></td>"
    if col.endswith("_fen") and isinstance(v, (int, float)):
        return f'<td class="num">{esc(yuan(v))}</td>'
    if col == "amount_at_risk" and isinstance(v, (int, float)):
        return f'<td class="num">{esc(yuan(_fen_of_yuan(v)))}</td>'
    if col == "category":
        return f"<td>{esc(w.cat(v))}</td>"
    if col == "severity":
        return f'<td><span class="sev sev-{esc(v)}">{esc(w.sev(v))}</span></td>'
    if col == "table":
        return f"<td>{esc(w.table(v))}</td>"
    if col in ("finding_id", "finding"):
        return f'<td class="code"><a href="#f-{esc(v)}">{esc(v)}</a></td>'
    if isinstance(v, bool):
        return f"<td>{'✓' if v else ''}</td>"
    if isinstance(v, (int, float)):
        return f'<td class="num">{esc(_num(v))}</td>'
    if isinstance(v, (list, tuple, set)):
        return f'<td class="code">{esc(", ".join(str(x) for x in v))}</td>'
    if isinstance(v, dict):
        return f'<td>{esc("; ".join(f"{k}: {x}" for k, x in v.items()))}</td>'
    cls = ' class="code"' if col in ("codes", "code", "setl_id", "psn_no", "src_file", "id") else ""
    return f"<td{cls}>{esc(v)}</td>"


# --------------------------------------------------------------------------- report

def _findings(report) -> list[dict]:
    out = []
    for f in _records(_g(report, "findings")):
        d = f.as_dict(_g(report, "lang", "zh")) if hasattr(f, "as_dict") else dict(_asdict(f))
        out.append(d)
    return out


def _f_fen(f: dict) -> int:
    if f.get("amount_fen") is not None:
        return int(f["amount_fen"])
    return _fen_of_yuan(f.get("amount_at_risk"))


def _money_by_store_category(report, findings) -> dict:
    money: dict = defaultdict(lambda: defaultdict(int))
    data = _chart(report, "money_by_store_category")
    rows = []
    if isinstance(data, dict):
        for s, v in data.items():
            if isinstance(v, dict):
                for c, fen in v.items():
                    rows.append({"store": s, "category": c, "amount_fen": fen})
    else:
        rows = [_asdict(r) for r in _records(data)]
    for r in rows:
        fen = r.get("amount_fen", r.get("insurance_fen", r.get("fen")))
        if fen is None and r.get("amount_at_risk") is not None:
            fen = _fen_of_yuan(r["amount_at_risk"])
        if fen is None and r.get("amount") is not None:
            fen = _fen_of_yuan(r["amount"])
        if r.get("store") is not None and r.get("category") is not None and fen is not None:
            money[r["store"]][r["category"]] += int(fen)
    if not money:
        for f in findings:
            money[f.get("store") or ""][f.get("category")] += _f_fen(f)
    return money


def _evidence_by_finding(report, findings) -> dict:
    ev: dict = defaultdict(list)
    for r in _records(_g(report, "evidence")):
        d = _asdict(r)
        ev[d.get("finding_id")].append(d)
    for f in findings:
        if f["id"] not in ev:
            ev[f["id"]] = [dict(e) for e in (f.get("evidence") or [])]
    return ev


def _period_text(period) -> str:
    if period is None:
        return ""
    if isinstance(period, (list, tuple)):
        return " – ".join(str(p) for p in period if p)
    if isinstance(period, dict):
        return " – ".join(str(v) for v in period.values() if v)
    return str(period)


def _privacy_block(obj, w: _Words) -> str:
    note = _g(obj, "privacy_note") or ""
    mode = _g(obj, "privacy_mode")
    if mode is None:
        priv = _g(obj, "privacy")
        mode = _g(priv, "mode") if priv is not None and not isinstance(priv, str) else priv
    revealed = (mode == "revealed") or ("--reveal" in note and "masked" not in note)
    cls = "privacy revealed" if revealed else "privacy"
    return (f'<div class="{cls}" id="privacy" data-privacy="{esc(mode or ("revealed" if revealed else "masked"))}">'
            f'<b>{esc(w("privacy"))}：</b>{esc(note)}</div>' if w.lang == "zh" else
            f'<div class="{cls}" id="privacy" data-privacy="{esc(mode or ("revealed" if revealed else "masked"))}">'
            f'<b>{esc(w("privacy"))}:</b> {esc(note)}</div>')


def _version() -> str:
    try:
        from importlib.metadata import version
        return version("invreconcile")
    except Exception:  # pragma: no cover - not installed
        return ""


def _doc(title: str, lang: str, body: str) -> str:
    return ("<!DOCTYPE html>\n"
            f'<html lang="{"en" if lang == "en" else "zh-CN"}"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
            "style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">"
            '<meta name="generator" content="invreconcile">'
            f"<title>{esc(title)}</title><style>{CSS}</style></head>\n"
            f'<body data-rendered="0 charts">{body}<script>{JS}</script></body></html>\n')


#: stores named on the first page (a report of more says how many)
GENERATED_FOR_SHOWN = 12


def render_html(report, *, store_page=None, index: str | None = None) -> str:
    """The report as one self-contained HTML document. For a report split by store
    (:func:`write_html_by_store`): ``store_page`` gives the address of a store's page, where
    the index's store links go and its findings and evidence are (the index lists none);
    ``index``, on a store's page, the address of the index."""
    lang = _g(report, "lang", "zh") or "zh"
    w = _Words(lang)
    findings = _findings(report)
    evidence = _evidence_by_finding(report, findings)
    money = _money_by_store_category(report, findings)
    total_fen = sum(_f_fen(f) for f in findings)
    summary = _g(report, "summary") or {}
    risk_fen = summary.get("money_at_risk_fen", total_fen) if isinstance(summary, dict) else total_fen
    store_fen = summary.get("money_by_store_fen") if isinstance(summary, dict) else None
    cat_fen = summary.get("money_by_category_fen") if isinstance(summary, dict) else None
    stores = sorted({f.get("store") or "" for f in findings} | set(money))
    stores = [s for s in stores if s]
    gen_stores = _g(report, "generated_for")
    loaded = _g(report, "loaded")
    b = []
    # ---- first page
    b.append('<main><section class="first" id="top">')
    b.append(f'<h1>{esc(w("title"))}</h1>')
    gen_for = _g(report, "generated_for")
    if isinstance(gen_for, (list, tuple)):   # a bureau's thousands of stores: the first few and how many
        shown = ", ".join(str(x) for x in gen_for[:GENERATED_FOR_SHOWN])
        gen_for = shown if len(gen_for) <= GENERATED_FOR_SHOWN else shown + w.pick(
            f" … 共 {len(gen_for):,} 家门店", f" … {len(gen_for):,} stores in all")
    b.append('<dl class="meta">')
    b.append(f'<dt>{esc(w("generated_for"))}</dt><dd>{esc(gen_for or "")}</dd>')
    b.append(f'<dt>{esc(w("period"))}</dt><dd>{esc(_period_text(_g(report, "period")))}</dd>')
    gen_at = _g(report, "generated_at")
    if gen_at:
        b.append(f'<dt>{esc(w("generated_at"))}</dt><dd>{esc(gen_at)}</dd>')
    b.append(f'<dt>{esc(w("tool"))}</dt><dd>invreconcile {esc(_version())}</dd>')
    b.append("</dl>")
    b.append(_privacy_block(report, w))
    b.append(f'<nav class="toc no-print"><b>{esc(w("toc"))}:</b> '
             f'<a href="#summary">{esc(w("summary"))}</a><a href="#charts">{esc(w("charts"))}</a>'
             f'<a href="#findings">{esc(w("findings"))}</a><a href="#evidence">{esc(w("evidence_title"))}</a>'
             f'<a href="#loaded">{esc(w("loaded"))}</a><a href="#data-quality">{esc(w("data_quality"))}</a>'
             + (f'<a href="{esc(index)}">{esc(w("all_stores"))}</a>' if index else "")
             + f' <button id="print-button" type="button">{esc(w("print"))}</button></nav>')
    # ---- summary
    high = sum(1 for f in findings if f.get("severity") == "high")
    b.append(f'<h2 id="summary">{esc(w("summary"))}</h2><div class="cards">'
             f'<div class="card"><div class="v">{len(findings):,}</div><div class="k">{esc(w("findings_total"))}</div></div>'
             f'<div class="card"><div class="v">{high:,}</div><div class="k">{esc(w("high_n"))}</div></div>'
             f'<div class="card"><div class="v">{esc(yuan(risk_fen))}</div><div class="k">{esc(w("money_total"))}</div></div>'
             + (f'<div class="card"><div class="v">{summary["settlements"]:,}</div><div class="k">{esc(w("settlements_total"))}</div></div>'
                f'<div class="card"><div class="v">{esc(yuan(summary.get("insurance_fen") or 0))}</div>'
                f'<div class="k">{esc(w("insurance_total"))}</div></div>'
                if isinstance(summary, dict) and summary.get("settlements") is not None else "")
             + f'<div class="card"><div class="v">{len(gen_stores) if isinstance(gen_stores, (list, tuple)) else len(stores):,}</div>'
             f'<div class="k">{esc(w("stores_n"))}</div></div>'
             "</div>")
    b.append(f'<p class="note">{esc(w("money_dedup_note"))}</p>')
    b.append(_cat_sev_table(findings, w, cat_fen, risk_fen if cat_fen else None))
    ranking = [_asdict(r) for r in _records(_g(report, "ranking"))]
    link = (lambda s: esc(store_page(s))) if store_page else (lambda s: f"#filter=store:{esc(s)}")
    if ranking:
        b.append(_ranking_table(ranking, w, link))
    else:
        b.append(_store_table(findings, stores, w, link))
    b.append("</section>")
    # ---- charts
    code_findings: dict = defaultdict(list)   # code -> (finding id, its address)
    for f in findings:
        for c in f.get("codes") or []:
            code_findings[c].append((f["id"], f"{store_page(f.get('store') or '') if store_page else ''}#f-{f['id']}"))
    b.append(f'<section class="page" id="charts"><h2>{esc(w("charts"))}</h2>')
    b.append(f'<div class="chart-box" id="chart-money"><h3>{esc(w("chart_money"))}</h3>'
             f'<p class="note">{esc(w("chart_money_note"))}</p>{chart_money(money, w, store_fen)}</div>')
    b.append(f'<div id="chart-hourly"><h3>{esc(w("chart_hourly"))}</h3><p class="note">{esc(w("chart_hourly_note"))}</p>'
             f'{chart_hourly(_records(_chart(report, "hourly")), w)}</div>')
    b.append(f'<div class="chart-box" id="chart-stock"><h3>{esc(w("chart_stock"))}</h3>'
             f'<p class="note">{esc(w("chart_stock_note"))}</p>{chart_stock(_records(_chart(report, "stock_gaps")), w)}</div>')
    b.append(f'<div id="chart-codes"><h3>{esc(w("chart_codes"))}</h3><p class="note">{esc(w("chart_codes_note"))}</p>'
             f'{chart_code_timelines(_chart(report, "code_timelines"), w, code_findings)}</div>')
    b.append("</section>")
    # ---- findings
    b.append(f'<section class="page" id="findings"><h2>{esc(w("findings"))}</h2>')
    if store_page:
        b.append(f'<p class="note">{esc(w("on_store_pages"))}</p>')
    else:
        b.append(_filters(findings, w, total_fen))
        b.append(_findings_table(findings, evidence, w))
    b.append("</section>")
    # ---- evidence
    b.append(f'<section class="page" id="evidence"><h2>{esc(w("evidence_title"))}</h2>')
    if store_page:
        b.append(f'<p class="note">{esc(w("on_store_pages"))}</p>')
    for f in findings if not store_page else ():
        b.append(_evidence_block(f, evidence.get(f["id"], []), w))
    b.append("</section>")
    # ---- loaded, data quality, rejects, ranking
    b.append(f'<section class="page" id="loaded"><h2>{esc(w("loaded"))}</h2>{_generic_table(loaded, w)}')
    totals = _g(report, "totals")
    if isinstance(totals, dict) and totals:
        b.append(f'<h3>{esc(w("total"))}</h3>{_generic_table([totals], w)}')
    b.append("</section>")
    b.append(f'<section class="page" id="data-quality"><h2>{esc(w("data_quality"))}</h2>'
             f'{_dq_table(_g(report, "data_quality"), w)}'
             f'<h3 id="rejects">{esc(w("rejects"))}</h3>{_rejects_table(_g(report, "rejects"), w)}</section>')
    b.append('<footer>invreconcile — ' + esc(w.pick(
        "本报告中的疑点是数据比对的结果，需经核实后方可定性；每条疑点均附有来源文件与行号。",
        "Findings are the result of comparing data and must be verified before any conclusion; "
        "each one cites its source files and rows.")) + "</footer></main>")
    return _doc(w("title"), lang, "".join(b))


def _cat_sev_table(findings, w: _Words, cat_fen: dict | None = None, total_fen: int | None = None) -> str:
    counts: dict = defaultdict(lambda: defaultdict(int))
    money: dict = defaultdict(int)
    for f in findings:
        counts[f.get("category")][f.get("severity")] += 1
        money[f.get("category")] += _f_fen(f)
    if cat_fen:
        money = defaultdict(int, {c: int(v or 0) for c, v in cat_fen.items()})
    cats = [c for c in CATEGORIES if c in counts] + sorted(c for c in counts if c not in CATEGORIES and c)
    if not cats:
        return ""
    head = (f'<tr><th>{esc(w("category"))}</th>' + "".join(f'<th class="num">{esc(w.sev(s))}</th>' for s in SEVERITIES)
            + f'<th class="num">{esc(w("total"))}</th><th class="num">{esc(w("amount"))}</th></tr>')
    rows = []
    for c in cats:
        rows.append(f'<tr><td>{esc(w.cat(c))}</td>' + "".join(
            f'<td class="num">{counts[c].get(s, 0) or ""}</td>' for s in SEVERITIES)
            + f'<td class="num"><b>{sum(counts[c].values())}</b></td><td class="num">{esc(yuan(money[c]))}</td></tr>')
    rows.append(f'<tr><th>{esc(w("total"))}</th>' + "".join(
        f'<th class="num">{sum(counts[c].get(s, 0) for c in cats)}</th>' for s in SEVERITIES)
        + f'<th class="num">{len(findings)}</th><th class="num">{esc(yuan(total_fen if total_fen is not None else sum(money.values())))}</th></tr>')
    return (f'<h3>{esc(w("by_cat_sev"))}</h3><table id="summary-table"><thead>{head}</thead>'
            f'<tbody>{"".join(rows)}</tbody></table>')


def _store_table(findings, stores, w: _Words, link) -> str:
    if not stores:
        return ""
    by_store = defaultdict(list)   # grouped once, not a pass over all findings per store
    for f in findings:
        by_store[f.get("store")].append(f)
    rows = []
    for s in stores:
        fs = by_store.get(s, [])
        by = defaultdict(int)
        for f in fs:
            by[f.get("severity")] += 1
        rows.append((sum(_f_fen(f) for f in fs), s, by, len(fs)))
    rows.sort(key=lambda r: (-r[0], r[1]))
    head = (f'<tr><th>{esc(w("store"))}</th>' + "".join(f'<th class="num">{esc(w.sev(s))}</th>' for s in SEVERITIES)
            + f'<th class="num">{esc(w("total"))}</th><th class="num">{esc(w("amount"))}</th></tr>')
    body = "".join(
        f'<tr><td><a href="{link(s)}" data-store-link="{esc(s)}">{esc(s)}</a></td>'
        + "".join(f'<td class="num">{by.get(x, 0) or ""}</td>' for x in SEVERITIES)
        + f'<td class="num">{n}</td><td class="num">{esc(yuan(fen))}</td></tr>'
        for fen, s, by, n in rows)
    return f'<h3>{esc(w.pick("按门店", "By store"))}</h3><table id="store-table"><thead>{head}</thead><tbody>{body}</tbody></table>'


def _dq_table(rows, w: _Words) -> str:
    rows = [_asdict(r) for r in _records(rows)]
    if not rows:
        return f'<p class="note">{esc(w("no_data"))}</p>'
    if "rule" not in rows[0]:
        return _generic_table(rows, w)
    head = (f'<tr><th>{esc(w("severity"))}</th><th>{esc(w("rule"))}</th><th>{esc(w("store"))}</th>'
            f'<th>{esc(w("when"))}</th><th>{esc(w("message"))}</th><th>{esc(w("evidence"))}</th></tr>')
    body = []
    for f in rows:
        fid = f.get("id") or ""
        title = f.get("title") or (f.get("title_en") if w.lang == "en" else f.get("title_zh")) or f.get("rule")
        msg = f.get("message") or (f.get("message_en") if w.lang == "en" else f.get("message_zh")) or ""
        body.append(f'<tr><td><span class="sev sev-{esc(f.get("severity"))}">{esc(w.sev(f.get("severity")))}</span></td>'
                    f'<td>{esc(title)}</td><td class="code">{esc(f.get("store"))}</td><td>{esc(f.get("period"))}</td>'
                    f'<td>{esc(msg)}</td><td><a href="#ev-{esc(fid)}">{esc(w("evidence"))} '
                    f'({esc(f.get("evidence_total") or len(f.get("evidence") or []))})</a></td></tr>')
    return f'<table id="dq-table"><thead>{head}</thead><tbody>{"".join(body)}</tbody></table>'


def _rejects_table(rows, w: _Words, limit: int = 300) -> str:
    rows = [_asdict(r) for r in _records(rows)]
    keep = ["file", "row", "kind", "store", "column", "reason_text", "found", "expected"]
    if rows and all(k in rows[0] for k in ("file", "row", "reason_text")):
        rows = [{k: r.get(k) for k in keep} for r in rows]
    return _generic_table(rows, w, limit=limit)


def _ranking_table(ranking: list[dict], w: _Words, link) -> str:
    head = (f'<tr><th class="num">{esc(w.col("rank"))}</th><th>{esc(w("store"))}</th><th class="num">{esc(w.col("score"))}</th>'
            f'<th class="num">{esc(w("amount"))}</th><th class="num">{esc(w("settlements_total"))}</th>'
            f'<th class="num">{esc(w("findings_total"))}</th>'
            + "".join(f'<th class="num">{esc(w.sev(s))}</th>' for s in SEVERITIES)
            + f'<th>{esc(w("reasons"))}</th></tr>')
    body = []
    for r in ranking:
        by = r.get("by_severity") or {}
        reasons = r.get("reasons") or []
        if isinstance(reasons, str):
            reasons = [reasons]
        s = r.get("store") or ""
        score = r.get("score")
        body.append(
            f'<tr><td class="num">{esc(r.get("rank"))}</td>'
            f'<td class="store"><a href="{link(s)}" data-store-link="{esc(s)}">{esc(s)}</a></td>'
            f'<td class="num"><b>{esc(_num(score) if isinstance(score, (int, float)) else score)}</b></td>'
            f'<td class="num">{esc(yuan(r.get("money_at_risk_fen") or 0))}</td>'
            f'<td class="num">{esc(_num(r.get("settlements") or 0))}</td><td class="num">{esc(r.get("findings") or 0)}</td>'
            + "".join(f'<td class="num">{by.get(x, 0) or ""}</td>' for x in SEVERITIES)
            + f'<td><small>{"<br>".join(esc(x) for x in reasons)}</small></td></tr>')
    return (f'<h3 id="ranking">{esc(w("ranking"))}</h3><table id="ranking-table"><thead>{head}</thead>'
            f'<tbody>{"".join(body)}</tbody></table>')


def _filters(findings, w: _Words, total_fen) -> str:
    def select(key, values, label_fn, label):
        opts = [f'<option value="">{esc(w("filter_all"))}</option>']
        opts += [f'<option value="{esc(v)}">{esc(label_fn(v))}</option>' for v in values]
        return (f'<label for="filter-{key}">{esc(label)}</label> '
                f'<select id="filter-{key}" name="{key}">{"".join(opts)}</select>')

    stores = sorted({f.get("store") for f in findings if f.get("store")})
    cats = [c for c in CATEGORIES if any(f.get("category") == c for f in findings)]
    cats += sorted({f.get("category") for f in findings if f.get("category") and f.get("category") not in CATEGORIES})
    sevs = [s for s in SEVERITIES if any(f.get("severity") == s for f in findings)]
    count = (f'{esc(w("showing"))} <span id="count">{len(findings)}</span> {esc(w("of"))} '
             f'<span id="count-total">{len(findings)}</span> {esc(w("findings_unit"))} '
             f'<span id="count-money">{esc(yuan(total_fen))}</span> {esc(w("yuan"))}')
    return (f'<div class="filters" role="search">{select("store", stores, str, w("store"))}'
            f'{select("category", cats, w.cat, w("category"))}{select("severity", sevs, w.sev, w("severity"))}'
            f'<button id="filter-reset" type="button">{esc(w("reset"))}</button>'
            f'<span class="filter-count">{count}</span></div>')


def _period_cell(period) -> str:
    first, sep, last = str(period or "").partition("..")
    return f"{esc(first)}<br>– {esc(last)}" if sep else esc(first)


def _findings_table(findings, evidence, w: _Words) -> str:
    head = (f'<tr><th>{esc(w("severity"))}</th><th>{esc(w("category"))} / {esc(w("rule"))}</th>'
            f'<th>{esc(w("store"))}</th><th>{esc(w("when"))}</th><th class="num">{esc(w("amount"))}</th>'
            f'<th>{esc(w("message"))}</th><th>{esc(w("evidence"))}</th></tr>')
    rows = []
    for f in findings:
        fid = f.get("id") or ""
        title = f.get("title_en") if w.lang == "en" else f.get("title_zh")
        msg = f.get("message") or (f.get("message_en") if w.lang == "en" else f.get("message_zh")) or ""
        n_ev = f.get("evidence_total") or len(evidence.get(fid, []))
        sev = f.get("severity") or ""
        rows.append(
            f'<tr class="finding" id="f-{esc(fid)}" data-id="{esc(fid)}" data-store="{esc(f.get("store") or "")}" '
            f'data-category="{esc(f.get("category") or "")}" data-severity="{esc(sev)}" data-fen="{_f_fen(f)}">'
            f'<td><span class="sev sev-{esc(sev)}">{esc(w.sev(sev))}</span></td>'
            f'<td>{esc(w.cat(f.get("category")))}<br><small>{esc(title or f.get("rule"))}</small><br>'
            f'<small class="code">{esc(fid)}</small></td>'
            f'<td class="store">{esc(f.get("store") or "")}</td><td class="period">{_period_cell(f.get("period"))}</td>'
            f'<td class="num">{esc(yuan(_f_fen(f)))}</td><td>{esc(msg)}</td>'
            f'<td><a class="ev-link" href="#ev-{esc(fid)}">{esc(w("evidence"))} ({n_ev})</a></td></tr>')
    return (f'<table id="findings-table"><thead>{head}</thead><tbody>{"".join(rows)}</tbody></table>')


EVIDENCE_COLUMNS = ["table", "id", "src_file", "src_row", "store", "ts", "item", "qty", "amount_fen", "insurance_fen",
                    "setl_id", "psn_no", "psn_name", "certno", "codes"]


def _evidence_block(f: dict, rows: list, w: _Words) -> str:
    fid = f.get("id") or ""
    title = f.get("title_en") if w.lang == "en" else f.get("title_zh")
    present = [c for c in EVIDENCE_COLUMNS if c == "item" and any(r.get("item_id") or r.get("item_name") for r in rows)
               or any(r.get(c) not in (None, "", []) for r in rows)]
    head = "".join(f'<th class="{"num" if c in ("src_row", "qty", "amount_fen", "insurance_fen", "id") else ""}">'
                   f'{esc(w("amount") if c == "amount_fen" else w(c) if c in WORDS else w.col(c))}</th>'
                   for c in present)
    body = []
    for n, r in enumerate(rows, 1):
        tds = []
        for c in present:
            v = r.get(c)
            if c == "item":
                name = " ".join(str(x) for x in (r.get("item_id"), r.get("item_name")) if x)
                tds.append(f"<td>{esc(name)}</td>")
            elif c == "table":
                tds.append(f"<td>{esc(w.table(v))}</td>")
            elif c in ("src_row", "qty", "id"):
                tds.append(f'<td class="num">{esc(v)}</td>')
            elif c in ("amount_fen", "insurance_fen"):
                tds.append(f'<td class="num">{esc(yuan(v)) if v not in (None, "") else ""}</td>')
            elif c == "codes":
                codes = v if isinstance(v, (list, tuple)) else str(v or "").split(",")
                tds.append(f'<td class="code">{esc(", ".join(x.strip() for x in codes if x and x.strip()))}</td>')
            elif c == "psn_name":
                tds.append(f'<td class="nowrap">{esc(v)}</td>')
            elif c in ("src_file", "setl_id", "psn_no", "certno"):
                tds.append(f'<td class="code">{esc(v)}</td>')
            else:
                tds.append(f"<td>{esc(v)}</td>")
        body.append(f'<tr id="ev-{esc(fid)}-{n}">{"".join(tds)}</tr>')
    total = f.get("evidence_total") or len(rows)
    more = ""
    if total > len(rows):
        more = f'<p class="note">{esc(w("evidence_more", n=total - len(rows), id=fid))}</p>'
    table = (f'<table class="evidence"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'
             if rows else f'<p class="note">{esc(w("no_data"))}</p>')
    return (f'<div class="evidence-block" id="ev-{esc(fid)}" data-id="{esc(fid)}" data-store="{esc(f.get("store") or "")}">'
            f'<h3><span class="sev sev-{esc(f.get("severity") or "")}">{esc(w.sev(f.get("severity")))}</span> '
            f'{esc(title or f.get("rule"))} <small class="code">{esc(fid)}</small> '
            f'<a class="no-print" href="#f-{esc(fid)}">↑ {esc(w("back"))}</a></h3>'
            f'<p class="note">{esc(f.get("store") or "")} · {esc(f.get("period") or "")} · {esc(total)} '
            f'{esc(w("evidence_rows"))}</p>{table}{more}</div>')


def write_html(report, path) -> Path:
    """Write the report to ``path`` (one self-contained HTML file); returns the path."""
    return _write(Path(path), render_html(report))


def _write(path: Path, text: str) -> Path:
    if path.parent and not path.parent.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return path


def store_page(store: str) -> str:
    """The address of a store's page in a report split by store, relative to its index."""
    return f"stores/{_slug(store or '_')}.html"


def write_html_by_store(report, store_reports, folder) -> list[Path]:
    """A report of more stores than one page can show (a bureau's thousands): ``folder``
    /index.html with ``report``'s summary, ranking and charts, each store linked to its
    own page ``folder``/stores/<store>.html, written from ``store_reports`` (``(store,
    report)`` pairs, taken one at a time). Returns the paths, the index first."""
    folder = Path(folder)
    paths = [_write(folder / "index.html", render_html(report, store_page=store_page))]
    for store, r in store_reports:
        paths.append(_write(folder / store_page(store), render_html(r, index="../index.html")))
    return paths


# --------------------------------------------------------------------------- self-inspection statement

SC_WORDS = {
    "title": ("定点零售药店医保基金使用自查自纠清单", "Self-inspection statement (medical-insurance fund use)"),
    "store": ("定点药店", "Pharmacy"),
    "refunds": ("一、应退回的医保结算", "1. Settlements and amounts to refund"),
    "refunds_note": ("每笔结算列出依据的规则、疑点编号和证据（来源文件:行号）。逐笔核实，属实的按医保部门要求退回基金（含个人账户支付部分）；已冲正的结算不再退回。",
                     "Each settlement cites its rules, finding ids and evidence (source file:row). Check each one and refund "
                     "the insurance money (fund and personal account) where confirmed; a reversed settlement owes nothing more."),
    "stock": ("二、需更正的库存", "2. Stock to correct"),
    "stock_note": ("账面库存与盘点不符，或销售超过进货的商品：复盘实物，按实盘更正账面，并说明差异原因。数量为最小计价单位。",
                   "Items whose book stock differs from the count, or sold beyond what was bought: recount, correct the books "
                   "to the count and explain each gap. Quantities in minimum pricing units."),
    "gaps": ("三、发现的管理漏洞", "3. Process gaps found"),
    "gaps_note": ("扫描药品追溯码（不是商品条码），每盒一个码；不销售过期药品；按时完整上传进销存数据。",
                  "Scan the trace code (not the product barcode), one code per box; do not sell expired drugs; upload "
                  "stock data complete and on time."),
    "rejects": ("四、上传数据中被拒绝的行", "4. Rejected rows in the uploaded data"),
    "others": ("五、其他疑点（无对应结算）", "5. Other findings (no settlement named)"),
    "refund_total": ("应退回医保基金（元）", "Insurance money to refund (yuan)"),
    "settlements": ("应退回结算笔数", "Settlements to refund"),
    "reversed_n": ("已冲正的疑点结算", "Flagged settlements already reversed"),
    "items": ("需更正库存的商品", "Items whose stock to correct"),
    "gaps_n": ("管理漏洞", "Process gaps"),
    "chart": ("账面与盘点数量", "Book vs counted"),
    "yes": ("已冲正", "reversed"),
    "sign": ("药店负责人（签字）：＿＿＿＿＿＿＿＿　　日期：＿＿＿＿＿＿＿＿　　（盖章）",
             "Pharmacy manager (signature): ______________    Date: ______________    (stamp)"),
}

#: (key, zh, en, kind) per statement table; kinds: text, code, money, int, list, refs, bool, sev
SC_REFUND_COLUMNS = [
    ("setl_id", "结算ID", "Settlement", "code"), ("ts", "结算时间", "Time", "ts"),
    ("psn_no", "人员编号", "Person", "code"), ("psn_name", "姓名", "Name", "ts"),
    ("medfee_fen", "医疗费总额（元）", "Total (yuan)", "money"),
    ("insurance_fen", "医保支付（元）", "Insurance paid (yuan)", "money"),
    ("refund_fen", "应退回（元）", "To refund (yuan)", "money"), ("reversed", "已冲正", "Reversed", "bool"),
    ("titles", "问题（规则）", "Issues (rules)", "titles"), ("findings", "疑点编号", "Finding ids", "list"),
    ("evidence", "证据（文件:行）", "Evidence (file:row)", "refs"),
]
SC_STOCK_COLUMNS = [
    ("item_id", "商品编码", "Item id", "code"), ("item_name", "商品名称", "Item name", "text"),
    ("titles", "问题", "Issues", "titles"), ("day", "盘点日", "Count day", "ts"),
    ("book", "账面数量", "Book", "int"), ("counted", "实盘数量", "Counted", "int"), ("gap", "新增差异", "New gap", "int"),
    ("book_lowest", "账面最低", "Lowest book", "int"), ("book_end", "期末账面", "Book at end", "int"),
    ("value_fen", "差异金额（元）", "Gap value (yuan)", "money"), ("messages", "说明", "Description", "lines"),
    ("findings", "疑点编号", "Finding ids", "list"), ("evidence", "证据（文件:行）", "Evidence (file:row)", "refs"),
]
SC_GAP_COLUMNS = [
    ("severity", "严重程度", "Severity", "sev"), ("title", "问题", "Issue", "titles"), ("period", "期间", "Period", "period"),
    ("message", "说明", "Description", "lines"), ("items", "商品编码", "Items", "list"),
    ("setl_ids", "结算ID", "Settlements", "list"), ("id", "疑点编号", "Finding id", "code"),
    ("evidence_refs", "证据（文件:行）", "Evidence (file:row)", "refs"),
]
SC_REJECT_COLUMNS = [
    ("file", "文件", "File", "code"), ("row", "行号", "Row", "int"), ("column", "列", "Column", "text"),
    ("reason_text", "原因", "Reason", "text"), ("found", "实际值", "Found", "text"), ("expected", "应为", "Expected", "text"),
]


def _scw(w: _Words, key):
    return SC_WORDS[key][w.i] if key in SC_WORDS else w(key)


def _sc_cell(kind, v, row, w: _Words) -> str:
    if kind == "money":
        return f'<td class="num">{esc(yuan(v)) if v not in (None, "") else ""}</td>'
    if kind == "int":
        return f'<td class="num">{esc(_num(v)) if isinstance(v, (int, float)) else esc(v)}</td>'
    if kind == "bool":
        return f'<td>{esc(_scw(w, "yes")) if v else ""}</td>'
    if kind == "ts":
        return f'<td class="ts">{esc(v)}</td>'
    if kind == "code":
        return f'<td class="code nowrap">{esc(v)}</td>'
    if kind == "sev":
        return f'<td><span class="sev sev-{esc(v)}">{esc(w.sev(v))}</span></td>'
    if kind == "period":
        return f'<td class="period">{_period_cell(v)}</td>'
    if kind == "titles":
        titles = v if isinstance(v, (list, tuple)) else ([v] if v else [])
        rules = row.get("rules") or ([row["rule"]] if row.get("rule") else [])
        return (f'<td>{"<br>".join(esc(t) for t in titles)}'
                + (f'<br><small class="code">{esc(", ".join(rules))}</small>' if rules else "") + "</td>")
    if kind == "refs":
        return f'<td class="code refs">{_refs_grouped(v, w)}</td>'
    if kind in ("list", "lines"):
        vals = [str(x) for x in (v if isinstance(v, (list, tuple, set)) else ([v] if v else []))]
        limit = 12 if kind == "refs" else 50
        shown = [esc(x) for x in vals[:limit]]
        if len(vals) > limit:
            shown.append(esc(w.pick(f"……另有 {len(vals) - limit} 行", f"... {len(vals) - limit} more")))
        cls = ' class="code small"' if kind == "list" else ' class="desc"' if kind == "lines" else ""
        return f'<td{cls}>{"<br>".join(shown)}</td>'
    return f"<td>{esc(v)}</td>"


def _refs_grouped(v, w: _Words, limit: int = 40) -> str:
    """``file:row`` references grouped by file: ``file: 3, 7, 12``.

    >>> _refs_grouped(["a.csv:3", "b.json:1", "a.csv:12"], _Words("zh"))
    'a.csv: 3, 12<br>b.json: 1'
    """
    vals = [str(x) for x in (v if isinstance(v, (list, tuple, set)) else ([v] if v else []))]
    by_file: dict = {}
    for x in vals:
        f, sep, row = x.rpartition(":")
        if not sep or not row.isdigit():
            f, row = x, ""
        by_file.setdefault(f, [])
        if row:
            by_file[f].append(int(row))
    out = []
    for f in sorted(by_file):
        rows = sorted(set(by_file[f]))
        text = ", ".join(str(r) for r in rows[:limit])
        if len(rows) > limit:
            text += w.pick(f" ……另有 {len(rows) - limit} 行", f" ... {len(rows) - limit} more")
        out.append(esc(f) + (": " + esc(text) if rows else ""))
    return "<br>".join(out)


def _sc_table(rows, columns, w: _Words, table_id: str, total_keys=()) -> str:
    rows = [_asdict(r) for r in _records(rows)]
    if not rows:
        return f'<p class="note">{esc(w("no_data"))}</p>'
    cols = [c for c in columns if any(r.get(c[0]) not in (None, "", [], False) for r in rows) or c[3] == "money"]
    head = "".join(f'<th class="{"num" if k in ("money", "int") else ""}">{esc(en if w.lang == "en" else zh)}</th>'
                   for _, zh, en, k in cols)
    body = "".join(f'<tr>{"".join(_sc_cell(k, r.get(key), r, w) for key, _, _, k in cols)}</tr>' for r in rows)
    foot = ""
    if total_keys:
        cells = []
        for i, (key, _, _, k) in enumerate(cols):
            if key in total_keys:
                cells.append(f'<th class="num">{esc(yuan(sum(int(r.get(key) or 0) for r in rows)))}</th>')
            else:
                cells.append(f"<th>{esc(w('total')) if i == 0 else ''}</th>")
        foot = f'<tfoot><tr>{"".join(cells)}</tr></tfoot>'
    return f'<table id="{table_id}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody>{foot}</table>'


def render_selfcheck_html(sc) -> str:
    """The self-inspection statement of one pharmacy as one self-contained HTML document."""
    lang = _g(sc, "lang", "zh") or "zh"
    w = _Words(lang)
    store = _g(sc, "store") or ""
    totals = _g(sc, "totals") or {}
    refunds = [_asdict(r) for r in _records(_g(sc, "refunds"))]
    stock = [_asdict(r) for r in _records(_g(sc, "stock_corrections"))]
    gaps = [_asdict(r) for r in _records(_g(sc, "process_gaps"))]
    rejects = [_asdict(r) for r in _records(_g(sc, "rejects"))]
    others = [_asdict(r) for r in _records(_g(sc, "other_findings"))]
    refund_fen = totals.get("refund_fen", sum(int(r.get("refund_fen") or 0) for r in refunds))
    to_refund = totals.get("settlements_to_refund", sum(1 for r in refunds if not r.get("reversed")))
    reversed_n = totals.get("settlements_already_reversed", sum(1 for r in refunds if r.get("reversed")))
    items_n = totals.get("stock_items", len({r.get("item_id") for r in stock}))
    b = ['<main><section class="first">']
    b.append(f'<h1>{esc(_scw(w, "title"))}</h1><dl class="meta">')
    b.append(f'<dt>{esc(_scw(w, "store"))}</dt><dd class="store">{esc(store)}</dd>')
    b.append(f'<dt>{esc(w("period"))}</dt><dd>{esc(_period_text(_g(sc, "period")))}</dd>')
    b.append(f'<dt>{esc(w("tool"))}</dt><dd>invreconcile {esc(_version())}</dd></dl>')
    b.append(_privacy_block(sc, w))
    b.append('<div class="cards">'
             f'<div class="card"><div class="v" id="refund-total">{esc(yuan(refund_fen))}</div>'
             f'<div class="k">{esc(_scw(w, "refund_total"))}</div></div>'
             f'<div class="card"><div class="v">{to_refund:,}</div><div class="k">{esc(_scw(w, "settlements"))}</div></div>'
             f'<div class="card"><div class="v">{reversed_n:,}</div><div class="k">{esc(_scw(w, "reversed_n"))}</div></div>'
             f'<div class="card"><div class="v">{items_n:,}</div><div class="k">{esc(_scw(w, "items"))}</div></div>'
             f'<div class="card"><div class="v">{len(gaps):,}</div><div class="k">{esc(_scw(w, "gaps_n"))}</div></div>'
             "</div>")
    b.append(f'<h2 id="refunds">{esc(_scw(w, "refunds"))}</h2><p class="note">{esc(_scw(w, "refunds_note"))}</p>')
    b.append(_sc_table(refunds, SC_REFUND_COLUMNS, w, "sc-refunds", ("medfee_fen", "insurance_fen", "refund_fen")))
    b.append("</section>")
    b.append(f'<section class="page" id="stock"><h2>{esc(_scw(w, "stock"))}</h2><p class="note">{esc(_scw(w, "stock_note"))}</p>')
    chart_rows = [{**r, "store": store} for r in stock if r.get("book") is not None and r.get("counted") is not None]
    if chart_rows:
        b.append(f'<div class="chart-box"><h3>{esc(_scw(w, "chart"))}</h3>{chart_stock(chart_rows, w, top_n=20)}</div>')
    b.append(_sc_table(stock, SC_STOCK_COLUMNS, w, "sc-stock", ("value_fen",) if any(r.get("value_fen") for r in stock) else ()))
    b.append("</section>")
    b.append(f'<section class="page" id="gaps"><h2>{esc(_scw(w, "gaps"))}</h2><p class="note">{esc(_scw(w, "gaps_note"))}</p>'
             f'{_sc_table(gaps, SC_GAP_COLUMNS, w, "sc-gaps")}')
    b.append(f'<h3 id="rejects">{esc(_scw(w, "rejects"))}</h3>{_sc_table(rejects, SC_REJECT_COLUMNS, w, "sc-rejects")}')
    if others:
        b.append(f'<h3 id="others">{esc(_scw(w, "others"))}</h3>{_sc_table(others, SC_GAP_COLUMNS, w, "sc-others")}')
    b.append("</section>")
    b.append(f'<p class="sign">{esc(_scw(w, "sign"))}</p>')
    b.append('<footer>invreconcile — ' + esc(w.pick(
        "本清单由数据比对生成，所列疑点需经药店核实；每项均注明来源文件与行号。",
        "Generated by comparing data; each item must be verified by the pharmacy and cites its source file and row."))
        + "</footer></main>")
    return _doc(_scw(w, "title") + (f" — {store}" if store else ""), lang, "".join(b))


def write_selfcheck_html(selfcheck, path) -> Path:
    """Write the self-inspection statement to ``path`` (one self-contained HTML file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(render_selfcheck_html(selfcheck), encoding="utf-8")
    os.replace(tmp, path)
    return path
