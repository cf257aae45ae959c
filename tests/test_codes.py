"""Tests of invreconcile.codes: normalising scanner input and classifying trace codes."""
import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from invreconcile.codes import (TraceCode, is_valid_drug_std_code, is_valid_ean13,
                                normalize, parse, resolve_boxes, split_codes)

CN20 = "81234567890123456789"
GS = "\x1d"


def check_digit(body: str) -> str:
    """GS1 mod-10, written independently: weights 3,1,3,... from the rightmost body digit."""
    weights = [3, 1] * len(body)
    total = sum(int(d) * w for d, w in zip(body[::-1], weights))
    return str(-total % 10)


def with_check(body: str) -> str:
    return body + check_digit(body)


EAN = with_check("690123456789")               # 6901234567892
DRUG_STD = with_check("8690000012345")
GTIN = with_check("0690123456789")             # GTIN-14 of EAN above, padded
BAD = {"0": "1", "1": "2", "2": "3", "3": "4", "4": "5", "5": "6", "6": "7", "7": "8",
       "8": "9", "9": "0"}


def wrong_check(code: str) -> str:
    return code[:-1] + BAD[code[-1]]


def test_helper_matches_known_barcode():
    assert EAN == "6901234567892"
    assert check_digit("950110102091") == "7"


# --- cn20 -------------------------------------------------------------------------


def test_cn20():
    c = parse(CN20)
    assert (c.kind, c.key, c.is_trace_code) == ("cn20", CN20, True)
    assert (c.product_key, c.serial) == ("8123456", "7890123456789")
    assert c.reason is None and c.gtin is None
    assert "追溯码" in c.describe()


@pytest.mark.parametrize("raw", [
    "８１２３４５６７８９０１２３４５６７８９",          # full-width digits
    " 81234567890123456789\r\n",                          # stray space, CRLF
    "8123 4567 8901 2345 6789",
    "\t81234567890123456789\n",
    "]C181234567890123456789",                             # AIM prefixes
    "]C081234567890123456789",
    "]E081234567890123456789",
    "]Q181234567890123456789",
    "\ufeff81234567890123456789",                          # BOM from a text file
])
def test_cn20_scanner_artefacts(raw):
    c = parse(raw)
    assert (c.kind, c.key, c.raw) == ("cn20", CN20, raw)


def test_placeholder():
    c = parse("9" * 20)
    assert (c.kind, c.key, c.is_trace_code, c.reason) == (
        "split_placeholder", None, False, "split_placeholder")
    assert "拆零" in c.describe()


def test_twenty_digits_not_starting_with_8():
    c = parse("71234567890123456789")
    assert (c.kind, c.reason, c.key) == ("invalid", "cn20_bad_start", None)
    assert "以8开头" in c.describe()
    assert "start with 8" in c.describe("en")


@pytest.mark.parametrize("raw,reason", [
    ("8123456789012345678", "wrong_length"),
    ("812345678901234567890", "wrong_length"),
    ("8123456789O123456789", "not_digits"),
    ("", "empty"),
    ("  \r\n", "empty"),
    ("扑热息痛片", "input_method"),
    ("hello world", "unknown_format"),
])
def test_invalid_reasons(raw, reason):
    c = parse(raw)
    assert (c.kind, c.reason, c.is_trace_code, c.key) == ("invalid", reason, False, None)
    assert c.describe() and c.describe("en")


def test_wrong_length_says_what_was_found():
    assert parse("8123456789012345678").detail == "19 digits, expected 20"


def test_keyboard_layout_us_shift():
    c = parse("*!@#$%^&*()!@#$%^&*(")
    assert c.reason == "keyboard_layout"
    assert c.detail == "would read 81234567890123456789"
    assert "Caps Lock" in c.describe("en")


def test_keyboard_layout_azerty():
    c = parse("_&é\"'(-è_çà&é\"'(-è_ç")
    assert (c.reason, c.detail) == ("keyboard_layout", "would read 81234567890123456789")


# --- product barcodes -------------------------------------------------------------


def test_ean13():
    c = parse(EAN)
    assert (c.kind, c.key, c.is_trace_code, c.product_key, c.reason) == (
        "ean13", None, False, EAN, "product_barcode")
    assert c.describe() == "这是商品条码(EAN-13)，不是追溯码，请扫描药品追溯码"
    assert c.describe("en") == (
        "This is the product barcode (EAN-13), not a trace code: scan the trace code.")


