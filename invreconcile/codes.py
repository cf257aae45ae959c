"""Scanner input -> drug trace codes (药品追溯码): normalise, classify, resolve packs.

Pure functions, no I/O. The schemes (see DOMAIN.md section 3):

* **cn20** - the Chinese 20-digit code (NMPAB/T 1002-2019). The first 7 digits identify
  product and pack level, the other 13 the unit. Codes of the national platform start
  with ``8``; there is no public check digit, so only the format is checked.
* **gs1** - a GS1 element string (mostly imported drugs): (01) GTIN-14, (17) expiry,
  (10) batch, (21) serial. Parsed by ``biip``. Without (21) it names a product, not a box.
* **ma** - an IDcode (ISO/IEC 15459 issuing agency ``MA``). The first five dot fields are
  the product (``MA.<country>.<industry>.<organisation>.<product>``); then come data units
  made of one letter and a value: ``S`` serial, ``L`` batch, ``E`` expiry YYMMDD, ``M``
  production date, ``D`` sterilisation batch, ``V`` use-by, ``C`` and others kept as-is.
  Choice made here: only product + ``S`` serial identify a box; an MA code without
  ``S`` is classified ``ma`` but is not a trace code (every box would look alike).
* Scanned by mistake: the EAN-13 goods barcode and the 14-digit drug standard code
  (药品本位码, ``869...``), both with the GS1 mod-10 check; the split-sale placeholder
  ``99999999999999999999``.

>>> parse('81234567890123456789').key
'81234567890123456789'
>>> c = parse(']d201095011010209171719050010ABC<GS>2112345')
>>> c.kind, c.key, c.batch, c.expiry.isoformat()
('gs1', '01095011010209172112345', 'ABC', '2019-05-31')
>>> parse('(01)09501101020917(21)A1').key
'010950110102091721A1'
>>> parse('MA.156.M0.100472.1110331.L2301.S000123.E251231').key
'MA.156.M0.100472.1110331.S000123'
>>> c = parse('6901234567892'); c.kind, c.is_trace_code, c.reason
('ean13', False, 'product_barcode')
>>> print(c.describe())
这是商品条码(EAN-13)，不是追溯码，请扫描药品追溯码
>>> normalize(' ]C1８１２３４５６７８９０１２３４５６７８９\\r\\n')
'81234567890123456789'
>>> split_codes('81234567890123456789，81234567890123456788;  x')
['81234567890123456789', '81234567890123456788', 'x']
"""
from __future__ import annotations

import calendar
import dataclasses
import datetime
import re
import unicodedata
from dataclasses import dataclass
from typing import Callable

from biip import ParseError
from biip.gs1_messages import GS1Message

__all__ = ["TraceCode", "normalize", "split_codes", "parse", "resolve_boxes",
           "is_valid_ean13", "is_valid_drug_std_code"]

KINDS = ("cn20", "gs1", "ma", "split_placeholder", "ean13", "drug_std_code", "invalid")
PLACEHOLDER = "9" * 20

_AIM_PREFIX = re.compile(r"^\][A-Za-z][0-9A-Za-z]")
# AIM identifiers of symbologies that carry GS1 data: GS1-128, GS1 DataMatrix, GS1 QR,
# GS1 DataBar, GS1 DotCode.
_GS1_AIM = re.compile(r"^\](C1|d2|Q3|e0|J1)")
# What keyboard-wedge scanners send for GS (0x1D, Ctrl+]): tokens, then single characters
# outside the GS1 data character set (set 82), so they can never be part of a value.
_GS_TOKENS = ("<GS>", "{GS}", "[GS]", "<FNC1>", "{FNC1}", "[FNC1]", "\\X1D", "\\U001D",
              "^]", "\u241d")
_GS_CHARS = "|~#"
_GS1_START = re.compile(r"^(\(\d{2,4}\)|01\d{14})")
_SPLIT = re.compile(r"[,;，；、 \t\r\n\v\f\u3000\u00a0]+")
# Digit rows typed under the wrong layout: Shift held (US) and unshifted AZERTY.
_SHIFTED_US = dict(zip(")!@#$%^&*(", "0123456789"))
_AZERTY = dict(zip("À&É\"'(-È_Ç", "0123456789"))


def _once(raw: str) -> str:
    s = unicodedata.normalize("NFKC", raw).replace("。", ".")
    s = "".join(ch for ch in s if ch == "\x1d" or not (
        ch.isspace() or unicodedata.category(ch) in ("Cc", "Cf")))
    gs1_hint = bool(_GS1_AIM.match(s))
    while _AIM_PREFIX.match(s):
        s = s[3:]
    s = s.upper()
    gs = s
    for token in _GS_TOKENS:
        gs = gs.replace(token, "\x1d")
    for ch in _GS_CHARS:
        gs = gs.replace(ch, "\x1d")
    gs = re.sub("\x1d+", "\x1d", gs).strip("\x1d")
    if _GS1_START.match(gs) or (gs1_hint and gs[:2].isdigit()):
        return gs
    return s


