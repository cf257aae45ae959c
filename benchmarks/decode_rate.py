"""Decode rate of invreconcile.imaging over the sample barcode photos.

    python benchmarks/decode_rate.py [SAMPLES_DIR] [--per-image]

SAMPLES_DIR defaults to $INVRECONCILE_SAMPLES, else ``../shared/barcode-samples`` next to
the repository. Each folder holds images ``NAME.png|jpg|webp`` and the expected content,
following the conventions of zxing-cpp's test corpus:

* ``NAME.txt``: the expected text, byte for byte (UTF-8, no trailing newline; GS1 and
  ISO 15434 content keeps its GS/RS/EOT control characters). ``<unkown>`` (sic) means the
  content is not known: such images are listed but not scored.
* ``NAME.bin``: the expected content as raw bytes (binary Data Matrix).
* ``NAME.result.txt``: ``key=value`` lines about the result; ``contentType`` and
  ``symbologyIdentifier`` are checked when the decoder reports them, other keys ignored.

An image counts as decoded correctly when one of the symbols read from it has the
expected content, and as misread when symbols were read but none has it. Prints a markdown table: per folder, correct decodes by zbar alone,
zxing alone, both combined without preprocessing, and combined with preprocessing.
"""
from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run as a script from a checkout
    sys.path.insert(0, str(REPO))

from invreconcile.imaging import available_decoders, decode_image  # noqa: E402

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp", ".tif", ".tiff")
UNKNOWN = "<unkown>"

#: (column title, decoders, preprocess)
CONFIGS = (
    ("zbar", ("zbar",), False),
    ("zxing", ("zxing",), False),
    ("combined", ("zbar", "zxing"), False),
    ("combined + preprocessing", ("zbar", "zxing"), True),
)


def samples_dir(arg: str | None = None) -> Path:
    """The samples folder: argument, else $INVRECONCILE_SAMPLES, else ../shared/barcode-samples."""
    if arg:
        return Path(arg)
    env = os.environ.get("INVRECONCILE_SAMPLES")
    if env:
        return Path(env)
    return REPO.parent / "shared" / "barcode-samples"


@dataclass
class Sample:
    image: Path
    text: str | None = None  # expected text (from NAME.txt)
    data: bytes | None = None  # expected bytes (from NAME.bin)
    meta: dict[str, str] = field(default_factory=dict)  # NAME.result.txt

    @property
    def scored(self) -> bool:
        return self.text is not None or self.data is not None

    def matches(self, d) -> bool:
        """Whether one decoded symbol (an ``imaging.Decoded``) is this sample's content."""
        if self.data is not None:
            got = d.content if d.content is not None else d.text.encode("latin-1", "replace")
            ok = got == self.data
        elif self.text is not None:
            # strip(): one expected file (ean13-2/28.txt) starts with a stray space
            ok = d.text == self.text or d.text.strip() == self.text.strip()
        else:
            return False
        ctype = self.meta.get("contentType")
        if ok and ctype and d.decoder == "zxing":
            ok = d.content_type == ctype.lower()
        sid = self.meta.get("symbologyIdentifier")
        if ok and sid and d.symbology_identifier:
            ok = d.symbology_identifier == sid
        return ok


def _stem(path: Path) -> Path:
    return path.with_suffix("")


def read_samples(folder: Path) -> list[Sample]:
    """The images of one folder with their expected content."""
    samples = []
    for image in sorted(folder.iterdir()):
        if image.suffix.lower() not in IMAGE_SUFFIXES or not image.is_file():
            continue
        stem = _stem(image)
        s = Sample(image)
        txt = stem.with_name(stem.name + ".txt")
        binf = stem.with_name(stem.name + ".bin")
        res = stem.with_name(stem.name + ".result.txt")
        if res.exists():
            for line in res.read_text(encoding="utf-8").splitlines():
                if line and not line.startswith("#") and "=" in line:
                    k, v = line.split("=", 1)
                    s.meta[k.strip()] = v.strip()
        if txt.exists():
            text = txt.read_bytes().decode("utf-8")
            s.text = None if text.strip() == UNKNOWN else text
        elif binf.exists():
            s.data = binf.read_bytes()
        samples.append(s)
    return samples


def folders(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir() if p.is_dir() and read_samples(p))


@dataclass
class FolderResult:
    folder: str
    images: int
    scored: int
    correct: dict[str, int]  # column title -> images decoded correctly
    misread: dict[str, list[str]]  # column title -> scored images read, but not as expected
    failed: dict[str, list[str]]  # column title -> scored images not decoded correctly
    seconds: dict[str, float]


def measure(folder: Path, configs=CONFIGS) -> FolderResult:
    """Decode every image of ``folder`` with each configuration."""
    samples = read_samples(folder)
    have = set(available_decoders())
    res = FolderResult(folder.name, len(samples), sum(s.scored for s in samples), {}, {}, {}, {})
    for title, decoders, preprocess in configs:
        if not set(decoders) <= have:
            continue
        start = time.perf_counter()
        ok, bad, wrong = 0, [], []
        for s in samples:
            found = decode_image(s.image, decoders=decoders, preprocess=preprocess)
            if not s.scored:
                continue
            if any(s.matches(d) for d in found):
                ok += 1
            else:
                bad.append(s.image.name)
                if found:
                    wrong.append(s.image.name)
        res.correct[title] = ok
        res.misread[title] = wrong
        res.failed[title] = bad
        res.seconds[title] = time.perf_counter() - start
    return res


def _cell(r: FolderResult, title: str) -> str:
    if title not in r.correct:
        return "n/a"
    wrong = len(r.misread[title])
    return f"{r.correct[title]}" + (f" ({wrong} misread)" if wrong else "")


def table(results: list[FolderResult], configs=CONFIGS) -> str:
    titles = [t for t, _, _ in configs if any(t in r.correct for r in results)]
    lines = [
        "| folder | images | scored | " + " | ".join(titles) + " |",
        "|---|---:|---:|" + "---:|" * len(titles),
    ]
    for r in results:
        cells = [_cell(r, t) for t in titles]
        lines.append(f"| {r.folder} | {r.images} | {r.scored} | " + " | ".join(cells) + " |")
    tot_img = sum(r.images for r in results)
    tot_sc = sum(r.scored for r in results)
    tots = [str(sum(r.correct.get(t, 0) for r in results)) for t in titles]
    lines.append(f"| **all** | {tot_img} | {tot_sc} | " + " | ".join(f"**{t}**" for t in tots) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    per_image = "--per-image" in argv
    argv = [a for a in argv if a != "--per-image"]
    root = samples_dir(argv[0] if argv else None)
    if not root.is_dir():
        print(f"{root}: samples folder not found; give it as argument or INVRECONCILE_SAMPLES.", file=sys.stderr)
        return 2
    print(f"decoders available: {', '.join(available_decoders())}", file=sys.stderr)
    results = [measure(f) for f in folders(root)]
    print(table(results))
    if per_image:
        for r in results:
            for t, bad in r.failed.items():
                wrong = " ".join(r.misread[t]) or "-"
                print(
                    f"{r.folder} / {t}: not decoded correctly: {' '.join(bad) or '-'}; "
                    f"of which misread: {wrong} ({r.seconds[t]:.2f} s)"
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
