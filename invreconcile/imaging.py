"""Read barcodes (trace codes, product barcodes, GS1 Data Matrix) from image files.

Two decoders are combined, because each reads symbols the other misses:

* ``zbar`` through pyzbar: Code 128, EAN-13/8, UPC, QR; no Data Matrix. Needs the
  system library (Debian/Ubuntu: ``apt-get install libzbar0``).
* ``zxing`` through zxing-cpp (``import zxingcpp``): the same plus Data Matrix, GS1 and
  the symbology identifier (``]d2`` etc.).

:func:`decode_image` runs every available decoder on the image and returns the union
of what they read, one result per text. When nothing is found it tries a bounded list of
preprocessing steps (grayscale and contrast, scaling, rotations, mirror, thresholds,
sharpening) and stops at the first step that reads something.

Every result carries ``code``: what :func:`invreconcile.codes.parse` makes of it (a trace
code, a GS1 element string, or the EAN-13 product barcode scanned by mistake).

>>> "zxing" in available_decoders()
True
>>> decode_image("no-such-file.png")
Traceback (most recent call last):
invreconcile.errors.InputError: no-such-file.png: file not found. Check the path; decode reads PNG, JPEG and WEBP images.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Iterable, Sequence

from PIL import Image, ImageFilter, ImageOps, UnidentifiedImageError

from .errors import ConfigError, InputError

__all__ = [
    "Decoded",
    "DECODERS",
    "PREPROCESS_STEPS",
    "available_decoders",
    "decode_image",
    "load_image",
]

#: Every decoder this module knows, in the order they run.
DECODERS = ("zbar", "zxing")

# zbar and zxing name symbologies differently; results use one lower-case vocabulary.
_SYMBOLOGY = {
    # zbar (pyzbar ``type``)
    "CODE128": "code128",
    "EAN13": "ean13",
    "ISBN13": "ean13",
    "EAN8": "ean8",
    "UPCA": "upca",
    "UPCE": "upce",
    "QRCODE": "qrcode",
    "CODE39": "code39",
    "CODE93": "code93",
    "I25": "itf",
    "CODABAR": "codabar",
    "DATABAR": "databar",
    "DATABAR_EXP": "databar-expanded",
    "PDF417": "pdf417",
    "SQCODE": "sqcode",
    # zxing-cpp (``BarcodeFormat`` member names)
    "Code128": "code128",   # EAN13, EAN8, UPCA, UPCE and PDF417 are spelt as pyzbar's (above)
    "QRCode": "qrcode",
    "MicroQRCode": "qrcode-micro",
    "RMQRCode": "qrcode-rm",
    "DataMatrix": "datamatrix",
    "Code39": "code39",
    "Code93": "code93",
    "ITF": "itf",
    "Codabar": "codabar",
    "DataBar": "databar",
    "DataBarExpanded": "databar-expanded",
    "DataBarLimited": "databar-limited",
    "Aztec": "aztec",
    "MaxiCode": "maxicode",
}


@dataclass(frozen=True)
class Decoded:
    """One symbol read from an image.

    ``text`` is the content as the symbol holds it: GS1 element strings keep their GS
    (0x1D) separators and carry no AIM prefix; ``symbology_identifier`` holds that prefix
    (``]d2`` for GS1 Data Matrix, ``]C1`` for GS1-128; zxing only). ``content`` holds
    the raw bytes when the symbol holds binary data (otherwise ``None``). ``step`` names
    the preprocessing that made the image readable (``"none"`` for the image as it is).
    ``code`` is :func:`invreconcile.codes.parse` of the text (``None`` if parsing failed).
    """

    text: str
    symbology: str
    decoder: str
    step: str = "none"
    content: bytes | None = None
    symbology_identifier: str = ""
    content_type: str = "text"
    code: object = field(default=None, compare=False, repr=False)

    @property
    def scanner_text(self) -> str:
        """The text as a scanner with AIM prefixes on would send it (``]d20108...``)."""
        return self.symbology_identifier + self.text


# --------------------------------------------------------------------------- decoders


@functools.lru_cache(maxsize=None)
def _zbar():
    """The ``pyzbar.pyzbar`` module, or ``None`` when pyzbar or libzbar is missing."""
    try:
        from pyzbar import pyzbar  # raises ImportError when libzbar0 is not installed
    except (ImportError, OSError):
        return None
    return pyzbar


@functools.lru_cache(maxsize=None)
def _zxing():
    """The ``zxingcpp`` module, or ``None`` when zxing-cpp is not installed."""
    try:
        import zxingcpp
    except ImportError:
        return None
    return zxingcpp


def available_decoders() -> list[str]:
    """Names of the decoders that can run on this machine, from :data:`DECODERS`.

    ``zbar`` needs pyzbar and the system library libzbar0; ``zxing`` needs zxing-cpp.
    """
    loaders = {"zbar": _zbar, "zxing": _zxing}
    return [name for name in DECODERS if loaders[name]() is not None]


def _bytes_to_text(data: bytes) -> tuple[str, bytes | None]:
    """Text of zbar's bytes; the bytes too when they are not UTF-8 text."""
    try:
        return data.decode("utf-8"), None
    except UnicodeDecodeError:
        return data.decode("latin-1"), data


