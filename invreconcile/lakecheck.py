"""Checking a Parquet lake against its layout (docs/lake.md) before the engines read it:
the lake a bureau's own data platform produced, or one copied or edited by hand.

The engines trust the layout: a file outside its store's directories is left out of the
batches of a lake larger than memory, a misspelt column reads as NULL, a time column that
disagrees with ``ts`` puts a settlement in the wrong hour, a sale with trace codes but no
code events is invisible to the code rules. None of that fails; the findings are wrong.
:func:`check_lake` finds these, each problem named by table, file, row and column, with
what was expected, what was found and what to do::

    from invreconcile.lakecheck import check_lake
    result = check_lake("DIR")
    for p in result.problems:
        print(p.text("en"))

Three passes, cheapest first:

* layout: the folders and files (what the engines do not read, files outside the
  ``store=``/``month=`` directories of their table);
* columns: each file's column names and types from its footer (pyarrow), the files of one
  schema judged together;
* content, one DuckDB scan of each table and a few joins: values that do not read as
  their column's type, rows outside their store's (or month's) directory, required values
  missing, ids missing or repeated, derived time columns that disagree with ``ts``, rows
  with trace codes but no code events, code events of rows that are not there, catalog
  prefixes without their product keys, code relations without their ancestry.

An error means the audit would fail or be wrong; a warning, that the lake reads but
something is likely not what its producer meant.
"""
from __future__ import annotations

import os
import re
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path

from .lake import BY_STORE, BY_STORE_MONTH, TABLES, duck_type, not_null, read_parquet_sql, require_lake, table_schema

#: columns written by the import for provenance and de-duplication: a lake without them
#: still audits (its evidence names no source rows)
PROVENANCE = ("src_file", "src_sha256", "src_row", "rec_hash", "uploads")
TIME_COLUMNS = ("ts", "day", "month", "epoch", "hour", "tod_min", "dow")
#: columns the rules cannot do without besides the ledger's NOT NULL ones
#: (what the import requires of a record; a quantity may be unknown: dq_unconverted_quantity)
REQUIRED = {"purchases": ("item_id",), "sales": ("item_id",), "settlement_lines": ("item_id",),
            "stock_counts": ("item_id",), "stock_changes": ("item_id", "chg_type")}
#: tables whose rows name their trace codes in ``codes``; each such row has code events
WITH_CODES = ("purchases", "sales", "settlement_lines", "stock_counts", "stock_changes")