def normalize(raw: str) -> str:
    """Scanner text -> canonical text: NFKC, no whitespace/control characters, no AIM
    prefix, upper case, GS substitutes turned into ``\\x1d`` in GS1 element strings only.

    >>> normalize(']d2 0109501101020917|21abc\\n')
    '0109501101020917\\x1d21ABC'
    >>> normalize('8123 4567|89')
    '81234567|89'
    """
    s = str(raw)
    if s.isascii() and s.isalnum():  # most scans: nothing to normalize but the case
        return s.upper()
    for _ in range(6):  # upper() and NFKC can feed each other; stop at the fixed point
        t = _once(s)
        if t == s:
            break
        s = t
    return s


def split_codes(cell: str | None) -> list[str]:
    """Split one cell into raw code texts on , ; ，； 、 spaces, tabs and newlines.

    GS (0x1D) is not a separator. Pieces are returned as received, empties dropped.
    """
    if cell is None:
        return []
    return [p for p in _SPLIT.split(str(cell)) if p]


def _mod10_ok(digits: str) -> bool:
    if not digits or not digits.isascii() or not digits.isdigit():
        return False
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(digits[:-1])))
    return (10 - total % 10) % 10 == int(digits[-1])


def is_valid_ean13(s) -> bool:
    """13 ASCII digits whose last digit is the GS1 mod-10 check digit."""
    return isinstance(s, str) and len(s) == 13 and _mod10_ok(s)


def is_valid_drug_std_code(s) -> bool:
    """14 digits starting ``869`` (药品本位码) with a correct GS1 mod-10 check digit."""
    return isinstance(s, str) and len(s) == 14 and s.startswith("869") and _mod10_ok(s)


@dataclass(frozen=True)
class TraceCode:
    raw: str
    text: str
    kind: str
    key: str | None = None
    is_trace_code: bool = False
    product_key: str | None = None
    serial: str | None = None
    gtin: str | None = None
    batch: str | None = None
    expiry: datetime.date | None = None
    reason: str | None = None
    detail: str | None = None

    def describe(self, lang: str = "zh") -> str:
        """One sentence for the person at the scanner: what this is, what to do."""
        zh, en = _MESSAGES.get(self.kind if self.is_trace_code else self.reason,
                               _MESSAGES["unknown_format"])
        msg = zh if lang.startswith("zh") else en
        return msg.format(c=self, d=self.detail or "")

    def as_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["expiry"] = self.expiry.isoformat() if self.expiry else None
        return d


_MESSAGES = {
    "cn20": ("药品追溯码(20位)，标识码 {c.product_key}，序列号 {c.serial}",
             "Drug trace code (20 digits), product prefix {c.product_key}, serial {c.serial}."),
    "gs1": ("GS1 追溯码，GTIN {c.gtin}，序列号 {c.serial}",
            "GS1 trace code, GTIN {c.gtin}, serial {c.serial}."),
    "ma": ("MA 追溯码，产品 {c.product_key}，序列号 {c.serial}",
           "MA trace code, product {c.product_key}, serial {c.serial}."),
    "empty": ("没有读到内容，请重新扫描", "Nothing was read: scan again."),
    "split_placeholder": ("这是拆零占位码(20个9)，不是某一盒的追溯码，不参与重复检查",
                          "This is the split-sale placeholder (twenty 9s), not a box's code; "
                          "it is never a duplicate."),
    "product_barcode": ("这是商品条码({d})，不是追溯码，请扫描药品追溯码",
                        "This is the product barcode ({d}), not a trace code: scan the trace code."),
    "cn20_bad_start": ("20位码不是以8开头，国家药品追溯平台的追溯码都以8开头，请核对是否扫错码",
                       "20 digits not starting with 8: national platform trace codes start "
                       "with 8; check that the right barcode was scanned."),
    "wrong_length": ("位数不对({d})，追溯码是20位数字，请重新完整扫描",
                     "Wrong length ({d}); a trace code has 20 digits: scan it again completely."),
    "not_digits": ("数字码中混入了字母或符号({d})，请重新扫描，勿手工输入",
                   "Letters or symbols inside a numeric code ({d}): scan again rather than type."),
    "bad_check_digit": ("校验位错误({d})，码被读错或输错，请重新扫描",
                        "Wrong check digit ({d}): misread or mistyped, scan again."),
    "keyboard_layout": ("像是键盘布局或大写锁定(Caps Lock)导致的乱码({d})，"
                        "请切换到英文美式键盘、关闭大写锁定后重扫",
                        "Looks garbled by the keyboard layout or Caps Lock ({d}): switch to a US "
                        "English layout, turn Caps Lock off and scan again."),
    "input_method": ("含有中文或其他文字，可能开着中文输入法，请切换到英文输入后重扫",
                     "Contains Chinese or other non-Latin text: switch the input method to "
                     "English and scan again."),
    "gs1_no_serial": ("GS1 码没有序列号(21)，只标识产品不标识单盒；若批号里含21，"
                      "可能是扫码枪丢了 GS 分隔符，请检查设置",
                      "GS1 code without serial (21): it names the product, not one box; if "
                      "the batch contains 21 the scanner may drop GS, check its setting."),
    "gs1_no_gtin": ("GS1 码没有 GTIN(01)，不是药品追溯码",
                    "GS1 code without GTIN (01): not a drug trace code."),
    "gs1_parse_error": ("GS1 码无法解析({d})，请检查扫码枪的 GS 分隔符设置后重扫",
                        "GS1 code cannot be parsed ({d}): check the scanner's GS separator "
                        "setting and scan again."),
    "ma_no_serial": ("MA 码没有序列号(.S)，只标识产品不标识单盒",
                     "MA code without serial unit (.S): it names the product, not one box."),
    "ma_parse_error": ("MA 码格式不对({d})", "Malformed MA code ({d})."),
    "unknown_format": ("无法识别的码({d})，请扫描药品追溯码",
                       "Unrecognised code ({d}): scan the drug trace code."),
}


