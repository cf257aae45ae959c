"""DuckDB engine: the same rule texts on one workstation, out of core and on all cores,
over a Parquet lake (see :mod:`invreconcile.lake` and docs/lake.md).

The rules are written for SQLite; this engine transpiles each statement with sqlglot
(``read="sqlite"``, ``write="duckdb"``) and adds SQLite's semantics where DuckDB differs:

* ``CAST(x AS INTEGER)`` truncates toward zero in SQLite and rounds in DuckDB: it becomes
  ``CAST(TRUNC(x) AS BIGINT)`` (BIGINT also because DuckDB's INTEGER is 32-bit);
* NULLs sort first in SQLite: sqlglot writes ``NULLS FIRST`` where it matters;
* ``GROUP_CONCAT`` becomes the group's values as a sorted list joined by the separator, so that lists shown in messages
  come out in the same order on every run (SQLite gives its scan order; finding ids and
  list columns do not depend on it: lists are split and sorted in Python);
* division by zero gives NULL as in SQLite (sqlglot's ``NULLIF``).

Integer division cannot be told apart without types, so the rule texts write it portably
(``CAST(a / b AS INTEGER)`` or an exact quotient); see invreconcile/rules/__init__.py.

Every lake table is first a list of Parquet files, read through a view when a query names
it (binding a view reads the footers of all its files). Before the rules run, the audit
tells the engine which SQL it is about to run (:meth:`DuckDBEngine.load`); the tables that
SQL reads are then loaded once into DuckDB's memory, with only the columns it names (plus
``id``, ``src_file`` and ``src_row`` for evidence): the rules read the big tables many
times, and reading 3,500 Parquet files per query costs more than loading them once. Past
the memory limit DuckDB spills to a temporary directory.
"""
from __future__ import annotations

import ctypes.util
import functools
import itertools
import os
import re
import sys
import tempfile
import threading
from pathlib import Path
from typing import Iterable, Iterator, Sequence

from ..errors import ConfigError
from ..lake import duck_type, read_parquet_sql as _read_parquet, require_lake
from . import Engine, TranslatingEngine, cursor_pieces, handed_over, inline_params, reading_the_lake, tables_read

try:  # the bureau extra: pip install 'invreconcile[bureau]'
    import duckdb
    import sqlglot
    from sqlglot import exp
    from sqlglot.optimizer.qualify import qualify
    from sqlglot.optimizer.scope import traverse_scope
except ImportError as _exc:  # pragma: no cover - reported when the engine is asked for
    duckdb = None
    _IMPORT_ERROR = _exc
else:
    _IMPORT_ERROR = None

def _int_cast(node):
    if isinstance(node, exp.Cast) and node.to.is_type(*exp.DataType.INTEGER_TYPES):
        return exp.Cast(this=exp.Anonymous(this="TRUNC", expressions=[node.this]),
                        to=exp.DataType.build("BIGINT"))
    return node


def _sorted_concat(node):
    """``GROUP_CONCAT([DISTINCT] x[, sep])`` -> the values sorted, joined by ``sep``, NULL
    when there are none (as in SQLite). Collected as a list and sorted per group, which is
    several times faster in DuckDB than an ordered aggregate (``LISTAGG ... ORDER BY``)."""
    if not isinstance(node, exp.GroupConcat):
        return node
    arg = node.this
    distinct = isinstance(arg, exp.Distinct)
    value = arg.expressions[0] if distinct else arg
    sep = node.args.get("separator") or exp.Literal.string(",")
    values = exp.Anonymous(this="LIST", expressions=[exp.Distinct(expressions=[value.copy()]) if distinct else value.copy()])
    joined = exp.Anonymous(this="ARRAY_TO_STRING", expressions=[
        exp.Anonymous(this="LIST_SORT", expressions=[values]), sep.copy()])
    return exp.Case(ifs=[exp.If(this=exp.EQ(this=exp.Count(this=value.copy()), expression=exp.Literal.number(0)),
                                true=exp.Null())], default=joined)


def translate(sql: str) -> str:
    """One SQLite statement as DuckDB SQL, with SQLite's semantics.

    >>> translate("SELECT CAST(a / b AS INTEGER), GROUP_CONCAT(c) FROM t ORDER BY d")
    "SELECT CAST(TRUNC(a / NULLIF(b, 0)) AS BIGINT), CASE WHEN COUNT(c) = 0 THEN NULL ELSE ARRAY_TO_STRING(LIST_SORT(LIST(c)), ',') END FROM t ORDER BY d NULLS FIRST"
    """
    tree = sqlglot.parse_one(sql, read="sqlite")
    tree = tree.transform(_int_cast, copy=False).transform(_sorted_concat, copy=False)  # a tree of its own
    return tree.sql(dialect="duckdb")


def lake_glob(lake: Path, table: str) -> str:
    return str(Path(lake) / table / "**" / "*.parquet")


def lake_index(lake: Path) -> dict[str, list[tuple[str, str, int]]]:
    """The Parquet files of each table of ``lake``: ``(directory, path, bytes)`` sorted by
    path, where directory is the first one under the table's (``store=...``; '' for a file
    directly in it). One walk of the tree with os.scandir (pathlib's rglob took seconds over
    40,000 files, and so did a ``Path.relative_to`` for each of the 52,000 folders of the
    10M-line lake: 2.7 s -> 0.4 s)."""
    out: dict[str, list[tuple[str, str, int]]] = {}
    if not Path(lake).is_dir():
        return out

    def walk(folder: str, part: str, files: list) -> None:
        with os.scandir(folder) as entries:
            for entry in entries:
                if entry.is_dir():
                    walk(entry.path, part or entry.name, files)
                elif entry.name.endswith(".parquet"):
                    files.append((part, entry.path, entry.stat().st_size))
    for table in os.scandir(lake):
        if table.is_dir():
            files: list = []
            walk(table.path, "", files)
            out[table.name] = sorted(files, key=lambda f: f[1])
    return out


def lake_files(index: dict, table: str, stores: Sequence[str] | None = None) -> list[str]:
    """The Parquet files of ``table`` (from :func:`lake_index`): all of them, or those of
    ``stores`` (their ``store=`` directories; for the catalog tables the shared ``store=_``
    one too; tables not kept by store whole)."""
    from ..lake import BY_STORE, BY_STORE_MONTH
    files = index.get(table, [])
    if stores is None or table not in BY_STORE_MONTH + BY_STORE:
        return [path for _, path, _ in files]
    dirs = {f"store={s or '_'}" for s in stores} | ({"store=_"} if table in BY_STORE else set())
    return [path for part, path, _ in files if part in dirs]


def lake_stores(index: dict) -> set[str]:
    """The stores a lake holds rows of (from :func:`lake_index`: its ``store=`` directories)."""
    return {_dir_store(part) for files in index.values() for part, _, _ in files if part.startswith("store=")} - {""}


def _dir_store(part: str) -> str:
    """The store a ``store=`` directory holds ('' for ``store=_``)."""
    return "" if part == "store=_" else part[len("store="):]


def _on_parquet(conn, statement):
    """Execute ``statement(union)``, SQL reading Parquet files with ``_read_parquet(...,
    union=union)``: first with the columns of the first file found by name in the others
    (the files of a lake written by invreconcile all have every column), again with
    ``union_by_name`` when a file lacks one of them (docs/lake.md lets a file miss a column,
    which then reads as NULL). Reading each file's schema first for ``union_by_name`` took
    a tenth of a batch's load (10M lines: 1.36 against 1.51 s a batch)."""
    try:
        return conn.execute(statement(False))
    except (duckdb.BinderException, duckdb.InvalidInputException):   # a column missing in a file
        return conn.execute(statement(True))


