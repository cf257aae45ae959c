"""Self-inspection statement (自查自纠) of one pharmacy: what to refund, what stock to
correct, which process gaps to close; as data (:func:`build_selfcheck`) and as XLSX
(:func:`write_selfcheck_xlsx`).

* Refunds: every settlement that an accusing finding names, once, with its insurance money
  (fund + personal account), the rules and findings that name it and the ledger rows behind
  them (file:row). A settlement already reversed (2103) owes nothing more and says so.
* Stock corrections: items of count_surplus, count_shortage, negative_stock and
  covered_surplus_noncovered_shortage findings, with book and counted quantities at the
  count, the gap, and the running book stock at its lowest and at the end.
* Process gaps: product_barcode_as_code, codes_fewer_than_boxes, expired_at_sale,
  name_mismatch and data-quality (dq_) findings, and the store's rejected rows.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from openpyxl import Workbook
from openpyxl.styles import Font

from ..findings import SEVERITIES, load as load_findings
from .model import Document, _rejects, _table_exists, mask_finding
from .privacy import Privacy, ledger_persons
from .xlsx import Col, kv, new_cell, set_widths, sheet_name, write_table

STOCK_RULES = ("count_surplus", "count_shortage", "negative_stock", "covered_surplus_noncovered_shortage")
PROCESS_RULES = ("product_barcode_as_code", "codes_fewer_than_boxes", "expired_at_sale", "name_mismatch")


@dataclass
class SelfCheck(Document):
    store: str
    period: dict
    lang: str
    privacy_mode: str
    privacy_note: str
    totals: dict = field(default_factory=dict)
    refunds: list = field(default_factory=list)
    stock_corrections: list = field(default_factory=list)
    process_gaps: list = field(default_factory=list)
    rejects: list = field(default_factory=list)
    other_findings: list = field(default_factory=list)


def _ref(ev: dict) -> str:
    return f"{ev.get('src_file')}:{ev.get('src_row')}"


def build_selfcheck(db, store: str, *, since: str | None = None, until: str | None = None, lang: str = "zh",
                    privacy: Privacy = Privacy(), records=None) -> SelfCheck:
    """The statement of ``store`` from the findings in the ledger ``db`` and the records in
    ``records`` (default: the same ledger; a lake's for an audit on one, as for
    :func:`~invreconcile.reports.model.build_report`)."""
    data = records if records is not None else db
    conn = data.conn
    persons = ledger_persons(data) if privacy.mode != "revealed" else {}
    found = [f for f in load_findings(db, stores=[store]) if f.within(since, until)]
    title = (lambda f: f.title_en if lang == "en" else f.title_zh)

    # refunds: one row per settlement named by an accusing finding
    by_setl: dict[str, dict] = {}
    for f in found:
        if f.rule.startswith("dq_") or f.category == "data_quality" or f.rule in STOCK_RULES:
            continue
        refs = [_ref(e) for e in f.evidence]
        for sid in f.setl_ids:
            row = by_setl.setdefault(sid, {"setl_id": sid, "rules": set(), "findings": set(), "titles": set(),
                                          "evidence": set()})
            row["rules"].add(f.rule)
            row["findings"].add(f.id)
            row["titles"].add(title(f))
            row["evidence"].update(refs)
    refunds = []
    for sid in sorted(by_setl):
        row = by_setl[sid]
        s = conn.execute("SELECT ts, psn_no, psn_name, medfee_fen, insurance_fen, src_file, src_row FROM settlements "
                         "WHERE store = ? AND setl_id = ? AND is_reversal = 0 AND deleted = 0 ORDER BY id LIMIT 1",
                         (store, sid)).fetchone()
        reversed_ = conn.execute("SELECT 1 FROM settlements WHERE is_reversal = 1 AND orig_setl_id = ? AND deleted = 0",
                                 (sid,)).fetchone() is not None
        ts, psn, name, medfee, ins, src_file, src_row = s or (None,) * 7
        ev = set(row["evidence"])
        if src_file:
            ev.add(f"{src_file}:{src_row}")
        refunds.append({
            "setl_id": sid, "ts": ts, "psn_no": privacy.psn(psn), "psn_name": privacy.name(name),
            "medfee_fen": medfee, "insurance_fen": ins, "reversed": reversed_,
            "refund_fen": 0 if reversed_ else (ins or 0),
            "rules": sorted(row["rules"]), "titles": sorted(row["titles"]), "findings": sorted(row["findings"]),
            "evidence": sorted(ev),
        })

    # stock corrections
    have_book = _table_exists(data, "v_count_book")
    have_moves = _table_exists(data, "v_movements")
    have_item = _table_exists(data, "v_item")
    merged: dict[tuple, dict] = {}
    for f in found:
        if f.rule not in STOCK_RULES:
            continue
        for item in f.items:
            key = (item, f.day_first or "")
            if key not in merged:
                merged[key] = _correction(conn, store, item, f.day_first, have_book, have_moves, have_item)
            c = merged[key]
            c["rules"].add(f.rule)
            c["titles"].add(title(f))
            c["findings"].add(f.id)
            c["messages"].add(privacy.scrub(f.message_en if lang == "en" else f.message_zh, persons))
            c["evidence"].update(_ref(e) for e in f.evidence)
    corrections = [{**c, **{k: sorted(c[k]) for k in ("rules", "titles", "findings", "messages", "evidence")}}
                   for c in merged.values()]
    corrections.sort(key=lambda r: (r["item_id"], r["day"] or ""))

    gaps, others = [], []
    for f in found:
        d = f.as_dict(lang)
        d["amount_fen"] = f.amount_fen
        d["title"] = title(f)
        d = mask_finding(d, privacy, persons)
        d["evidence_refs"] = sorted({_ref(e) for e in f.evidence})
        if f.rule in PROCESS_RULES or f.rule.startswith("dq_"):
            gaps.append(d)
        elif f.rule not in STOCK_RULES and not f.setl_ids:
            others.append(d)
    rejects = [r for r in _rejects(data, [store], lang, privacy, persons) if r["store"] == store]

    first, last = since, until
    if not (first and last):
        lo, hi = conn.execute("SELECT MIN(day), MAX(day) FROM settlements WHERE store = ? AND deleted = 0",
                              (store,)).fetchone()
        first, last = first or lo, last or hi
    totals = {
        "refund_fen": sum(r["refund_fen"] for r in refunds),
        "settlements_to_refund": sum(1 for r in refunds if not r["reversed"]),
        "settlements_already_reversed": sum(1 for r in refunds if r["reversed"]),
        "stock_items": len({r["item_id"] for r in corrections}),
        "process_gaps": len(gaps),
        "rejects": len(rejects),
        "findings": len(found),
    }
    return SelfCheck(store=store, period={"first": first, "last": last}, lang=lang, privacy_mode=privacy.mode,
                     privacy_note=privacy.note(lang), totals=totals, refunds=refunds, stock_corrections=corrections,
                     process_gaps=gaps, rejects=rejects, other_findings=others)


def _correction(conn, store, item, day, have_book, have_moves, have_item) -> dict:
    book = counted = gap = None
    if have_book and day:
        r = conn.execute("SELECT book, counted, new_diff FROM v_count_book WHERE store = ? AND item_id = ? "
                         "AND day = ? ORDER BY epoch DESC LIMIT 1", (store, item, day)).fetchone()
        if r:
            book, counted, gap = r
    low = end = None
    if have_moves:
        low, end = conn.execute(
            "SELECT MIN(run), (SELECT SUM(delta) FROM v_movements WHERE store = ? AND item_id = ?) FROM ("
            "SELECT SUM(delta) OVER (ORDER BY epoch, ref ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS run "
            "FROM v_movements WHERE store = ? AND item_id = ?)", (store, item, store, item)).fetchone()
    name = conn.execute("SELECT item_name FROM items WHERE item_id = ? AND store IN (?, '') "
                        "ORDER BY store DESC LIMIT 1", (item, store)).fetchone()
    value = None
    if gap is not None and have_item:
        u = conn.execute("SELECT unit_fen FROM v_item WHERE store = ? AND item_id = ?", (store, item)).fetchone()
        if u and u[0] is not None:
            value = int(round(gap * u[0]))
    return {"item_id": item, "item_name": name[0] if name else None, "day": day, "book": book, "counted": counted,
            "gap": gap, "value_fen": value, "book_lowest": low, "book_end": end,
            "rules": set(), "titles": set(), "findings": set(), "messages": set(), "evidence": set()}


REFUND_COLUMNS = [
    Col("setl_id", "结算ID", "settlement"), Col("ts", "结算时间", "time", "ts"),
    Col("psn_no", "人员编号", "person"), Col("psn_name", "姓名", "name"),
    Col("medfee_fen", "医疗费总额（元）", "total (yuan)", "money"),
    Col("insurance_fen", "医保支付（元）", "insurance paid (yuan)", "money"),
    Col("refund_fen", "应退回（元）", "to refund (yuan)", "money"),
    Col("reversed_text", "已冲正", "already reversed"),
    Col("titles", "问题", "issues", "list"), Col("rules", "规则", "rules", "list"),
    Col("findings", "疑点编号", "finding ids", "list"), Col("evidence", "证据（文件:行）", "evidence (file:row)", "list"),
]
STOCK_COLUMNS = [
    Col("item_id", "商品编码", "item id"), Col("item_name", "商品名称", "item name"),
    Col("titles", "问题", "issues", "list"), Col("day", "盘点日", "count day", "day"),
    Col("book", "账面数量", "book", "int"), Col("counted", "实盘数量", "counted", "int"),
    Col("gap", "新增差异", "new gap", "int"), Col("book_lowest", "账面最低", "lowest book", "int"),
    Col("book_end", "期末账面", "book at end", "int"), Col("value_fen", "差异金额（元）", "gap value (yuan)", "money"),
    Col("messages", "说明", "description", "list"), Col("findings", "疑点编号", "finding ids", "list"),
    Col("evidence", "证据（文件:行）", "evidence (file:row)", "list"),
]
GAP_COLUMNS = [
    Col("title", "问题", "issue"), Col("rule", "规则", "rule"), Col("severity", "严重程度", "severity", words=SEVERITIES),
    Col("period", "期间", "period"), Col("message", "说明", "description"), Col("items", "商品编码", "items", "list"),
    Col("setl_ids", "结算ID", "settlements", "list"), Col("id", "疑点编号", "finding id"),
    Col("evidence_refs", "证据（文件:行）", "evidence (file:row)", "list"),
]
REJECT_COLUMNS = [
    Col("file", "文件", "file"), Col("row", "行号", "row", "int"), Col("column", "列", "column"),
    Col("reason_text", "原因", "reason"), Col("found", "实际值", "found"), Col("expected", "应为", "expected"),
]


def write_selfcheck_xlsx(sc: SelfCheck, path) -> Path:
    path = Path(path)
    t, lang = sc.t, sc.lang
    wb = Workbook(write_only=True)
    used: set = set()
    ws = wb.create_sheet(sheet_name(t("自查说明", "Statement"), used))
    set_widths(ws, [44, 24])
    ws.append([new_cell(ws, t(f"定点零售药店自查自纠清单：{sc.store}", f"Self-inspection statement: {sc.store}"),
                     font=Font(bold=True, size=14))])
    ws.append([new_cell(ws, sc.privacy_note, font=Font(bold=True))])
    ws.append([])
    kv(ws, t("门店", "store"), sc.store)
    kv(ws, t("起始日", "first day"), sc.period.get("first"), "day")
    kv(ws, t("截止日", "last day"), sc.period.get("last"), "day")
    kv(ws, t("应退回医保基金（元）", "insurance money to refund (yuan)"), sc.totals["refund_fen"], "money")
    kv(ws, t("应退回结算笔数", "settlements to refund"), sc.totals["settlements_to_refund"], "int")
    kv(ws, t("已冲正的疑点结算", "flagged settlements already reversed"), sc.totals["settlements_already_reversed"], "int")
    kv(ws, t("需更正库存的商品数", "items whose stock to correct"), sc.totals["stock_items"], "int")
    kv(ws, t("流程问题数", "process gaps"), sc.totals["process_gaps"], "int")
    kv(ws, t("拒收行数", "rejected rows"), sc.totals["rejects"], "int")
    ws.append([])
    for line in (t("1. 逐笔核实“应退回结算”，属实的按医保部门要求退回基金（含个人账户支付部分）。",
                   "1. Check each settlement to refund; refund the insurance money (fund and personal account) where confirmed."),
                 t("2. 按“库存更正”复盘实物，按实盘更正账面，并说明差异原因。",
                   "2. Recount the items under stock corrections, correct the books to the count and explain each gap."),
                 t("3. 整改“流程问题”：扫描药品追溯码（不是商品条码），每盒一个码，按时完整上传。",
                   "3. Close the process gaps: scan the trace code (not the product barcode), one code per box, upload complete and on time.")):
        ws.append([new_cell(ws, line)])
    refunds = [{**x, "reversed_text": t("是", "yes") if x["reversed"] else ""} for x in sc.refunds]
    write_table(wb.create_sheet(sheet_name(t("应退回结算", "Refunds"), used)), REFUND_COLUMNS, refunds, lang)
    write_table(wb.create_sheet(sheet_name(t("库存更正", "Stock corrections"), used)), STOCK_COLUMNS,
                sc.stock_corrections, lang)
    write_table(wb.create_sheet(sheet_name(t("流程问题", "Process gaps"), used)), GAP_COLUMNS, sc.process_gaps, lang)
    write_table(wb.create_sheet(sheet_name(t("拒收行", "Rejected rows"), used)), REJECT_COLUMNS, sc.rejects, lang)
    if sc.other_findings:
        write_table(wb.create_sheet(sheet_name(t("其他疑点", "Other findings"), used)), GAP_COLUMNS,
                    sc.other_findings, lang)
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)
    return path