# what each check is about and what to do: (zh, en) each
CHECKS = {
    "unknown_folder": (("不是数据湖的表，引擎不读取", "not a table of the lake; the engines do not read it"),
                       ("改为 docs/lake.md 列出的表名，或移出数据湖目录。",
                        "Name it as one of the tables docs/lake.md lists, or move it out of the lake.")),
    "stray_file": (("不是 Parquet 文件，引擎不读取", "not a Parquet file; the engines do not read it"),
                   ("如是数据，请以 Parquet 写出；否则移出数据湖目录。",
                    "If it holds data, write it as Parquet; otherwise move it out of the lake.")),
    "outside_layout": (("文件不在本表规定的目录中：分批稽核时不会读取其中的行",
                        "file outside its table's directories: an audit in batches of stores would not read its rows"),
                       ("按 docs/lake.md 移到 <表>/store=<门店>/month=<YYYY-MM>/ 目录（门店表为 <表>/store=<门店>/）。",
                        "Move it to <table>/store=<store>/month=<YYYY-MM>/ (<table>/store=<store>/ for the "
                        "tables kept by store), as docs/lake.md lays out.")),
    "unreadable": (("无法作为 Parquet 读取", "cannot be read as Parquet"),
                   ("重新写出该文件。", "Write the file again.")),
    "unknown_column": (("未知列，引擎忽略", "unknown column, ignored by the engines"),
                       ("按 docs/lake.md 与 invreconcile/ledger.py 的列名改名，或删去该列。",
                        "Rename it to the ledger's column name (docs/lake.md, invreconcile/ledger.py) or drop it.")),
    "missing_column": (("缺少该列，读取为空值", "column missing: it reads as NULL"),
                       ("写出该列（列名与类型见 invreconcile/ledger.py）。",
                        "Write the column (names and types in invreconcile/ledger.py).")),
    "column_type": (("列类型不符", "column of another type"),
                    ("按 docs/lake.md 的类型写出该列：INTEGER 为 int64，TEXT 为 UTF-8 字符串，REAL 为 double。",
                     "Write the column with the type docs/lake.md gives: INTEGER as int64, TEXT as UTF-8 "
                     "string, REAL as double.")),
    "bad_value": (("值不能读作该列的类型：稽核会因此中止（小数则被取整）",
                   "value does not read as its column's type: the audit stops on it (or rounds a fraction)"),
                  ("修正该值并重新写出文件。", "Correct the value and write the file again.")),
    "missing_value": (("必需的值为空：规则会跳过或算错这些行", "required value missing: the rules skip or misjudge these rows"),
                      ("填入该值并重新写出文件。", "Fill in the value and write the file again.")),
    "store_directory": (("行的门店与所在 store= 目录不符：分批稽核会把它与别的门店放在一起",
                         "row of another store than its store= directory: an audit in batches would put it with "
                         "the wrong stores"),
                        ("把这些行移到其门店的 store= 目录。", "Move those rows to their store's store= directory.")),
    "month_directory": (("行的月份与所在 month= 目录不符", "row of another month than its month= directory"),
                        ("把这些行移到其月份的 month= 目录（无时间的行放 month=none）。",
                         "Move those rows to their month's month= directory (rows without a time to month=none).")),
    "flag_value": (("标志列只能为 0 或 1", "flag column other than 0 or 1"),
                   ("写 0（有效）或 1（已被 3507 删除）。", "Write 0 (in force) or 1 (withdrawn by a 3507 deletion).")),
    "id_repeated": (("id 重复：发现中的证据按 表:id 引用行，无法区分", "id repeated: evidence cites rows as table:id"),
                    ("为表内每行分配唯一的 id（任意 int64）。", "Give every row of the table an id of its own (any int64).")),
    "time_mismatch": (("时间派生列与 ts 不符：按时段、日、月的规则会算错",
                       "time column disagrees with ts: the rules by hour, day and month would misjudge the row"),
                      ("由 ts（中国当地时间）重新计算 day、month、epoch（UTC 秒）、hour、tod_min、dow（1 = 周一）。",
                       "Derive day, month, epoch (seconds UTC), hour, tod_min and dow (1 = Monday) from ts "
                       "(China local time) again.")),
    "no_code_events": (("行有追溯码却没有追溯码事件：追溯码规则看不到它们",
                        "row with trace codes but no code events: the trace-code rules do not see them"),
                       ("为每个追溯码写一行 code_events（src_table、src_id 指向该行；见 invreconcile.importer）。",
                        "Write a code_events row for each of its codes (src_table, src_id pointing at the row; "
                        "see invreconcile.importer).")),
    "event_source_missing": (("追溯码事件指向不存在的行：证据无法引用",
                              "code event of a row the lake does not hold: its evidence cannot be shown"),
                             ("写出该行，或删去这些事件。", "Write that row, or drop those events.")),
    "no_product_keys": (("目录的追溯码前缀没有派生的 item_products：该品种的追溯码会被当作别的药品",
                         "catalog trace-code prefix without its item_products row: the item's codes look like "
                         "another product's"),
                        ("由 items 重新生成 item_products（每个 trace_prefix 与 drug_prod_barc 一行，见 docs/lake.md）。",
                         "Derive item_products from items again (a row per trace_prefix and drug_prod_barc, "
                         "docs/lake.md).")),
    "no_ancestry": (("追溯码关联没有派生的 code_ancestors：按箱码入库的盒码会被当作未入库",
                     "code relation without its code_ancestors row: boxes received through their case code look "
                     "never received"),
                    ("由 code_relations 重新生成 code_ancestors（每个码自身 depth 0，及其各级上级，见 docs/lake.md）。",
                     "Derive code_ancestors from code_relations again (every code with itself at depth 0 and "
                     "each ancestor, docs/lake.md).")),
}