def test_ean13_bad_check_digit():
    c = parse(wrong_check(EAN))
    assert (c.kind, c.reason) == ("invalid", "bad_check_digit")


def test_drug_std_code():
    c = parse(DRUG_STD)
    assert (c.kind, c.product_key, c.is_trace_code, c.reason) == (
        "drug_std_code", DRUG_STD, False, "product_barcode")
    assert parse(wrong_check(DRUG_STD)).reason == "bad_check_digit"


def test_check_digit_functions():
    assert is_valid_ean13(EAN) and not is_valid_ean13(wrong_check(EAN))
    assert not is_valid_ean13(EAN[:-1]) and not is_valid_ean13(None)
    assert is_valid_drug_std_code(DRUG_STD)
    assert not is_valid_drug_std_code(wrong_check(DRUG_STD))
    assert not is_valid_drug_std_code(GTIN)            # valid mod-10 but not 869


# --- GS1 --------------------------------------------------------------------------


def test_gs1_datamatrix_with_gs():
    c = parse("]d201" + GTIN + "17270331" + "10B2301" + GS + "21SN0001")
    assert (c.kind, c.is_trace_code, c.gtin, c.product_key) == ("gs1", True, GTIN, GTIN)
    assert (c.batch, c.serial, c.expiry) == ("B2301", "SN0001", datetime.date(2027, 3, 31))
    assert c.key == "01" + GTIN + "21SN0001"


@pytest.mark.parametrize("sub", ["<GS>", "{GS}", "^]", "\\x1d", "|", "~", "<gs>"])
def test_gs1_gs_substitutes(sub):
    c = parse("]d201" + GTIN + "10B2301" + sub + "21SN0001")
    assert (c.batch, c.serial) == ("B2301", "SN0001")


def test_gs1_lost_gs_serial_last():
    c = parse("01" + GTIN + "17270300" + "21SN0001")
    assert (c.kind, c.serial, c.expiry) == ("gs1", "SN0001", datetime.date(2027, 3, 31))


def test_gs1_lost_gs_serial_swallowed_by_batch():
    c = parse("01" + GTIN + "10B2301" + "21SN0001")
    assert (c.kind, c.is_trace_code, c.reason) == ("gs1", False, "gs1_no_serial")
    assert c.batch == "B230121SN0001" and "dropped GS" in c.detail


def test_gs1_parentheses():
    c = parse("(01)" + GTIN + "(17)240200(10)b1(21)abc")
    assert (c.kind, c.serial, c.batch) == ("gs1", "ABC", "B1")
    assert c.expiry == datetime.date(2024, 2, 29)          # day 00, leap year
    assert c.key == "01" + GTIN + "21ABC"


def test_gs1_day_00_is_end_of_month():
    assert parse("01" + GTIN + "17250400" + "21X").expiry == datetime.date(2025, 4, 30)


def test_gs1_without_serial():
    c = parse("]d201" + GTIN + "17250400")
    assert (c.kind, c.is_trace_code, c.key, c.reason, c.gtin) == (
        "gs1", False, None, "gs1_no_serial", GTIN)


def test_gs1_bad_gtin_check_digit():
    c = parse("(01)" + wrong_check(GTIN) + "(21)X")
    assert (c.kind, c.reason) == ("invalid", "bad_check_digit")


def test_gs1_parse_error_keeps_biip_text():
    c = parse("]d201" + GTIN + "17251399" + "21X")      # month 13
    assert (c.kind, c.reason) == ("invalid", "gs1_parse_error")
    assert "17" in c.detail


def test_gs1_same_box_same_key_in_every_form():
    forms = ["]d201" + GTIN + "17270331" + "10B1" + GS + "21S9",
             "01" + GTIN + "21S9",
             "(01)" + GTIN + "(21)S9",
             "]C101" + GTIN + "21S9\r\n"]
    assert {parse(f).key for f in forms} == {"01" + GTIN + "21S9"}


# --- MA -----------------------------------------------------------------------------


def test_ma_with_units():
    c = parse("MA.156.M0.100472.1110331.L2301.S000123.E251200")
    assert (c.kind, c.is_trace_code) == ("ma", True)
    assert c.key == "MA.156.M0.100472.1110331.S000123"
    assert (c.product_key, c.serial, c.batch) == (
        "MA.156.M0.100472.1110331", "000123", "2301")
    assert c.expiry == datetime.date(2025, 12, 31)


