"""Print trace-code labels for split-pack bags and relabelled boxes.

Each label carries the trace code as a Code 128 barcode (drawn by python-barcode), the
code in digits under it, and the item name, batch and expiry. Labels are laid out several
to an A4 page (2 columns by default): PNG pages at 300 dpi, one SVG file per page, or one
multi-page PDF.

>>> import tempfile, pathlib
>>> out = pathlib.Path(tempfile.mkdtemp()) / "labels.svg"
>>> [p.name for p in make_labels([LabelSpec("81234567890123456789", "阿莫西林胶囊")], out)]
['labels.svg']
>>> make_labels([LabelSpec("6901234567892")], out)
Traceback (most recent call last):
invreconcile.labels.LabelError: label 1: '6901234567892' is not a drug trace code: This is the product barcode (EAN-13), not a trace code: scan the trace code. Print trace codes only, or pass allow_any=True to print it anyway.

Chinese text needs a CJK font. :func:`find_cjk_font` looks for one (``fc-list :lang=zh``
and the usual Debian font folders: fonts-noto-cjk, fonts-wqy-zenhei, fonts-droid-fallback);
without one, labels fall back to Pillow's default font and a :class:`FontWarning` says so.
"""
from __future__ import annotations

import functools
import shutil
import subprocess
import warnings
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Sequence

from PIL import Image, ImageDraw, ImageFont

from .errors import InvReconcileError

__all__ = ["LabelSpec", "LabelError", "FontWarning", "make_labels", "find_cjk_font", "FORMATS"]

FORMATS = ("png", "svg", "pdf")

DPI = 300
A4_MM = (210.0, 297.0)
MARGIN_MM = 8.0
COLUMNS = 2
MODULE_MM = 0.254  # Code 128 module (narrowest bar): 3 pixels at 300 dpi
BAR_HEIGHT_MM = 12.0
QUIET_ZONE_MM = 3.0  # at least 10 modules each side

# Preferred CJK fonts, best first (Debian packages in brackets).
_CJK_FONT_NAMES = (
    "NotoSansCJK-Regular.ttc",  # fonts-noto-cjk
    "NotoSansCJKsc-Regular.otf",
    "NotoSerifCJK-Regular.ttc",
    "wqy-zenhei.ttc",  # fonts-wqy-zenhei
    "wqy-microhei.ttc",  # fonts-wqy-microhei
    "DroidSansFallbackFull.ttf",  # fonts-droid-fallback
    "DroidSansFallback.ttf",
    "SourceHanSansSC-Regular.otf",
    "simhei.ttf",
    "msyh.ttc",
)
_FONT_DIRS = ("/usr/share/fonts", "/usr/local/share/fonts", "~/.fonts", "~/.local/share/fonts",
              "/Library/Fonts", "/System/Library/Fonts", "C:/Windows/Fonts")
SVG_FONT_FAMILY = ("'Noto Sans CJK SC', 'Source Han Sans SC', 'WenQuanYi Zen Hei', "
                   "'Droid Sans Fallback', 'Microsoft YaHei', SimHei, sans-serif")


class LabelError(InvReconcileError, ValueError):
    """A label cannot be made (a code that is not a trace code, an unknown format...)."""


class FontWarning(UserWarning):
    """No CJK font was found: Chinese text on labels will not show."""


@dataclass(frozen=True)
class LabelSpec:
    """One label: the code to print as a barcode and the human-readable lines."""

    code: str
    name: str = ""
    batch: str = ""
    expiry: str = ""


# ------------------------------------------------------------------------------- fonts


