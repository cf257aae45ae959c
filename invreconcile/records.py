"""Turning raw records into ledger rows: values parsed, money in fen, quantities in
minimum units, times in China time with derived columns, trace codes normalised.

A record that cannot be understood raises :class:`Rejected` naming the column, what was
found and what was expected; the importer stores it in ``rejects``.

>>> parse_time("2026/09/01 8:05").isoformat(sep=" ")
'2026-09-01 08:05:00'
>>> time_columns(parse_time("2026-09-01T00:30:00Z"))["ts"]
'2026-09-01 08:30:00'
>>> to_fen("12.345")
1235
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import unicodedata
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from . import codes as codes_mod

CHINA = dt.timezone(dt.timedelta(hours=8))

#: reason code -> (Chinese, English) text shown to users; {column}, {found}, {expected} filled in.
REASONS = {
    "missing": ("缺少必填字段「{column}」", "required field '{column}' is empty"),
    "bad_time": ("「{column}」不是可识别的时间：{found}（应为 {expected}）", "'{column}' is not a time: {found} (expected {expected})"),
    "bad_date": ("「{column}」不是可识别的日期：{found}（应为 {expected}）", "'{column}' is not a date: {found} (expected {expected})"),
    "bad_money": ("「{column}」不是金额：{found}（应为以元计的数字）", "'{column}' is not an amount: {found} (expected a number of yuan)"),
    "bad_number": ("「{column}」不是数字：{found}（应为 {expected}）", "'{column}' is not a number: {found} (expected {expected})"),
    "fractional_qty": ("「{column}」换算为最小单位后不是整数：{found}", "'{column}' is not a whole number of minimum units: {found}"),
    "bad_value": ("「{column}」的值 {found} 无效（应为 {expected}）", "'{column}' has the invalid value {found} (expected {expected})"),
    "no_store": ("没有定点机构编码：文件中无 fixmedins_code 列，请用 --store 指定门店", "no store: the row has no fixmedins_code; give --store CODE"),
    "excel_number_code": ("追溯码被 Excel 存成了数字，已丢失位数：{found}；请把该列设为文本后重新导出", "trace code was stored as a number by Excel and lost digits: {found}; export the column as text"),
    "cut_code_cell": ("追溯码单元格正好 32,767 个字符，是 Excel 单元格的上限，保存时很可能被截断，其后的追溯码已丢失（最后一段：{found}）；请把追溯码每行一个导出，或导出为 CSV / JSON 后重新导入", "the trace code cell holds exactly 32,767 characters, Excel's limit for a cell: it was most likely cut when saved and the codes after it are lost (last piece: {found}); export one code per row, or as CSV / JSON, and import again"),
    "json": ("无法解析的报文：{found}", "unreadable message: {found}"),
    "infno": ("无法识别的报文：{found}", "unknown message: {found}"),
}


#: what was expected, as the rejects table keeps it (English) -> Chinese
EXPECTED_ZH = {
    "a number": "数字", "a whole number": "整数",
    "a positive whole number of units per pack": "每个包装所含的最小单位数（正整数）",
    "1 count, 2 change, 3 purchase, 4 sale": "1 盘存、2 变更、3 采购、4 销售",
    "receive, dispense, stocktake or verify": "receive、dispense、stocktake 或 verify",
}


def reason_text(reason: str, column: str | None, found: str | None, expected: str | None, lang: str = "zh") -> str:
    zh, en = REASONS.get(reason, (reason, reason))
    if lang == "zh" and expected:
        one_of = re.fullmatch(r"one of (\S+)", expected)
        expected = EXPECTED_ZH.get(expected) or (f"{one_of.group(1)} 之一" if one_of else expected)
    return (zh if lang == "zh" else en).format(column=column or "", found=found or "", expected=expected or "")


class Rejected(Exception):
    def __init__(self, reason: str, column: str | None = None, found=None, expected: str | None = None):
        self.reason, self.column, self.expected = reason, column, expected
        self.found = None if found is None else str(found)[:200]
        super().__init__(reason_text(reason, column, self.found, expected, "en"))


# --------------------------------------------------------------------------- values

_EMPTY_WORDS = frozenset(("nan", "none", "null"))


def clean(v) -> str:
    if v is None:
        return ""
    s = v if type(v) is str else str(v)
    if not s.isascii():
        s = unicodedata.normalize("NFKC", s)
    s = s.strip()
    return "" if len(s) <= 4 and s.lower() in _EMPTY_WORDS else s


_TIME_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S.%f", "%Y%m%d%H%M%S",
                 "%Y-%m-%d", "%Y%m%d", "%Y年%m月%d日 %H:%M:%S", "%Y年%m月%d日 %H:%M", "%Y年%m月%d日")


def parse_time(value) -> dt.datetime:
    """Parse a local China time; raise ValueError. Aware times are converted to China time."""
    s = clean(value)
    if not s:
        raise ValueError("empty")
    s = s.replace("/", "-").replace(".", "-", 2) if re.match(r"^\d{4}[/.]", s) else s
    if re.fullmatch(r"\d{5}(\.\d+)?", s):  # Excel serial day number
        return dt.datetime(1899, 12, 30) + dt.timedelta(days=float(s))
    try:
        t = dt.datetime.fromisoformat(s.replace("Z", "+00:00"))
        if t.tzinfo is not None:
            t = t.astimezone(CHINA).replace(tzinfo=None)
        return t
    except ValueError:
        pass
    for fmt in _TIME_FORMATS:
        try:
            return dt.datetime.strptime(s, fmt)
        except ValueError:
            continue
    raise ValueError(s)


def time_columns(t: dt.datetime | None) -> dict:
    if t is None:
        return dict(ts=None, day=None, month=None, epoch=None, hour=None, tod_min=None, dow=None)
    t = t.replace(microsecond=0, tzinfo=None)   # as strftime wrote it: the time as given
    # isoformat is the strftime text at a fifth of the cost for years 1000 on (strftime's %Y
    # does not pad a smaller year: kept as it was, so that record hashes stay the same)
    ts = t.isoformat(" ") if t.year >= 1000 else t.strftime("%Y-%m-%d %H:%M:%S")
    since = t - _UNIX_EPOCH
    return dict(
        ts=ts, day=ts[:-9], month=ts[:-12], epoch=since.days * 86400 + since.seconds - 8 * 3600,
        hour=t.hour, tod_min=t.hour * 60 + t.minute, dow=t.isoweekday(),
    )


_UNIX_EPOCH = dt.datetime(1970, 1, 1)


def to_decimal(value) -> Decimal | None:
    s = clean(value).replace(",", "").replace("¥", "").replace("￥", "").replace("元", "")
    if not s:
        return None
    try:
        d = Decimal(s)
    except InvalidOperation:
        raise ValueError(s) from None
    if not d.is_finite():
        raise ValueError(s)
    return d


def to_fen(value) -> int | None:
    d = to_decimal(value)
    return None if d is None else int((d * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))


# --------------------------------------------------------------------------- helpers per record

@dataclass
class Converted:
    table: str
    row: dict
    codes: list = field(default_factory=list)   # TraceCode objects
    event: str | None = None                    # code event of this row's codes


class Ctx:
    """What the converter needs to know besides the record itself."""

    def __init__(self, store: str | None, catalog: dict):
        self.store = store
        self.catalog = catalog  # (store, item_id) or ('', item_id) -> dict(convrat, pack_unit, min_unit)

    def item(self, store: str, item_id: str) -> dict | None:
        return self.catalog.get((store, item_id)) or self.catalog.get(("", item_id))


class _Rec:
    def __init__(self, fields: dict, columns: dict):
        self.f = fields
        self.columns = columns
        self.v: dict[str, str] = {}   # name -> cleaned value, each cleaned once when first asked for

    def col(self, name: str) -> str:
        return self.columns.get(name, name)

    def first(self, *names) -> tuple[str | None, str]:
        values = self.v
        for n in names:
            v = values.get(n)
            if v is None:
                v = values[n] = clean(self.f.get(n))
            if v:
                return n, v
        return None, ""

    def text(self, *names) -> str | None:
        return self.first(*names)[1] or None

    def required(self, *names) -> str:
        n, v = self.first(*names)
        if not v:
            raise Rejected("missing", self.col(names[0]), expected=names[0])
        return v

    def time(self, *names, required=False) -> dt.datetime | None:
        n, v = self.first(*names)
        if not v:
            if required:
                raise Rejected("missing", self.col(names[0]), expected="YYYY-MM-DD HH:MM:SS")
            return None
        try:
            return parse_time(v)
        except ValueError:
            raise Rejected("bad_time", self.col(n), v, "YYYY-MM-DD HH:MM:SS") from None

    def date(self, *names) -> str | None:
        n, v = self.first(*names)
        if not v:
            return None
        try:
            return parse_time(v).date().isoformat()
        except ValueError:
            raise Rejected("bad_date", self.col(n), v, "YYYY-MM-DD") from None

    def fen(self, *names) -> int | None:
        n, v = self.first(*names)
        try:
            return to_fen(v)
        except ValueError:
            raise Rejected("bad_money", self.col(n), v) from None

    def number(self, *names, required=False) -> Decimal | None:
        n, v = self.first(*names)
        if not v:
            if required:
                raise Rejected("missing", self.col(names[0]), expected="a number")
            return None
        try:
            return to_decimal(v)
        except ValueError:
            raise Rejected("bad_number", self.col(n), v, "a number") from None

    def integer(self, *names, allowed=None) -> int | None:
        n, v = self.first(*names)
        if not v:
            return None
        try:
            d = to_decimal(v)
            if d != d.to_integral_value():
                raise ValueError
            i = int(d)
        except ValueError:
            raise Rejected("bad_number", self.col(n), v, "a whole number") from None
        if allowed is not None and i not in allowed:
            raise Rejected("bad_value", self.col(n), v, f"one of {min(allowed)}..{max(allowed)}")
        return i

    def flag(self, *names) -> int | None:
        v = self.text(*names)
        if v is None:
            return None
        return 1 if v in ("1", "是", "Y", "y", "true", "True", "TRUE") else 0


PACK_WORDS = {"盒", "箱", "件", "大盒"}


def quantity(rec: _Rec, ctx: Ctx, store: str, item_id: str | None, *names) -> dict:
    """qty in minimum units (None when a pack unit cannot be converted), plus the original."""
    n, v = rec.first(*names)
    d = rec.number(*names, required=True)
    unit = rec.text("unit")
    info = ctx.item(store, item_id) if item_id else None
    qty = d
    if unit:
        min_unit = info.get("min_unit") if info else None
        pack_unit = info.get("pack_unit") if info else None
        if unit == min_unit:
            qty = d
        elif unit == pack_unit or unit in PACK_WORDS:
            convrat = info.get("convrat") if info else None
            qty = d * convrat if convrat else None
    if qty is not None:
        if qty != qty.to_integral_value():
            raise Rejected("fractional_qty", rec.col(n), f"{v} {unit or ''}".strip())
        qty = int(qty)
    return dict(qty=qty, qty_orig=v, unit_orig=unit)


_EXCEL_NUMBER = re.compile(r"\d(\.\d+)?[eE]\+?\d+")  # a code Excel turned into 8.1E+19
EXCEL_CELL_MAX = 32_767   # characters in one Excel cell: Excel and openpyxl cut a longer text there


def trace_codes(rec: _Rec) -> list:
    raw = rec.f.get("drug_trac_codg")
    text = None if raw is None else str(raw)
    pieces = codes_mod.split_codes(text)
    if text is not None and len(text) == EXCEL_CELL_MAX:
        raise Rejected("cut_code_cell", rec.col("drug_trac_codg"), pieces[-1] if pieces else "")
    out = []
    for piece in pieces:
        if _EXCEL_NUMBER.fullmatch(piece.strip()):
            raise Rejected("excel_number_code", rec.col("drug_trac_codg"), piece)
        out.append(codes_mod.parse(piece))
    return out


def code_text(tc) -> str:
    return tc.key or tc.text


def with_codes(row: dict, tcs: list) -> dict:
    seen = list(dict.fromkeys(code_text(t) for t in tcs if code_text(t)))
    row["codes"] = ",".join(seen) or None
    row["code_count"] = len({code_text(t) for t in tcs if t.is_trace_code})
    return row


def item_ref(rec: _Rec, required=True) -> dict:
    item_id = rec.required("fixmedins_hilist_id") if required else rec.text("fixmedins_hilist_id")
    return dict(item_id=item_id, item_name=rec.text("fixmedins_hilist_name"), med_list_codg=rec.text("med_list_codg"))


# --------------------------------------------------------------------------- per kind

def _catalog(rec, ctx, store):
    ref = item_ref(rec)
    convrat = rec.integer("convrat")
    if convrat is not None and convrat <= 0:
        raise Rejected("bad_value", rec.col("convrat"), convrat, "a positive whole number of units per pack")
    prefixes = [p.strip() for p in re.split(r"[,;，；\s]+", rec.text("trace_prefix") or "") if p.strip()]
    row = dict(store=store or "", **ref, spec=rec.text("spec"), pack_unit=rec.text("pack_unit"),
               min_unit=rec.text("min_unit"), convrat=convrat, category=rec.text("category") or ("drug" if ref["med_list_codg"] else None),
               covered=1 if ref["med_list_codg"] else 0, rx_flag=rec.text("rx_flag"),
               drug_prod_barc=rec.text("drug_prod_barc"), trace_prefix=",".join(prefixes) or None,
               price_fen=rec.fen("pric", "finl_trns_pric"))
    return Converted("items", row)


def _purchase(rec, ctx, store, is_return):
    ref = item_ref(rec)
    t = rec.time("purc_retn_stoin_time", "time", "inv_chg_time")
    tcs = trace_codes(rec)
    q = quantity(rec, ctx, store, ref["item_id"], "purc_retn_cnt", "cnt", "sel_retn_cnt")
    row = dict(store=store, is_return=is_return, **ref, dynt_no=rec.text("dynt_no"), bchno=rec.text("fixmedins_bchno"),
               lotnum=rec.text("manu_lotnum"), spler_name=rec.text("spler_name"), prodentp_name=rec.text("prodentp_name"),
               aprvno=rec.text("aprvno"), manu_date=rec.date("manu_date"), expy_end=rec.date("expy_end"), **q,
               price_fen=rec.fen("finl_trns_pric", "pric"), amount_fen=rec.fen("amount"),
               invoice_no=rec.text("purc_invo_no"), opter=rec.text("purc_retn_opter_name", "opter"),
               medins_prod_purc_no=rec.text("medins_prod_purc_no"), memo=rec.text("memo"), **time_columns(t))
    _fill_amount(row)
    return Converted("purchases", with_codes(row, tcs), tcs, "returned_to_supplier" if is_return else "received")


def _fill_amount(row):
    if row.get("amount_fen") is None and row.get("price_fen") is not None and row.get("qty_orig"):
        try:
            row["amount_fen"] = int((Decimal(row["price_fen"]) * to_decimal(row["qty_orig"])).quantize(Decimal(1), rounding=ROUND_HALF_UP))
        except (ValueError, TypeError):
            pass


def _sale(rec, ctx, store, is_return):
    ref = item_ref(rec)
    t = rec.time("sel_retn_time", "time", "setl_time")
    tcs = trace_codes(rec)
    q = quantity(rec, ctx, store, ref["item_id"], "sel_retn_cnt", "cnt")
    row = dict(store=store, is_return=is_return, **ref, bchno=rec.text("fixmedins_bchno"), lotnum=rec.text("manu_lotnum"),
               manu_date=rec.date("manu_date"), expy_end=rec.date("expy_end"), rx_flag=rec.text("rx_flag"),
               trdn_flag=rec.flag("trdn_flag"), setl_id=rec.text("setl_id"), mdtrt_sn=rec.text("mdtrt_sn"),
               psn_no=rec.text("psn_no"), psn_name=rec.text("psn_name"), psn_cert_type=rec.text("psn_cert_type"),
               certno=rec.text("certno"), hi_feesetl_type=rec.text("hi_feesetl_type"), rxno=rec.text("rxno"),
               rtal_docno=rec.text("rtal_docno"), stoout_no=rec.text("stoout_no"), drug_prod_barc=rec.text("drug_prod_barc"),
               prsc_dr_name=rec.text("prsc_dr_name"), phar_name=rec.text("phar_name"), **q,
               price_fen=rec.fen("pric", "finl_trns_pric"), amount_fen=rec.fen("amount"),
               opter=rec.text("sel_retn_opter_name", "opter"), medins_prod_sel_no=rec.text("medins_prod_sel_no"),
               memo=rec.text("memo"), **time_columns(t))
    _fill_amount(row)
    return Converted("sales", with_codes(row, tcs), tcs, "returned" if is_return else "sold")


_SETL_MONEY = {
    "medfee_fen": "medfee_sumamt", "fulamt_ownpay_fen": "fulamt_ownpay_amt", "overlmt_selfpay_fen": "overlmt_selfpay",
    "inscp_scp_fen": "inscp_scp_amt", "hifp_pay_fen": "hifp_pay", "fund_pay_fen": "fund_pay_sumamt",
    "psn_part_fen": "psn_part_amt", "acct_pay_fen": "acct_pay", "psn_cash_fen": "psn_cash_pay",
    "acct_mulaid_fen": "acct_mulaid_pay", "balc_fen": "balc",
}


def _settlement_header(rec, store, is_reversal):
    t = rec.time("setl_time", "time")
    money = {col: rec.fen(src) for col, src in _SETL_MONEY.items()}
    fund = money["fund_pay_fen"] if money["fund_pay_fen"] is not None else money["hifp_pay_fen"]
    insurance = None if fund is None and money["acct_pay_fen"] is None else (fund or 0) + (money["acct_pay_fen"] or 0)
    return dict(store=store, is_reversal=is_reversal, mdtrt_id=rec.text("mdtrt_id"), psn_no=rec.text("psn_no"),
                psn_name=rec.text("psn_name"), psn_cert_type=rec.text("psn_cert_type"), certno=rec.text("certno"),
                insutype=rec.text("insutype"), **money, refd_setl_flag=rec.text("refd_setl_flag"),
                insurance_fen=insurance, **time_columns(t))


def _settlement(rec, ctx, store):
    row = _settlement_header(rec, store, 0)
    row.update(setl_id=rec.required("setl_id"), orig_setl_id=None)
    return Converted("settlements", row)


def _reversal(rec, ctx, store):
    orig = rec.required("orig_setl_id")
    row = _settlement_header(rec, store, 1)
    row.update(setl_id=rec.text("setl_id") or f"R:{orig}", orig_setl_id=orig)
    return Converted("settlements", row)


def _settlement_line(rec, ctx, store):
    ref = item_ref(rec)
    t = rec.time("fee_ocur_time", "setl_time", "time")
    tcs = trace_codes(rec)
    q = quantity(rec, ctx, store, ref["item_id"], "cnt", "sel_retn_cnt")
    row = dict(store=store, setl_id=rec.required("setl_id"), psn_no=rec.text("psn_no"), feedetl_sn=rec.text("feedetl_sn"),
               rxno=rec.text("rxno"), **ref, **q, price_fen=rec.fen("pric"), amount_fen=rec.fen("amount"),
               trdn_flag=rec.flag("trdn_flag"), **time_columns(t))
    _fill_amount(row)
    return Converted("settlement_lines", with_codes(row, tcs), tcs, "settled")


def _stock_count(rec, ctx, store):
    ref = item_ref(rec)
    t = rec.time("invdate", "time")
    if t is not None and t.time() == dt.time(0) and len(re.sub(r"\D", "", rec.text("invdate", "time") or "")) <= 8:
        t = t.replace(hour=23, minute=59, second=59)  # a count dated by day is taken after closing
    tcs = trace_codes(rec)
    q = quantity(rec, ctx, store, ref["item_id"], "inv_cnt", "cnt")
    row = dict(store=store, **ref, rx_flag=rec.text("rx_flag"), **q, lotnum=rec.text("manu_lotnum"),
               bchno=rec.text("fixmedins_bchno"), manu_date=rec.date("manu_date"), expy_end=rec.date("expy_end"),
               memo=rec.text("memo"), **time_columns(t))
    return Converted("stock_counts", with_codes(row, tcs), tcs, "counted")


_CHG_EVENTS = {101: "transfer_in", 102: "transfer_out", 103: "stock_in", 104: "stock_out", 105: "stock_out",
               106: "stock_in", 107: "stock_out", 108: "received", 109: "returned_to_supplier", 110: "stock_in",
               111: "stock_out"}
_PEER = re.compile(r"(?:调拨|调入|调出|transfer)\s*[:：]?\s*([A-Za-z0-9]+)", re.I)


def _stock_change(rec, ctx, store):
    ref = item_ref(rec)
    chg = rec.integer("inv_chg_type", allowed=range(101, 112))
    if chg is None:
        raise Rejected("missing", rec.col("inv_chg_type"), expected="inv_chg_type 101..111")
    t = rec.time("inv_chg_time", "time")
    tcs = trace_codes(rec)
    q = quantity(rec, ctx, store, ref["item_id"], "cnt", "inv_cnt")
    memo = rec.text("memo")
    peer = rec.text("peer_store")
    if not peer and memo:
        m = _PEER.search(memo)
        peer = m.group(1) if m else None
    row = dict(store=store, **ref, chg_type=chg, price_fen=rec.fen("pric", "finl_trns_pric"), amount_fen=rec.fen("amount"),
               **q, opter=rec.text("inv_chg_opter_name", "opter"), trdn_flag=rec.flag("trdn_flag"),
               bchno=rec.text("fixmedins_bchno"), lotnum=rec.text("manu_lotnum"), expy_end=rec.date("expy_end"),
               peer_store=peer, memo=memo, **time_columns(t))
    return Converted("stock_changes", with_codes(row, tcs), tcs, _CHG_EVENTS[chg])


def _deletion(rec, ctx, store):
    kind = rec.integer("inv_data_type", allowed=range(1, 5))
    if kind is None:
        raise Rejected("missing", rec.col("inv_data_type"), expected="1 count, 2 change, 3 purchase, 4 sale")
    row = dict(store=store, inv_data_type=kind, bchno=rec.required("fixmedins_bchno"),
               **time_columns(rec.time("time", "inv_chg_time")))
    return Converted("deletions", row)


def _code_relation(rec, ctx, store):
    code = codes_mod.parse(rec.required("code", "drug_trac_codg"))
    parent_raw = rec.text("parent_code")
    parent = codes_mod.parse(parent_raw) if parent_raw else None
    row = dict(store=store, code=code_text(code), parent_code=code_text(parent) if parent else None,
               code_level=rec.integer("code_level", allowed=range(1, 4)), box_amount=rec.integer("box_amount"))
    return Converted("code_relations", row)


def _scan(rec, ctx, store):
    raw = rec.required("raw", "drug_trac_codg")
    tc = codes_mod.parse(raw)
    mode = rec.text("mode") or "verify"
    if mode not in ("receive", "dispense", "stocktake", "verify"):
        raise Rejected("bad_value", rec.col("mode"), mode, "receive, dispense, stocktake or verify")
    row = dict(store=store, station_id=rec.text("station_id"), mode=mode, session_id=rec.text("session_id"),
               doc_no=rec.text("doc_no"), raw=raw, code=code_text(tc), code_kind=tc.kind, product_key=tc.product_key,
               verdict=rec.text("verdict"), **time_columns(rec.time("scan_time", "time")))
    return Converted("scans", row, [tc], "scanned")


CONVERTERS = {
    "catalog": _catalog,
    "purchase": lambda r, c, s: _purchase(r, c, s, 0),
    "purchase_return": lambda r, c, s: _purchase(r, c, s, 1),
    "sale": lambda r, c, s: _sale(r, c, s, 0),
    "sale_return": lambda r, c, s: _sale(r, c, s, 1),
    "settlement": _settlement,
    "reversal": _reversal,
    "settlement_line": _settlement_line,
    "stock_count": _stock_count,
    "stock_change": _stock_change,
    "deletion": _deletion,
    "code_relation": _code_relation,
    "scan": _scan,
}

STORELESS_KINDS = ("catalog", "code_relation")


def convert(kind: str, fields: dict, columns: dict, ctx: Ctx, envelope_store: str | None = None) -> Converted:
    """Convert one raw record of ``kind``; raise :class:`Rejected`."""
    rec = _Rec(fields, columns)
    store = rec.text("fixmedins_code") or envelope_store or ctx.store
    if not store and kind not in STORELESS_KINDS:
        raise Rejected("no_store", rec.col("fixmedins_code"))
    out = CONVERTERS[kind](rec, ctx, store)
    out.row["rec_hash"] = record_hash(kind, out.row)
    return out


def record_hash(kind: str, row: dict) -> str:
    payload = json.dumps([kind, sorted((k, v) for k, v in row.items() if k != "rec_hash")],
                         ensure_ascii=False, default=str)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()