def test_ma_key_ignores_batch_and_expiry_and_case():
    a = parse("MA.156.M0.100472.1110331.S000123")
    b = parse("ma.156.m0.100472.1110331.l9.e260101.s000123")
    assert a.key == b.key


def test_ma_without_serial_is_not_a_box():
    c = parse("MA.156.M0.100472.1110331")
    assert (c.kind, c.is_trace_code, c.key, c.reason) == ("ma", False, None, "ma_no_serial")


def test_ma_malformed():
    assert parse("MA.156.M0").reason == "ma_parse_error"
    assert parse("MA.156.M0.100472.1110331..S1").reason == "ma_parse_error"


# --- normalize, split_codes, as_dict ------------------------------------------------


def test_normalize_gs_only_in_gs1_strings():
    assert normalize("01" + GTIN + "10A|21B") == "01" + GTIN + "10A" + GS + "21B"
    assert normalize("abc|def") == "ABC|DEF"


def test_as_dict_is_json_friendly():
    import json
    d = parse("01" + GTIN + "17250400" + "21X").as_dict()
    assert d["expiry"] == "2025-04-30" and d["kind"] == "gs1"
    json.dumps(d)
    assert set(d) == {f.name for f in TraceCode.__dataclass_fields__.values()}


@pytest.mark.parametrize("cell,expected", [
    (None, []),
    ("", []),
    ("a,b;c，d；e、f g\th\ni\r\nj", list("abcdefghij")),
    (" ,, a ;; ", ["a"]),
    ("01" + GTIN + "10A" + GS + "21B", ["01" + GTIN + "10A" + GS + "21B"]),
    ("８１２３ x", ["８１２３", "x"]),
])
def test_split_codes(cell, expected):
    assert split_codes(cell) == expected


# --- resolve_boxes ------------------------------------------------------------------


def rel(table):
    return lambda code: table.get(code, [])


def test_resolve_case_middle_boxes():
    table = {"CASE": ["M2", "M1"], "M1": ["B3", "B1"], "M2": ["B2"]}
    assert resolve_boxes("CASE", rel(table)) == ["B1", "B2", "B3"]
    assert resolve_boxes("M1", rel(table)) == ["B1", "B3"]
    assert resolve_boxes("B1", rel(table)) == ["B1"]


def test_resolve_cycle_terminates():
    table = {"A": ["B"], "B": ["A", "C"], "C": ["B"]}
    assert resolve_boxes("A", rel(table)) == ["C"]
    assert resolve_boxes("X", rel({"X": ["X"]})) == ["X"]


def test_resolve_max_depth():
    table = {"L4": ["L3"], "L3": ["L2"], "L2": ["L1"], "L1": ["L0"]}
    assert resolve_boxes("L4", rel(table), max_depth=3) == ["L1"]
    assert resolve_boxes("L4", rel(table), max_depth=4) == ["L0"]


# --- properties -------------------------------------------------------------------

cn20s = st.text("0123456789", min_size=19, max_size=19).map(lambda s: "8" + s)
aim = st.sampled_from(["", "]C1", "]C0", "]d2", "]d1", "]Q3", "]E0", "]e0"])
ws = st.sampled_from(["", " ", "\r\n", "\t", "\n", "\u3000"])


@settings(max_examples=300)
@given(st.text())
def test_normalize_idempotent(s):
    assert normalize(normalize(s)) == normalize(s)


@settings(max_examples=300)
@given(st.text(alphabet=st.sampled_from(list("0123456789()|~^]<>{}GSgs.MA\x1d \r\n８"))
               | st.characters()))
def test_normalize_idempotent_code_like(s):
    assert normalize(normalize(s)) == normalize(s)


@settings(max_examples=300)
@given(st.one_of(st.text(), st.text("0123456789()]|MA.S<GS>dC\x1d ", max_size=40)))
def test_parse_never_raises(s):
    c = parse(s)
    assert c.kind in ("cn20", "gs1", "ma", "split_placeholder", "ean13", "drug_std_code",
                      "invalid")
    assert c.is_trace_code == (c.key is not None)
    assert isinstance(c.describe(), str) and isinstance(c.describe("en"), str)


@given(cn20s, aim, ws, ws)
def test_cn20_stable_under_prefix_and_whitespace(code, prefix, before, after):
    c = parse(before + prefix + code + after)
    assert (c.kind, c.key) == (parse(code).kind, code)


@given(cn20s)
def test_cn20_key_is_its_digits(code):
    c = parse(code)
    assert c.key == code and c.product_key + c.serial == code
