"""The ``invreconcile`` command: a thin click layer over the library.

It parses options, calls one library function per command and prints. Errors that the
library raises on purpose (:class:`~invreconcile.errors.InvReconcileError`) become one
``Error: ...`` line and exit code 1; nothing else is caught.
"""
from __future__ import annotations

import itertools
import json
import os
import signal
import sys
import time
from pathlib import Path

import click

from . import codes as codes_mod
from .engines import ENGINES, SQLiteEngine
from .errors import ConfigError, InvReconcileError
from .findings import CATEGORIES, SEVERITIES, word
from .headers import KINDS
from .ledger import open_ledger, status as ledger_status
from .records import reason_text


#: exit code of an import that rejected rows (and imported the others): 1 is for nothing
#: done, 2 for a command given wrong
EXIT_REJECTED = 3


def _lang() -> str:
    ctx = click.get_current_context(silent=True)
    while ctx is not None:
        if ctx.obj and "lang" in ctx.obj:
            return ctx.obj["lang"]
        ctx = ctx.parent
    return os.environ.get("INVRECONCILE_LANG", "zh")


def T(zh: str, en: str) -> str:
    """Pick the user's language (Chinese by default, --lang en for English)."""
    return en if _lang() == "en" else zh


db_option = click.option("--db", "db_path", default="invreconcile.db", show_default=True, envvar="INVRECONCILE_DB",
                         type=click.Path(dir_okay=False), help="Ledger file (SQLite).")


def _memory_limit(ctx, param, value):
    """A --memory-limit DuckDB will take (it fails on '4XB' with a traceback)."""
    from .engines.duckdb import memory_bytes
    try:
        memory_bytes(value)
    except ConfigError:
        raise click.BadParameter(T(f"应为 4GB 或 500MB 这样的大小，实际为 {value}",
                                   f"expected a size like 4GB or 500MB, found {value}")) from None
    return value


memory_limit_option = click.option("--memory-limit", callback=_memory_limit,
                                   help="Memory DuckDB may use reading the lake, e.g. 4GB (default: 80% of RAM; it "
                                        "spills beyond).")


class Main(click.Group):
    def main(self, args=None, *rest, **options):
        """Click's own messages (usage errors, help pages) in the language asked for, set
        before click reads the options: they can be wrong before --lang is read."""
        from .clitext import speak
        args = list(sys.argv[1:] if args is None else args)
        lang = os.environ.get("INVRECONCILE_LANG", "zh")
        for i, arg in enumerate(args):   # the main --lang, or the station's own
            if arg == "--lang" and i + 1 < len(args):
                lang = args[i + 1]
            elif arg.startswith("--lang="):
                lang = arg.split("=", 1)[1]
        speak("en" if lang == "en" else "zh", self)
        return super().main(args, *rest, **options)

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except InvReconcileError as exc:
            raise click.ClickException(exc.zh if exc.zh and _lang() == "zh" else str(exc)) from None
        except BrokenPipeError:   # whoever read the output stopped (`| head`): stop quietly, as a shell's tools do
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())   # what is left unflushed goes nowhere
            sys.exit(128 + signal.SIGPIPE)
        except OSError as exc:   # the system refused a file: full disk, no such folder, no permission
            where = exc.filename or T("文件", "a file")
            raise click.ClickException(T(
                f"无法读写 {where}：{exc.strerror or exc}。请检查路径、权限和磁盘空间后重试。",
                f"cannot read or write {where}: {exc.strerror or exc}. Check the path, permissions and free disk "
                "space, then run it again.")) from None


@click.group(cls=Main)
@click.option("--lang", type=click.Choice(["zh", "en"]), default=None, envvar="INVRECONCILE_LANG",
              help="Language of messages: zh (default) or en.")
@click.version_option(package_name="invreconcile")
@click.pass_context
def main(ctx, lang):
    """invreconcile: reconcile pharmacy stock, trace codes and insurance settlements.

    药店进销存、追溯码与医保结算对账工具。
    """
    ctx.obj = {"lang": lang or os.environ.get("INVRECONCILE_LANG", "zh")}


# --------------------------------------------------------------------------- import / status

class _Progress:
    """On a terminal's stderr, one line rewritten as work goes: records read per file
    (import), rules or batches of stores done (audit); silent when it is not a terminal."""

    def __init__(self):
        self.active = sys.stderr.isatty()
        self.label = None
        self.lang = _lang()
        self.started = time.monotonic()

    def step(self, label: str | None, rows: int) -> None:
        """``rows`` records read so far in file ``label`` (None: in all files, read at once)."""
        if not self.active:
            return
        label = label or T("全部文件", "all files")
        if self.label is not None and label != self.label:
            sys.stderr.write("\n")
        self.label = label
        sys.stderr.write(f"\r{label}  {rows:,} " + T("行", "records"))
        sys.stderr.flush()

    def audit(self, stage: str, done: int, total: int) -> None:
        """How far the audit's queries have come (:attr:`Engine.progress`), with the seconds
        since this display was made (as the audit started)."""
        if not self.active:
            return
        self.label = "audit"
        zh = self.lang == "zh"   # told from the engine's threads, where click's context is not
        if stage == "plan":
            what = "规划门店批次" if zh else "planning the batches of stores"
        elif stage == "rules":
            what = f"规则 {done}/{total}" if zh else f"rule {done} of {total}"
        else:
            what = f"门店批次 {done}/{total}" if zh else f"batch {done} of {total} of stores"
        sys.stderr.write(f"\r{'稽核' if zh else 'audit'}: {what}, {time.monotonic() - self.started:.0f} s\x1b[K")
        sys.stderr.flush()

    def close(self) -> None:
        if self.label is not None:
            sys.stderr.write("\n")