def _read_zbar(image: Image.Image, step: str) -> list[Decoded]:
    pyzbar = _zbar()
    out = []
    for sym in pyzbar.decode(image):
        text, content = _bytes_to_text(sym.data)
        out.append(
            Decoded(
                text=text,
                symbology=_SYMBOLOGY.get(sym.type, sym.type.lower()),
                decoder="zbar",
                step=step,
                content=content,
                content_type="text" if content is None else "binary",
            )
        )
    return out


def _read_zxing(image: Image.Image, step: str) -> list[Decoded]:
    zxingcpp = _zxing()
    out = []
    # Plain text mode keeps GS separators of GS1 and ISO 15434 content as 0x1D (the
    # default HRI mode would print GS1 as "(01)...(21)...", which scanners never send).
    for bc in zxingcpp.read_barcodes(image, text_mode=zxingcpp.TextMode.Plain):
        ctype = bc.content_type.name.lower()  # text, binary, mixed, gs1, iso15434, unknowneci
        content = bytes(bc.bytes) if ctype in ("binary", "mixed", "unknowneci") else None
        fmt = bc.format.name
        out.append(
            Decoded(
                text=bc.text,
                symbology=_SYMBOLOGY.get(fmt, fmt.lower()),
                decoder="zxing",
                step=step,
                content=content,
                symbology_identifier=bc.symbology_identifier,
                content_type=ctype,
            )
        )
    return out


_READERS: dict[str, Callable[[Image.Image, str], list[Decoded]]] = {
    "zbar": _read_zbar,
    "zxing": _read_zxing,
}


# ----------------------------------------------------------------------- preprocessing


def _gray(im: Image.Image) -> Image.Image:
    return ImageOps.autocontrast(im.convert("L"), cutoff=1)


MAX_SCALED_SIDE = 4096  # scaling up stops here: larger images cost time, not reads
MIN_SCALED_SIDE = 64  # scaling down stops here


def _scale(factor: float) -> Callable[[Image.Image], Image.Image | None]:
    def scale(im: Image.Image) -> Image.Image | None:
        w, h = im.size
        size = (max(1, round(w * factor)), max(1, round(h * factor)))
        if max(size) > MAX_SCALED_SIDE or min(size) < MIN_SCALED_SIDE:
            return None  # not worth trying on this image
        return im.convert("L").resize(size, Image.Resampling.LANCZOS)

    return scale


def _rotate(angle: float) -> Callable[[Image.Image], Image.Image]:
    def rotate(im: Image.Image) -> Image.Image:
        im = im.convert("L")
        if angle % 90 == 0:
            return im.rotate(angle, expand=True)
        return im.rotate(angle, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=255)

    return rotate


def _mirror(im: Image.Image) -> Image.Image:
    return ImageOps.mirror(im.convert("L"))


