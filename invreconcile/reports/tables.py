"""JSON and CSV writers of a :class:`~invreconcile.reports.model.Report`.

JSON: the whole report (money in fen as integers, as in the model), UTF-8.
CSV: the findings table (and, when ``-o`` is a directory, evidence, data quality and
ranking too), as the workbook shows them (headers, categories and severities in the
report's language), UTF-8 with BOM so that Excel opens Chinese right. A text that begins with
``=``, ``+``, ``-``, ``@``, tab or CR gets a leading single quote, because a CSV file has
no cell types and Excel would run it as a formula.
"""
from __future__ import annotations

import csv
import dataclasses
import json
from json.encoder import encode_basestring
from pathlib import Path

from .xlsx import (DANGEROUS_START, EVIDENCE_COLUMNS, FINDING_COLUMNS, QUALITY_COLUMNS, RANKING_COLUMNS, Col,
                   quality_rows, ranking_rows)


def write_json(report, path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # the fields as they are (as_dict copies every finding and evidence row first) and the
    # text written as it is made: at 10M lines a 559 MB document
    fields = {f.name: getattr(report, f.name) for f in dataclasses.fields(report)} \
        if dataclasses.is_dataclass(report) else report.as_dict()
    with open(path, "w", encoding="utf-8") as fh:
        write_indented(fh, fields)
        fh.write("\n")
    return path


def write_indented(fh, obj, pad: str = "", stream: int = 2) -> None:
    """``json.dump(obj, fh, ensure_ascii=False, indent=1)``, the same text, a fifth to a
    quarter faster (json's encoder in C does not indent, its Python one writes every
    piece through generators), written a value at a time down to ``stream`` levels deep."""
    if stream <= 0 or not isinstance(obj, (dict, list, tuple)) or not obj:
        fh.write(_indented(obj, pad))
        return
    inner, sep = pad + " ", "\n"
    fh.write("{" if isinstance(obj, dict) else "[")
    for item in obj.items() if isinstance(obj, dict) else obj:
        fh.write(sep + inner)
        if isinstance(obj, dict):
            fh.write(encode_basestring(_key(item[0])) + ": ")
            item = item[1]
        write_indented(fh, item, inner, stream - 1)
        sep = ",\n"
    fh.write("\n" + pad + ("}" if isinstance(obj, dict) else "]"))


def _indented(o, pad: str) -> str:
    if isinstance(o, str):
        return encode_basestring(o)
    if o is None:
        return "null"
    if type(o) is int:
        return int.__repr__(o)
    if isinstance(o, dict) and o:
        inner = pad + " "
        return ("{\n" + ",\n".join(inner + encode_basestring(_key(k)) + ": " + _indented(v, inner) for k, v in o.items())
                + "\n" + pad + "}")
    if isinstance(o, (list, tuple)) and o:
        inner = pad + " "
        return "[\n" + ",\n".join(inner + _indented(v, inner) for v in o) + "\n" + pad + "]"
    return json.dumps(o)   # numbers, true, false, null, {} and [] as json writes them


def _key(k) -> str:
    """A dict key as json writes it (it makes numbers, booleans and None text)."""
    return k if isinstance(k, str) else json.dumps(k)


def csv_cell(value, kind: str = "text") -> str:
    """A value as CSV text; formula-like text is quoted with a leading '.

    >>> csv_cell('=1+1'), csv_cell(12345, 'money'), csv_cell(['a', 'b'], 'list'), csv_cell(-2, 'int')
    ("'=1+1", '123.45', 'a, b', '-2')
    """
    if value is None:
        return ""
    if kind == "money":
        return f"{int(value) / 100:.2f}"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, (list, tuple)):
        value = ", ".join(str(v) for v in value)
    text = str(value)
    return "'" + text if text.startswith(DANGEROUS_START) else text


def write_csv_table(path, columns: list[Col], rows: list[dict], lang: str) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        w = csv.writer(fh)
        w.writerow([c.head(lang) for c in columns])
        for row in rows:
            w.writerow([csv_cell(c.value(row, lang), c.kind) for c in columns])
    return path


def write_csv(report, path) -> list[Path]:
    """Findings as CSV at ``path`` (a .csv file), or, when ``path`` is a directory (exists
    or has no suffix), findings.csv, evidence.csv, data_quality.csv and ranking.csv in it."""
    path = Path(path)
    lang = report.lang
    if path.suffix.lower() != ".csv" or path.is_dir():
        path.mkdir(parents=True, exist_ok=True)
        return [
            write_csv_table(path / "findings.csv", FINDING_COLUMNS, report.findings, lang),
            write_csv_table(path / "evidence.csv", EVIDENCE_COLUMNS, report.evidence, lang),
            write_csv_table(path / "data_quality.csv", QUALITY_COLUMNS, quality_rows(report), lang),
            write_csv_table(path / "ranking.csv", RANKING_COLUMNS, ranking_rows(report), lang),
        ]
    return [write_csv_table(path, FINDING_COLUMNS, report.findings, lang)]