def _print_import(results) -> int:
    rejected, lang = 0, _lang()
    for r in results:
        if r.skipped:
            click.echo(T(f"{r.path}: 已导入过（内容相同），跳过", f"{r.path}: already imported (same content), skipped"))
            continue
        rejected += r.rows_rejected
        click.echo(T(
            f"{r.path}: 类型 {r.kind}，读取 {r.rows_read} 行 = 接受 {r.rows_accepted} + 重复上传 {r.rows_duplicate} + 拒收 {r.rows_rejected}",
            f"{r.path}: kind {r.kind}, read {r.rows_read} = accepted {r.rows_accepted} + duplicate uploads {r.rows_duplicate} + rejected {r.rows_rejected}",
        ))
        for header, canon, alias, score in r.header_guesses:
            click.echo(T(f"  列名「{header}」按「{alias}」理解为 {canon}（相似度 {score}）",
                         f"  column '{header}' read as {canon} (like '{alias}', score {score})"))
        if r.ignored_columns:
            click.echo(T(f"  未识别、已忽略的列：{', '.join(r.ignored_columns)}",
                         f"  columns not understood, ignored: {', '.join(r.ignored_columns)}"))
        for row, reason, column, found, expected in r.reject_examples:
            click.echo(T(f"  拒收 第 {row} 行：", f"  rejected row {row}: ") + reason_text(reason, column, found, expected, lang))
        if r.rows_rejected > len(r.reject_examples):
            click.echo(T(f"  ……共拒收 {r.rows_rejected} 行：invreconcile status --rejects {r.rows_rejected} 逐行列出",
                         f"  ... {r.rows_rejected} rejected in all: invreconcile status --rejects {r.rows_rejected} lists them"))
    if rejected:
        click.echo(T(f"拒收 {rejected} 行，其余已导入。改正这些行后重新导入该文件即可：已导入的行会识别为重复上传，不会重复计入。",
                     f"{rejected} rows rejected, the others imported. Correct them and import the file again: the rows "
                     "already imported are recognised as uploaded again and not counted twice."), err=True)
    return rejected


@main.command("import")
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("--kind", type=click.Choice(KINDS), help="Record kind of the files, when it cannot be detected.")
@click.option("--store", help="Store code (fixmedins_code) for files without that column.")
@click.option("--lake", "lake_dir", type=click.Path(file_okay=False),
              help="Write to this Parquet lake (docs/lake.md) instead of the SQLite ledger.")
@click.option("--workers", type=click.IntRange(min=1),
              help="With --lake: processes reading files at once (default: one per core, at most 4).")
@db_option
def import_cmd(paths, kind, store, db_path, lake_dir, workers):
    """Import CSV / XLSX / JSON files or folders into the ledger. 导入数据文件。"""
    from .importer import import_paths

    progress = _Progress()
    try:
        if lake_dir:
            from .lake import import_to_lake
            results = import_to_lake(paths, lake_dir, kind=kind, store=store, progress=progress.step, workers=workers)
        else:
            if workers:
                raise click.UsageError(T("--workers 只用于 --lake 导入", "--workers is for imports with --lake"))
            results = import_paths(open_ledger(db_path), paths, kind=kind, store=store, progress=progress.step)
    finally:
        progress.close()
    if not results:
        raise click.ClickException(T(f"{' '.join(paths)}：没有可导入的文件（.csv .xlsx .json .jsonl）",
                                     f"{' '.join(paths)}: no files to import (.csv .xlsx .json .jsonl)"))
    if _print_import(results):
        sys.exit(EXIT_REJECTED)


def _width(text: str) -> int:
    """Display width in a terminal: CJK characters take two columns."""
    import unicodedata
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _pad(text: str, width: int, right: bool = False) -> str:
    fill = " " * (width - _width(text))
    return fill + text if right else text + fill


def _print_status(st: dict) -> None:
    t = st["totals"]
    click.echo(T(
        f"合计：读取 {t['rows_read']} 行 = 接受 {t['rows_accepted']} + 重复上传 {t['rows_duplicate']} + 拒收 {t['rows_rejected']}；"
        f"商品目录 {t['items']} 条，码关联 {t['code_relations']} 条",
        f"Total: read {t['rows_read']} rows = accepted {t['rows_accepted']} + duplicate uploads {t['rows_duplicate']} + rejected {t['rows_rejected']}; "
        f"catalog items {t['items']}, code relations {t['code_relations']}",
    ))
    heads = T("门店 月份 采购 销售 结算 结算明细 盘存 库存变更 扫码 追溯码",
              "store month purchases sales settlements settl.lines counts changes scans codes").split()
    keys = ["store", "month", "purchases", "sales", "settlements", "settlement_lines", "stock_counts", "stock_changes", "scans", "codes"]
    rows = [[str(r[k]) for k in keys] for r in st["per_store_month"]]
    widths = [max([_width(h)] + [_width(r[i]) for r in rows]) for i, h in enumerate(heads)]
    click.echo("  ".join(_pad(h, w) for h, w in zip(heads, widths)))
    for row in rows:
        click.echo("  ".join(_pad(x, w, right=i > 1) for i, (x, w) in enumerate(zip(row, widths))))
    if st["reject_reasons"]:
        click.echo(T("拒收原因：", "Rejected rows by reason:"))
        lang = _lang()
        for r in st["reject_reasons"]:   # with the first value found of each reason and column
            click.echo(f"  {r['count']:>6}  {reason_text(r['reason'], r['column'], r['found'], r['expected'], lang)}"
                       + (T(" 等", " and others") if r["count"] > 1 else ""))


@main.command()
@db_option
@click.option("--lake", "lake_dir", type=click.Path(file_okay=False),
              help="What this Parquet lake holds instead of the ledger.")
@memory_limit_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--rejects", "show_rejects", type=int, default=0, help="Also list up to N rejected rows.")
def status(db_path, lake_dir, memory_limit, as_json, show_rejects):
    """What the ledger (or a lake) holds, per store and month, and what was rejected. 台账概况。"""
    if lake_dir:
        from .lakerecords import LakeRecords
        db = LakeRecords(lake_dir, memory_limit)
    else:
        db = open_ledger(db_path, create=False)
        _say_if_no_records(db)
    st = ledger_status(db)
    if as_json:
        click.echo(json.dumps(st, ensure_ascii=False, indent=2))
        return
    _print_status(st)
    if show_rejects:
        for r in db.conn.execute("SELECT src_file, src_row, column_name, reason, found, expected FROM rejects "
                                 "ORDER BY id LIMIT ?", (show_rejects,)):
            click.echo(f"  {r[0]}:{r[1]}: " + reason_text(r[3], r[2], r[4], r[5], _lang()))