#: values that tie rows of different stores together in some rule: (table, column). Codes
#: are also tied to the case codes they came in (code_ancestors). Settlement ids are not:
#: the rules look up a settlement's reversal and returns in its own store. Nor are person
#: numbers: the rules that follow a person from store to store compare all stores at once
#: (``scope: all_stores``), so that customers who visit several pharmacies do not make a
#: city one group.
LINKS = (("code_events", "code"), ("scans", "code"))
#: the codes that link stores: those naming one box (a trace code, or a row that does not
#: say its kind). The split-pack placeholder (twenty 9s), a goods barcode or a drug
#: standard code uploaded in its place name no box: the same text in every pharmacy
#: selling the product, which no rule follows from store to store (v_code_tx reads
#: cn20, gs1 and ma codes only); linking by them made a city one group.
_BOX_CODE = "(code_kind IS NULL OR code_kind IN ('cn20', 'gs1', 'ma'))"


def plan_batches(lake: Path, budget: int, memory_limit: str | None = None,
                 tables: Sequence[str] | None = None, index: dict | None = None) -> tuple[list[list[str]], int]:
    """Stores in batches to audit one after the other, each batch's Parquet files (of
    ``tables``, default all) within ``budget`` bytes where the data allows (see
    :class:`Plan`). Returns the batches and the largest one's size."""
    with Plan(lake, memory_limit, tables, index) as plan:
        return plan.pack(budget)


def store_groups(lake: Path, memory_limit: str | None = None, tables: Sequence[str] | None = None,
                 index: dict | None = None, values: dict[str, list[str]] | None = None
                 ) -> tuple[list[list[str]], dict[str, int], int]:
    """:class:`Plan`'s groups, the Parquet bytes of each store and those every batch reads."""
    with Plan(lake, memory_limit, tables, index, values) as plan:
        return plan.groups, plan.size, plan.shared


#: the tables a batch borrows rows of from the stores outside it that share trace codes
#: with its stores (:meth:`Plan.split`)
BORROWED = ("code_events", "scans", "settlements", "sales")


class Plan:
    """How a lake larger than memory is audited in batches of stores.

    The stores fall into groups whose rows a rule may compare: those where one trace code
    (or the case code it came in) occurs (see :data:`LINKS`). Values are compared by hash:
    a collision only puts two groups together. Rules that compare every store with all
    others (``scope: all_stores``) run over all stores at once
    (:meth:`DuckDBEngine.build_and_query`). Groups are packed into batches (:meth:`pack`);
    a group larger than a batch is cut between batches, and each of its batches then
    borrows, from the stores of the group outside it, the rows its rules compare with its
    own (:meth:`split`): one trace code resold across a city otherwise made one group of
    every store it passed through.

    ``values`` (a dict), when given, gets the distinct values of each of
    :data:`PLANNED_ENUMS` in the lake, sorted: read in the same pass as the codes.
    ``split_ancestors``: code_ancestors will be split by batch (:meth:`split`), so it is not
    counted among the files every batch reads.

    Needs the lake layout of docs/lake.md: a store's rows in its ``store=`` directories.
    Holds a DuckDB connection (the codes of every store) until closed."""

    def __init__(self, lake: Path, memory_limit: str | None = None, tables: Sequence[str] | None = None,
                 index: dict | None = None, values: dict[str, list[str]] | None = None,
                 split_ancestors: bool = False):
        from ..lake import BY_STORE, BY_STORE_MONTH, table_schema
        self.lake = lake
        self.index = index = lake_index(lake) if index is None else index
        linked = [(table, col) for table, col in LINKS if index.get(table)]
        self.split_ancestors = split = bool(split_ancestors and index.get("code_ancestors") and linked)
        self.size: dict[str, int] = {}
        self.shared = 0
        for table in [t for t in index if tables is None or t in tables]:
            for part, _, n in index[table]:
                if table in BY_STORE_MONTH or (table in BY_STORE and part != "store=_"):
                    store = _dir_store(part)
                    self.size[store] = self.size.get(store, 0) + n
                elif not (split and table == "code_ancestors"):
                    self.shared += n
        self.con = con = duckdb.connect()
        if memory_limit:
            con.execute(f"SET memory_limit = '{memory_limit}'")
        con.execute("SET preserve_insertion_order = false")
        con.execute("SET enable_progress_bar = false")   # DuckDB's bar, printed into the CLI's output
        # (value hash, store hash) pairs, then the values met in two stores or more; in the
        # same pass (grouping sets) the values of PLANNED_ENUMS
        columns = {table: {c for c, _ in table_schema(table)} for table, _ in linked}

        def parts(union: bool) -> list[str]:
            return [f"SELECT CASE WHEN {col} <> '' AND {_BOX_CODE} THEN hash({col}) END AS k, hash(COALESCE(store, '')) AS s, "
                    + ", ".join(c if c in columns[table] else f"NULL AS {c}" for c in PLANNED_ENUMS)
                    + f" FROM {_read_parquet([lake_glob(lake, table)], union=union)}"
                    for table, col in linked]
        links = []
        if linked:
            # d: the pairs (g = 0; not those of rows without a value) and the values (g = 3)
            _on_parquet(con, lambda union: f"CREATE TEMP TABLE d AS SELECT k, s, {', '.join(PLANNED_ENUMS)}, GROUPING(k, s) AS g "
                        f"FROM ({' UNION ALL '.join(parts(union))}) "
                        f"GROUP BY GROUPING SETS ((k, s), {', '.join(f'({c})' for c in PLANNED_ENUMS)}) "
                        f"HAVING k IS NOT NULL OR GROUPING(k, s) <> 0")
            for c in PLANNED_ENUMS if values is not None else ():
                values[c] = [v for (v,) in con.execute(f"SELECT DISTINCT {c} FROM d WHERE g = 3 AND {c} IS NOT NULL ORDER BY 1").fetchall()]
            if index.get("code_ancestors"):
                con.execute(f"INSERT INTO d (k, s, g) SELECT DISTINCT hash(a.ancestor), d.s, 0 FROM d JOIN (SELECT DISTINCT code, ancestor "
                            f"FROM {_read_parquet([lake_glob(lake, 'code_ancestors')])} WHERE depth > 0) a ON hash(a.code) = d.k")
            # m: the values met in two stores or more, with their stores
            con.execute("CREATE TEMP TABLE m AS SELECT k, LIST(DISTINCT s) AS stores FROM d WHERE k IN "
                        "(SELECT k FROM d GROUP BY k HAVING MIN(s) <> MAX(s)) GROUP BY k")
            links = con.execute("SELECT stores FROM m").fetchall()
        self.linked = bool(linked)
        self.names = dict(con.execute("SELECT hash(s), s FROM UNNEST(?::VARCHAR[]) t(s)", [sorted(self.size)]).fetchall())
        # the stores each value met in two stores or more occurs in
        links = [[self.names.get(h) for h in hashes] for (hashes,) in links]
        self.groups = _linked(lake, sorted(self.size), links)
        self.links = [sorted(stores) for stores in links]

    def __enter__(self) -> "Plan":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.con.close()

    def pack(self, budget: int) -> tuple[list[list[str]], int]:
        """The groups packed in order into batches of at most ``budget`` bytes of
        Parquet where the data allows (a store larger than that is a batch alone); a group
        larger than a batch is cut into batches of its stores. The batches and the largest
        one's size (the files every batch reads counted in each)."""
        batches: list[list[str]] = []
        sizes: list[int] = []
        for group in self.groups:
            n = sum(self.size[s] for s in group)
            for stores in [group] if self.shared + n <= budget else self._pieces(group, budget):
                n = sum(self.size[s] for s in stores)
                if batches and sizes[-1] + n <= budget:
                    batches[-1] += stores
                    sizes[-1] += n
                else:
                    batches.append(list(stores))
                    sizes.append(self.shared + n)
        return batches, max(sizes, default=0)

    def _pieces(self, group: list[str], budget: int) -> list[list[str]]:
        """``group`` cut into pieces of at most ``budget`` bytes where its stores allow,
        keeping together the stores that share the most codes (so that batches borrow
        little): pairs of stores joined by the number of codes they share, most first, as
        long as the piece fits (a code met in more than 8 stores joins each with the next
        only). Pieces in the order of their first store."""
        members = set(group)
        shared: dict[tuple[str, str], int] = {}
        for stores in self.links:
            if stores[0] in members:   # a link lies within one group
                pairs = zip(stores, stores[1:]) if len(stores) > 8 else itertools.combinations(stores, 2)
                for pair in pairs:
                    shared[pair] = shared.get(pair, 0) + 1
        parent = {s: s for s in group}
        size = {s: self.size[s] for s in group}
        for (a, b), _ in sorted(shared.items(), key=lambda item: (-item[1], item[0])):
            a, b = sorted((_root(parent, a), _root(parent, b)))
            if a != b and self.shared + size[a] + size[b] <= budget:
                parent[b] = a
                size[a] += size[b]
        return _sets(parent, group)

    def cut(self, batches: list[list[str]]) -> int:
        """How many groups ``batches`` cut (hold parts of in two batches or more)."""
        number = {s: i for i, stores in enumerate(batches) for s in stores}
        return sum(len({number[s] for s in group}) > 1 for group in self.groups)

    def split(self, batches: list[list[str]], out: Path) -> tuple[dict[str, list[list[str]]], dict[str, list[list[str]]],
                                                                   list[set[str]]]:
        """Files written to ``out`` for each of ``batches``: the batch's code_ancestors (the
        rows of the codes its stores hold), when split; and for a batch holding part of a
        group, the rows it borrows from the group's stores outside it (those sharing a
        code with its stores): the events and scans of the shared codes (a code received
        in another store is known; a box sold there before is resold here; its expiry),
        the reversals of the settlements those events name, and the sales of those
        settlements and events (a sale return; the items of the other store's sale). A
        rule run over the batch then sees of another store what it compares with the
        batch's own rows; the rows it gives about the other stores are left to their own
        batches (:meth:`DuckDBEngine._run_batches`).

        Returns table -> files for each batch that replace the lake's (code_ancestors),
        table -> files for each batch read besides the lake's (:data:`BORROWED`), and each
        batch's borrowed stores."""
        con, lake = self.con, self.lake
        out.mkdir(parents=True, exist_ok=True)
        number = {s: i for i, stores in enumerate(batches) for s in stores}
        con.execute("CREATE OR REPLACE TEMP TABLE bs AS SELECT UNNEST(?::UBIGINT[]) AS s, UNNEST(?::INTEGER[]) AS b",
                    [list(self.names), [number[s] for s in self.names.values()]])
        replaced: dict[str, list[list[str]]] = {}
        if self.split_ancestors:
            con.execute(f"COPY (SELECT DISTINCT a.code, a.ancestor, a.depth, bs.b FROM {_read_parquet([lake_glob(lake, 'code_ancestors')])} a "
                        f"JOIN d ON hash(a.code) = d.k JOIN bs ON bs.s = d.s) TO '{out / 'code_ancestors'}' "
                        "(FORMAT parquet, PARTITION_BY (b))")
            replaced["code_ancestors"] = _split_files(out / "code_ancestors", len(batches))
        lenders: list[set[str]] = [set() for _ in batches]
        if not self.linked or not self.cut(batches):
            return replaced, {}, lenders
        # (batch, code hash, store outside it) for every code a batch shares with a store of another batch
        con.execute("CREATE OR REPLACE TEMP TABLE kb AS SELECT k, s, bs.b FROM (SELECT k, UNNEST(stores) AS s FROM m) JOIN bs USING (s)")
        con.execute("CREATE OR REPLACE TEMP TABLE borrow AS SELECT DISTINCT mine.b, other.k, other.s "
                    "FROM kb mine JOIN kb other ON other.k = mine.k AND other.b <> mine.b")
        for b, s in con.execute("SELECT DISTINCT b, s FROM borrow").fetchall():
            lenders[b].add(self.names[s])
        others = sorted(set().union(*lenders))
        files = {table: lake_files(self.index, table, others) for table in BORROWED}   # the lenders' own

        def write(table: str, select: str) -> None:
            if files[table]:
                _on_parquet(con, lambda union: f"COPY ({select.format(src=_read_parquet(files[table], union=union))}) "
                                                f"TO '{out / table}' (FORMAT parquet, PARTITION_BY (b))")
        keyed = "SELECT e.*, x.b FROM {src} e JOIN borrow x ON x.k = hash(e.code) AND x.s = hash(COALESCE(e.store, ''))"
        if files["code_events"]:
            _on_parquet(con, lambda union: "CREATE OR REPLACE TEMP TABLE be AS "
                        + keyed.format(src=_read_parquet(files["code_events"], union=union)))
            con.execute(f"COPY be TO '{out / 'code_events'}' (FORMAT parquet, PARTITION_BY (b))")
            write("settlements", "SELECT t.*, x.b FROM {src} t JOIN (SELECT DISTINCT b, store, setl_id FROM be) x "
                  "ON t.store = x.store AND t.orig_setl_id = x.setl_id WHERE t.is_reversal = 1")
            write("sales", "SELECT t.*, x.b FROM {src} t JOIN (SELECT DISTINCT b, store, setl_id FROM be) x "
                  "ON t.store = x.store AND t.setl_id = x.setl_id "
                  "UNION SELECT t.*, x.b FROM {src} t JOIN (SELECT DISTINCT b, store, src_id FROM be "
                  "WHERE src_table = 'sales') x ON t.store = x.store AND t.id = x.src_id")
        write("scans", keyed)
        return replaced, {t: _split_files(out / t, len(batches)) for t in BORROWED}, lenders


