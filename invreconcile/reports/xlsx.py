"""The Excel workbook of a :class:`~invreconcile.reports.model.Report`.

Sheets: a summary (privacy note first, stores, period, data loaded, findings by category
and severity, money at risk), the risk ranking, one sheet per rule with its findings (named
by the rule's title in Chinese, by its id in English), the evidence (ledger rows behind
each finding, with source file and row), and data quality (dq_ findings and rejected
rows). Every table has a frozen header row, an auto-filter and
readable column widths; money is a number formatted as yuan, times and days are real
dates, headers, categories and severities are Chinese (English with ``lang="en"``).

Safe to open: every text is written as a string cell (never a formula), and a text that
begins with ``=``, ``+``, ``-``, ``@``, tab or CR also gets Excel's quote prefix, so that
editing the cell does not turn it into a formula either. Characters XML cannot hold
(control characters other than tab, LF and CR) are shown as ``\\xNN``. Note that XML
normalises a CR in text to LF when the file is read.
"""
from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ERROR_CODES, ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font, PatternFill
from openpyxl.utils import get_column_letter

from ..findings import CATEGORIES, SEVERITIES, word
from ..ledger import TABLE_NAMES

MONEY_FORMAT = "#,##0.00"
DAY_FORMAT = "yyyy-mm-dd"
TIME_FORMAT = "yyyy-mm-dd hh:mm:ss"
DANGEROUS_START = ("=", "+", "-", "@", "\t", "\r")
MAX_CELL = 32000
HEADER_FONT = Font(bold=True)
HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TS = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")


@dataclass(frozen=True)
class Col:
    key: str
    zh: str
    en: str
    kind: str = "text"     # text, int, float, money (fen), pct, day, ts, list
    words: dict | None = None   # values shown by their name in the language (findings.CATEGORIES)

    def head(self, lang: str) -> str:
        return self.en if lang == "en" else self.zh

    def value(self, row: dict, lang: str):
        """This column's value in ``row`` as the cell shows it."""
        v = row.get(self.key)
        return word(self.words, v, lang) if self.words else v


def display_width(text: str) -> int:
    """Columns ``text`` takes on screen: two for a wide (CJK) character."""
    if text.isascii():   # most cells (ids, numbers, dates, codes): a character each
        return len(text)
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def safe_text(value) -> str:
    """Text as it goes into a cell: illegal XML characters escaped, at most 32,000 characters."""
    text = str(value)
    text = ILLEGAL_CHARACTERS_RE.sub(lambda m: f"\\x{ord(m.group(0)):02x}", text)
    if len(text) > MAX_CELL:
        text = text[:MAX_CELL] + "…"
    return text


def _to_date(value, kind):
    if isinstance(value, (dt.date, dt.datetime)):
        return value
    text = str(value)
    try:
        if kind == "day" and _DAY.match(text):
            return dt.date.fromisoformat(text)
        if kind == "ts" and _TS.match(text):
            return dt.datetime.fromisoformat(text)
    except ValueError:
        pass
    return None


def convert(value, kind: str = "text") -> tuple[object, str | None, str]:
    """How ``value`` goes into a cell: its cell value (None: an empty cell; a str: a text
    cell, never a formula), its number format (None: the default) and the text whose width
    counts for the column."""
    if value is None or value == "":
        return None, None, ""
    if kind == "money":
        yuan = round(int(value) / 100, 2)
        return yuan, MONEY_FORMAT, f"{yuan:,.2f}"
    if kind == "pct":
        return float(value), "0.0%", f"{value:.1%}"
    if kind in ("int", "float") and isinstance(value, (int, float)) and not isinstance(value, bool):
        return value, None, str(value)
    if kind in ("day", "ts"):
        d = _to_date(value, kind)
        if d is not None:
            return d, DAY_FORMAT if kind == "day" else TIME_FORMAT, "2026-01-01" if kind == "day" else "2026-01-01 00:00:00"
    if kind == "list" and isinstance(value, (list, tuple)):
        value = ", ".join(str(v) for v in value)
    return safe_text(value), None, str(value)[:80]


