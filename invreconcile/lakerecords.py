"""The records of a Parquet lake, read the way the reports read a ledger's.

An audit on DuckDB or Spark (``audit --engine duckdb --lake DIR --db LEDGER``) keeps its
findings in the SQLite ledger and its records in the lake. The reports and the risk
ranking need those records: settlements for the money at risk and the findings per 1,000
settlements, the rows each finding cites, the persons to mask, the code timelines. Read
from a ledger that holds findings only, a bureau's ranking had no settlements (35 of its
100 points lost for every store) and its evidence no row values. :class:`LakeRecords`
answers the SQL the report model sends a ledger (SQLite's, ``?`` parameters) with DuckDB
over the lake's files: ``report --lake DIR``, ``rank --lake DIR``::

    from invreconcile.lakerecords import LakeRecords
    report = build_report(ledger, records=LakeRecords("DIR"))
"""
from __future__ import annotations

import re
import tempfile
from pathlib import Path

from .audit import KEPT_VIEWS
from .engines.duckdb import lake_files, lake_index, lake_stores, translate
from .errors import ConfigError
from .lake import TABLES, duck_type, read_parquet_sql, require_lake, table_schema
from .rules import view_names, view_statements

#: tables held in DuckDB's memory once read, with the columns the report model reads of
#: them (reports/model.py, ranking.py, privacy.py, selfcheck.py; tests/test_lakerecords.py compares the
#: whole report with the ledger's): the ranking asks for each store's settlements, which
#: from the files took minutes at 10M lines. The others are read from their files.
LOADED = {"settlements": ("id", "store", "setl_id", "is_reversal", "psn_no", "psn_name", "certno", "medfee_fen",
                          "insurance_fen", "ts", "day", "month", "hour", "dow", "deleted", "orig_setl_id",
                          "src_file", "src_row")}


class _Rows:
    """An answer as sqlite3's cursor gives it: iterate, fetchone, fetchall, description."""

    def __init__(self, cur):
        self.description = cur.description
        self._rows = cur.fetchall()

    def __iter__(self):
        return iter(self._rows)

    def fetchone(self):
        return self._rows[0] if self._rows else None

    def fetchall(self):
        return list(self._rows)


class LakeRecords:
    """The lake ``lake``'s tables for the report model: ``records.conn.execute(sql,
    params)`` as on a ledger; those of ``stores`` only when given (:meth:`for_stores`). A
    table is attached when a query first names it (binding reads its files' footers); a
    table the lake lacks is empty."""

    def __init__(self, lake: str | Path, memory_limit: str | None = None, stores=None, index: dict | None = None):
        try:
            import duckdb
        except ImportError as exc:  # pragma: no cover - the bureau extra
            raise ConfigError(f"reading a lake needs duckdb ({exc}). Install: pip install 'invreconcile[bureau]'")
        self.lake = require_lake(lake)
        self._tmp = tempfile.TemporaryDirectory(prefix="invreconcile-lake-")
        self._duck = duckdb.connect(config={"temp_directory": self._tmp.name,
                                            **({"memory_limit": memory_limit} if memory_limit else {})})
        self._duck.execute("SET parquet_metadata_cache = true")   # footers read once, not by every query
        self._index = index if index is not None else lake_index(self.lake)
        self._files = {t: lake_files(self._index, t, stores) for t in TABLES}
        self._memory_limit = memory_limit
        self._attached: set[str] = set()
        self._views = {n: s for n, s in zip(view_names(), view_statements()) if n in KEPT_VIEWS}

    def for_stores(self, stores) -> "LakeRecords":
        """The records of ``stores`` only (their ``store=`` directories, the shared catalog,
        the tables not kept by store): a report of one store of thousands reads its own
        files, not every store's."""
        return LakeRecords(self.lake, self._memory_limit, stores, self._index)

    def stores(self) -> set[str]:
        """The stores the lake holds rows of (its ``store=`` directories)."""
        return lake_stores(self._index)

    def table_names(self) -> list[str]:
        """Its tables, as a ledger (sqlite_utils) names its own."""
        return list(TABLES)

    def view_names(self) -> list[str]:
        """The audit's views that reports read (``audit.KEPT_VIEWS``: movements, book
        stock at each count, item facts), computed from the lake's records when a query
        first names them, as an audit on a ledger keeps them there."""
        return list(KEPT_VIEWS)

    @property
    def conn(self) -> "LakeRecords":
        return self

    def execute(self, sql: str, params=()) -> _Rows:
        self._attach_named(sql)
        return _Rows(self._duck.execute(sql, list(params)))

    def _attach_named(self, sql: str) -> None:
        """Attach the tables and views ``sql`` names, a view's own tables first."""
        for view in KEPT_VIEWS:
            if view not in self._attached and re.search(rf"\b{view}\b", sql):
                self._attached.add(view)   # before its text, which names it
                self._attach_named(self._views[view])
                self._duck.execute(translate(self._views[view]))
        for table in TABLES:
            if table not in self._attached and re.search(rf"\b{table}\b", sql):
                self._attach(table)

    def rows_by_id(self, table: str, ids: list[int], columns: list[str]) -> tuple[list[str], list[tuple]]:
        """``(columns, rows)``: ``columns`` of ``table``'s rows with one of ``ids``, in one query."""
        cur = self.execute(f"SELECT {', '.join(columns)} FROM {table} WHERE id IN (SELECT UNNEST(?::BIGINT[]))",
                           [list(ids)])
        return columns, cur.fetchall()

    def _attach(self, table: str) -> None:
        schema = [(c, duck_type(t)) for c, t in table_schema(table) if c in LOADED.get(table, (c,))]
        if self._files[table]:
            cols = ", ".join(f'CAST("{c}" AS {t}) AS "{c}"' for c, t in schema)
            select = f"SELECT {cols} FROM {read_parquet_sql(self._files[table])}"
        else:
            select = "SELECT " + ", ".join(f'CAST(NULL AS {t}) AS "{c}"' for c, t in schema) + " WHERE false"
        self._duck.execute(f"CREATE {'TABLE' if table in LOADED else 'VIEW'} {table} AS {select}")
        self._attached.add(table)

    def close(self) -> None:
        self._duck.close()
        self._tmp.cleanup()