def _split_files(folder: Path, n: int) -> list[list[str]]:
    """The files of each of ``n`` batches in ``folder`` (``b=<i>`` directories of a
    ``PARTITION_BY (b)`` copy; none for a batch without rows)."""
    return [sorted(str(f) for f in (folder / f"b={i}").glob("*.parquet")) for i in range(n)]


def _linked(lake: Path, stores: list[str], links: list[list[str | None]]) -> list[list[str]]:
    """``stores`` in groups, each link (the stores one value occurs in) joining its stores'
    groups; groups in the order of their first store."""
    parent = {s: s for s in stores}
    for linked in links:
        if None in linked:
            raise ConfigError(f"{lake}: rows of a store that has no store= directory of its own; the lake "
                              "must keep each store's rows in its directories (docs/lake.md).",
                              f"{lake}：有门店的行不在该门店自己的 store= 目录中；数据湖须把每家门店的行放在其 store= "
                              "目录里（docs/lake.md）。")
        for other in linked[1:]:
            a, b = sorted((_root(parent, linked[0]), _root(parent, other)))
            parent[b] = a
    return _sets(parent, stores)


def _root(parent: dict[str, str], s: str) -> str:
    """The representative of ``s``'s set in a union-find forest (``parent``), paths halved."""
    while parent[s] != s:
        parent[s] = parent[parent[s]]
        s = parent[s]
    return s


def _sets(parent: dict[str, str], order: list[str]) -> list[list[str]]:
    """The sets of a union-find forest, in the order of their first member in ``order``."""
    sets: dict[str, list[str]] = {}
    for s in order:
        sets.setdefault(_root(parent, s), []).append(s)
    return list(sets.values())


def _words(texts: Sequence[str]) -> set[str]:
    """The names SQL texts may read: their words, without comments and ``AS`` aliases.

    >>> sorted(_words(["SELECT t.code AS codes -- all codes", "FROM t"]))
    ['FROM', 'SELECT', 'code', 't']
    """
    text = re.sub(r"(?i)\bAS\s+\w+", " ", re.sub(r"--[^\n]*", " ", "\n".join(texts)))
    return set(re.findall(r"\w+", text))