_TYPE_WORDS = {"INTEGER": ("整数（int64）", "an integer (int64)"), "TEXT": ("字符串（UTF-8）", "text (UTF-8 string)"),
               "REAL": ("数值（double）", "a number (double)")}


@dataclass(frozen=True)
class Problem:
    """One problem of a lake: ``level`` "error" (the audit would fail or be wrong) or
    "warning"; ``check`` one of :data:`CHECKS`; the first file and row concerned (row 1 is
    the file's first row; None for a problem of a whole file or folder); ``count`` the rows
    (or files, when ``row`` is None) concerned in all."""
    level: str
    check: str
    table: str
    file: str = ""
    row: int | None = None
    column: str = ""
    found: str = ""
    expected: str = ""
    count: int = 1

    def text(self, lang: str = "zh", level: bool = True) -> str:
        """The problem in Chinese (default) or English (``lang`` "en"); ``level`` with
        "error"/"warning" first."""
        (what_zh, what_en), (fix_zh, fix_en) = CHECKS[self.check]
        zh = lang != "en"
        where = [self.table] if self.table else []
        if self.file:
            where.append(self.file)
        if self.row is not None:
            where.append(f"第 {self.row} 行" if zh else f"row {self.row}")
        if self.column:
            where.append(f"{self.column} 列" if zh else f"column {self.column}")
        shown = ("错误" if self.level == "error" else "警告") if zh else self.level
        detail = []
        if self.expected:
            expected = _TYPE_WORDS[self.expected][not zh] if self.expected in _TYPE_WORDS else self.expected
            detail.append(f"应为{expected}" if zh else f"expected {expected}")
        if self.found:
            detail.append(f"实际为{self.found}" if zh else f"found {self.found}")
        unit = ("行" if zh else "rows") if self.row is not None else ("个文件" if zh else "files")
        if self.count > 1:
            detail.append(f"共 {self.count:,} {unit}" if zh else f"{self.count:,} {unit} in all")
        if zh:
            return ((f"{shown}：" if level else "") + f"{'，'.join(where)}：{what_zh}"
                    + (f"（{'；'.join(detail)}）" if detail else "") + f"。{fix_zh}")
        return ((f"{shown}: " if level else "") + f"{', '.join(where)}: {what_en}"
                + (f" ({'; '.join(detail)})" if detail else "") + f". {fix_en}")


@dataclass
class LakeCheck:
    """What :func:`check_lake` found: the problems (errors first, then by table, file and
    row), and what it read."""
    lake: str
    problems: list[Problem] = field(default_factory=list)
    files: int = 0
    rows: dict[str, int] = field(default_factory=dict)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.level == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.level == "warning"]

    def as_dict(self) -> dict:
        return {"lake": self.lake, "files": self.files, "rows": dict(self.rows), "errors": len(self.errors),
                "warnings": len(self.warnings), "problems": [asdict(p) for p in self.problems]}


@lru_cache(maxsize=None)
def _required(table: str) -> tuple[str, ...]:
    """Columns a table's rows cannot do without: the ledger's NOT NULL ones (provenance
    aside), the time columns and :data:`REQUIRED`."""
    cols = [c for c, _ in table_schema(table)]
    out = [c for c in not_null(table) if c not in PROVENANCE] + [c for c in TIME_COLUMNS if c in cols]
    return tuple(dict.fromkeys(out + list(REQUIRED.get(table, ()))))


# --------------------------------------------------------------------------- layout

