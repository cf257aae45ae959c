"""Column headers: platform field names, the Chinese names of POS/ERP exports, and
the kind of a file guessed from its headers.

>>> map_headers(["商品编码", "商品名称", "数量", "销售时间", "追溯码"]).mapping
{'商品编码': 'fixmedins_hilist_id', '商品名称': 'fixmedins_hilist_name', '数量': 'cnt', '销售时间': 'sel_retn_time', '追溯码': 'drug_trac_codg'}
>>> map_headers(["商品编码号"]).guesses
[('商品编码号', 'fixmedins_hilist_id', '商品编码', 89)]
>>> detect_kind(["fixmedins_code", "inv_chg_type", "cnt", "inv_chg_time"])
'stock_change'
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

from rapidfuzz import fuzz, process

#: canonical field -> aliases (the canonical name itself is always accepted).
ALIASES: dict[str, tuple[str, ...]] = {
    "fixmedins_code": ("定点机构编码", "定点医药机构编码", "机构编码", "门店编码", "药店编码", "store", "store_code"),
    "fixmedins_name": ("定点机构名称", "门店名称", "药店名称"),
    "fixmedins_hilist_id": ("商品编码", "药品编码", "商品ID", "商品id", "货号", "商品代码", "药品代码", "item_id",
                            "医药机构目录编码", "medins_list_codg", "院内编码"),
    "fixmedins_hilist_name": ("商品名称", "药品名称", "品名", "通用名", "item_name", "医药机构目录名称",
                              "medins_list_name", "商品名"),
    "med_list_codg": ("医保编码", "医保目录编码", "国家医保编码", "医保药品编码", "医保代码"),
    "spec": ("规格", "药品规格", "规格型号"),
    "pack_unit": ("包装单位", "整包装单位", "大单位"),
    "min_unit": ("最小单位", "最小计价单位", "小单位"),
    "convrat": ("转换比", "换算比", "包装数量", "拆零系数", "min_pac_cnt", "拆零比"),
    "category": ("类别", "商品类别", "分类"),
    "rx_flag": ("处方药标志", "处方标志", "是否处方药"),
    "drug_prod_barc": ("商品条码", "条形码", "条码", "药品条码", "本位码", "药品本位码"),
    "trace_prefix": ("追溯码前缀", "药品标识码", "标识码"),
    "unit": ("单位", "计量单位", "销售单位"),
    "cnt": ("数量", "销售数量", "结算数量"),
    "purc_retn_cnt": ("采购数量", "进货数量", "入库数量", "退货数量", "采购/退货数量"),
    "sel_retn_cnt": ("销售/退货数量",),
    "inv_cnt": ("库存数量", "盘存数量", "实盘数量", "盘点数量"),
    "pric": ("单价", "售价", "零售价", "销售单价", "价格"),
    "finl_trns_pric": ("进价", "采购价", "采购单价", "进货价", "最终成交单价", "成交单价"),
    "amount": ("金额", "销售金额", "采购金额", "总金额", "明细项目费用总额", "det_item_fee_sumamt"),
    "manu_lotnum": ("批号", "生产批号", "批次号"),
    "fixmedins_bchno": ("批次流水号", "机构批次号", "定点医药机构批次流水号"),
    "manu_date": ("生产日期",),
    "expy_end": ("有效期", "有效期至", "失效日期", "效期"),
    "spler_name": ("供应商", "供货单位", "供应商名称"),
    "prodentp_name": ("生产企业", "生产厂家", "厂家"),
    "aprvno": ("批准文号",),
    "dynt_no": ("随货同行单号", "单据编号"),
    "purc_invo_no": ("发票号", "采购发票号"),
    "purc_retn_stoin_time": ("入库时间", "采购时间", "到货时间", "退货出库时间"),
    "purc_retn_opter_name": ("验收人", "采购员", "入库人"),
    "sel_retn_time": ("销售时间", "退货时间", "售出时间", "交易时间", "销售日期"),
    "sel_retn_opter_name": ("收银员", "营业员", "销售员"),
    "setl_time": ("结算时间", "结算日期"),
    "fee_ocur_time": ("费用发生时间",),
    "inv_chg_time": ("变更时间", "库存变更时间"),
    "invdate": ("盘存日期", "盘点日期", "盘点时间"),
    "time": ("日期", "时间"),
    "inv_chg_type": ("变更类型", "库存变更类型"),
    "peer_store": ("对方门店", "调入门店", "调出门店"),
    "inv_data_type": ("数据类型", "删除类型"),
    "drug_trac_codg": ("追溯码", "药品追溯码", "溯源码", "监管码", "drugtracinfo"),
    "trdn_flag": ("拆零标志", "是否拆零", "拆零"),
    "setl_id": ("结算ID", "结算id", "结算流水号", "结算编号"),
    "orig_setl_id": ("原结算ID", "原结算id", "原结算流水号", "被冲销结算ID"),
    "mdtrt_id": ("就诊ID", "就诊id"),
    "mdtrt_sn": ("就医流水号", "就诊流水号"),
    "psn_no": ("人员编号", "个人编号", "参保人编号"),
    "psn_name": ("姓名", "患者姓名", "参保人姓名", "顾客姓名"),
    "psn_cert_type": ("证件类型",),
    "certno": ("证件号码", "身份证号", "身份证号码"),
    "insutype": ("险种类型", "险种"),
    "rxno": ("处方号",),
    "rtal_docno": ("零售单号", "销售单号", "单据号", "小票号"),
    "stoout_no": ("出库单号",),
    "feedetl_sn": ("费用明细流水号", "明细流水号"),
    "medfee_sumamt": ("医疗费总额", "总费用", "结算总额"),
    "fund_pay_sumamt": ("基金支付总额", "基金支付"),
    "hifp_pay": ("统筹基金支出", "统筹支付"),
    "psn_part_amt": ("个人负担总金额", "个人负担"),
    "acct_pay": ("个人账户支出", "个账支付", "个人账户支付"),
    "psn_cash_pay": ("个人现金支出", "现金支付"),
    "fulamt_ownpay_amt": ("全自费金额",),
    "overlmt_selfpay": ("超限价自费费用",),
    "inscp_scp_amt": ("符合政策范围金额",),
    "acct_mulaid_pay": ("个人账户共济支付金额",),
    "balc": ("余额",),
    "refd_setl_flag": ("退费结算标志",),
    "memo": ("备注",),
    "medins_prod_sel_no": ("商品销售流水号",),
    "medins_prod_purc_no": ("商品采购流水号",),
    "code": ("码", "本级码"),
    "parent_code": ("上级码", "父码", "父级码", "上级追溯码"),
    "code_level": ("包装级别", "码级别", "包装层级"),
    "box_amount": ("包装内数量", "下级数量", "含小包装数"),
    "station_id": ("工作站", "扫码枪编号", "终端号"),
    "mode": ("模式", "扫码类型"),
    "scan_time": ("扫码时间",),
    "raw": ("扫码内容", "原始码"),
    "doc_no": ("单据", "关联单号"),
    "session_id": ("盘点批次", "会话"),
    "phar_name": ("药师姓名", "药师"),
    "prsc_dr_name": ("开方医师", "医生"),
    "hi_feesetl_type": ("医保费用结算类型",),
    "opter": ("操作员", "经办人"),
    "invdate_or_time": (),
}
del ALIASES["invdate_or_time"]


def norm_header(text: object) -> str:
    """Fold full-width characters, drop spaces, brackets' units and case."""
    s = unicodedata.normalize("NFKC", str(text)).strip().lower()
    s = re.sub(r"[\s_\-]+", "_", s).strip("_")
    s = re.sub(r"[(（\[【].*?[)）\]】]$", "", s) if not s.startswith("(") else s
    return s