@functools.lru_cache(maxsize=None)
def find_cjk_font() -> Path | None:
    """A font file with Chinese glyphs, or ``None`` when this machine has none."""
    found: list[Path] = []
    if shutil.which("fc-list"):
        try:
            out = subprocess.run(["fc-list", ":lang=zh", "file"], capture_output=True,
                                 text=True, timeout=10, check=False).stdout
        except (OSError, subprocess.SubprocessError):
            out = ""
        found = [Path(line.split(":")[0].strip()) for line in out.splitlines() if line.strip()]
    for d in _FONT_DIRS:
        root = Path(d).expanduser()
        if root.is_dir():
            for name in _CJK_FONT_NAMES:
                found.extend(root.rglob(name))
    found = [f for f in found if f.is_file()]
    if not found:
        return None
    rank = {n.lower(): i for i, n in enumerate(_CJK_FONT_NAMES)}
    return min(found, key=lambda f: (rank.get(f.name.lower(), len(rank)), str(f)))


@functools.lru_cache(maxsize=None)
def _find_latin_font() -> Path | None:
    """A sans-serif font for digits and Latin letters (some CJK fonts, e.g. Droid Sans
    Fallback, have no Latin glyphs); ``None`` means Pillow's built-in default."""
    if shutil.which("fc-match"):
        try:
            out = subprocess.run(["fc-match", "-f", "%{file}", "sans-serif:lang=en"],
                                 capture_output=True, text=True, timeout=10, check=False).stdout
        except (OSError, subprocess.SubprocessError):
            out = ""
        if out.strip() and Path(out.strip()).suffix.lower() in (".ttf", ".otf", ".ttc"):
            return Path(out.strip())
    return None


def _is_cjk(ch: str) -> bool:
    o = ord(ch)
    return (0x2E80 <= o <= 0x9FFF or 0xAC00 <= o <= 0xD7AF or 0xF900 <= o <= 0xFAFF
            or 0xFE30 <= o <= 0xFE4F or 0xFF00 <= o <= 0xFFEF or 0x20000 <= o <= 0x3FFFF)


class _Fonts:
    """The fonts text is drawn with: CJK characters with a CJK font, the rest with a
    Latin font, so that digits show even when the CJK font has none."""

    def __init__(self, font: str | Path | None, need_cjk: bool):
        self.cjk_path = Path(font) if font else find_cjk_font()
        self.latin_path = _find_latin_font()
        self.cjk = self.cjk_path is not None
        self._cache: dict[tuple[str, int], ImageFont.FreeTypeFont | ImageFont.ImageFont] = {}
        if self.cjk_path is None and need_cjk:
            warnings.warn(
                "no font with Chinese characters found (fc-list :lang=zh is empty); using "
                "Pillow's default font, so Chinese names will not show. Install one, e.g. "
                "apt-get install fonts-noto-cjk (or fonts-wqy-zenhei), or pass font=PATH.",
                FontWarning,
                stacklevel=3,
            )

    def _load(self, which: str, size: int):
        key = (which, size)
        if key not in self._cache:
            path = self.cjk_path if which == "cjk" else self.latin_path
            font = None
            if path is not None:
                try:
                    font = ImageFont.truetype(str(path), size)
                except OSError:
                    warnings.warn(f"{path}: cannot load this font; using Pillow's default.",
                                  FontWarning, stacklevel=4)
                    if which == "cjk":
                        self.cjk_path, self.cjk = None, False
            self._cache[key] = font or ImageFont.load_default(size=size)
        return self._cache[key]

    def _runs(self, text: str, size: int):
        run, kind = "", None
        for ch in text:
            k = "cjk" if _is_cjk(ch) else "latin"
            if kind is not None and k != kind:
                yield run, self._load(kind, size)
                run = ""
            run, kind = run + ch, k
        if run:
            yield run, self._load(kind, size)

    def length(self, draw: ImageDraw.ImageDraw, text: str, size: int) -> float:
        return sum(draw.textlength(run, font=f) for run, f in self._runs(text, size))

    def draw(self, draw: ImageDraw.ImageDraw, xy: tuple[float, float], text: str, size: int) -> None:
        x, y = xy
        for run, f in self._runs(text, size):
            draw.text((x, y), run, fill=0, font=f)
            x += draw.textlength(run, font=f)