def new_cell(ws, value, kind: str = "text", font=None):
    """``value`` to append to ``ws`` (:func:`convert`): the value itself where appending
    it gives that cell (most: openpyxl turns a cell handed to ``append`` into one only
    after failing to read it as a value, which took a third of a report's time), else a
    cell with its number format, and Excel's quote prefix on a text that begins like a
    formula."""
    v, number_format, _ = convert(value, kind)
    text = isinstance(v, str)
    if font is None and number_format is None and not (text and (v.startswith(DANGEROUS_START) or v in ERROR_CODES)):
        return v
    cell = WriteOnlyCell(ws, v)
    if text:
        cell.data_type = "s"
        if v.startswith(DANGEROUS_START):
            cell.quotePrefix = True
    if number_format:
        cell.number_format = number_format
    if font is not None:
        cell.font = font
    return cell


def table_widths(columns: list[Col], rows: list[dict], lang: str) -> list[float]:
    """Column widths that show each column's header and the first line of its values
    (at least 8, at most 60 characters)."""
    widths = [display_width(c.head(lang)) for c in columns]
    for row in rows:
        for j, c in enumerate(columns):
            widths[j] = max(widths[j], display_width(convert(c.value(row, lang), c.kind)[2].split("\n")[0]))
    return [max(8, min(w + 2, 60)) for w in widths]


def set_widths(ws, widths) -> None:
    for j, w in enumerate(widths, 1):
        ws.column_dimensions[get_column_letter(j)].width = w


def write_table(ws, columns: list[Col], rows: list[dict], lang: str, sheet: bool = True) -> None:
    """A table with a bold header, appended to ``ws``. As the sheet (``sheet``): with the
    column widths of its values, a frozen header and an auto-filter, set before its first
    row (a write-only sheet writes them first: its rows are read twice); within a sheet,
    the caller sets the widths."""
    if sheet:
        set_widths(ws, table_widths(columns, rows, lang))
        ws.freeze_panes = "A2"
        ws.auto_filter.ref = f"A1:{get_column_letter(len(columns))}{len(rows) + 1}"
    header = []
    for c in columns:
        cell = new_cell(ws, c.head(lang), font=HEADER_FONT)
        cell.fill = HEADER_FILL
        header.append(cell)
    ws.append(header)
    for row in rows:
        ws.append([new_cell(ws, c.value(row, lang), c.kind) for c in columns])


def sheet_name(wanted: str, used: set) -> str:
    """A sheet name Excel accepts: no []:*?/\\, at most 31 characters, unique."""
    name = re.sub(r"[\[\]:*?/\\]", "_", wanted).strip("'")[:31] or "sheet"
    base, n = name, 2
    while name.lower() in used:
        suffix = f"~{n}"
        name = base[:31 - len(suffix)] + suffix
        n += 1
    used.add(name.lower())
    return name


# --------------------------------------------------------------------------- columns

FINDING_COLUMNS = [
    Col("id", "疑点编号", "finding id"),
    Col("severity", "严重程度", "severity", words=SEVERITIES),
    Col("category", "类别", "category", words=CATEGORIES),
    Col("store", "门店", "store"),
    Col("period", "期间", "period"),
    Col("day_first", "起始日", "first day", "day"),
    Col("day_last", "截止日", "last day", "day"),
    Col("amount_fen", "涉及医保金额（元）", "amount at risk (yuan)", "money"),
    Col("title", "规则", "rule title"),
    Col("message", "说明", "what was seen"),
    Col("setl_ids", "结算ID", "settlements", "list"),
    Col("codes", "追溯码", "trace codes", "list"),
    Col("psn_nos", "人员编号", "persons", "list"),
    Col("items", "商品编码", "items", "list"),
    Col("evidence_total", "证据行数", "evidence rows", "int"),
]