_LOOKUP: dict[str, str] = {}
for _canon, _aliases in ALIASES.items():
    _LOOKUP[norm_header(_canon)] = _canon
    for _a in _aliases:
        _LOOKUP.setdefault(norm_header(_a), _canon)
_CHOICES = list(_LOOKUP)

#: minimum rapidfuzz score for guessing an unknown header.
GUESS_CUTOFF = 85


@dataclass
class HeaderMap:
    mapping: dict[str, str] = field(default_factory=dict)            # header -> canonical
    guesses: list[tuple[str, str, str, int]] = field(default_factory=list)  # (header, canonical, matched alias, score)
    ignored: list[str] = field(default_factory=list)                 # headers not understood


def map_headers(headers) -> HeaderMap:
    """Map file headers to canonical fields; unknown ones are fuzzy-matched and reported."""
    result = HeaderMap()
    taken: set[str] = set()
    pending = []
    for h in headers:
        key = norm_header(h)
        canon = _LOOKUP.get(key)
        if canon and canon not in taken:
            result.mapping[str(h)] = canon
            taken.add(canon)
        else:
            pending.append(h)
    for h in pending:
        key = norm_header(h)
        if not key or key.startswith("unnamed"):
            result.ignored.append(str(h))
            continue
        best = process.extractOne(key, _CHOICES, scorer=fuzz.ratio, score_cutoff=GUESS_CUTOFF)
        if best and _LOOKUP[best[0]] not in taken:
            canon = _LOOKUP[best[0]]
            result.mapping[str(h)] = canon
            taken.add(canon)
            original = next((a for a in (canon, *ALIASES[canon]) if norm_header(a) == best[0]), best[0])
            result.guesses.append((str(h), canon, original, int(round(best[1]))))
        else:
            result.ignored.append(str(h))
    return result


