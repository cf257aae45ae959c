"""Reading files: CSV (UTF-8, UTF-8 BOM, GB18030), XLSX and JSON / JSON Lines message
logs, into raw records keyed by canonical field names.

A reader never interprets values; :mod:`invreconcile.records` does. Each raw record
carries its row number in the file, so that every later problem can name it.
"""
from __future__ import annotations

import codecs
import csv
import datetime as dt
import functools
import hashlib
import itertools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from .errors import InputError
from .headers import HeaderMap, _LOOKUP, detect_kind, kind_from_infno, map_headers, norm_header

SUFFIXES = {".csv": "csv", ".txt": "csv", ".tsv": "csv", ".xlsx": "xlsx", ".xlsm": "xlsx",
            ".json": "json", ".jsonl": "jsonl", ".ndjson": "jsonl", ".log": "jsonl"}


@dataclass
class RawRecord:
    row: int                 # row number in the file (see module doc)
    kind: str | None         # record kind, when the container says it (JSON infno)
    fields: dict             # canonical field -> raw value
    store: str | None = None  # store named by the message envelope, if any
    columns: dict = field(default_factory=dict)  # canonical field -> header as written


@dataclass
class Source:
    path: Path
    sha256: str
    container: str
    encoding: str | None = None
    kind: str | None = None
    headers: HeaderMap | None = None
    has_store_column: bool = False
    size: int = 0
    #: JSON Lines only: read just the lines from byte ``offset``, numbered ``first`` to ``last``
    #: (a part of a large file read by one of several processes; see invreconcile.lake)
    lines: tuple[int, int, int] | None = None


_CHUNK = 1 << 20


def _scan(path: Path, text: bool = True) -> tuple[str, str | None]:
    """One pass over the file, a megabyte at a time: its sha256 and, for a text file, its
    encoding (UTF-8 with or without BOM, else GB18030, which is checked in a second pass);
    an InputError when it is neither. The file is never held in memory whole."""
    h = hashlib.sha256()
    utf8 = codecs.getincrementaldecoder("utf-8")() if text else None
    with open(path, "rb") as fh:
        first = b""
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            h.update(chunk)
            if not first:
                first = chunk
            if utf8 is not None:
                try:
                    utf8.decode(chunk)
                except UnicodeDecodeError:
                    utf8 = None
        if utf8 is not None:
            try:
                utf8.decode(b"", final=True)
            except UnicodeDecodeError:
                utf8 = None
    if not text:
        return h.hexdigest(), None
    if utf8 is not None:
        return h.hexdigest(), "utf-8-sig" if first.startswith(b"\xef\xbb\xbf") else "utf-8"
    gb = codecs.getincrementaldecoder("gb18030")()
    offset = 0
    with open(path, "rb") as fh:
        for chunk in itertools.chain(iter(lambda: fh.read(_CHUNK), b""), [b""]):   # b"": the end
            pending = len(gb.getstate()[0])
            try:
                gb.decode(chunk, final=not chunk)
            except UnicodeDecodeError as exc:
                raise InputError(
                    path, f"is neither UTF-8 nor GB18030/GBK text (undecodable byte at offset {offset - pending + exc.start}).",
                    "Save it again as UTF-8 or GBK CSV, or as XLSX.",
                    f"既不是 UTF-8 也不是 GB18030/GBK 文本（第 {offset - pending + exc.start} 字节无法解码）。",
                    "请另存为 UTF-8 或 GBK 编码的 CSV，或 XLSX。",
                ) from None
            offset += len(chunk)
    return h.hexdigest(), "gb18030"


def _open_text(src: Source):
    """The file as text in its encoding, read as it goes (newlines as written)."""
    return open(src.path, encoding=src.encoding, errors="strict", newline="")


def open_source(path: str | Path, kind: str | None = None) -> Source:
    path = Path(path)
    if not path.exists():
        raise InputError(path, "does not exist.", "Check the path.", "不存在。", "请检查路径。")
    if not path.is_file():
        raise InputError(path, "is not a file.", "Give a file, or a folder to import every file in it.",
                         "不是文件。", "请给出文件，或给出文件夹以导入其中全部文件。")
    container = SUFFIXES.get(path.suffix.lower())
    if container is None:
        raise InputError(
            path, f"has the unknown file type '{path.suffix}'.",
            "Give CSV, XLSX, JSON or JSON Lines files (.csv .xlsx .json .jsonl).",
            f"文件类型「{path.suffix}」无法识别。", "请给出 CSV、XLSX、JSON 或 JSON Lines 文件（.csv .xlsx .json .jsonl）。",
        )
    sha256, encoding = _scan(path, text=container != "xlsx")
    return Source(path=path, sha256=sha256, container=container, encoding=encoding, kind=kind,
                  size=path.stat().st_size)


