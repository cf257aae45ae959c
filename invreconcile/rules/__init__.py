"""The rule registry: one SQL text per rule, in this folder.

A rule file starts with a header of ``-- key: value`` comment lines, then one SELECT
over the ledger tables (see :mod:`invreconcile.ledger`) that returns one row per finding.

Header keys: ``id``, ``category`` (phantom_sale, substitution, duplicate_code,
unknown_code, abnormal_swipe, stock_mismatch, price_anomaly, data_quality), ``severity``
(low, medium, high: the default; a ``severity`` column overrides it per row),
``title_zh``, ``title_en``, ``why_zh``, ``why_en`` (may repeat, lines are joined),
``message_zh``, ``message_en`` (templates filled from the row's columns with
``{name}``), ``scope`` (``all_stores`` for a rule that compares every store with the
others: an engine that audits a large lake in groups of stores runs it over all of them
at once; by default a rule compares a store's rows with each other and, of the stores
sharing a trace code (or its case code) with it, with the events and scans of those codes,
the reversals of the settlements those events name and the sales of those settlements,
which is what a batch of a large lake holds of them, see
:class:`invreconcile.engines.duckdb.Plan`; a rule that relates rows of two stores through
any other value or table, a person for one, needs ``all_stores``), ``param NAME = VALUE  # meaning``
lines: named parameters bound as ``:NAME`` in the SQL, each followed by a ``param_zh NAME:
含义`` line, its meaning in Chinese. A TOML config overrides
parameters (``[rules.ID] NAME = VALUE``).

Columns a rule returns (all optional except ``store``):
``store``, ``day_first``, ``day_last`` (YYYY-MM-DD), ``period``, ``severity``,
``setl_ids``, ``codes``, ``psn_nos``, ``items`` (comma-separated text), ``amount_fen``
(insurance money at risk, fen), ``evidence`` (comma-separated ``table:id`` references to
ledger rows), ``evidence_total`` (how many there are, when ``evidence`` lists only the
first ``:evidence_limit``), ``about`` (text that tells two findings apart when all the
other parts of the id are the same: a code sold in two cash sales of one day), plus any
columns the message templates name. Two rows of a rule with the same finding id are one
finding: the row with the first evidence and message is kept, whatever the engine's order.

The SQL keeps to what SQLite, DuckDB and Spark SQL share: no date functions (the ledger
has ``day``, ``month``, ``epoch``, ``hour``, ``tod_min`` columns), ``GROUP_CONCAT`` for
lists, ``||`` for text, window functions allowed. Spark refuses correlated scalar
subqueries in the SELECT list of a grouped query and subqueries that refer two levels
out: join a summary instead. ``CAST(x AS INTEGER)`` truncates (the engines make DuckDB and
Spark do the same). tests/test_engines.py and tests/test_spark.py check that every rule
gives the same findings on the three engines.

Global parameters, bound in every rule: ``open_min`` / ``close_min`` (opening hours in
minutes since midnight, default 07:00-23:00), and ``evidence_limit`` (the references a
finding shows, findings.EVIDENCE_LIMIT; not configurable) for a rule that lists only those.
"""
from __future__ import annotations

import dataclasses
import re
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from ..errors import ConfigError
from ..findings import CATEGORIES, EVIDENCE_LIMIT, SEVERITIES

SCOPES = ("store_group", "all_stores")

#: parameters every rule may use; override in the config's [audit] table.
GLOBAL_PARAMS = {
    "open_min": (7 * 60, "opening time, minutes after midnight (07:00)", "开门时间，零点后的分钟数（07:00）"),
    "close_min": (23 * 60, "closing time, minutes after midnight (23:00)", "打烊时间，零点后的分钟数（23:00）"),
}


@dataclass(frozen=True)
class Param:
    name: str
    default: object
    doc: str
    doc_zh: str = ""

    def meaning(self, lang: str) -> str:
        return self.doc if lang == "en" else self.doc_zh or self.doc


@dataclass(frozen=True)
class Rule:
    id: str
    category: str
    severity: str
    title_zh: str
    title_en: str
    why_zh: str
    why_en: str
    message_zh: str
    message_en: str
    params: tuple[Param, ...]
    sql: str
    path: str = ""
    scope: str = "store_group"

    def bind(self, overrides: dict | None = None) -> dict:
        values = {k: v for k, (v, *_) in GLOBAL_PARAMS.items()}
        values["evidence_limit"] = EVIDENCE_LIMIT
        values.update({p.name: p.default for p in self.params})
        for k, v in (overrides or {}).items():
            values[k] = v
        return values


_HEADER = re.compile(r"^--\s*([a-z_]+)\s*:\s?(.*)$")
_PARAM = re.compile(r"^--\s*param\s+([a-z_][a-z0-9_]*)\s*=\s*([^#]+?)\s*(?:#\s*(.*))?$")
_PARAM_ZH = re.compile(r"^--\s*param_zh\s+([a-z_][a-z0-9_]*)\s*:\s*(.*)$")


def _value(text: str):
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text.strip()