def _layout(lake: Path, out: list[Problem]) -> dict[str, list[str]]:
    """The Parquet files of each table (sorted), and the layout's problems."""
    from rapidfuzz import process
    files: dict[str, list[str]] = {}
    for entry in sorted(os.scandir(lake), key=lambda e: e.name):
        if entry.name.startswith((".", "_")):   # _staging of an import, hidden files
            continue
        if not entry.is_dir():
            out.append(Problem("warning", "stray_file", "", entry.path))
            continue
        if entry.name not in TABLES:   # a misspelt table: the nearest name, or all of them
            near = process.extractOne(entry.name, TABLES, score_cutoff=80)
            out.append(Problem("warning", "unknown_folder", entry.name, entry.path,
                               expected=f"{near[0]}?" if near else ", ".join(TABLES)))
            continue
        table, found, stray, outside = entry.name, [], [], []
        depth = 2 if table in BY_STORE_MONTH else 1 if table in BY_STORE else 0
        for folder, dirs, names in os.walk(entry.path):
            dirs.sort()
            parts = Path(folder).relative_to(entry.path).parts
            for name in sorted(names):
                path = os.path.join(folder, name)
                if not name.endswith(".parquet"):
                    stray.append(path)
                    continue
                found.append(path)
                if (len(parts) != depth or (depth >= 1 and not parts[0].startswith("store="))
                        or (depth == 2 and not parts[1].startswith("month="))):
                    outside.append(path)
        for check, paths in (("stray_file", stray), ("outside_layout", outside)):
            if paths:
                expected = {2: f"{table}/store=<store>/month=<YYYY-MM>/part-<n>.parquet",
                            1: f"{table}/store=<store>/part-<n>.parquet", 0: f"{table}/part-<n>.parquet"}[depth]
                out.append(Problem("warning" if check == "stray_file" else "error", check, table, paths[0],
                                   expected=expected if check == "outside_layout" else "", count=len(paths)))
        files[table] = found
    return files


# --------------------------------------------------------------------------- columns

def _arrow_kind(t) -> str:
    """The ledger type an Arrow type reads as without a cast ("INTEGER", "TEXT", "REAL"),
    "NULL" for a column of nulls only, or the type's own name."""
    import pyarrow as pa
    if pa.types.is_dictionary(t):
        t = t.value_type
    if pa.types.is_integer(t):
        return "INTEGER"
    if pa.types.is_string(t) or pa.types.is_large_string(t) or getattr(pa.types, "is_string_view", lambda _: False)(t):
        return "TEXT"
    if pa.types.is_floating(t) or pa.types.is_decimal(t):
        return "REAL"
    if pa.types.is_null(t):
        return "NULL"
    return str(t)


#: (expected, found) -> level of a column written with another type; None: read as it is.
#: The cases the content pass checks value by value are "cast".
_CASTS = {("INTEGER", "REAL"): "cast", ("INTEGER", "TEXT"): "cast", ("INTEGER", "bool"): "warning",
          ("REAL", "INTEGER"): None, ("REAL", "TEXT"): "cast", ("TEXT", "INTEGER"): "warning",
          ("TEXT", "date32[day]"): "warning"}


def _type_level(expected: str, found: str) -> str | None:
    if found in (expected, "NULL"):
        return None
    if (expected, found) in _CASTS:
        return _CASTS[(expected, found)]
    if expected == "TEXT" and found.startswith("timestamp"):
        return "warning"   # read as 'YYYY-MM-DD HH:MM:SS'
    return "error"