def _columns_read(texts: Sequence[str], tables: Iterable[str]) -> dict[str, set[str]]:
    """For each of ``tables``, the names the texts may read as its columns. A text sqlglot
    resolves against the lake's schema (and the views the texts define, ``CREATE VIEW name
    AS``; a view is built whole, so its readers need nothing of its tables) gives the columns
    it takes from each table. A text it cannot resolve, or one that selects ``*`` from a
    table, gives its words (:func:`_words`) to the tables it reads, and to those of the
    views it reads that are of that kind too: a column too many, never one too few.
    Session 9: purchases load 12 columns instead of 17, sales 16 of 20, settlement lines 13
    of 18, stock counts 10 of 14, scans 3 of 9 (10M lines, 3 GB: 167-183 -> 163-164 s).

    >>> got = _columns_read(["SELECT w.qty, v.item_name FROM w JOIN v ON v.item_id = w.item_id",
    ...     "CREATE VIEW v AS SELECT s.item_id, i.item_name FROM sales s JOIN items i ON i.item_id = s.item_id",
    ...     "CREATE VIEW w AS SELECT * FROM purchases"], ["sales", "items", "purchases"])
    >>> [sorted(got[t]) for t in ("sales", "items")]
    [['item_id'], ['item_id', 'item_name']]
    >>> sorted(got["purchases"])
    ['FROM', 'JOIN', 'ON', 'SELECT', 'item_id', 'item_name', 'purchases', 'qty', 'v', 'w']
    >>> sorted(_columns_read(["SELECT price_fen, no_such_column FROM sales"], ["sales"])["sales"])
    ['FROM', 'SELECT', 'no_such_column', 'price_fen', 'sales']
    """
    read = _lake_columns_read(tuple(texts))
    return {t: set(read.get(t, ())) for t in tables}


@functools.lru_cache(maxsize=4)
def _lake_columns_read(texts: tuple[str, ...]) -> dict[str, frozenset[str]]:
    """:func:`_columns_read` for every lake table, once for the texts of an audit (resolving
    them takes about half a second; every batch loads with the same texts)."""
    from ..lake import TABLES, table_schema
    schema = {t: {c: "TEXT" for c, _ in table_schema(t)} for t in TABLES}
    out: dict[str, set[str]] = {t: set() for t in TABLES}
    views: dict[str, set[str] | None] = {}   # view -> the tables and views it reads, None when resolved
    view = re.compile(r"(?is)\bCREATE\s+VIEW\s+(\w+)\s+AS\b(.*)")
    for text in sorted(texts, key=lambda text: not view.search(text)):   # views first, in their order
        m = view.search(text)
        name, sql = (m.group(1), m.group(2)) if m else (None, text)
        resolved = _resolve(sql, schema, TABLES)
        if resolved is None:
            reads = {n for n in {*schema, *views} if re.search(rf"\b{n}\b", sql)}
            _give_words(out, views, reads, _words([sql]))
        else:
            columns, selected, reads = resolved
            for table, cols in columns.items():
                if table in out:
                    out[table] |= cols
            _give_words(out, views, reads - set(schema), _words([sql]))   # views that pass on a table whole
            if name:
                schema[name] = {c: "TEXT" for c in selected}
        if name:
            views[name] = None if resolved is not None else reads
    return {t: frozenset(cols) for t, cols in out.items()}


def _give_words(out: dict[str, set[str]], views: dict, reads: set[str], words: set[str]) -> None:
    """``words`` to the tables of ``out`` in ``reads`` and to those read by the views in
    ``reads`` that were not resolved (:func:`_columns_read`), through them."""
    todo, seen = list(reads), set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        if name in out:
            out[name] |= words
        elif views.get(name):
            todo += views[name]


def _resolve(sql: str, schema: dict, base: Iterable[str]) -> tuple[dict[str, set[str]], list[str], set[str]] | None:
    """The columns ``sql`` (SQLite) takes from each table of ``schema`` it reads, the
    names of its result columns, and the tables and views it reads; None when a column
    cannot be told to which table it belongs, or the columns of one of the ``base`` tables
    are selected with ``*``."""
    try:
        tree = sqlglot.parse_one(sql, read="sqlite")
        for scope in traverse_scope(tree):   # SELECT * or t.* over a table: resolved by words
            for sel in scope.expression.selects if isinstance(scope.expression, exp.Select) else ():
                if isinstance(sel, exp.Star):
                    sources = list(scope.sources.values())
                elif isinstance(sel, exp.Column) and isinstance(sel.this, exp.Star):
                    sources = [scope.sources.get(sel.table)]
                else:
                    continue
                if any(isinstance(src, exp.Table) and src.name in base for src in sources):
                    return None
        tree = qualify(tree, schema=schema, dialect="sqlite", validate_qualify_columns=False,
                       quote_identifiers=False, identify=False)
        columns: dict[str, set[str]] = {}
        reads: set[str] = set()
        for scope in traverse_scope(tree):
            for table in scope.tables:
                reads.add(table.name)
            for column in scope.columns:
                src, outer = None, scope
                while outer is not None and src is None:   # correlated: a table of an enclosing query
                    src = outer.sources.get(column.table) if column.table else None
                    outer = outer.parent
                if src is None:
                    return None
                if isinstance(src, exp.Table):
                    columns.setdefault(src.name, set()).add(column.name)
        return columns, list(tree.named_selects), reads
    except Exception:   # whatever sqlglot cannot do here, the words can
        return None


def _refuse_files_outside_store_directories(index: dict, lake: Path | None) -> None:
    """A table kept by store with Parquet files outside its ``store=`` directories: an
    audit in batches reads a batch's stores' directories only and would leave those rows
    out, an audit in memory would read them; the same lake must give the same findings
    whatever the memory, so neither runs (:meth:`DuckDBEngine.load`; a query of such a
    lake still reads every file)."""
    from ..lake import BY_STORE, BY_STORE_MONTH
    outside = [path for table in BY_STORE_MONTH + BY_STORE for part, path, _ in index.get(table, [])
               if not part.startswith("store=")]
    if outside:
        more_en = f" and {len(outside) - 1:,} more files" if len(outside) > 1 else ""
        more_zh = f" 等 {len(outside):,} 个文件" if len(outside) > 1 else ""
        raise ConfigError(
            f"{outside[0]}{more_en}: outside the store= directories of the table, where an audit in batches of "
            "stores would not read them. Move each file to <table>/store=<store>/month=<YYYY-MM>/ (docs/lake.md); "
            f"'invreconcile check-lake {lake}' lists every problem of the lake.",
            zh=f"{outside[0]}{more_zh}不在表的 store= 目录中，分批稽核时不会读取。请按 docs/lake.md 移到 "
               f"<表>/store=<门店>/month=<YYYY-MM>/ 目录；'invreconcile check-lake {lake}' 列出数据湖的全部问题。")