def _otsu(im: Image.Image) -> Image.Image:
    """Global threshold at Otsu's level (maximum between-class variance)."""
    gray = im.convert("L")
    hist = gray.histogram()
    total = sum(hist)
    sum_all = sum(i * h for i, h in enumerate(hist))
    best_t, best_var = 127, -1.0
    w0 = sum0 = 0
    for t in range(256):
        w0 += hist[t]
        if w0 == 0:
            continue
        w1 = total - w0
        if w1 == 0:
            break
        sum0 += t * hist[t]
        m0 = sum0 / w0
        m1 = (sum_all - sum0) / w1
        var = w0 * w1 * (m0 - m1) ** 2
        if var > best_var:
            best_t, best_var = t, var
    return gray.point(lambda p: 255 if p > best_t else 0)


def _adaptive(im: Image.Image) -> Image.Image:
    """Local threshold: a pixel is dark when darker than its neighbourhood's mean."""
    gray = im.convert("L")
    radius = max(4, min(gray.size) // 16)
    mean = gray.filter(ImageFilter.BoxBlur(radius))
    # dark where gray < mean - 5; computed with Pillow only (no numpy needed)
    from PIL import ImageChops

    diff = ImageChops.subtract(mean, gray, scale=1.0, offset=0)  # mean - gray, clipped at 0
    return diff.point(lambda p: 0 if p > 5 else 255)


def _sharpen(im: Image.Image) -> Image.Image:
    return _gray(im).filter(ImageFilter.UnsharpMask(radius=2, percent=200, threshold=2))


def _chain(*fns: Callable[[Image.Image], Image.Image | None]) -> Callable[[Image.Image], Image.Image | None]:
    def chained(im: Image.Image) -> Image.Image | None:
        for fn in fns:
            im = fn(im)
            if im is None:
                return None
        return im

    return chained


#: Preprocessing steps tried, in this order, when the image as it is reads nothing: cheap
#: and most often useful first. A step returns ``None`` when it does not apply to the
#: image (scaling beyond MAX_SCALED_SIDE / below MIN_SCALED_SIDE); that is no attempt.
PREPROCESS_STEPS: tuple[tuple[str, Callable[[Image.Image], Image.Image | None]], ...] = (
    ("gray", _gray),
    ("scale-2x", _scale(2.0)),
    ("scale-0.5x", _scale(0.5)),
    ("sharpen", _sharpen),
    ("otsu", _otsu),
    ("adaptive", _adaptive),
    ("rotate-90", _rotate(90)),
    ("rotate-180", _rotate(180)),
    ("rotate-270", _rotate(270)),
    ("mirror", _mirror),
    ("rotate+8", _rotate(8)),
    ("rotate-8", _rotate(-8)),
    ("rotate+20", _rotate(20)),
    ("rotate-20", _rotate(-20)),
    ("scale-2x+sharpen", _chain(_scale(2.0), _sharpen)),
    ("scale-2x+adaptive", _chain(_scale(2.0), _adaptive)),
    ("scale-0.5x+otsu", _chain(_scale(0.5), _otsu)),
    ("mirror+scale-2x", _chain(_mirror, _scale(2.0))),
)


# ------------------------------------------------------------------------------ input


def load_image(path) -> Image.Image:
    """Open an image file for decoding: transparency flattened onto white, RGB or L.

    Raises :class:`~invreconcile.errors.InputError` when the file is missing or is not
    an image Pillow can read.
    """
    p = Path(path)
    if not p.exists():
        raise InputError(p, "file not found.", "Check the path; decode reads PNG, JPEG and WEBP images.",
                         "文件不存在。", "请检查路径；decode 读取 PNG、JPEG 和 WEBP 图片。")
    if p.is_dir():
        raise InputError(p, "is a folder, not an image file.", "Give one image file (PNG, JPEG or WEBP).",
                         "是文件夹，不是图片文件。", "请给出一个图片文件（PNG、JPEG 或 WEBP）。")
    try:
        with Image.open(p) as im:
            im.load()
            return _normalise(im)
    except (UnidentifiedImageError, Image.DecompressionBombError) as exc:
        raise InputError(
            p,
            f"is not an image that can be read ({type(exc).__name__}).",
            "Give a PNG, JPEG or WEBP image file.",
            f"不是可读取的图片（{type(exc).__name__}）。", "请给出 PNG、JPEG 或 WEBP 图片文件。",
        ) from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise InputError(
            p,
            f"cannot read the image: {exc}.",
            "The file may be truncated or damaged; export or photograph it again.",
            f"无法读取图片：{exc}。", "文件可能不完整或已损坏；请重新导出或拍摄。",
        ) from None


def _normalise(im: Image.Image) -> Image.Image:
    """Flatten transparency onto white (a transparent background reads as black otherwise)."""
    if im.mode in ("L", "RGB"):
        return im.copy()
    if im.mode == "P" and "transparency" not in im.info:
        return im.convert("RGB")
    if im.mode in ("RGBA", "LA", "P", "PA") or "transparency" in im.info:
        rgba = im.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    if im.mode in ("1", "I;16", "I", "F"):
        return ImageOps.autocontrast(im.convert("L")) if im.mode != "1" else im.convert("L")
    return im.convert("RGB")


# ----------------------------------------------------------------------------- decode


def _parse(decoded: Decoded) -> object:
    """``codes.parse`` of the decoded text; GS1 content gets its AIM prefix back so that
    the parser knows it is a GS1 element string."""
    try:
        from . import codes
    except ImportError:  # codes.py not there (yet)
        return None
    raw = decoded.scanner_text if decoded.content_type == "gs1" else decoded.text
    try:
        return codes.parse(raw)
    except Exception:  # a parse error must not lose the barcode read
        return None


def _run(image: Image.Image, decoders: Sequence[str], step: str) -> list[Decoded]:
    found: list[Decoded] = []
    for name in decoders:
        found.extend(_READERS[name](image, step))
    return found


def _check_decoders(decoders: Iterable[str]) -> list[str]:
    wanted = list(decoders)
    unknown = [d for d in wanted if d not in DECODERS]
    if unknown:
        raise ConfigError(
            f"unknown decoder {', '.join(map(repr, unknown))}: expected one of {', '.join(DECODERS)}.",
            f"没有解码器 {', '.join(map(repr, unknown))}：应为 {', '.join(DECODERS)} 之一。"
        )
    have = available_decoders()
    usable = [d for d in wanted if d in have]
    if not usable:
        raise ConfigError(
            f"none of the decoders {', '.join(wanted)} can run here (available: "
            f"{', '.join(have) or 'none'}). Install zxing-cpp (pip install zxing-cpp) or "
            "libzbar0 (apt-get install libzbar0) for pyzbar."
        )
    return usable


def decode_image(
    path,
    decoders: Sequence[str] = ("zbar", "zxing"),
    preprocess: bool = True,
    max_attempts: int = len(PREPROCESS_STEPS),
) -> list[Decoded]:
    """Read every barcode in an image file, with all of ``decoders`` that are available.

    ``path`` is an image file (PNG, JPEG, WEBP, anything Pillow opens) or a PIL image.
    Results are de-duplicated by text; the first decoder in ``decoders`` that read a text
    is the one named. Decoders not installed here are skipped (see
    :func:`available_decoders`). When the image as it is reads nothing and
    ``preprocess`` is true, up to ``max_attempts`` steps of :data:`PREPROCESS_STEPS` are
    tried in turn, each on the original image, until one reads something. Each attempt
    runs every decoder once, so the worst case is ``1 + max_attempts`` runs of each.

    Returns an empty list when nothing can be read. Raises
    :class:`~invreconcile.errors.InputError` for a missing or unreadable image file and
    :class:`~invreconcile.errors.ConfigError` for an unknown decoder name or when none
    of ``decoders`` is installed.
    """
    usable = _check_decoders(decoders)
    image = _normalise(path) if isinstance(path, Image.Image) else load_image(path)

    found = _run(image, usable, "none")
    attempts = 0
    if preprocess:
        for step, fn in PREPROCESS_STEPS:
            if found or attempts >= max_attempts:
                break
            prepared = fn(image)
            if prepared is None:
                continue
            attempts += 1
            found = _run(prepared, usable, step)

    seen: set[str] = set()
    results: list[Decoded] = []
    for d in found:
        if d.text in seen:
            continue
        seen.add(d.text)
        results.append(_with_code(d))
    return results


def _with_code(d: Decoded) -> Decoded:
    code = _parse(d)
    return d if code is None else replace(d, code=code)