def parse_rule(text: str, path: str = "") -> Rule:
    meta: dict[str, str] = {}
    params = []
    zh: dict[str, str] = {}
    body = []
    in_header = True
    for line in text.splitlines():
        if in_header and line.startswith("--"):
            m = _PARAM.match(line)
            if m:
                params.append(Param(m.group(1), _value(m.group(2)), (m.group(3) or "").strip()))
                continue
            m = _PARAM_ZH.match(line)
            if m:
                zh[m.group(1)] = m.group(2).strip()
                continue
            m = _HEADER.match(line)
            if m:
                key, val = m.group(1), m.group(2).strip()
                meta[key] = f"{meta[key]} {val}".strip() if key in meta else val
                continue
            continue
        in_header = False
        body.append(line)
    missing = [k for k in ("id", "category", "severity", "title_zh", "title_en") if k not in meta]
    if missing:
        raise ConfigError(f"{path}: rule header lacks {', '.join(missing)}.")
    if meta["category"] not in CATEGORIES or meta["severity"] not in SEVERITIES:
        raise ConfigError(f"{path}: category must be one of {', '.join(CATEGORIES)} and severity one of "
                          f"{', '.join(SEVERITIES)}.")
    unknown = sorted(set(zh) - {p.name for p in params})
    if unknown:
        raise ConfigError(f"{path}: param_zh for {', '.join(unknown)}, which the rule has no param line of.")
    params = [dataclasses.replace(p, doc_zh=zh.get(p.name, "")) for p in params]
    if meta.get("scope", "store_group") not in SCOPES:
        raise ConfigError(f"{path}: scope must be one of {SCOPES}, not '{meta['scope']}'.")
    return Rule(id=meta["id"], category=meta["category"], severity=meta["severity"],
                title_zh=meta["title_zh"], title_en=meta["title_en"], why_zh=meta.get("why_zh", ""),
                why_en=meta.get("why_en", ""), message_zh=meta.get("message_zh", ""),
                message_en=meta.get("message_en", ""), params=tuple(params), sql="\n".join(body).strip(),
                path=path, scope=meta.get("scope", "store_group"))


def builtin_rules() -> list[Rule]:
    """Every rule shipped in this folder, sorted by id."""
    out = []
    for entry in sorted(resources.files(__package__).iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".sql") and not entry.name.startswith("_"):
            out.append(parse_rule(entry.read_text(encoding="utf-8"), entry.name))
    ids = [r.id for r in out]
    dup = {i for i in ids if ids.count(i) > 1}
    if dup:
        raise ConfigError(f"duplicate rule ids: {sorted(dup)}")
    return sorted(out, key=lambda r: r.id)


def view_statements() -> list[str]:
    """The shared views (``_views.sql``) as separate CREATE VIEW statements."""
    text = resources.files(__package__).joinpath("_views.sql").read_text(encoding="utf-8")
    return [s.strip() for s in re.split(r"^;\s*$", text, flags=re.M) if "CREATE VIEW" in s]


def view_names() -> list[str]:
    return [re.search(r"CREATE VIEW (\w+)", s).group(1) for s in view_statements()]


@dataclass
class Config:
    """Audit configuration: per-rule parameter overrides, global parameters, enabled rules."""
    params: dict = field(default_factory=dict)        # rule id -> {param: value}
    globals: dict = field(default_factory=dict)       # open_min, close_min ...
    disabled: tuple = ()
    stores_24h: tuple = ()

    def overrides(self, rule: Rule) -> dict:
        values = dict(self.globals)
        values.update(self.params.get(rule.id, {}))
        return values


def load_config(path: str | Path | None, rules: list[Rule] | None = None) -> Config:
    """Read a TOML config: ``[audit]`` (open_min, close_min, stores_24h, disabled) and
    ``[rules.ID]`` tables. Unknown rules or parameters are errors, with the known ones named."""
    if path is None:
        return Config()
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found.", f"{path}：配置文件不存在。") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc}). Fix the file; see 'invreconcile rules' for names.",
                          f"{path}：不是有效的 TOML（{exc}）。请修正文件；名称见 invreconcile rules。") from None
    rules = rules if rules is not None else builtin_rules()
    by_id = {r.id: r for r in rules}
    cfg = Config()
    audit = data.get("audit", {})
    for k, v in audit.items():
        if k in GLOBAL_PARAMS:
            cfg.globals[k] = v
        elif k == "stores_24h":
            cfg.stores_24h = tuple(str(s) for s in v)
        elif k == "disabled":
            cfg.disabled = tuple(v)
        else:
            known = ", ".join([*GLOBAL_PARAMS, "stores_24h", "disabled"])
            raise ConfigError(f"{path}: [audit] has unknown key '{k}'. Known: {known}.",
                              f"{path}：[audit] 中的「{k}」无法识别。可用的有：{known}。")
    for rid, table in data.get("rules", {}).items():
        if rid not in by_id:
            raise ConfigError(f"{path}: [rules.{rid}] names no rule. Known rules: {', '.join(sorted(by_id))}.",
                              f"{path}：[rules.{rid}] 不是规则名。现有规则：{', '.join(sorted(by_id))}。")
        known = {p.name: p for p in by_id[rid].params}
        for k, v in table.items():
            if k not in known:
                raise ConfigError(f"{path}: [rules.{rid}] has unknown parameter '{k}'. Known: {', '.join(known) or 'none'}.",
                                  f"{path}：[rules.{rid}] 没有参数「{k}」。可用的参数：{', '.join(known) or '无'}。")
            if type(v) is not type(known[k].default) and not (isinstance(v, (int, float)) and isinstance(known[k].default, (int, float))):
                raise ConfigError(f"{path}: [rules.{rid}] {k} = {v!r}: expected a value like {known[k].default!r}.",
                                  f"{path}：[rules.{rid}] {k} = {v!r}：应为与 {known[k].default!r} 同类的值。")
        cfg.params[rid] = dict(table)
    for rid in cfg.disabled:
        if rid not in by_id:
            raise ConfigError(f"{path}: [audit] disabled names the unknown rule '{rid}'.",
                              f"{path}：[audit] disabled 中的「{rid}」不是规则名。")
    return cfg