class DuckDBEngine(TranslatingEngine):
    """Rules on DuckDB over a Parquet lake (``lake``), findings stored in ``ledger`` (a
    SQLite ledger, may be None). ``database`` is DuckDB's database file; by default the
    tables are held in memory when the lake is small enough for ``memory_limit`` (e.g.
    ``"4GB"``; DuckDB's default is 80% of RAM), else in a temporary database file, which
    DuckDB compresses and pages (about half as fast to load). ``threads`` defaults to all
    cores. A lake audited in batches runs ``workers`` batches at once (default 2 on a machine
    with two cores or more), each on a DuckDB database of its own with a share of the memory
    limit and of the threads (:meth:`_run_batches`)."""

    translate = staticmethod(translate)

    name = "duckdb"

    # ENUM types of the database (set again for each new one in _connect; a connection
    # handed in starts with none)
    _lake_types, _enums, _enum_count = frozenset(), (), 0
    _planned: dict[str, list[str]] = {}   # PLANNED_ENUMS column -> the lake's values, read by the plan

    def __init__(self, lake: str | Path | None = None, ledger=None, *, database: str | None = None,
                 memory_limit: str | None = None, threads: int | None = None, conn=None,
                 batch_bytes: int | None = None, workers: int | None = None):
        if duckdb is None:
            raise ConfigError(f"the duckdb engine needs duckdb, sqlglot and pyarrow ({_IMPORT_ERROR}). "
                              "Install them with: pip install 'invreconcile[bureau]'")
        self.ledger = ledger
        self.lake = require_lake(lake) if lake is not None else None
        self._files = lake_index(self.lake) if self.lake is not None else {}   # as they are now
        self._tmp = None
        self.batches: list[list[str]] = []   # store groups audited one after the other (empty: all at once)
        self._texts: list[str] = []
        self._sources: dict[str, dict[int, tuple]] = {}   # table -> id -> (src_file, src_row), batched audits
        self._file_names: dict[str, str] = {}   # each src_file of _sources held once
        self._plan = None   # (Parquet bytes per batch, forced): batches planned when load() tells what is read
        self._options = (memory_limit, threads)
        self._big = False   # larger than memory: Parquet footers not cached
        self._same_in_batches: set[str] = set()   # loaded tables every batch shares
        self._stores = None   # the batch's stores while one is attached
        self._per_batch: dict[str, list[list[str]]] = {}   # table -> its files for each batch (code_ancestors)
        self._borrowed: dict[str, list[list[str]]] = {}   # table -> files each batch reads besides its stores' (Plan.split)
        self.lenders: list[set[str]] = []   # for each batch, the stores it borrows rows of
        self.workers = workers or min(2, os.cpu_count() or 1)   # batches audited at once
        if conn is None:
            if database is None:
                self._tmp = tempfile.TemporaryDirectory(prefix="invreconcile-duckdb-")
                budget = _parquet_budget(memory_limit)
                if self.lake is not None and (batch_bytes or _lake_bytes(self._files) > budget):
                    self._plan = (batch_bytes or budget, bool(batch_bytes))
                    self._big = True
            conn = self._connect(database)
        self.conn = conn
        if self.lake is not None:
            self.attach_lake(self.lake)

    def _lake_error(self, exc: Exception, fallback: bool = False):
        """As :meth:`Engine._lake_error`; DuckDB's failures to read a file (conversion,
        invalid input, I/O) name the file even when its check alone finds nothing (a type
        another file of the table disagrees with)."""
        return super()._lake_error(exc, isinstance(exc, (duckdb.ConversionException, duckdb.InvalidInputException,
                                                         duckdb.IOException)))

    def _connect(self, database: str | None):
        memory_limit, threads = self._options
        conn = duckdb.connect(database or ":memory:")
        # ENUM types live in a database: the lake's (made when first read, _lake_type) and
        # those of the last load's other columns (_as_enums)
        self._lake_types, self._enums, self._enum_count = frozenset(), (), 0
        if self._tmp is not None:
            conn.execute(f"SET temp_directory = '{self._tmp.name}'")
            # a scratch file is never reopened: no checkpoints (loading twice as fast)
            conn.execute("SET checkpoint_threshold = '1TB'")
        if memory_limit:
            conn.execute(f"SET memory_limit = '{memory_limit}'")
        if threads:
            conn.execute(f"SET threads = {int(threads)}")
        conn.execute("SET preserve_insertion_order = false")
        conn.execute("SET enable_progress_bar = false")   # printed into the CLI's output for queries over 2 s
        # footers read once, at attach; not for a lake audited in batches, whose files are read
        # about once each (the footers of 40,000 files took 1.7 GB)
        conn.execute(f"SET parquet_metadata_cache = {'false' if self._big else 'true'}")
        return conn

    # ------------------------------------------------------------------ the lake
    def attach_lake(self, lake: Path, stores: Sequence[str] | None = None, batch: int | None = None) -> None:
        """Every canonical table as its Parquet files (of ``stores`` only, when given: their
        directories, and the shared catalog; those of ``batch`` for a table split by batch),
        read through a view when a query names it (:meth:`_attach_named`); an empty table
        with the canonical columns where the lake has none. Replaces what an earlier call
        loaded."""
        from ..lake import TABLES
        # tables not kept by store (code_ancestors) hold the same rows in every batch: loaded once
        if stores is None:
            self._same_in_batches = set()
        kept = self._same_in_batches
        self._stores = stores
        self._on_parquet: dict[str, list[str]] = {}   # table -> its files, while not loaded
        self._viewed: set[str] = set()   # of those, the ones a view reads (made when a query names them)
        for table in TABLES:
            if table not in kept:
                self.drop(table)
                self._attach_table(table, stores, batch)

    def _attach_named(self, sql: str) -> None:
        """Make the lake tables ``sql`` names readable: a view over their files (binding one
        reads the footers of its files: seconds for a big lake, so only when a query needs it)."""
        from ..lake import table_schema
        for table in [t for t in getattr(self, "_on_parquet", {}) if t not in self._viewed]:
            if re.search(rf"\b{table}\b", sql):
                columns = [c for c, _ in table_schema(table)]
                self.conn.execute(f"CREATE VIEW {table} AS {self._parquet_select(table, columns, self._on_parquet[table])}")
                self._viewed.add(table)

    def _attach_table(self, table: str, stores: Sequence[str] | None, batch: int | None = None) -> None:
        """``table``'s files (those of ``stores``, or of ``batch``), read when a query names
        it; an empty table with the canonical columns when there are none."""
        from ..lake import table_schema
        split = self._per_batch.get(table) if batch is not None else None
        files = split[batch] if split is not None else lake_files(self._files, table, stores)
        if batch is not None and table in self._borrowed:
            files = files + self._borrowed[table][batch]
        if files:
            self._on_parquet[table] = files
        else:
            cols = ", ".join(f'"{c}" {duck_type(t)}' for c, t in table_schema(table))
            self.conn.execute(f"CREATE TABLE {table} ({cols})")

    def _parquet_select(self, table: str, columns: list[str], files: Sequence[str], loading: bool = False,
                        union: bool = True) -> str:
        """SELECT of ``columns`` from ``files`` with the ledger's types; ``store`` and the
        :data:`PLANNED_ENUMS` the plan read as the lake's ENUMs when ``loading`` (a view keeps
        them as text: a table read through a view, such as scans for evidence, is not checked
        for misplaced stores)."""
        from ..lake import BY_STORE, BY_STORE_MONTH, table_schema
        types = {c: duck_type(t) for c, t in table_schema(table)}
        if loading:
            for c in [c for c in columns if self._planned.get(c)]:
                types[c] = self._lake_type(c)
            if table in BY_STORE_MONTH + BY_STORE and "store" in columns:
                types["store"] = self._lake_type("store")
        cols = ", ".join(f'CAST("{c}" AS {types[c]}) AS "{c}"' for c in columns)
        return f"SELECT {cols} FROM {_read_parquet(files, union=union)}"

    def _lake_type(self, column: str) -> str:
        """An ENUM of the lake's values of ``column``, made once per database, the type it
        is read as (see :data:`ENUM_COLUMNS`): for ``store`` the names of the lake's
        ``store=`` directories, where the layout keeps each store's rows ('' and '_' for
        ``store=_``); for :data:`PLANNED_ENUMS` the values the plan found. Cast as they are
        read: converting the stores afterwards took 1.9 s more for the settlements of 10M
        lines; event and code_kind 0.16 s a batch."""
        name = f"lake_{column}"
        if name not in self._lake_types:
            if column == "store":
                values = sorted({_dir_store(part) for files in self._files.values() for part, _, _ in files
                                 if part.startswith("store=")} | {"", "_"})
            else:
                values = self._planned[column]
            self.conn.execute(f"CREATE TYPE {name} AS ENUM (SELECT UNNEST(?::VARCHAR[]))", [values])
            self._lake_types = self._lake_types | {name}
        return name

    @reading_the_lake
    def load(self, texts: Iterable[str]) -> None:
        """Load the lake tables that ``texts`` (SQL about to run) read into DuckDB, with the
        columns they name and those evidence needs; the others stay views over Parquet.
        A name is taken as read when it occurs as a word anywhere in the texts, which can
        load a column too many, never one too few. When the audit runs in store groups,
        each group's tables are loaded when its turn comes (:meth:`build_and_query`)."""
        from ..lake import TABLES
        _refuse_files_outside_store_directories(self._files, self.lake)
        self._texts = list(texts)
        if self._plan:   # a lake larger than memory: audited in groups of stores, if it can be
            (budget, forced), self._plan = self._plan, None
            self._tell("plan", 0, 1)
            words = _words(self._texts)
            planned: dict[str, list[str]] = {}
            with Plan(self.lake, self._options[0], [t for t in TABLES if t in words], self._files, planned,
                      split_ancestors="code_ancestors" in words) as plan:
                batches, largest = plan.pack(budget)
                if self.workers > 1 and not forced:
                    # several at a time, each in its worker's share of the memory: when there are
                    # batches enough to share out (1M lines at 3 GB: 2 batches one after the other
                    # 13.8 s, 4 two at a time 14.5-15.1 s) and every group fits a share (cutting
                    # no group the whole budget keeps whole)
                    share = plan.pack(budget // self.workers)
                    if (len(batches) >= 2 * self.workers and share[1] <= budget // self.workers
                            and plan.cut(share[0]) <= plan.cut(batches)):
                        (batches, largest), budget = share, budget // self.workers
                    else:
                        self.workers = 1
                self.batches = batches if len(batches) > 1 else []
                if self.batches:
                    self._planned = planned
                    self._per_batch, self._borrowed, self.lenders = plan.split(self.batches, Path(self._tmp.name) / "split")
            if largest > budget and not forced:   # too large for memory: DuckDB pages a database file
                self.conn.close()
                self.conn = self._connect(os.path.join(self._tmp.name, "scratch.duckdb"))
                self.attach_lake(self.lake)
        if not self.batches:
            self._load(self._texts)

    def _load(self, texts: Sequence[str], sources: bool = True) -> None:
        """The tables ``texts`` read, with the columns they name, ``id``, and ``src_file``
        and ``src_row`` when ``sources``."""
        from ..lake import BY_STORE, BY_STORE_MONTH, table_schema
        read = _columns_read(texts, list(getattr(self, "_on_parquet", {})))
        loaded: dict[str, list[str]] = {}
        evidence = ("id", "src_file", "src_row") if sources else ("id",)
        for table in [t for t, words in read.items() if words]:
            words = read[table]
            cols = [c for c, _ in table_schema(table) if c in words or c in evidence]
            self.conn.execute(f"DROP VIEW IF EXISTS {table}")
            self._viewed.discard(table)
            try:
                _on_parquet(self.conn, lambda union: f"CREATE TABLE {table} AS "
                            f"{self._parquet_select(table, cols, self._on_parquet[table], True, union)}")
            except duckdb.ConversionException:
                misplaced = self._misplaced(table)
                if misplaced is None:   # another column that does not read as its type
                    raise
                raise ConfigError(*misplaced) from None
            del self._on_parquet[table]
            if table in BY_STORE_MONTH + BY_STORE:
                loaded[table] = cols
            elif self._stores is not None and table not in self._per_batch:
                self._same_in_batches.add(table)
        self._as_enums(loaded)

    def _misplaced(self, table: str) -> tuple[str, str] | None:
        """Why ``table``'s files could not be read with the lake's stores, in English and
        Chinese: the first row of a store that has no directory of its own (None when there
        is none)."""
        files = self._on_parquet[table]
        row = self.conn.execute(
            f"SELECT filename, store FROM {_read_parquet(files, filename=True)} "
            f"WHERE TRY_CAST(store AS {self._lake_type('store')}) IS NULL AND store IS NOT NULL LIMIT 1").fetchone()
        if row is None:
            return None
        return (f"{row[0]} holds a row of store '{row[1]}', which has no store= directory of its own; the lake "
                "must keep each store's rows in its own store= directories (docs/lake.md).",
                f"{row[0]} 中有门店「{row[1]}」的行，而该门店没有自己的 store= 目录；数据湖须把每家门店的行放在其 "
                "store= 目录里（docs/lake.md）。")

    def _as_enums(self, loaded: dict[str, list[str]]) -> None:
        """The :data:`ENUM_COLUMNS` of the ``loaded`` tables (name -> columns) as ENUMs:
        one type per column name, of the values the tables hold (so that a join between two
        tables compares numbers), sorted. Tables loaded once for every batch stay as they
        are; the types of an earlier load are dropped once nothing uses them."""
        old, self._enums = self._enums, []
        for name in old:
            try:
                self.conn.execute(f"DROP TYPE IF EXISTS {name}")
            except duckdb.DependencyException:   # a table that outlives its batch still uses it
                self._enums.append(name)
        self._enum_count += 1
        for column in [c for c in ENUM_COLUMNS if not self._planned.get(c)]:   # text in every table that has them
            tables = [t for t, cols in loaded.items() if column in cols]
            if not tables:
                continue
            values = [v for (v,) in self.conn.execute(
                "SELECT v FROM (" + " UNION ".join(f"SELECT DISTINCT {column} AS v FROM {t}" for t in tables)
                + ") WHERE v IS NOT NULL ORDER BY v").fetchall()]
            if not values:   # no ENUM without values
                continue
            name = f"enum_{self._enum_count}_{column}"
            self.conn.execute(f"CREATE TYPE {name} AS ENUM (SELECT UNNEST(?::VARCHAR[]))", [values])
            self._enums.append(name)
            for table in tables:
                self.conn.execute(f"ALTER TABLE {table} ALTER {column} TYPE {name}")

    @reading_the_lake
    def build_and_query(self, tables, indexes, jobs, keep=(), whole=()) -> Iterator[tuple[int, object]]:
        """As :meth:`Engine.build_and_query`; for a lake larger than memory, in store groups
        (:func:`plan_batches`): the rules in ``whole`` (positions in ``jobs``: rules that
        compare stores with each other) run first over every store, with only the tables
        they read; then for each group of stores, its tables are loaded, the shared views
        built and the other rules run, then dropped. A rule's rows come a batch at a time,
        each batch's as soon as it is done (and the sources of the rows they cite read);
        those of the rules in ``whole`` last, when the batches have read the sources
        their findings cite."""
        if not self.batches:
            yield from super().build_and_query(tables, indexes, jobs, keep)
            return
        whole = set(whole)
        part = [i for i in range(len(jobs)) if i not in whole]
        last = sorted(whole)
        held: list = []
        cited: list[dict[str, set[int]]] = []
        if last:
            # every store's tables, without where their rows come from (src_file and src_row:
            # a 31-character path on every row; 10M lines: 12.5 -> 11.1 s for this step): the
            # batches look up the rows these findings cite while they hold them (_keep_sources)
            wanted = tables_read(tables, [jobs[i][0] for i in last])
            self._load([*(jobs[i][0] for i in last),
                        *(f"CREATE VIEW {name} AS {sql}" for name, sql in tables if name in wanted and isinstance(sql, str))],
                       sources=False)
            held = [(last[k], answer) for k, answer in
                    super().build_and_query([t for t in tables if t[0] in wanted], indexes, [jobs[i] for i in last], keep)]
            cited = self._cited_by_batch(_cited(answer for _, answer in held))
            self._drop_all(tables)
        wanted = tables_read(tables, [jobs[i][0] for i in part])
        if part:
            for k, answer in self._run_batches([t for t in tables if t[0] in wanted], indexes, [jobs[i] for i in part],
                                               keep, cited):
                yield part[k], answer
        yield from held

    def _cited_by_batch(self, cited: dict[str, set[int]]) -> list[dict[str, set[int]]]:
        """The rows ``cited`` (table -> ids) that each batch holds, by the store of each row
        in the tables loaded now; rows of a table not loaded, without a store or of a store
        in no batch (the shared ``store=_`` files) go to every batch. Looking up all the
        store-wide step's 191,900 cited rows in every batch took 7.1 s of CPU at 10M lines,
        its own ones 1.4 s."""
        batch_of = {store: i for i, stores in enumerate(self.batches) for store in stores}
        out: list[dict[str, set[int]]] = [{} for _ in self.batches]
        for table, ids in cited.items():
            found: list[tuple] = []
            if self._kind(table) == "TABLE" and "store" in {c for (c,) in self.conn.execute(
                    "SELECT column_name FROM information_schema.columns WHERE table_name = ? AND table_schema = 'main'",
                    [table]).fetchall()}:
                found = self.conn.execute(f"SELECT CAST(store AS VARCHAR), LIST(id) FROM {table} "
                                          "WHERE id IN (SELECT UNNEST(?::BIGINT[])) GROUP BY ALL", [sorted(ids)]).fetchall()
            everywhere = set(ids)
            for store, rows in found:
                if store in batch_of:
                    out[batch_of[store]].setdefault(table, set()).update(rows)
                    everywhere.difference_update(rows)
            for mine in out if everywhere else ():
                mine.setdefault(table, set()).update(everywhere)
        return out

    def _drop_all(self, tables) -> None:
        """The shared tables and the loaded lake dropped, every store attached again, and
        the memory they took given back (3 GB at 10M lines), before the findings are made
        in Python or the next tables loaded."""
        for name, _ in tables:
            self.drop(name)
        self.attach_lake(self.lake)
        self._release()

    def _release(self) -> None:
        """Memory DuckDB holds for dropped tables given back to the system (it keeps it
        otherwise: 10M lines, 3.7-3.9 GB at the peak while the findings were made in
        Python, 1 GB now): a lower memory limit for a moment makes it flush."""
        try:
            self.conn.execute("SET memory_limit = '64MB'")
        except duckdb.Error:   # more than that still in use: nothing to give back then
            pass
        limit = self._options[0]
        self.conn.execute(f"SET memory_limit = '{limit}'" if limit else "RESET memory_limit")

    def _run_batches(self, tables, indexes, jobs, keep, cited: list[dict[str, set[int]]] | None = None
                     ) -> Iterator[tuple[int, object]]:
        """Each batch's answers to ``jobs`` as ``(position, answer)``, a batch's as soon as
        it is done. With several workers, each is a DuckDB database of its own with a share
        of the memory limit and of the threads, taking the next batch when it is done, while
        the caller turns the answers of the batches done into findings. On two cores a
        batch on one thread costs about a tenth less CPU time than on two, and both cores
        stay busy through the Python steps (session 5, 10M-line lake, 3 GB: 43 batches two
        at a time 144-150 s in all, 19 larger ones one after the other 157 s; the same
        findings). Each batch also reads the sources of the rows ``cited`` for it (one table
        -> ids per batch, :meth:`_cited_by_batch`)."""
        n = min(self.workers, len(self.batches))

        def run(engine: DuckDBEngine, i: int) -> list:
            engine.attach_lake(self.lake, self.batches[i], i)
            engine._load(self._texts)
            answers = list(Engine.build_and_query(engine, tables, indexes, jobs, keep))
            if self.lenders and self.lenders[i]:   # rows about the stores it borrowed from: theirs
                answers = [(k, _without(answer, self.lenders[i])) for k, answer in answers]
            engine._keep_sources((answer for _, answer in answers), cited[i] if cited else None)
            step()
            return answers
        # progress a batch at a time, not a rule at a time within each batch
        saved, self.progress = self.progress, None
        step = self._counter("batches", len(self.batches), saved or (lambda *told: None))
        try:
            if n == 1:   # on this engine, a batch at a time between the caller's steps
                for i in range(len(self.batches)):
                    yield from run(self, i)
                self._drop_all(tables)   # the last batch's
                return
            yield from self._batches_in_workers(n, run)
        finally:
            self.progress = saved

    def _batches_in_workers(self, n: int, run) -> Iterator[tuple[int, object]]:
        """The batches' answers from ``n`` workers, each taking the next batch when it is
        done (``run(worker, i)`` audits batch i on a worker)."""
        engines = [self._worker(n) for _ in range(n)]
        todo, lock, failed = iter(range(len(self.batches))), threading.Lock(), []

        def produce(put) -> None:
            def work(engine: DuckDBEngine) -> None:
                try:
                    while not failed:
                        with lock:
                            i = next(todo, None)
                        if i is None:
                            return
                        answers = run(engine, i)
                        with lock:   # the sources of the batch's findings, before the caller asks for them
                            for table, found in engine._sources.items():
                                self._sources.setdefault(table, {}).update(found)
                            engine._sources.clear()
                        put(answers)   # the batch's pieces at once: the worker goes on to the next batch
                except BaseException as exc:   # raised in the caller's thread; the other workers stop
                    failed.append(exc)
            threads = [threading.Thread(target=work, args=(engine,), daemon=True) for engine in engines]
            try:
                for t in threads:
                    t.start()
                for t in threads:
                    t.join()
            finally:
                for engine in engines:
                    engine.close()
            if failed:
                raise failed[0]
        for answers in handed_over(produce, size=n):
            yield from answers

    def _worker(self, n: int) -> DuckDBEngine:
        """An engine for batches of this lake on a database of its own: 1/n of the memory
        limit and of the threads, with a copy of the tables this one made (opening hours)."""
        memory_limit, threads = self._options
        share = f"{memory_bytes(memory_limit) // n // 2 ** 20}MB"
        worker = DuckDBEngine(None, memory_limit=share, threads=max(1, (threads or os.cpu_count() or 1) // n))
        # buffer blocks from memory taken once for all the worker's batches: DuckDB otherwise
        # gives a batch's memory back to the system and the next batch faults it in again
        # (session 9, 10M lines at 3 GB: system time 71 -> 47 s, the audit 176-186 -> 166-177 s)
        worker.conn.execute(f"SET block_allocator_memory = '{share}'")
        worker.lake, worker._files, worker._texts, worker._big = self.lake, self._files, self._texts, True
        worker._per_batch, worker._borrowed, worker._planned = self._per_batch, self._borrowed, self._planned
        worker.conn.execute("SET parquet_metadata_cache = false")   # each batch's files are read once
        worker.__dict__["_translated"] = self.__dict__.setdefault("_translated", {})
        from ..lake import TABLES
        for (table,) in self.conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE' "
                "AND table_schema = 'main' AND table_catalog = current_database()").fetchall():
            if table not in TABLES:   # made by the audit before the batches (opening hours)
                worker.conn.register("copied", self.conn.execute(f"SELECT * FROM {table}").df())
                worker.conn.execute(f"CREATE TABLE {table} AS SELECT * FROM copied")
                worker.conn.unregister("copied")
        return worker

    # ------------------------------------------------------------------ engine interface
    def stores(self) -> list[str]:
        """For a lake audited in batches, its ``store=`` directories of settlements and sales
        (the layout keeps a store's rows there; ``store=_`` is ''): reading the store of
        every row took seconds at 10 million lines."""
        if not self.batches:
            return super().stores()
        return sorted({_dir_store(part)
                       for table in ("settlements", "sales") for part, _, _ in self._files.get(table, [])
                       if part.startswith("store=")})

    @reading_the_lake
    def query(self, sql: str, params: dict | None = None) -> tuple[list[str], list[tuple]]:
        text = self.sql(inline_params(sql, params or {}))
        self._attach_named(text)
        cur = self.conn.execute(text)
        return [d[0] for d in cur.description], cur.fetchall()

    @reading_the_lake
    def query_pieces(self, sql: str, params: dict | None = None) -> Iterator[tuple[list[str], list[tuple]]]:
        """The answer a piece at a time (:func:`~invreconcile.engines.cursor_pieces`), from a
        cursor of its own (the connection stays free for other queries, such as the sources
        of findings, meanwhile)."""
        text = self.sql(inline_params(sql, params or {}))
        self._attach_named(text)
        with self.conn.cursor() as cur:
            yield from cursor_pieces(cur.execute(text))

    @reading_the_lake
    def source_rows(self, table: str, ids: Sequence[int]) -> list[tuple]:
        known = self._sources.get(table, {})   # looked up while their batch was loaded
        rows = [(i, *known[i]) for i in ids if i in known]
        missing = [i for i in ids if i not in known]
        files = lake_files(self._files, table) if missing and self.batches else []
        if files:   # from all the lake's files of the table: a batch may be loaded meanwhile
            rows += self.conn.execute(f"SELECT id, src_file, src_row FROM {_read_parquet(files)} "
                                      "WHERE id IN (SELECT UNNEST(?::BIGINT[]))", [missing]).fetchall()
        elif missing:
            self._attach_named(table)
            rows += self._source_query(table, missing)
        return rows

    def _source_query(self, table: str, ids: list[int]) -> list[tuple]:
        # the ids as one list parameter: a semi-join instead of parsing thousands of literals
        return self.conn.execute(f"SELECT id, src_file, src_row FROM {table} WHERE id IN (SELECT UNNEST(?::BIGINT[]))",
                                 [ids]).fetchall()

    def _keep_sources(self, answers: Iterable, cited: dict[str, set[int]] | None = None) -> None:
        """Where the evidence the rules cite comes from (file, row), read while the tables
        that hold it are loaded: afterwards it lies among the whole lake's files. Only the
        references a finding shows (:func:`_cited`); those of ``cited`` too, of the rows
        this batch holds."""
        wanted = _cited(answers)
        for table, ids in (cited or {}).items():
            wanted[table] = wanted.get(table, set()) | ids
        for table, ids in wanted.items():
            self._attach_named(table)
            if self._kind(table) is None:
                continue
            found = self._source_query(table, sorted(ids))
            names = self._file_names
            self._sources.setdefault(table, {}).update((r[0], (names.setdefault(r[1], r[1]), r[2])) for r in found)

    def _kind(self, name: str) -> str | None:
        row = self.conn.execute(
            "SELECT table_type FROM information_schema.tables WHERE table_name = ? AND table_schema = 'main'",
            [name]).fetchall()
        if not row:
            return None
        return "VIEW" if row[0][0] == "VIEW" else "TABLE"

    def drop(self, name: str) -> None:
        getattr(self, "_viewed", set()).discard(name)
        kind = self._kind(name)
        if kind:
            self.conn.execute(f"DROP {kind} {name}")

    def create_table_as(self, name: str, select_sql: str) -> None:
        self.drop(name)
        text = self.sql(select_sql)
        self._attach_named(text)
        self.conn.execute(f"CREATE TABLE {name} AS {text}")

    def index(self, name: str, columns: Sequence[str]) -> None:
        """No-op: DuckDB scans columns and keeps min/max per row group."""

    def write_rows(self, table: str, columns: Sequence[str], rows: Iterable[tuple], ddl: str) -> None:
        self.drop(table)
        self.conn.execute(self.sql(ddl))
        rows = list(rows)
        if rows:
            self.conn.executemany(
                f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})", rows)

    def analyze(self, tables=()) -> None:
        """No-op: DuckDB keeps its statistics itself."""

    def close(self) -> None:
        self.conn.close()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None


#: memory a lake's tables take in DuckDB per byte of Parquet, with the columns the rules
#: read (measured on the sample lake: about 8 with all columns, half of them are read)
IN_MEMORY_PER_PARQUET_BYTE = 4


#: text columns with few distinct values that the rules join, group and filter on, held as
#: ENUMs once loaded (see :meth:`DuckDBEngine._as_enums`; ``store`` is read as one from the
#: start, :meth:`DuckDBEngine._lake_type`, and so are :data:`PLANNED_ENUMS` in a batched
#: audit): DuckDB then hashes and compares small integers
#: instead of strings. The values are declared in sorted order, so that comparisons,
#: ORDER BY, MIN/MAX and sorted lists give what the text would; functions on text (``||``,
#: SUBSTR) take the text. Session 8, one batch of the 10M-line lake on one thread: loading,
#: shared tables and rules 7.1-7.4 s -> 5.9 s, conversion (0.5 s) included. day and month,
#: item names, persons cost more to convert than they saved.
ENUM_COLUMNS = ("item_id", "event", "code_kind", "src_table")

#: those of :data:`ENUM_COLUMNS` that only the tables of :data:`LINKS` have: a batched audit
#: reads their values in the plan's pass over those tables (:func:`store_groups`) and
#: declares them once for the lake, so that the batches read them as ENUMs instead of
#: converting them (in a batch of the 10M-line lake, converting these two took 0.16 of the
#: 0.42 s that the conversions take: 34 batches; collecting them makes the plan 0.5-0.9 s
#: slower)
PLANNED_ENUMS = ("event", "code_kind")


def _without(answer, stores: set[str]):
    """A rule's answer ``(columns, rows)`` without the rows about ``stores`` (an exception
    as it is)."""
    if isinstance(answer, BaseException) or "store" not in answer[0]:
        return answer
    columns, rows = answer
    at = columns.index("store")
    return columns, [r for r in rows if r[at] not in stores]


def _cited(answers: Iterable) -> dict[str, set[int]]:
    """The rows (table -> ids) that the rules' answers cite as the evidence a finding shows
    (:func:`~invreconcile.findings.first_refs`)."""
    from ..findings import first_refs
    wanted: dict[str, set[int]] = {}
    for answer in answers:
        if isinstance(answer, Exception) or "evidence" not in answer[0]:
            continue
        k = answer[0].index("evidence")
        for row in answer[1]:
            if row[k] is not None:
                for table, rid in first_refs(str(row[k]).split(","))[0]:
                    wanted.setdefault(table, set()).add(rid)
    return wanted


def _lake_bytes(index: dict) -> int:
    """Bytes of Parquet in a lake (its :func:`lake_index`)."""
    return sum(n for files in index.values() for _, _, n in files)


def memory_bytes(memory_limit: str | None) -> int:
    """DuckDB's memory limit in bytes (its default: 80% of RAM); a ConfigError for a text
    DuckDB would not take (it needs a unit: '4G', '4GB', '500 MiB')."""
    if memory_limit:
        m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT])I?B?\s*", memory_limit.upper())
        if not m:
            raise ConfigError(f"memory limit '{memory_limit}': expected a size like 4GB or 500MB.",
                              zh=f"内存上限 '{memory_limit}'：应为 4GB 或 500MB 这样的大小。")
        return int(float(m.group(1)) * 1024 ** " KMGT".index(m.group(2)))
    return int(0.8 * os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))