# --------------------------------------------------------------------------- tables

def _table_rows(src: Source, header: list, rows: Iterator[tuple[int, list]]) -> Iterator[RawRecord]:
    hm = map_headers([h for h in header])
    src.headers = hm
    fields = list(hm.mapping.values())
    src.has_store_column = "fixmedins_code" in fields
    if src.kind is None:
        src.kind = detect_kind(fields, src.path.name)
        if src.kind is None:
            raise InputError(
                src.path,
                "cannot tell what kind of records this is from its headers "
                f"({', '.join(str(h) for h in header[:12])}).",
                "Give the kind with --kind (catalog, purchase, sale, settlement, ...).",
                f"无法从列名（{'，'.join(str(h) for h in header[:12])}）判断是哪类记录。",
                "请用 --kind 指定类型（catalog、purchase、sale、settlement 等）。",
            )
    index = [(i, hm.mapping[str(h)]) for i, h in enumerate(header) if str(h) in hm.mapping]
    columns = {canon: str(header[i]) for i, canon in index}
    for row_no, values in rows:
        if not any(v not in (None, "") for v in values):
            continue
        rec = {canon: (values[i] if i < len(values) else None) for i, canon in index}
        yield RawRecord(row=row_no, kind=src.kind, fields=rec, columns=columns)


def _csv_records(src: Source) -> Iterator[RawRecord]:
    with _open_text(src) as fh:
        sample = fh.read(4096)
        fh.seek(0)
        delimiter = "\t" if sample.count("\t") > sample.count(",") else ","
        reader = csv.reader(fh, delimiter=delimiter)
        try:
            header = next(reader)
        except StopIteration:
            raise InputError(src.path, "is empty.", "Export the file again with its header row.",
                             "是空文件。", "请连同表头行重新导出。") from None

        def rows():
            for values in reader:
                yield reader.line_num, values

        yield from _table_rows(src, header, rows())