# ------------------------------------------------------------------------------ checks


def _check(labels: Sequence[LabelSpec], allow_any: bool) -> list[LabelSpec]:
    from . import codes

    checked = []
    for i, spec in enumerate(labels, 1):
        if isinstance(spec, str):
            spec = LabelSpec(spec)
        code = (spec.code or "").strip()
        if not code:
            raise LabelError(f"label {i}: the code is empty. Give the trace code to print.")
        if not allow_any:
            parsed = codes.parse(code)
            if not parsed.is_trace_code:
                raise LabelError(
                    f"label {i}: {code!r} is not a drug trace code: {parsed.describe('en')} "
                    "Print trace codes only, or pass allow_any=True to print it anyway."
                )
            if parsed.kind == "gs1":
                raise LabelError(
                    f"label {i}: {code!r} is a GS1 element string: it needs a GS1 Data Matrix "
                    "or GS1-128 symbol, which these Code 128 labels do not print. Relabel "
                    "with the 20-digit code, or pass allow_any=True to print the text as is."
                )
        bad = sorted({ch for ch in code if not (32 <= ord(ch) < 127)})
        if bad:
            raise LabelError(
                f"label {i}: {code!r} has characters Code 128 cannot hold "
                f"({', '.join(repr(c) for c in bad)}). Use digits, letters and ASCII punctuation."
            )
        checked.append(LabelSpec(code, spec.name, spec.batch, spec.expiry))
    return checked


# ------------------------------------------------------------------------------ layout


def _mm_to_px(mm: float) -> int:
    return round(mm / 25.4 * DPI)