def _columns(table: str, files: list[str], out: list[Problem]) -> tuple[dict[str, str], list[str], dict[str, list[str]]]:
    """Judge each file's columns; returns the columns some file holds with how the content
    pass reads them (the ledger's DuckDB type; "VARCHAR" where a file holds them as text or
    numbers that may not read as the ledger's type, so that every value is looked at;
    "CAST" where they all read as it), the files that could be read, and the files that
    lack each column."""
    import pyarrow.parquet as pq
    from rapidfuzz import process

    def schema(path: str):
        try:
            return pq.read_schema(path)
        except Exception as exc:   # not Parquet, truncated: say so and go on with the others
            return exc

    with ThreadPoolExecutor(8) as pool:
        schemas = list(pool.map(schema, files))
    expected = dict(table_schema(table))
    required = _required(table)
    by_problem: dict[tuple, list[str]] = {}
    present: dict[str, set[str]] = {}
    readable = []
    for path, s in zip(files, schemas):
        if isinstance(s, Exception):
            out.append(Problem("error", "unreadable", table, path, found=str(s).splitlines()[0][:200]))
            continue
        names = set(s.names)
        if not names & {"filename", "file_row_number"}:   # the names the content pass gives each row's place
            readable.append(path)
        for name in s.names:
            if name not in expected:
                missing = [c for c in expected if c not in names]
                near = process.extractOne(name, missing, score_cutoff=80) if missing else None
                key = ("error" if near else "warning", "unknown_column", name, f"{near[0]}?" if near else "")
                by_problem.setdefault(key, []).append(path)
                continue
            kind = _arrow_kind(s.field(name).type)
            level = _type_level(expected[name], kind)
            present.setdefault(name, set()).add("VARCHAR" if level == "cast" else "CAST" if level else duck_type(expected[name]))
            if level:
                key = ("warning" if level == "cast" else level, "column_type", name, str(s.field(name).type),
                       expected[name])
                by_problem.setdefault(key, []).append(path)
        for name in expected:
            if name not in names:
                key = ("error" if name in required else "warning", "missing_column", name)
                by_problem.setdefault(key, []).append(path)
    for key, paths in sorted(by_problem.items(), key=lambda kv: (kv[0][1], kv[0][2], kv[1][0])):
        level, check, column = key[:3]
        if check == "unknown_column":
            out.append(Problem(level, check, table, paths[0], column=column, expected=key[3], count=len(paths)))
        elif check == "column_type":
            out.append(Problem(level, check, table, paths[0], column=column, found=key[3], expected=key[4],
                               count=len(paths)))
        else:
            out.append(Problem(level, check, table, paths[0], column=column, count=len(paths)))
    types = {c: "VARCHAR" if "VARCHAR" in kinds else "CAST" if "CAST" in kinds or len(kinds) > 1 else kinds.pop()
             for c, kinds in present.items()}
    lacking = {key[2]: paths for key, paths in by_problem.items() if key[1] == "missing_column"}
    return types, readable, lacking


# --------------------------------------------------------------------------- content