def _yymmdd(v: str) -> datetime.date | None:
    """GS1-style YYMMDD; day 00 means the last day of the month. None if not a date."""
    if len(v) != 6 or not v.isascii() or not v.isdigit():
        return None
    y, m, d = 2000 + int(v[:2]), int(v[2:4]), int(v[4:])
    if not 1 <= m <= 12:
        return None
    last = calendar.monthrange(y, m)[1]
    if d == 0:
        d = last
    return datetime.date(y, m, d) if d <= last else None


def _gs1(raw: str, text: str) -> TraceCode:
    def bad(reason, detail, kind="invalid", **kw):
        return TraceCode(raw, text, kind, reason=reason, detail=detail, **kw)
    try:
        if text.startswith("("):
            msg = GS1Message.parse_hri(text.replace("\x1d", ""))
        else:
            msg = GS1Message.parse(text)
    except (ParseError, ValueError) as e:
        return bad("gs1_parse_error", str(e))
    found = {}
    for es in msg.element_strings:
        found.setdefault(es.ai.ai, es)
    if "01" not in found:
        return bad("gs1_no_gtin", "AIs found: " + ",".join(found), kind="gs1")
    gtin_es = found["01"]
    gtin = gtin_es.value
    if gtin_es.gtin_error:
        return bad("bad_check_digit", gtin_es.gtin_error, gtin=gtin)
    batch = found["10"].value if "10" in found else None
    expiry = found["17"].date if "17" in found else None
    info = dict(gtin=gtin, product_key=gtin, batch=batch, expiry=expiry)
    if "21" not in found:
        hint = ("batch contains '21': the scanner may have dropped GS and merged the serial"
                if batch and "21" in batch else None)
        return bad("gs1_no_serial", hint, kind="gs1", **info)
    serial = found["21"].value
    return TraceCode(raw, text, "gs1", key="01" + gtin + "21" + serial, is_trace_code=True,
                     serial=serial, **info)


def _ma(raw: str, text: str) -> TraceCode:
    parts = text.split(".")
    di, units = parts[:5], parts[5:]
    if len(di) < 5 or not all(p.isascii() and p.isalnum() for p in di[1:]):
        return TraceCode(raw, text, "invalid", reason="ma_parse_error",
                         detail="expected MA.<country>.<industry>.<organisation>.<product>")
    values: dict[str, str] = {}
    for u in units:
        if len(u) < 2 or not u[0].isalpha() or not u.isascii():
            return TraceCode(raw, text, "invalid", reason="ma_parse_error",
                             detail=f"data unit {u!r} is not <letter><value>")
        values.setdefault(u[0], u[1:])
    product = ".".join(di)
    serial = values.get("S")
    info = dict(product_key=product, serial=serial, batch=values.get("L"),
                expiry=_yymmdd(values["E"]) if "E" in values else None)
    if serial is None:
        return TraceCode(raw, text, "ma", reason="ma_no_serial", **info)
    return TraceCode(raw, text, "ma", key=f"{product}.S{serial}", is_trace_code=True, **info)