#: kind -> infno values of the platform interface.
INFNO_KINDS = {
    "3501": "stock_count", "3502": "stock_change", "3503": "purchase", "3504": "purchase_return",
    "3505": "sale", "3506": "sale_return", "3507": "deletion", "2102": "settlement",
    "2103": "reversal",
}

KINDS = ("catalog", "purchase", "purchase_return", "sale", "sale_return", "stock_count",
         "stock_change", "deletion", "settlement", "settlement_line", "reversal",
         "code_relation", "scan")

_RETURN_WORDS = ("return", "retn", "退")


def kind_from_infno(infno: object) -> str | None:
    s = str(infno or "").strip().upper()
    return INFNO_KINDS.get(s[:4]) if s[:4].isdigit() else None


def detect_kind(fields, filename: str = "") -> str | None:
    """Guess the record kind of a table from its canonical fields (and file name)."""
    f = set(fields)
    name = filename.lower()
    for infno, kind in INFNO_KINDS.items():
        if infno in name:
            return kind
    is_return = any(w in name for w in _RETURN_WORDS)
    if "inv_data_type" in f:
        return "deletion"
    if "parent_code" in f or "code_level" in f:
        return "code_relation"
    if "station_id" in f or ("raw" in f and "mode" in f):
        return "scan"
    if "orig_setl_id" in f:
        return "reversal"
    if "inv_chg_type" in f:
        return "stock_change"
    if "inv_cnt" in f or "invdate" in f:
        return "stock_count"
    if {"convrat", "pack_unit", "trace_prefix", "category"} & f and not {"cnt", "purc_retn_cnt", "sel_retn_cnt"} & f:
        return "catalog"
    if "setl_time" in f and ({"medfee_sumamt", "fund_pay_sumamt", "hifp_pay", "acct_pay"} & f):
        return "settlement"
    if "setl_id" in f and ({"feedetl_sn", "fee_ocur_time"} & f) and "sel_retn_time" not in f:
        return "settlement_line"
    if {"spler_name", "purc_retn_stoin_time", "finl_trns_pric", "purc_retn_cnt", "dynt_no"} & f and "sel_retn_time" not in f:
        return "purchase_return" if ("medins_prod_purc_no" in f or is_return) else "purchase"
    if {"sel_retn_time", "sel_retn_cnt", "rtal_docno", "psn_no", "setl_id"} & f:
        return "sale_return" if ("medins_prod_sel_no" in f or is_return) else "sale"
    return None