def _content(con, table: str, files: list[str], types: dict[str, str], lacking: dict[str, list[str]],
             out: list[Problem]) -> int:
    """Check the values of one table in one scan (the id repeats in a second); returns
    its rows. Makes the view ``t_<table>`` of its rows with ``filename`` and ``r``.
    ``lacking``: the files without a column (reported already, so their NULLs are not)."""
    expected = dict(table_schema(table))
    cast = [c for c in expected if types.get(c) == "VARCHAR" and expected[c] != "TEXT"]

    def col(c: str) -> str:   # a column as the ledger types it (NULL where no file has it)
        if c not in types:
            return f'NULL::{duck_type(expected[c])} AS "{c}"'
        return f'TRY_CAST("{c}" AS {duck_type(expected[c])}) AS "{c}"' if types[c] in ("VARCHAR", "CAST") else f'"{c}"'

    src = read_parquet_sql(files).replace("hive_partitioning = false",
                                          "hive_partitioning = false, filename = true, file_row_number = true")
    con.execute(f"CREATE OR REPLACE TEMP VIEW t_{table} AS SELECT filename, file_row_number + 1 AS r, "
                + ", ".join([col(c) for c in expected] + [f'CAST("{c}" AS VARCHAR) AS "raw {c}"' for c in cast])
                + f" FROM {src}")
    checks: list[tuple[str, str, str, str, str, str]] = []   # (level, check, column, where, found, want)
    for c in cast:
        raw = f'"raw {c}"'
        cond = (f"{raw} IS NOT NULL AND (TRY_CAST({raw} AS BIGINT) IS NULL OR TRY_CAST({raw} AS DOUBLE) "
                f"<> TRY_CAST({raw} AS BIGINT))" if expected[c] == "INTEGER" else
                f"{raw} IS NOT NULL AND TRY_CAST({raw} AS DOUBLE) IS NULL")
        checks.append(("error", "bad_value", c, cond, raw, f"'{expected[c]}'"))
    for c in _required(table):
        if c in types and c not in TIME_COLUMNS:   # a time may be unknown (ts and its columns NULL)
            where = f'"{c}" IS NULL' + (f' AND "raw {c}" IS NULL' if c in cast else "")
            if lacking.get(c):
                where += " AND filename NOT IN (" + ", ".join("'" + f.replace("'", "''") + "'" for f in lacking[c]) + ")"
            checks.append(("error", "missing_value", c, where, "NULL", "''"))
    if table in BY_STORE_MONTH + BY_STORE and "store" in types:
        d = r"regexp_extract(filename, '[/\\]store=([^/\\]*)[/\\]', 1)"
        checks.append(("error", "store_directory", "store", f"{d} NOT IN ('', COALESCE(NULLIF(store, ''), '_'))",
                       "COALESCE(store, 'NULL')", f"'store=' || {d}"))
    if table in BY_STORE_MONTH and "month" in types:
        d = r"regexp_extract(filename, '[/\\]month=([^/\\]*)[/\\]', 1)"
        checks.append(("warning", "month_directory", "month", f"{d} NOT IN ('', COALESCE(month, 'none'))",
                       "COALESCE(month, 'NULL')", f"'month=' || {d}"))
    for c in ("deleted", "is_return", "is_reversal", "applied"):
        if c in types:
            checks.append(("error", "flag_value", c, f"{c} NOT IN (0, 1)", c, "'0, 1'"))
    if "ts" in types:
        t = '"parsed ts"'   # TRY_STRPTIME(ts) once per row, below
        checks.append(("error", "time_mismatch", "ts", f"ts IS NOT NULL AND ({t} IS NULL OR strftime({t}, "
                       "'%Y-%m-%d %H:%M:%S') <> ts)", "ts", "'YYYY-MM-DD HH:MM:SS'"))
        derived = {"day": f"strftime({t}, '%Y-%m-%d')", "month": f"strftime({t}, '%Y-%m')",
                   "epoch": f"epoch({t})::BIGINT - 28800", "hour": f"hour({t})",
                   "tod_min": f"hour({t}) * 60 + minute({t})", "dow": f"isodow({t})"}
        for c, want in derived.items():
            if c in types:
                checks.append(("error", "time_mismatch", c, f'"{c}" IS DISTINCT FROM {want}',
                               f'COALESCE(CAST("{c}" AS VARCHAR), \'NULL\')', f"COALESCE(CAST({want} AS VARCHAR), 'NULL')"))
    parts = ["COUNT(*)"] + [
        f"COUNT(*) FILTER (WHERE {where}), MIN((filename, r, CAST({found} AS VARCHAR), CAST({want} AS VARCHAR))) "
        f"FILTER (WHERE {where})" for _, _, _, where, found, want in checks]
    parsed = ", TRY_STRPTIME(ts, '%Y-%m-%d %H:%M:%S') AS \"parsed ts\"" if "ts" in types else ""
    got = con.execute(f"SELECT {', '.join(parts)} FROM (SELECT *{parsed} FROM t_{table})").fetchone()
    for i, (level, check, column, _, _, _) in enumerate(checks):
        n, first = got[1 + 2 * i], got[2 + 2 * i]
        if n:
            found = ("NULL" if check == "missing_value" else first[2] if check in ("store_directory", "month_directory")
                     else f"'{first[2]}'")
            out.append(Problem(level, check, table, first[0], first[1], column, found,
                               first[3] if check != "missing_value" else "", n))
    if "id" in types:   # the second row of a repeated id named, the first in what was found
        con.execute(f"CREATE OR REPLACE TEMP TABLE repeated AS SELECT id FROM t_{table} WHERE id IS NOT NULL "
                    "GROUP BY id HAVING COUNT(*) > 1")   # their places only when there are any (4 times the work)
        n, first = con.execute(
            f"SELECT COUNT(*), MIN((b, a, id, k)) FROM (SELECT id, MIN((filename, r)) AS a, MAX((filename, r)) AS b, "
            f"COUNT(*) AS k FROM t_{table} WHERE id IN (SELECT id FROM repeated) GROUP BY id)").fetchone() \
            if con.execute("SELECT COUNT(*) FROM repeated").fetchone()[0] else (0, None)
        if n:
            (f, r), (f0, r0), id_, k = first
            out.append(Problem("error", "id_repeated", table, f, r, "id", f"id {id_} ×{k} ({f0}:{r0})", count=n))
    return got[0]