def _parquet_budget(memory_limit: str | None) -> int:
    """Bytes of Parquet whose tables fit in half of DuckDB's memory limit."""
    return int(memory_bytes(memory_limit) / 2 / IN_MEMORY_PER_PARQUET_BYTE)


def allocator_env(environ=None) -> dict | None:
    """The environment to start this program again with under jemalloc (``LD_PRELOAD``),
    or None: not Linux, jemalloc not installed (Debian's libjemalloc2), preloaded already,
    or ``INVRECONCILE_ALLOCATOR=system``. DuckDB's Python wheel allocates with glibc's
    malloc, which over the many batches of a large lake spends a tenth of the CPU time in its
    own bookkeeping (perf: _int_malloc, unlink_chunk, malloc_consolidate). Session 10, 10M
    lines at 3 GB, four pairs back to back: 184.5, 229.5, 194.0, 190.6 s -> 177.5, 159.7,
    181.7, 172.3 s, peak 3,446-3,503 -> 3,549-3,607 MB; tcmalloc 162.4 s but 3,849 MB.
    An allocator is chosen when a process starts, so the command line starts itself again
    (:func:`invreconcile.cli.run`); a program calling the library sets ``LD_PRELOAD`` itself.

    >>> allocator_env({"INVRECONCILE_ALLOCATOR": "system"}) is None
    True
    >>> allocator_env({"LD_PRELOAD": "/usr/lib/libjemalloc.so.2"}) is None
    True
    """
    environ = os.environ if environ is None else environ
    if (not sys.platform.startswith("linux") or environ.get("INVRECONCILE_ALLOCATOR") == "system"
            or "jemalloc" in environ.get("LD_PRELOAD", "")):   # also after a start that failed: no loop
        return None
    lib = ctypes.util.find_library("jemalloc")
    if not lib:
        return None
    return {**environ, "LD_PRELOAD": " ".join(filter(None, (lib, environ.get("LD_PRELOAD"))))}