@dataclass(frozen=True)
class _Layout:
    per_page: int
    columns: int

    @property
    def rows(self) -> int:
        return -(-self.per_page // self.columns)

    @property
    def cell_mm(self) -> tuple[float, float]:
        w = (A4_MM[0] - 2 * MARGIN_MM) / self.columns
        h = (A4_MM[1] - 2 * MARGIN_MM) / self.rows
        return w, h

    def origin_mm(self, index: int) -> tuple[float, float]:
        r, c = divmod(index, self.columns)
        w, h = self.cell_mm
        return MARGIN_MM + c * w, MARGIN_MM + r * h


def _info_lines(spec: LabelSpec, cjk: bool) -> list[str]:
    batch_word, exp_word = ("批号", "有效期至") if cjk else ("Batch", "Exp")
    parts = []
    if spec.batch:
        parts.append(f"{batch_word} {spec.batch}")
    if spec.expiry:
        parts.append(f"{exp_word} {spec.expiry}")
    return ["   ".join(parts)] if parts else []


def _barcode_writer_options(dpi: int | None = None) -> dict:
    opts = {
        "module_width": MODULE_MM,
        "module_height": BAR_HEIGHT_MM,
        "quiet_zone": QUIET_ZONE_MM,
        "write_text": False,
        "margin_top": 0,
        "margin_bottom": 0,
    }
    if dpi:
        opts["dpi"] = dpi
    return opts


def _barcode_png(code: str) -> Image.Image:
    import barcode
    from barcode.writer import ImageWriter

    img = barcode.get("code128", code, writer=ImageWriter()).render(_barcode_writer_options(DPI))
    return img.convert("L")


def _barcode_svg(code: str) -> tuple[float, str]:
    """The bars of ``code`` drawn by python-barcode's SVGWriter, as SVG elements in
    user units of 1 mm, and the symbol's width in mm."""
    import xml.etree.ElementTree as ET

    import barcode
    from barcode.writer import SVGWriter

    svg = barcode.get("code128", code, writer=SVGWriter()).render(_barcode_writer_options())
    root = ET.fromstring(svg)
    ns = "{http://www.w3.org/2000/svg}"

    def mm(v: str) -> float:
        return float(v.removesuffix("mm"))

    width = mm(root.get("width"))
    rects = []
    for rect in root.iter(ns + "rect"):
        if rect.get("x") is None:  # the background rect (width="100%")
            continue
        rects.append(f'<rect x="{mm(rect.get("x")):.3f}" width="{mm(rect.get("width")):.3f}" '
                     f'height="{BAR_HEIGHT_MM:g}"/>')
    return width, "\n".join(rects)


def _fit(fonts: _Fonts, draw: ImageDraw.ImageDraw, text: str, max_w: int, size: int) -> int:
    """The largest font size up to ``size`` at which ``text`` fits in ``max_w`` pixels."""
    while size > 12 and fonts.length(draw, text, size) > max_w:
        size -= 2
    return size


def _draw_page(specs: Sequence[LabelSpec], layout: _Layout, fonts: _Fonts) -> Image.Image:
    page = Image.new("L", (_mm_to_px(A4_MM[0]), _mm_to_px(A4_MM[1])), 255)
    draw = ImageDraw.Draw(page)
    cell_w, cell_h = (_mm_to_px(v) for v in layout.cell_mm)
    pad = _mm_to_px(3)
    max_w = cell_w - 2 * pad
    for i, spec in enumerate(specs):
        ox, oy = (_mm_to_px(v) for v in layout.origin_mm(i))
        draw.rectangle([ox, oy, ox + cell_w - 1, oy + cell_h - 1], outline=200, width=2)  # cut line
        y = oy + pad
        if spec.name:
            size = _fit(fonts, draw, spec.name, max_w, _mm_to_px(4.2))
            fonts.draw(draw, (ox + pad, y), spec.name, size)
            y += size + _mm_to_px(1.5)
        bars = _barcode_png(spec.code)
        if bars.width > max_w:
            raise LabelError(
                f"{spec.code!r} is too long for a label {layout.cell_mm[0]:.0f} mm wide "
                f"({bars.width / DPI * 25.4:.0f} mm of bars). Use fewer columns."
            )
        page.paste(bars, (ox + (cell_w - bars.width) // 2, y))
        y += bars.height + _mm_to_px(1)
        size = _fit(fonts, draw, spec.code, max_w, _mm_to_px(3.2))
        tw = fonts.length(draw, spec.code, size)
        fonts.draw(draw, (ox + (cell_w - tw) / 2, y), spec.code, size)
        y += _mm_to_px(4.5)
        for line in _info_lines(spec, fonts.cjk):
            size = _fit(fonts, draw, line, max_w, _mm_to_px(3.2))
            fonts.draw(draw, (ox + pad, y), line, size)
            y += _mm_to_px(4.5)
    return page


def _svg_page(specs: Sequence[LabelSpec], layout: _Layout, cjk_words: bool) -> str:
    w_mm, h_mm = A4_MM
    cell_w, cell_h = layout.cell_mm
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="{w_mm:g}mm" '
        f'height="{h_mm:g}mm" viewBox="0 0 {w_mm:g} {h_mm:g}">',
        "<!-- trace-code labels made by invreconcile with python-barcode (Code 128) -->",
        f'<rect width="{w_mm:g}" height="{h_mm:g}" fill="white"/>',
    ]
    for i, spec in enumerate(specs):
        ox, oy = layout.origin_mm(i)
        out.append(f'<g class="label" transform="translate({ox:.3f},{oy:.3f})">')
        out.append(f'<rect width="{cell_w:.3f}" height="{cell_h:.3f}" fill="none" '
                   'stroke="#ccc" stroke-width="0.2"/>')
        y = 3.0
        font = f'font-family="{escape(SVG_FONT_FAMILY)}"'
        if spec.name:
            y += 4.2
            out.append(f'<text x="3" y="{y:.3f}" font-size="4.2" {font}>{escape(spec.name)}</text>')
            y += 1.5
        width, bars = _barcode_svg(spec.code)
        bx = (cell_w - width) / 2
        out.append(f'<g class="barcode" transform="translate({bx:.3f},{y:.3f})">')
        out.append(f'<rect width="{width:.3f}" height="{BAR_HEIGHT_MM:g}" fill="white"/>')
        out.append(bars)
        out.append("</g>")
        y += BAR_HEIGHT_MM + 1 + 3.2
        out.append(f'<text x="{cell_w / 2:.3f}" y="{y:.3f}" font-size="3.2" text-anchor="middle" '
                   f'font-family="monospace">{escape(spec.code)}</text>')
        for line in _info_lines(spec, cjk_words):
            y += 4.5
            out.append(f'<text x="3" y="{y:.3f}" font-size="3.2" {font}>{escape(line)}</text>')
        out.append("</g>")
    out.append("</svg>")
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------------- api


def _page_paths(out: Path, pages: int) -> list[Path]:
    if pages == 1:
        return [out]
    return [out.with_name(f"{out.stem}-{n}{out.suffix}") for n in range(1, pages + 1)]


def make_labels(
    labels: Sequence[LabelSpec],
    out_path,
    fmt: str | None = None,
    per_page: int = 12,
    *,
    columns: int = COLUMNS,
    allow_any: bool = False,
    font: str | Path | None = None,
) -> list[Path]:
    """Write labels for ``labels`` to A4 pages and return the files written.

    ``fmt`` is ``"png"``, ``"svg"`` or ``"pdf"``; by default the suffix of ``out_path``.
    PNG and SVG write one file per page (``labels.png``, or ``labels-1.png``,
    ``labels-2.png``... when there is more than one page); PDF writes one multi-page file.
    ``per_page`` labels go on a page, in ``columns`` columns. Each code must be a trace
    code (:func:`invreconcile.codes.parse`), unless ``allow_any`` is true. ``font`` is a
    TrueType/OpenType font file for the text; by default a CJK font found on the system.

    Raises :class:`LabelError` for a code that is not a trace code, an empty list, an
    unknown format or a bad ``per_page``.
    """
    out = Path(out_path)
    fmt = (fmt or out.suffix.lstrip(".")).lower()
    if fmt not in FORMATS:
        raise LabelError(
            f"{out}: unknown label format {fmt or '(no suffix)'!r}: expected one of "
            f"{', '.join(FORMATS)}. Name the output file .png, .svg or .pdf or pass fmt."
        )
    if not labels:
        raise LabelError("no labels to print: give at least one trace code.")
    if not (1 <= columns <= 4) or per_page < columns or per_page > 40:
        raise LabelError(
            f"per_page={per_page}, columns={columns}: expected 1-4 columns and between "
            "columns and 40 labels per A4 page."
        )
    specs = _check(labels, allow_any)
    layout = _Layout(per_page, columns)
    pages = [specs[i:i + per_page] for i in range(0, len(specs), per_page)]
    need_cjk = any(not (s.name + s.batch + s.expiry).isascii() for s in specs)
    out.parent.mkdir(parents=True, exist_ok=True)

    if fmt == "svg":
        fonts_cjk = (Path(font) if font else find_cjk_font()) is not None
        if need_cjk and not fonts_cjk:
            _Fonts(font, need_cjk)  # warns: the viewer may lack the font too
        paths = _page_paths(out, len(pages))
        for path, page in zip(paths, pages):
            path.write_text(_svg_page(page, layout, cjk_words=True), encoding="utf-8")
        return paths

    fonts = _Fonts(font, need_cjk)
    images = [_draw_page(page, layout, fonts) for page in pages]
    if fmt == "pdf":
        images[0].save(out, "PDF", resolution=DPI, save_all=True, append_images=images[1:])
        return [out]
    paths = _page_paths(out, len(pages))
    for path, im in zip(paths, images):
        im.save(path, "PNG", dpi=(DPI, DPI))
    return paths