# --------------------------------------------------------------------------- between tables

def _links(con, types: dict[str, dict[str, str]], out: list[Problem]) -> None:
    """Derived tables against their inputs (the views ``t_<table>`` of :func:`_content`):
    the code events of each row with trace codes, the rows of the code events, the
    catalog's product keys, the ancestry of the code relations."""
    ev = types.get("code_events", {})
    if "src_table" in ev and "src_id" in ev:
        con.execute("CREATE OR REPLACE TEMP TABLE ev AS SELECT DISTINCT src_table, src_id FROM t_code_events "
                    "WHERE src_id IS NOT NULL")
    else:
        con.execute("CREATE OR REPLACE TEMP TABLE ev (src_table VARCHAR, src_id BIGINT)")
    held = []
    for table in WITH_CODES + ("scans",):
        cols = types.get(table, {})
        if "id" not in cols:
            continue
        held.append(f"SELECT '{table}' AS src_table, id FROM t_{table}")
        if table == "scans" or "codes" not in cols:
            continue
        live = " AND deleted = 0" if "deleted" in cols else ""
        n, first = con.execute(
            f"SELECT COUNT(*), MIN((filename, r, codes)) FROM t_{table} x WHERE codes <> ''{live} AND NOT EXISTS "
            f"(SELECT 1 FROM ev WHERE ev.src_table = '{table}' AND ev.src_id = x.id)").fetchone()
        if n:
            out.append(Problem("error", "no_code_events", table, first[0], first[1], "codes", f"'{first[2]}'", "", n))
    if "src_table" in ev and "src_id" in ev and held:
        con.execute(f"CREATE OR REPLACE TEMP TABLE held AS {' UNION ALL '.join(held)}")
        n, first = con.execute(
            "SELECT COUNT(*), MIN((filename, r, src_table || ':' || src_id)) FROM t_code_events e WHERE src_id IS NOT "
            "NULL AND src_table IN (SELECT DISTINCT src_table FROM held) AND NOT EXISTS (SELECT 1 FROM held h "
            "WHERE h.src_table = e.src_table AND h.id = e.src_id)").fetchone()
        if n:
            out.append(Problem("warning", "event_source_missing", "code_events", first[0], first[1], "src_id",
                               first[2], "", n))
    items, products = types.get("items", {}), types.get("item_products", {})
    if {"trace_prefix", "item_id"} <= set(items):
        have = ("SELECT 1 FROM t_item_products p WHERE p.product_key = x.k AND p.item_id = x.item_id AND "
                "COALESCE(p.store, '') = COALESCE(x.store, '')" if {"product_key", "item_id"} <= set(products)
                else "SELECT 1 WHERE false")
        n, first = con.execute(
            "SELECT COUNT(*), MIN((filename, r, k)) FROM (SELECT filename, r, store, item_id, "
            "UNNEST(string_split(trace_prefix, ',')) AS k FROM t_items WHERE trace_prefix <> '') x "
            f"WHERE k <> '' AND NOT EXISTS ({have})").fetchone()
        if n:
            out.append(Problem("error", "no_product_keys", "items", first[0], first[1], "trace_prefix",
                               f"'{first[2]}'", "", n))
    rel = types.get("code_relations", {})
    if "code" in rel:
        anc = types.get("code_ancestors", {})
        have = ("SELECT 1 FROM t_code_ancestors a WHERE a.code = x.code AND a.depth = 0"
                if {"code", "depth"} <= set(anc) else "SELECT 1 WHERE false")
        n, first = con.execute(f"SELECT COUNT(*), MIN((filename, r, code)) FROM t_code_relations x WHERE code IS NOT NULL "
                               f"AND NOT EXISTS ({have})").fetchone()
        if n:
            out.append(Problem("error", "no_ancestry", "code_relations", first[0], first[1], "code",
                               f"'{first[2]}'", "", n))