# --------------------------------------------------------------------------- demo

@main.command()
@db_option
@click.option("--out", "out_dir", default="demo-data", show_default=True, type=click.Path(file_okay=False),
              help="Folder for the generated sample files.")
@click.option("--stores", default=6, show_default=True, help="Pharmacies to generate.")
@click.option("--days", default=61, show_default=True, help="Days of trading to generate.")
@click.option("--customers", default=600, show_default=True, help="Insured persons buying at them.")
@click.option("--seed", default=42, show_default=True, help="Random seed: the same seed gives the same data.")
@click.option("--audit/--no-audit", default=True, show_default=True, help="Run the audit after importing.")
def demo(db_path, out_dir, stores, days, customers, seed, audit):
    """Generate realistic sample data for several pharmacies, import it and audit it. 生成示例数据并导入、稽核。"""
    from . import sample
    from .importer import import_paths

    click.echo(T(f"生成示例数据到 {out_dir}/ ...", f"Generating sample data in {out_dir}/ ..."))
    sample.generate(out_dir, stores=stores, days=days, customers=customers, seed=seed)
    db = open_ledger(db_path)
    _print_import(import_paths(db, [out_dir]))
    _print_status(ledger_status(db))
    if audit:
        ctx = click.get_current_context()
        config = Path(out_dir) / "invreconcile.toml"
        ctx.invoke(audit_cmd, db_path=db_path, stores=(), since=None, until=None, rules=None,
                   config=str(config) if config.exists() else None, json_path=None, engine="sqlite")


# --------------------------------------------------------------------------- codes

@main.group()
def codes():
    """Trace codes: what a scanned string is. 追溯码识别。"""


@codes.command("parse")
@click.argument("texts", nargs=-1)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per code.")
def codes_parse(texts, as_json):
    """Tell what each scanned TEXT is (reads stdin, one per line, when no TEXT is given). 识别扫码内容。"""
    if not texts:
        texts = [line.rstrip("\r\n") for line in sys.stdin if line.strip()]
    bad = 0
    for text in texts:
        tc = codes_mod.parse(text)
        bad += 0 if tc.is_trace_code else 1
        if as_json:
            click.echo(json.dumps(tc.as_dict(), ensure_ascii=False))
            continue
        parts = [f"{tc.kind}"]
        if tc.key:
            parts.append(T(f"码 {tc.key}", f"key {tc.key}"))
        if tc.product_key:
            parts.append(T(f"产品 {tc.product_key}", f"product {tc.product_key}"))
        if tc.serial:
            parts.append(T(f"序列号 {tc.serial}", f"serial {tc.serial}"))
        if tc.batch:
            parts.append(T(f"批号 {tc.batch}", f"batch {tc.batch}"))
        if tc.expiry:
            parts.append(T(f"有效期 {tc.expiry.isoformat()}", f"expiry {tc.expiry.isoformat()}"))
        click.echo(f"{text!s}\t" + "  ".join(parts) + f"\t{tc.describe(_lang())}")
    if bad:
        sys.exit(2)


# --------------------------------------------------------------------------- audit

reveal_option = click.option(
    "--reveal", is_flag=True,
    help="Show person numbers, names and ID numbers unmasked (authorised users only; masked by default).")


def _shown(f, lang: str, privacy) -> dict:
    """A finding as printed (``as_dict``), its persons masked unless ``privacy`` reveals them."""
    from .reports.model import mask_finding
    return mask_finding(f.as_dict(lang), privacy, {})


def _write_json_list(fh, items) -> None:
    """``json.dumps(list(items), ensure_ascii=False, indent=1)`` and a newline, written an
    item at a time (the whole text of a million findings is gigabytes)."""
    from .reports.tables import write_indented
    fh.write("[")
    sep = "\n "
    for item in items:
        fh.write(sep)
        write_indented(fh, item, " ", stream=0)
        sep = ",\n "
    fh.write("]\n" if sep == "\n " else "\n]\n")


def _print_findings_summary(result, privacy, limit: int = 20) -> None:
    s = result.summary()
    click.echo(T(f"发现 {s['findings']} 条疑点（运行规则 {len(s['rules_run'])} 条）",
                 f"{s['findings']} findings ({len(s['rules_run'])} rules run)"))
    lang = _lang()
    for cat, sev in sorted(s["by_category"].items()):
        click.echo(f"  {_pad(word(CATEGORIES, cat, lang), 31)} " + T(f"高 {sev['high']}  中 {sev['medium']}  低 {sev['low']}",
                                      f"high {sev['high']}  medium {sev['medium']}  low {sev['low']}"))
    if s["amount_at_risk_by_store"]:
        click.echo(T("涉及医保基金（元），按门店：", "Insurance money at risk (yuan) by store:"))
        for store, amount in s["amount_at_risk_by_store"].items():
            click.echo(f"  {store:<14} {amount:>12,.2f}")
    for f in itertools.islice(result.iter_findings(), limit):
        title = f.title_en if lang == "en" else f.title_zh
        msg = _shown(f, lang, privacy)["message"]
        click.echo(f"[{word(SEVERITIES, f.severity, lang)}] {f.id}  {f.store}  {title}: {msg}")
    if s["findings"] > limit:
        click.echo(T(f"……另有 {s['findings'] - limit} 条，用 --json 导出或 invreconcile explain ID 查看",
                     f"... {s['findings'] - limit} more: export with --json or see invreconcile explain ID"))
    for rid, err in s["errors"].items():
        click.echo(T(f"规则 {rid} 运行失败：{err}", f"rule {rid} failed: {err}"), err=True)