def _xlsx_records(src: Source) -> Iterator[RawRecord]:
    import openpyxl

    try:
        wb = openpyxl.load_workbook(src.path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds on corrupt files
        raise InputError(src.path, f"cannot be opened as an Excel workbook ({type(exc).__name__}: {exc}).",
                         "Open it in Excel or WPS and save it again as .xlsx.",
                         f"无法作为 Excel 工作簿打开（{type(exc).__name__}: {exc}）。",
                         "请用 Excel 或 WPS 打开后另存为 .xlsx。") from None
    ws = wb.worksheets[0]
    it = ws.iter_rows(values_only=True)
    try:
        header = [("" if h is None else str(h)) for h in next(it)]
    except StopIteration:
        raise InputError(src.path, "has an empty first sheet.", "Put the records on the first sheet.",
                         "第一个工作表是空的。", "请把记录放在第一个工作表。") from None

    def cell(v):
        if isinstance(v, dt.datetime):
            return v.strftime("%Y-%m-%d %H:%M:%S")
        if isinstance(v, dt.date):
            return v.isoformat()
        if isinstance(v, float) and v.is_integer() and abs(v) < 1e15:
            return str(int(v))
        return v

    def rows():
        for n, values in enumerate(it, start=2):
            yield n, [cell(v) for v in values]

    try:
        yield from _table_rows(src, header, rows())
    finally:
        wb.close()


# --------------------------------------------------------------------------- JSON

_LIST_KEYS = ("drugdetail", "feedetail", "drugdetails", "detail", "details")


@functools.lru_cache(maxsize=4096)
def _canon_key(key: str) -> str:
    return _LOOKUP.get(norm_header(key), key)


def _canon_keys(d: dict) -> dict:
    out = {}
    for k, v in d.items():
        canon = _canon_key(k)
        if canon == "drug_trac_codg" and isinstance(v, list):
            v = ",".join(str(x.get("drug_trac_codg", "")) if isinstance(x, dict) else str(x) for x in v)
            if canon in out and out[canon]:
                v = f"{out[canon]},{v}" if v else out[canon]
        out[canon] = v
    return out


def _records_of(obj) -> list[dict]:
    if isinstance(obj, dict):
        return [obj]
    if isinstance(obj, list):
        return [x for x in obj if isinstance(x, dict)]
    return []


def _message_records(msg: dict, row: int, src: Source) -> Iterator[RawRecord]:
    infno = msg.get("infno")
    kind = kind_from_infno(infno) or src.kind
    if kind is None:
        raise ValueError(f"unknown infno {infno!r}")
    store = msg.get("fixmedins_code")
    inp = msg.get("input") or {}
    out = msg.get("output") or {}
    if not isinstance(inp, dict) or not isinstance(out, dict):
        raise ValueError("'input' and 'output' must be JSON objects")
    if kind == "settlement":
        header = {}
        for part in (inp.get("data"), inp.get("setlinfo"), out.get("setlinfo")):
            if isinstance(part, dict):
                header.update(_canon_keys(part))
        yield RawRecord(row, "settlement", header, store)
        lines = next((inp.get(k) or out.get(k) for k in _LIST_KEYS if inp.get(k) or out.get(k)), [])
        for line in _records_of(lines):
            rec = _canon_keys(line)
            rec.setdefault("setl_id", header.get("setl_id"))
            rec.setdefault("psn_no", header.get("psn_no"))
            rec.setdefault("setl_time", header.get("setl_time"))
            yield RawRecord(row, "settlement_line", rec, store)
        return
    if kind == "reversal":
        data = _canon_keys(inp.get("data") or {}) if isinstance(inp.get("data"), dict) else {}
        rec = dict(data)
        rec["orig_setl_id"] = data.get("orig_setl_id") or data.get("setl_id")
        rec.pop("setl_id", None)
        if isinstance(out.get("setlinfo"), dict):
            rec.update({k: v for k, v in _canon_keys(out["setlinfo"]).items()})
        yield RawRecord(row, "reversal", rec, store)
        return
    payload = None
    for v in inp.values():
        if isinstance(v, (dict, list)) and _records_of(v):
            payload = v
            break
    if payload is None:
        raise ValueError("no record found in 'input'")
    for rec in _records_of(payload):
        yield RawRecord(row, kind, _canon_keys(rec), store)


def _json_records(src: Source) -> Iterator[RawRecord]:
    src.has_store_column = True  # messages carry their own fixmedins_code (checked per row)
    with _open_text(src) as fh:
        head = ""
        for block in iter(lambda: fh.read(4096), ""):   # the first character that is not white space
            head = block.lstrip()
            if head:
                break
        fh.seek(0)
        if src.container == "json" and head.startswith("["):
            # one JSON array: read whole (JSON Lines, one message per line, is read as it goes)
            try:
                messages = json.loads(fh.read())
            except json.JSONDecodeError as exc:
                raise InputError(src.path, f"is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}).",
                                 "Fix the file or export it again.",
                                 f"不是有效的 JSON（第 {exc.lineno} 行第 {exc.colno} 列：{exc.msg}）。",
                                 "请修正文件或重新导出。") from None
            numbered = enumerate(messages, start=1)
        elif src.lines:
            offset, first, last = src.lines
            fh.seek(offset)
            numbered = ((n, line) for n, line in zip(range(first, last + 1), fh) if line.strip())
        else:
            numbered = ((n, line) for n, line in enumerate(fh, start=1) if line.strip())
        yield from _json_items(src, numbered)


def _json_items(src: Source, numbered) -> Iterator[RawRecord]:
    for n, item in numbered:
        if isinstance(item, str):
            try:
                item = json.loads(item)
            except json.JSONDecodeError as exc:
                yield RawRecord(n, None, {"__error__": ("json", f"invalid JSON: {exc.msg} at column {exc.colno}")})
                continue
        if not isinstance(item, dict):
            yield RawRecord(n, None, {"__error__": ("json", "a message must be a JSON object")})
            continue
        if "infno" not in item and "input" not in item:
            # a plain record (already flat): needs --kind
            if src.kind is None:
                yield RawRecord(n, None, {"__error__": ("infno", "no infno and no --kind given")})
                continue
            yield RawRecord(n, src.kind, _canon_keys(item), item.get("fixmedins_code"))
            continue
        try:
            yield from list(_message_records(item, n, src))
        except ValueError as exc:
            yield RawRecord(n, None, {"__error__": ("infno", str(exc))})


def read_records(src: Source) -> Iterator[RawRecord]:
    """Raw records of a file, in file order."""
    if src.container == "csv":
        return _csv_records(src)
    if src.container == "xlsx":
        return _xlsx_records(src)
    return _json_records(src)