def _digits(raw: str, text: str) -> TraceCode:
    n = len(text)

    def bad(reason, detail=None, kind="invalid", **kw):
        return TraceCode(raw, text, kind, reason=reason, detail=detail, **kw)
    if n == 20 and text == PLACEHOLDER:
        return bad("split_placeholder", kind="split_placeholder")
    if n == 20 and text[0] == "8":
        return TraceCode(raw, text, "cn20", key=text, is_trace_code=True,
                         product_key=text[:7], serial=text[7:])
    if n >= 18 and text.startswith("01") and _mod10_ok(text[2:16]):
        code = _gs1(raw, text)
        if code.is_trace_code or n != 20:
            return code
    if n == 20:
        return bad("cn20_bad_start", f"starts with {text[0]!r}, expected '8'")
    if n == 13 and is_valid_ean13(text):
        return bad("product_barcode", "EAN-13", kind="ean13", product_key=text)
    if n == 13 and text[0] != "8":
        return bad("bad_check_digit", "EAN-13")
    if n == 14 and text.startswith("869"):
        if is_valid_drug_std_code(text):
            return bad("product_barcode", "药品本位码 drug standard code", kind="drug_std_code",
                       product_key=text)
        return bad("bad_check_digit", "药品本位码 drug standard code")
    if n == 14 and text[0] == "0" and is_valid_ean13(text[1:]):
        return bad("product_barcode", "EAN-13", kind="ean13", product_key=text[1:])
    if n == 14 and text[0] in "1234567" and _mod10_ok(text):
        return bad("product_barcode", "GTIN-14")
    return bad("wrong_length", f"{n} digits, expected 20")


def _other(raw: str, text: str) -> TraceCode:
    def bad(reason, detail=None):
        return TraceCode(raw, text, "invalid", reason=reason, detail=detail)
    for table in (_SHIFTED_US, _AZERTY):
        if len(text) >= 6 and all(ch in table for ch in text):
            return bad("keyboard_layout", "would read " + "".join(table[ch] for ch in text))
    if any(ch.isalpha() and not ch.isascii() for ch in text):
        return bad("input_method", f"non-Latin characters in {text[:30]!r}")
    n_digits = sum(ch.isdigit() for ch in text)
    if n_digits * 2 >= len(text):
        odd = sorted({ch for ch in text if not ch.isdigit()})
        return bad("not_digits", f"{''.join(odd)!r} among {n_digits} digits")
    return bad("unknown_format", f"{len(text)} characters")


def parse(raw: str) -> TraceCode:
    """Classify one scanned text. Never raises; problems go to ``reason``/``detail``.

    >>> parse('99999999999999999999').kind
    'split_placeholder'
    >>> c = parse('71234567890123456789'); c.kind, c.reason
    ('invalid', 'cn20_bad_start')
    >>> parse('!@#$%^&*()!@#$%^&*()').detail
    'would read 12345678901234567890'
    """
    try:
        raw_s = raw if isinstance(raw, str) else ("" if raw is None else str(raw))
        text = normalize(raw_s)
        if not text:
            return TraceCode(raw_s, text, "invalid", reason="empty")
        if text.startswith("MA."):
            return _ma(raw_s, text)
        if text.isascii() and text.isdigit():
            return _digits(raw_s, text)
        if "\x1d" in text or _GS1_START.match(text):
            return _gs1(raw_s, text)
        return _other(raw_s, text)
    except Exception as e:  # noqa: BLE001 - the contract is "never raises"
        return TraceCode(str(raw), "", "invalid", reason="unknown_format",
                         detail=f"internal error: {type(e).__name__}: {e}")


def resolve_boxes(code: str, children: Callable[[str], list[str]],
                  max_depth: int = 3) -> list[str]:
    """Case (level 3) or middle-pack (level 2) code -> sorted box codes.

    ``children(code)`` gives the direct children from the code relation records. A code
    without children is its own box; cycles and depth beyond ``max_depth`` stop descent.

    >>> rel = {'C': ['M2', 'M1'], 'M1': ['b2', 'b1'], 'M2': ['b3']}
    >>> resolve_boxes('C', lambda c: rel.get(c, []))
    ['b1', 'b2', 'b3']
    """
    boxes: set[str] = set()
    seen = {code}

    def walk(c: str, depth: int) -> None:
        kids = [k for k in (children(c) or []) if k not in seen] if depth < max_depth else []
        if not kids:
            boxes.add(c)
            return
        seen.update(kids)
        for k in kids:
            walk(k, depth + 1)

    walk(code, 0)
    return sorted(boxes)