@main.command("audit")
@db_option
@click.option("--store", "stores", multiple=True, help="Only this store (repeatable).")
@click.option("--since", help="First day, YYYY-MM-DD.")
@click.option("--until", help="Last day, YYYY-MM-DD.")
@click.option("--rules", help="Comma-separated rule ids or categories to run (default: all).")
@click.option("--config", type=click.Path(dir_okay=False), help="TOML file overriding rule parameters.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), help="Write the findings as JSON here ('-' for stdout).")
@click.option("--engine", type=click.Choice(ENGINES), default="sqlite", show_default=True,
              help="Query engine the rules run on.")
@click.option("--lake", "lake_dir", type=click.Path(file_okay=False),
              help="Parquet lake the duckdb/spark engines read (docs/lake.md); findings go to --db.")
@click.option("--spark-master", default="local[*]", show_default=True,
              help="Spark master URL for --engine spark (spark://HOST:7077, yarn, local[N]).")
@click.option("--memory-limit", callback=_memory_limit,
              help="Memory DuckDB may use for --engine duckdb, e.g. 4GB (default: 80% of RAM); "
                   "a larger lake is audited a group of stores at a time (docs/lake.md).")
@reveal_option
def audit_cmd(db_path, stores, since, until, rules, config, json_path, engine, lake_dir=None, spark_master="local[*]",
              memory_limit=None, reveal=False):
    """Run the rules, store the findings and print a summary (and --json) with persons
    masked. 运行规则稽核，保存并汇总疑点。"""
    from .audit import run_audit
    from .rules import load_config

    for label, value in (("--since", since), ("--until", until)):
        if value and not _is_day(value):
            raise click.BadParameter(T(f"应为 YYYY-MM-DD，实际为 {value}", f"expected YYYY-MM-DD, found {value}"), param_hint=label)
    if engine != "sqlite" and not lake_dir:
        raise click.UsageError(T(f"--engine {engine} 需要 --lake 目录", f"--engine {engine} needs --lake DIR"))
    if engine == "duckdb" and _MAY_RESTART:   # under jemalloc, if the system has it
        from .engines.duckdb import allocator_env
        env = allocator_env()
        if env is not None:
            sys.stdout.flush()
            sys.stderr.flush()
            os.execve(sys.executable, sys.orig_argv, env)
    db = open_ledger(db_path, create=engine != "sqlite")
    _require_stores(stores, db, lake_dir=lake_dir if engine != "sqlite" else None)
    cfg = load_config(config)
    from .engines import get_engine
    eng = get_engine(engine, db, lake=lake_dir, spark_master=spark_master, memory_limit=memory_limit)
    progress = _Progress()
    eng.progress = progress.audit
    try:
        result = run_audit(db, stores=list(stores) or None, since=since, until=until,
                           rules=[r.strip() for r in rules.split(",") if r.strip()] if rules else None, config=cfg,
                           engine=eng)
    finally:
        progress.close()
    if getattr(eng, "batches", None):
        n, w = len(eng.batches), min(eng.workers, len(eng.batches))
        lent = sum(bool(f) for f in eng.lenders)
        click.echo(T(f"数据湖大于内存：按 {n} 批门店稽核，每次 {w} 批（有共同追溯码的门店在同一批"
                     + (f"；{lent} 批另读其他批门店的共同追溯码记录）" if lent else "）"),
                     f"lake larger than memory: audited in {n} batches of stores, {w} at a time (stores sharing "
                     "a trace code in one batch" + (f"; {lent} batches also read other batches' rows of the codes "
                     "they share)" if lent else ")")), err=True)
    lang = _lang()
    privacy = _privacy(reveal, None)
    if json_path:
        shown = (_shown(f, lang, privacy) for f in result.iter_findings())
        if json_path == "-":
            with click.open_file("-", "w") as out:   # stdout, left open
                _write_json_list(out, shown)
            return
        with open(json_path, "w", encoding="utf-8") as fh:
            _write_json_list(fh, shown)
    _print_findings_summary(result, privacy)
    if result.errors:
        sys.exit(1)


@main.command("export-lake")
@click.argument("lake_dir", type=click.Path(file_okay=False))
@db_option
def export_lake_cmd(lake_dir, db_path):
    """Write the ledger's tables as Parquet, partitioned by store and month (docs/lake.md). 导出 Parquet 数据湖。"""
    from .lake import export_lake
    counts = export_lake(open_ledger(db_path, create=False), lake_dir)
    for table, n in counts.items():
        click.echo(f"{table:<18} {n:>12,}")


@main.command("check-lake")
@click.argument("lake_dir", type=click.Path(file_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print JSON (every problem, and what was read).")
@memory_limit_option
def check_lake_cmd(lake_dir, as_json, memory_limit):
    """Check a Parquet lake against its layout (docs/lake.md): files, columns, types,
    values, time columns, code events. Exit 1 on errors. 按布局规范检查数据湖。"""
    from .lakecheck import check_lake
    result = check_lake(lake_dir, memory_limit=memory_limit)
    if as_json:
        click.echo(json.dumps(result.as_dict(), ensure_ascii=False, indent=2))
    else:
        lang = _lang()
        for p in result.problems:
            click.echo(p.text(lang))
        rows = sum(result.rows.values())
        click.echo(T(f"检查了 {len(result.rows)} 个表、{result.files:,} 个文件、{rows:,} 行："
                     f"{len(result.errors)} 个错误，{len(result.warnings)} 个警告。",
                     f"checked {len(result.rows)} tables, {result.files:,} files, {rows:,} rows: "
                     f"{len(result.errors)} errors, {len(result.warnings)} warnings."))
    if result.errors:
        sys.exit(1)


def _is_day(value: str) -> bool:
    import datetime as dt
    try:
        dt.date.fromisoformat(value)
        return len(value) == 10
    except ValueError:
        return False


@main.command("rules")
@click.option("--config", type=click.Path(dir_okay=False), help="Show parameters as this TOML file sets them.")
def rules_cmd(config):
    """List the rules and their parameters. 规则列表。"""
    from .rules import GLOBAL_PARAMS, builtin_rules, load_config

    rules = builtin_rules()
    cfg = load_config(config, rules)
    lang = _lang()
    click.echo(T("全局参数（配置文件 [audit]）：", "Global parameters ([audit] in the config):"))
    for name, (default, doc, doc_zh) in GLOBAL_PARAMS.items():
        click.echo(f"  {name} = {cfg.globals.get(name, default)!r}  # {doc if lang == 'en' else doc_zh}")
    for r in rules:
        title = r.title_en if lang == "en" else r.title_zh
        off = T("（已停用）", " (disabled)") if r.id in cfg.disabled else ""
        click.echo(f"\n{r.id}  [{word(CATEGORIES, r.category, lang)}, {word(SEVERITIES, r.severity, lang)}]  {title}{off}")
        why = r.why_en if lang == "en" else r.why_zh
        if why:
            click.echo(f"  {why}")
        values = r.bind(cfg.overrides(r))
        for p in r.params:
            click.echo(f"  [rules.{r.id}] {p.name} = {values[p.name]!r}  # {p.meaning(lang)}")


@main.command()
@click.argument("finding_id")
@click.option("--lake", "lake_dir", type=click.Path(file_okay=False),
              help="Read the evidence rows from this lake (an audit on --engine duckdb|spark), the finding from --db.")
@db_option
@reveal_option
def explain(finding_id, lake_dir, db_path, reveal):
    """Show one finding with its evidence rows, persons masked. 查看疑点及证据。"""
    from .findings import load
    from .reports.privacy import PERSONAL_COLUMNS

    db = open_ledger(db_path, create=False)
    found = load(db, finding_id=finding_id)
    if not found:
        raise click.ClickException(T(f"没有编号为 {finding_id} 的疑点；先运行 invreconcile audit",
                                     f"no finding with id {finding_id}; run invreconcile audit first"))
    f = found[0]
    lang = _lang()
    privacy = _privacy(reveal, None)
    shown_f = _shown(f, lang, privacy)
    click.echo(f"{f.id}  [{word(CATEGORIES, f.category, lang)}, {word(SEVERITIES, f.severity, lang)}]  "
               f"{f.title_en if lang == 'en' else f.title_zh}")
    click.echo(f"  {T('门店', 'store')}: {f.store}   {T('期间', 'period')}: {f.period}   "
               f"{T('涉及医保金额', 'amount at risk')}: {f.amount_at_risk:.2f}")
    click.echo(f"  {shown_f['message']}")
    for label, values in ((T("结算ID", "settlements"), f.setl_ids), (T("追溯码", "codes"), f.codes),
                          (T("人员编号", "persons"), shown_f["psn_nos"]), (T("商品", "items"), f.items)):
        if values:
            click.echo(f"  {label}: {', '.join(values[:20])}{' ...' if len(values) > 20 else ''}")
    click.echo(T(f"证据（{f.evidence_total} 行）：", f"Evidence ({f.evidence_total} rows):"))
    engine = _lake_engine(lake_dir) or SQLiteEngine(db)
    if not lake_dir:
        _say_if_no_records(db)
    from .ledger import TABLE_NAMES
    for ev in f.evidence:
        names, rows = engine.query(f"SELECT * FROM {ev['table']} WHERE id = :id", {"id": ev["id"]})
        values = rows[0] if rows else ()
        shown = {k: privacy.apply(PERSONAL_COLUMNS[k], v) if k in PERSONAL_COLUMNS else v
                 for k, v in zip(names, values) if v not in (None, "") and k not in
                 ("rec_hash", "src_sha256", "src_file", "src_row", "day", "month", "epoch", "hour", "tod_min", "dow", "deleted", "uploads", "id")}
        table = word(TABLE_NAMES, ev["table"], lang)
        click.echo(f"  {ev['src_file']}:{ev['src_row']}  {table}  " + json.dumps(shown, ensure_ascii=False))


def _lake_engine(lake_dir):
    """A DuckDB engine over the lake an audit read, for the ledger's SQL (None: no lake)."""
    if not lake_dir:
        return None
    from .engines.duckdb import DuckDBEngine
    return DuckDBEngine(lake_dir)   # which says what to give when lake_dir is not a lake


@main.command()
@click.argument("code")
@click.option("--lake", "lake_dir", type=click.Path(file_okay=False),
              help="Read the code's events from this lake (an audit on --engine duckdb|spark) instead of the ledger.")
@db_option
@reveal_option
def trace(code, lake_dir, db_path, reveal):
    """The whole life of one trace code across stores and sources (persons masked). 追溯码全生命周期。"""
    from .trace import code_history

    db = None if lake_dir else open_ledger(db_path, create=False)
    if db is not None:
        _say_if_no_records(db)
    tc, events = code_history(db, code, mask_psn=_privacy(reveal, None).psn, engine=_lake_engine(lake_dir))
    click.echo(f"{tc.key or tc.text}  {tc.kind}  {tc.describe(_lang())}")
    if not events:
        click.echo(T("数据湖中没有这个码的任何记录", "The lake has no record of this code") if lake_dir else
                   T("台账中没有这个码的任何记录", "The ledger has no record of this code"))
        sys.exit(1)
    from .reports.html import EVENTS
    lang = _lang()
    for e in events:
        click.echo(f"  {e['ts'] or '????-??-?? ??:??:??'}  {e['store']:<12} {_pad(word(EVENTS, e['event'], lang), 20)} "
                   f"{e['detail']}  ({e['src_file']}:{e['src_row']})")


# --------------------------------------------------------------------------- reports

def _privacy(reveal: bool, pseudonymise: str | None):
    from .reports.privacy import Privacy

    if reveal and pseudonymise:
        raise click.UsageError(T("--reveal 与 --pseudonymise 只能选一个", "use either --reveal or --pseudonymise, not both"))
    return Privacy(reveal=reveal, pseudonymise_key=pseudonymise or None)


def _check_days(since, until) -> None:
    for label, value in (("--since", since), ("--until", until)):
        if value and not _is_day(value):
            raise click.BadParameter(T(f"应为 YYYY-MM-DD，实际为 {value}", f"expected YYYY-MM-DD, found {value}"), param_hint=label)


def _html_writer(name: str):
    try:
        from .reports import html as html_mod
    except ImportError:
        html_mod = None
    fn = getattr(html_mod, name, None)
    if fn is None:
        raise click.ClickException(T("此版本没有 HTML 报告（invreconcile.reports.html）；请用 --format xlsx、json 或 csv",
                                     "HTML reports are not available in this version (invreconcile.reports.html); "
                                     "use --format xlsx, json or csv"))
    return fn


lake_options = [
    click.option("--lake", "lake_dir", type=click.Path(file_okay=False),
                 help="The lake an audit on --engine duckdb|spark read: its records (settlements, evidence rows, "
                      "persons) are read from there, the findings from --db."),
    memory_limit_option,
]
privacy_options = [
    click.option("--reveal", is_flag=True, help="Show personal data unmasked (authorised users only; the report says so)."),
    click.option("--pseudonymise", metavar="KEY", help="Replace persons by a keyed hash (HMAC-SHA256) for sharing."),
]
period_options = [
    click.option("--since", help="First day, YYYY-MM-DD."),
    click.option("--until", help="Last day, YYYY-MM-DD."),
]


def _apply(options):
    def deco(f):
        for opt in reversed(options):
            f = opt(f)
        return f
    return deco


@main.command("report")
@click.option("--format", "fmt", type=click.Choice(["xlsx", "html", "json", "csv"]), default="xlsx", show_default=True,
              help="Output format.")
@click.option("-o", "--output", required=True, type=click.Path(), help="Output file (csv: a file or a folder).")
@click.option("--store", "stores", multiple=True, help="Only this store (repeatable).")
@click.option("--by-store", is_flag=True, help="html: -o is a folder: index.html (summary, ranking, charts) and a "
                                               "page per store (for more stores than one page can show).")
@_apply(period_options)
@_apply(privacy_options)
@_apply(lake_options)
@db_option
def report_cmd(fmt, output, stores, by_store, since, until, reveal, pseudonymise, lake_dir, memory_limit, db_path):
    """Write the audit report: workbook, HTML, JSON or CSV. 生成稽核报告。"""
    from .reports.model import build_report

    _check_days(since, until)
    if by_store and fmt != "html":
        raise click.UsageError(T("--by-store 只用于 --format html", "--by-store is for --format html only"))
    privacy = _privacy(reveal, pseudonymise)
    writer = _html_writer("write_html_by_store" if by_store else "write_html") if fmt == "html" else None
    db = open_ledger(db_path, create=False)
    records = _records(lake_dir, db, memory_limit)
    _require_stores(stores, db, records)
    report = build_report(db, stores=list(stores) or None, since=since, until=until, lang=_lang(), privacy=privacy,
                          records=records)
    if fmt == "xlsx":
        from .reports.xlsx import write_xlsx
        paths = [write_xlsx(report, output)]
    elif fmt == "json":
        from .reports.tables import write_json
        paths = [write_json(report, output)]
    elif fmt == "csv":
        from .reports.tables import write_csv
        paths = write_csv(report, output)
    elif by_store:
        from .reports.model import store_reports
        pages = store_reports(db, report, since=since, until=until, lang=_lang(), privacy=privacy, records=records)
        paths = writer(report, pages, output)
    else:
        paths = [writer(report, output)]
    for p in paths[:1] if by_store else paths:
        click.echo(str(p or output))
    if by_store:
        click.echo(T(f"及 {len(paths) - 1} 个门店页面：{paths[0].parent / 'stores'}",
                     f"and {len(paths) - 1} store pages in {paths[0].parent / 'stores'}"))
    click.echo(T(f"疑点 {report.summary['findings']} 条，涉及医保基金 {report.summary['money_at_risk_fen'] / 100:,.2f} 元；{report.privacy_note}",
                 f"{report.summary['findings']} findings, money at risk {report.summary['money_at_risk_fen'] / 100:,.2f} yuan; {report.privacy_note}"))


@main.command("selfcheck")
@click.option("--store", required=True, help="Store code (fixmedins_code).")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="Output file: .xlsx or .html.")
@_apply(period_options)
@_apply(privacy_options)
@_apply(lake_options)
@db_option
def selfcheck_cmd(store, output, since, until, reveal, pseudonymise, lake_dir, memory_limit, db_path):
    """Self-inspection statement of one pharmacy: refunds, stock corrections, process gaps. 自查自纠清单。"""
    from .reports.selfcheck import build_selfcheck, write_selfcheck_xlsx

    _check_days(since, until)
    privacy = _privacy(reveal, pseudonymise)
    suffix = Path(output).suffix.lower()
    if suffix not in (".xlsx", ".html", ".htm"):
        raise click.BadParameter(T(f"应为 .xlsx 或 .html 文件，实际为 {output}", f"expected a .xlsx or .html file, found {output}"),
                                 param_hint="-o")
    writer = _html_writer("write_selfcheck_html") if suffix != ".xlsx" else write_selfcheck_xlsx
    db = open_ledger(db_path, create=False)
    records = _records(lake_dir, db, memory_limit, stores=[store])   # its own files: cites no other store's rows
    _require_stores([store], db, records)
    sc = build_selfcheck(db, store, since=since, until=until, lang=_lang(), privacy=privacy, records=records)
    writer(sc, output)
    t = sc.totals
    click.echo(output)
    click.echo(T(f"{store}：应退回 {t['settlements_to_refund']} 笔结算共 {t['refund_fen'] / 100:,.2f} 元；"
                 f"需更正库存商品 {t['stock_items']} 个；流程问题 {t['process_gaps']} 条；拒收行 {t['rejects']} 行",
                 f"{store}: refund {t['settlements_to_refund']} settlements, {t['refund_fen'] / 100:,.2f} yuan; "
                 f"{t['stock_items']} items to correct; {t['process_gaps']} process gaps; {t['rejects']} rejected rows"))


def _say_if_no_records(db) -> None:
    """On stderr, when the ledger holds findings but no records (as after an audit on a
    lake): what its records are needed for."""
    conn = db.conn   # (the findings table is made by the first audit)
    if (conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'findings'").fetchone()
            and conn.execute("SELECT 1 FROM findings LIMIT 1").fetchone()
            and not conn.execute("SELECT 1 FROM settlements UNION ALL SELECT 1 FROM sales LIMIT 1").fetchone()):
        click.echo(T("注意：台账中有疑点但没有记录（在数据湖上稽核？）：结算、金额与证据需要 --lake 目录",
                     "note: the ledger holds findings but no records (audited on a lake?): settlements, money "
                     "and evidence need --lake DIR"), err=True)


def _require_stores(stores, db, records=None, option: str = "--store", lake_dir=None) -> None:
    """Each of ``stores`` must have records (the ledger's, or the lake's: ``records`` or
    ``lake_dir``) or findings: a mistyped store code gave an empty audit, report, ranking or
    statement with exit code 0."""
    if not stores:
        return
    held = {s for (s,) in db.conn.execute("SELECT DISTINCT store FROM findings")} if "findings" in db.table_names() else set()
    if records is not None:
        held |= records.stores()
    elif lake_dir:
        from .engines.duckdb import lake_index, lake_stores
        from .lake import require_lake
        held |= lake_stores(lake_index(require_lake(lake_dir)))   # not a lake: says so first
    else:
        held |= {s for (s,) in db.conn.execute(" UNION ".join(
            f"SELECT DISTINCT store FROM {t}" for t in ("settlements", "sales", "purchases", "stock_counts", "rejects")))}
    unknown = [s for s in stores if s not in held]
    if unknown:
        from rapidfuzz import process
        near = sorted({m for s in unknown for m, score, _ in process.extract(s, sorted(held - {None, ""}), limit=3)
                       if score >= 60})
        raise click.BadParameter(T(
            f"没有门店 {', '.join(unknown)} 的记录或疑点" + (f"；相近的门店编码：{', '.join(near)}" if near else "")
            + f"（共有 {len(held)} 家门店，见 invreconcile status）",
            f"no records or findings of store {', '.join(unknown)}" + (f"; close store codes: {', '.join(near)}" if near
                                                                       else "")
            + f" ({len(held)} stores held; see invreconcile status)"), param_hint=option)


def _records(lake_dir, db, memory_limit=None, stores=None):
    """The lake's records for the reports of an audit on it, those of ``stores`` only when
    given (None: the ledger's)."""
    if not lake_dir:
        _say_if_no_records(db)
        return None
    from .lakerecords import LakeRecords
    return LakeRecords(lake_dir, memory_limit, stores=stores)


def _ranking(db_path, stores, since, until, lake_dir=None, memory_limit=None, option="--store"):
    """(where the records are, the ranking)."""
    from .findings import load
    from .reports.ranking import rank_stores

    _check_days(since, until)
    db = open_ledger(db_path, create=False)
    records = _records(lake_dir, db, memory_limit)
    _require_stores(stores, db, records, option)
    records = records or db
    found = [f for f in load(db, stores=list(stores) or None)
             if not (since and f.day_last and f.day_last < since) and not (until and f.day_first and f.day_first > until)]
    return records, rank_stores(records, found, stores=list(stores) or None, since=since, until=until, lang=_lang())


@main.command("rank")
@click.option("--store", "stores", multiple=True, help="Only these stores (repeatable).")
@_apply(period_options)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@_apply(lake_options)
@db_option
def rank_cmd(stores, since, until, as_json, lake_dir, memory_limit, db_path):
    """Rank stores by risk, with the reasons for each score. 门店风险排名。"""
    _, ranking = _ranking(db_path, stores, since, until, lake_dir, memory_limit)
    if as_json:
        click.echo(json.dumps(ranking, ensure_ascii=False, indent=1))
        return
    for r in ranking:
        click.echo(f"{r['rank']:>3}. {r['store']}  " + T(f"风险分 {r['score']}", f"score {r['score']}"))
        for reason in r["reasons"]:
            click.echo(f"     {reason}")


@main.command("sample")
@click.option("--stores", "n", type=int, required=True, help="Number of stores to pick.")
@click.option("--seed", required=True, help="The published seed (digits: an integer; otherwise text).")
@click.option("--weighted", is_flag=True, help="Weight by risk score (1 + score) instead of uniform.")
@click.option("--settlements", "k", type=int, default=0, show_default=True, help="Also pick K settlements in each store.")
@click.option("--store", "population", multiple=True, help="Population: only these stores (default: every store).")
@_apply(period_options)
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write the draw record as JSON here.")
@_apply(lake_options)
@db_option
def sample_cmd(n, seed, weighted, k, population, since, until, output, lake_dir, memory_limit, db_path):
    """Random selection of stores to inspect (双随机), reproducible from a published seed. 双随机抽取。"""
    from .reports.ranking import sample_stores

    if n < 1:
        raise click.BadParameter(T(f"应至少为 1，实际为 {n}", f"expected at least 1, found {n}"), param_hint="--stores")
    db, ranking = _ranking(db_path, population, since, until, lake_dir, memory_limit)
    record = sample_stores(ranking, n, seed, weighted=weighted, settlements_per_store=k, db=db, since=since, until=until)
    payload = json.dumps(record, ensure_ascii=False, indent=1)
    if output:
        Path(output).write_text(payload + "\n", encoding="utf-8")
    click.echo(T(f"种子 {record['seed']}，方法 {record['method']}，总体 {record['population_size']} 家门店：",
                 f"seed {record['seed']}, method {record['method']}, population {record['population_size']} stores:"))
    click.echo(f"  {record['algorithm']}")
    for i, p in enumerate(record["picks"], 1):
        extra = f"  {', '.join(p['settlements'])}" if p.get("settlements") else ""
        click.echo(f"{i:>3}. {p['store']}{extra}")
    if output:
        click.echo(output)


# --------------------------------------------------------------------------- plugin commands

def _add_plugin_commands(group: click.Group) -> None:
    """Add the commands other packages register in the ``invreconcile.commands``
    entry-point group (e.g. ``station`` from ``scanners``). A plugin that fails to load
    is reported on stderr and left out; built-in commands keep their names."""
    from importlib.metadata import entry_points

    for ep in entry_points(group="invreconcile.commands"):
        if ep.name in group.commands:
            continue
        try:
            group.add_command(ep.load(), ep.name)
        except Exception as exc:  # noqa: BLE001 - a broken plugin must not break the CLI
            print(f"invreconcile: plugin command {ep.name!r} ({ep.value}) not loaded: {exc}", file=sys.stderr)


_add_plugin_commands(main)


@main.command()
@click.argument("ground_truth", type=click.Path(exists=True, dir_okay=False))
@db_option
@click.option("--findings", "findings_path", type=click.Path(exists=True, dir_okay=False),
              help="Findings JSON from 'audit --json' (default: the findings stored in the ledger).")
def evaluate(ground_truth, db_path, findings_path):
    """Measure findings against a sample data set's ground_truth.json. 按样本真值评估检出率与准确率。"""
    from .evaluation import evaluate as run_evaluation, format_report
    from .findings import load

    truth = json.loads(Path(ground_truth).read_text(encoding="utf-8"))
    if findings_path:
        found = json.loads(Path(findings_path).read_text(encoding="utf-8"))
    else:
        found = [f.as_dict() for f in load(open_ledger(db_path, create=False))]
    click.echo(format_report(run_evaluation(truth, found), lang=_lang()))


@main.group(invoke_without_command=True)
@db_option
@click.option("--store", help="Only this store.")
@click.option("--mismatch", is_flag=True, help="Only pairs judged different products.")
@click.pass_context
def names(ctx, db_path, store, mismatch):
    """Review the name matching (insurance name vs till name). 品名匹配复核。

    The audit scores, with rapidfuzz, the names of settlement lines that the till did not
    sell under the same item id; `names set` records a reviewer's verdict, which later
    audits keep.
    """
    if ctx.invoked_subcommand:
        return
    from .match import list_names

    rows = list_names(open_ledger(db_path, create=False), store=store, verdict="mismatch" if mismatch else None)
    if not rows:
        click.echo(T("没有待复核的品名对（先运行 invreconcile audit）", "No name pairs to review (run invreconcile audit first)"))
        return
    click.echo(T("门店\t相似度\t结论\t来源\t收银品名\t医保品名", "store\tscore\tverdict\tsource\ttill name\tinsurance name"))
    for r in rows:
        click.echo(f"{r['store']}\t{r['score']:>5.1f}\t{r['verdict']}\t{r['source']}\t{r['till_name']}\t{r['insurance_name']}")


@names.command("set")
@click.option("--store", required=True, help="Store code (fixmedins_code).")
@click.option("--till", "till_name", required=True, help="Name as sold at the till.")
@click.option("--insurance", "insurance_name", required=True, help="Name as billed to insurance.")
@click.option("--verdict", type=click.Choice(["match", "mismatch"]), required=True,
              help="match: the same product under two names; mismatch: different products.")
@db_option
def names_set(store, till_name, insurance_name, verdict, db_path):
    """Record a reviewer's verdict on one name pair. 记录品名对的复核结论。"""
    from .match import set_verdict

    set_verdict(open_ledger(db_path, create=False), store, till_name, insurance_name, verdict)
    click.echo(T("已记录，下次稽核生效", "Recorded; the next audit uses it"))


# --------------------------------------------------------------------------- images and labels

@main.command()
@click.argument("images", nargs=-1, required=True, type=click.Path())
@click.option("--decoders", default="zbar,zxing", show_default=True, help="Decoders to combine.")
@click.option("--no-preprocess", is_flag=True, help="Do not retry with rotated, scaled or thresholded images.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per symbol found.")
def decode(images, decoders, no_preprocess, as_json):
    """Decode barcodes in photos (Code 128, EAN-13, QR, Data Matrix) and say what each is. 识别图片中的条码。"""
    from .imaging import decode_image

    missing = 0
    for path in images:
        found = decode_image(path, decoders=tuple(d.strip() for d in decoders.split(",") if d.strip()),
                             preprocess=not no_preprocess)
        if not found:
            missing += 1
            click.echo(f"{path}\t" + T("未识别到条码", "no barcode found"))
        for d in found:
            if as_json:
                click.echo(json.dumps({"image": str(path), "text": d.text, "symbology": d.symbology,
                                       "decoder": d.decoder, "step": d.step, "code": d.code.as_dict()},
                                      ensure_ascii=False))
            else:
                click.echo(f"{path}\t{d.symbology}\t{d.text!r}\t{d.code.kind}\t{d.code.describe(_lang())}")
    if missing:
        sys.exit(2)


@main.command()
@click.argument("codes_", metavar="CODE...", nargs=-1, required=True)
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="Output file: .png (one file per page), .svg (one per page) or .pdf.")
@click.option("--name", default="", help="Item name printed on every label.")
@click.option("--batch", default="", help="Batch number printed on every label.")
@click.option("--expiry", default="", help="Expiry date printed on every label.")
@click.option("--per-page", default=12, show_default=True, help="Labels per A4 page.")
@db_option
def label(codes_, output, name, batch, expiry, per_page, db_path):
    """Print Code 128 labels for trace codes (split-pack bags, relabelled boxes). 打印追溯码标签。

    Name, batch and expiry come from the ledger (the purchase of the code) when the ledger
    has them and the options do not say otherwise.
    """
    from .labels import LabelSpec, make_labels

    db = open_ledger(db_path, create=False) if Path(db_path).exists() else None
    specs = []
    for code in codes_:
        info = {}
        if db is not None:
            key = codes_mod.parse(code).key or code
            row = db.conn.execute(
                "SELECT p.item_name, p.lotnum, p.expy_end FROM code_events e JOIN purchases p ON p.id = e.src_id "
                "WHERE e.src_table = 'purchases' AND e.code IN (SELECT ancestor FROM code_ancestors WHERE code = ? "
                "UNION SELECT ?) ORDER BY e.epoch LIMIT 1", (key, key)).fetchone()
            if row:
                info = dict(zip(("name", "batch", "expiry"), row))
        specs.append(LabelSpec(code, name=name or info.get("name") or "", batch=batch or info.get("batch") or "",
                               expiry=expiry or info.get("expiry") or ""))
    for path in make_labels(specs, output, per_page=per_page):
        click.echo(str(path))
#: set by :func:`run`: this process is the command line's own, which may start itself again
_MAY_RESTART = False


def run() -> None:
    """The ``invreconcile`` command: :func:`main` in a process of its own, which an audit on
    DuckDB starts again under jemalloc where the system has it
    (:func:`invreconcile.engines.duckdb.allocator_env`)."""
    global _MAY_RESTART
    _MAY_RESTART = True
    # stopped with kill (SIGTERM): exit as from Ctrl-C, so that temporary files and
    # DuckDB's scratch folder are removed (a killed 10M audit left 3.9 GB behind)
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    main()


if __name__ == "__main__":
    run()