EVIDENCE_COLUMNS = [
    Col("finding_id", "疑点编号", "finding id"),
    Col("rule", "规则", "rule"),
    Col("table", "台账表", "ledger table", words=TABLE_NAMES),
    Col("id", "行ID", "row id", "int"),
    Col("src_file", "来源文件", "source file"),
    Col("src_row", "来源行号", "source row", "int"),
    Col("store", "门店", "store"),
    Col("ts", "时间", "time", "ts"),
    Col("item_id", "商品编码", "item id"),
    Col("item_name", "商品名称", "item name"),
    Col("qty", "数量（最小单位）", "quantity (min. units)", "int"),
    Col("amount_fen", "金额（元）", "amount (yuan)", "money"),
    Col("insurance_fen", "医保支付（元）", "insurance paid (yuan)", "money"),
    Col("setl_id", "结算ID", "settlement"),
    Col("psn_no", "人员编号", "person"),
    Col("psn_name", "姓名", "name"),
    Col("certno", "证件号码", "ID number"),
    Col("codes", "追溯码", "trace codes"),
]

QUALITY_COLUMNS = [
    Col("type", "类型", "type"),
    Col("what", "规则/原因", "rule / reason"),
    Col("store", "门店", "store"),
    Col("file", "文件", "file"),
    Col("row", "行号", "row", "int"),
    Col("column", "列", "column"),
    Col("message", "说明", "description"),
    Col("found", "实际值", "found"),
    Col("expected", "应为", "expected"),
    Col("id", "疑点编号", "finding id"),
]

RANKING_COLUMNS = [
    Col("rank", "排名", "rank", "int"),
    Col("store", "门店", "store"),
    Col("score", "风险分", "score", "float"),
    Col("money_at_risk_fen", "涉及医保基金（元）", "money at risk (yuan)", "money"),
    Col("insurance_fen", "医保结算（元）", "insurance paid (yuan)", "money"),
    Col("money_rate", "风险占比", "share at risk", "pct"),
    Col("settlements", "结算笔数", "settlements", "int"),
    Col("findings", "疑点数", "findings", "int"),
    Col("high", "高", "high", "int"),
    Col("medium", "中", "medium", "int"),
    Col("low", "低", "low", "int"),
    Col("per_1000", "每千笔疑点", "per 1,000 settlements", "float"),
    Col("peer_z", "同行稳健z值", "peer robust z", "float"),
    Col("reasons", "评分理由", "reasons"),
]

LOADED_COLUMNS = [
    Col("store", "门店", "store"), Col("month", "月份", "month"),
    Col("purchases", "采购", "purchases", "int"), Col("sales", "销售", "sales", "int"),
    Col("settlements", "结算", "settlements", "int"), Col("settlement_lines", "结算明细", "settlement lines", "int"),
    Col("stock_counts", "盘存", "stock counts", "int"), Col("stock_changes", "库存变更", "stock changes", "int"),
    Col("scans", "扫码", "scans", "int"), Col("codes", "追溯码", "trace codes", "int"),
]


def quality_rows(report) -> list[dict]:
    t = report.t
    rows = [{"type": t("数据质量疑点", "data-quality finding"), "what": d["rule"], "store": d["store"],
             "message": d["message"], "id": d["id"],
             "file": ", ".join(sorted({e["src_file"] for e in d.get("evidence") or [] if e.get("src_file")}))}
            for d in report.data_quality]
    rows += [{"type": t("拒收行", "rejected row"), "what": r["reason"], "store": r["store"], "file": r["file"],
              "row": r["row"], "column": r["column"], "message": r["reason_text"], "found": r["found"],
              "expected": r["expected"]} for r in report.rejects]
    return rows


def ranking_rows(report) -> list[dict]:
    return [{**r, **r["by_severity"], "reasons": "\n".join(r["reasons"])} for r in report.ranking]


# --------------------------------------------------------------------------- summary

def kv(ws, label: str, value, kind: str = "text") -> None:
    """A row of a bold label and its value."""
    ws.append([new_cell(ws, label, font=HEADER_FONT), new_cell(ws, value, kind)])