def _check_table(con, table: str, files: list[str], out: list[Problem]) -> tuple[dict[str, str], int] | None:
    """The columns and the values of ``table``'s ``files``: (the columns' types as
    :func:`_columns` gives them, the rows read), None when no file could be read."""
    types, readable, lacking = _columns(table, files, out)
    if not readable:
        return None
    return types, _content(con, table, readable, types, lacking, out)


def check_lake(lake: str | Path, *, memory_limit: str | None = None) -> LakeCheck:
    """Check the lake ``lake`` against docs/lake.md; ``memory_limit`` for DuckDB (which
    spills to a temporary folder beyond it)."""
    import duckdb
    lake = require_lake(lake)
    result = LakeCheck(str(lake))
    problems: list[Problem] = []
    files = _layout(lake, problems)
    types: dict[str, dict[str, str]] = {}
    with tempfile.TemporaryDirectory(prefix="invreconcile-check-") as tmp:
        config = {"temp_directory": tmp, **({"memory_limit": memory_limit} if memory_limit else {})}
        con = duckdb.connect(config=config)
        try:
            for table in [t for t in TABLES if files.get(t)]:
                result.files += len(files[table])
                found = _check_table(con, table, files[table], problems)
                if found is not None:
                    types[table], result.rows[table] = found
            _links(con, types, problems)
        finally:
            con.close()
    order = {t: i for i, t in enumerate(TABLES)}
    result.problems = sorted(problems, key=lambda p: (p.level != "error", order.get(p.table, -1), p.file,
                                                      p.row or 0, p.column, p.check))
    return result


#: the file an engine names when it cannot read one (DuckDB: ``file "PATH"``, ``File 'PATH'
#: too small``; Spark: ``reading file file:///PATH.``)
_READ_FILE = re.compile(r"""[Ff]ile ["']?(?:file:(?://)?)?([^"'\s]+?\.parquet)""")


def explain_read_error(message: str) -> tuple[str, Problem | None] | None:
    """What stopped an engine reading a lake file, from its error ``message`` (which names
    the file, :data:`_READ_FILE`): ``(path,
    problem)``, the problem the file's check finds (a value of another type, a file that
    is not Parquet) or None when it finds none; None when the message names no lake file."""
    import duckdb
    m = _READ_FILE.search(message)
    if not m:
        return None
    path = m.group(1)
    table = next((part for part in reversed(Path(path).parts[:-1]) if part in TABLES), None)
    if table is None:
        return None
    problems: list[Problem] = []
    con = duckdb.connect()
    try:
        _check_table(con, table, [path], problems)
    finally:
        con.close()
    for check in ("unreadable", "bad_value", "column_type"):
        for p in problems:
            if p.check == check and p.level == "error":
                return path, p
    return path, None
