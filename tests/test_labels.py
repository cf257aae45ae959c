"""invreconcile.labels: labels decode back to the codes printed on them."""
from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from invreconcile import labels
from invreconcile.errors import InvReconcileError
from invreconcile.imaging import decode_image
from invreconcile.labels import FontWarning, LabelError, LabelSpec, make_labels

CODES = [
    "81234567890123456789",
    "81234560000000000017",
    "83065430012345678901",
    "81000010000000999999",
    "84567890123450000002",
]
SPECS = [LabelSpec(c, "阿莫西林胶囊 0.25g×24粒", f"B2405{i}", "2026-12-31") for i, c in enumerate(CODES)]


def _decoded(paths):
    return {d.text for p in paths for d in decode_image(p)}


def test_png_round_trip(tmp_path):
    paths = make_labels(SPECS, tmp_path / "labels.png")
    assert paths == [tmp_path / "labels.png"]
    assert _decoded(paths) == set(CODES)


def test_png_pages_round_trip(tmp_path):
    paths = make_labels(SPECS, tmp_path / "bags.png", per_page=4)
    assert [p.name for p in paths] == ["bags-1.png", "bags-2.png"]
    assert _decoded(paths) == set(CODES)
    assert [len(decode_image(p)) for p in paths] == [4, 1]


def test_each_decoder_reads_the_labels(tmp_path):
    [page] = make_labels(SPECS, tmp_path / "labels.png")
    from invreconcile.imaging import available_decoders

    for name in available_decoders():
        found = decode_image(page, decoders=(name,), preprocess=False)
        assert {d.text for d in found} == set(CODES), name
        assert {d.symbology for d in found} == {"code128"}


def test_svg_is_xml_with_the_codes(tmp_path):
    [path] = make_labels(SPECS, tmp_path / "labels.svg")
    root = ET.parse(path).getroot()
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert root.get("width") == "210mm"
    text = path.read_text(encoding="utf-8")
    for code in CODES:
        assert f">{code}</text>" in text
    assert "阿莫西林胶囊" in text and "有效期至 2026-12-31" in text
    assert len(root.findall(".//{http://www.w3.org/2000/svg}g[@class='barcode']")) == len(CODES)


def test_pdf_is_one_file_of_pages(tmp_path):
    [path] = make_labels(SPECS, tmp_path / "labels.pdf", per_page=2)
    data = path.read_bytes()
    assert data.startswith(b"%PDF")
    assert b"/Count 3" in data  # 5 labels, 2 a page


def test_refuses_product_barcode(tmp_path):
    with pytest.raises(LabelError) as e:
        make_labels([SPECS[0], LabelSpec("6901234567892")], tmp_path / "x.png")
    assert isinstance(e.value, InvReconcileError) and isinstance(e.value, ValueError)
    assert str(e.value) == (
        "label 2: '6901234567892' is not a drug trace code: This is the product barcode "
        "(EAN-13), not a trace code: scan the trace code. Print trace codes only, or pass "
        "allow_any=True to print it anyway."
    )
    assert not (tmp_path / "x.png").exists()


def test_allow_any_prints_other_codes(tmp_path):
    paths = make_labels([LabelSpec("6901234567892"), LabelSpec("SHELF-A3")], tmp_path / "x.png",
                        allow_any=True)
    assert _decoded(paths) >= {"6901234567892", "SHELF-A3"}


def test_unknown_format(tmp_path):
    with pytest.raises(LabelError, match="unknown label format 'jpg'"):
        make_labels(SPECS, tmp_path / "labels.jpg")


def test_missing_cjk_font_falls_back_and_says_so(tmp_path, monkeypatch):
    monkeypatch.setattr(labels, "find_cjk_font", lambda: None)
    with pytest.warns(FontWarning, match="fonts-noto-cjk"):
        paths = make_labels(SPECS[:2], tmp_path / "labels.png")
    assert _decoded(paths) == set(CODES[:2])