def write_summary(ws, report) -> None:
    t, s = report.t, report.summary
    cat_rows = [{"category": c, **v, "money": s["money_by_category_fen"].get(c, 0)}
                for c, v in s["by_category_severity"].items()]
    # the widths of the data-loaded table, the widest, with room for the labels
    widths = table_widths(LOADED_COLUMNS, report.loaded, report.lang)
    set_widths(ws, [40, max(widths[1], 24), *widths[2:]])
    ws.append([new_cell(ws, t("药店进销存与医保结算对账报告", "Pharmacy stock and insurance settlement reconciliation report"),
                        font=Font(bold=True, size=14))])
    ws.append([new_cell(ws, report.privacy_note,
                        font=Font(bold=True, color="C00000" if report.privacy_mode == "revealed" else "000000"))])
    ws.append([])
    kv(ws, t("门店", "stores"), ", ".join(report.generated_for))
    kv(ws, t("起始日", "first day"), report.period.get("first"), "day")
    kv(ws, t("截止日", "last day"), report.period.get("last"), "day")
    kv(ws, t("结算笔数", "settlements"), s["settlements"], "int")
    kv(ws, t("医保结算金额（元）", "insurance paid (yuan)"), s["insurance_fen"], "money")
    kv(ws, t("疑点总数", "findings"), s["findings"], "int")
    kv(ws, t("其中数据质量疑点", "of which data quality"), s["data_quality_findings"], "int")
    kv(ws, t("涉及医保基金（元，每笔结算只计一次）", "money at risk (yuan, each settlement once)"),
       s["money_at_risk_fen"], "money")
    kv(ws, t("拒收行数", "rejected rows"), len(report.rejects), "int")
    section = Font(bold=True, size=12)
    for title, columns, rows in (
            (t("按类别和严重程度的疑点数", "Findings by category and severity"),
             [Col("category", "类别", "category", words=CATEGORIES), Col("high", "高", "high", "int"), Col("medium", "中", "medium", "int"),
              Col("low", "低", "low", "int"), Col("money", "涉及医保基金（元）", "money at risk (yuan)", "money")],
             cat_rows),
            (t("按门店的涉及医保基金", "Money at risk by store"),
             [Col("store", "门店", "store"), Col("money", "涉及医保基金（元）", "money at risk (yuan)", "money")],
             [{"store": k, "money": v} for k, v in s["money_by_store_fen"].items()]),
            (t("已导入数据（按门店、月份的行数）", "Data loaded (rows per store and month)"), LOADED_COLUMNS, report.loaded)):
        ws.append([])
        ws.append([new_cell(ws, title, font=section)])
        write_table(ws, columns, rows, report.lang, sheet=False)


def write_xlsx(report, path) -> Path:
    """Write the workbook of ``report`` to ``path`` (.xlsx)."""
    path = Path(path)
    t, lang = report.t, report.lang
    wb = Workbook(write_only=True)   # rows go to the file as they are made, not held as cells
    used: set = set()
    write_summary(wb.create_sheet(sheet_name(t("概览", "Summary"), used)), report)
    if report.ranking:
        write_table(wb.create_sheet(sheet_name(t("风险排名", "Risk ranking"), used)), RANKING_COLUMNS,
                    ranking_rows(report), lang)
    titles = {f["rule"]: f["title"] for f in report.findings}
    for rule in sorted(r for r in titles if not r.startswith("dq_")):
        rows = [f for f in report.findings if f["rule"] == rule]
        # a rule's sheet named by its id in English, by its title in Chinese (every title fits)
        name = rule if lang == "en" else titles[rule].replace("/", "、")
        write_table(wb.create_sheet(sheet_name(name, used)), FINDING_COLUMNS, rows, lang)
    write_table(wb.create_sheet(sheet_name(t("证据", "Evidence"), used)), EVIDENCE_COLUMNS, report.evidence, lang)
    write_table(wb.create_sheet(sheet_name(t("数据质量与拒收", "Data quality"), used)), QUALITY_COLUMNS,
                quality_rows(report), lang)
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)
    return path
