"""The command line as a user meets it: messages, exit codes, help for every command."""
from __future__ import annotations

import json
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from invreconcile.cli import main


@pytest.fixture
def run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()

    def invoke(*args, input=None):
        return runner.invoke(main, list(args), input=input, catch_exceptions=False)
    return invoke


def test_every_command_has_help(run):
    for name, cmd in main.commands.items():
        assert cmd.help, f"{name} has no help text"
        result = run(name, "--help")
        assert result.exit_code == 0

    def options_without_help(command):
        for p in command.params:
            if isinstance(p, click.Option) and not p.help and not p.hidden:
                yield p.opts[0]
        for sub in getattr(command, "commands", {}).values():
            yield from options_without_help(sub)
    assert not list(options_without_help(main))


def test_commands_documented_in_readme():
    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    for name in main.commands:
        assert f"invreconcile {name}" in readme, f"README does not mention 'invreconcile {name}'"


def test_codes_parse_text_stdin_and_exit_code(run):
    ok = run("codes", "parse", "]C181234567890123456789")
    assert ok.exit_code == 0
    assert "cn20" in ok.output and "8123456" in ok.output
    bad = run("--lang", "en", "codes", "parse", input="6901234567892\n")
    assert bad.exit_code == 2
    assert "product barcode" in bad.output.lower()
    js = run("codes", "parse", "--json", "81234567890123456789")
    assert json.loads(js.output)["key"] == "81234567890123456789"


def test_import_status_and_errors(run, tmp_path):
    Path("sales.csv").write_text("门店编码,商品编码,数量,销售时间\nP1,A1,24,2026-09-01 10:00:00\nP1,A1,x,2026-09-01 10:00:00\n",
                                 encoding="utf-8")
    res = run("import", "sales.csv")
    assert res.exit_code == 3   # imported, with a row rejected
    assert "读取 2 行 = 接受 1 + 重复上传 0 + 拒收 1" in res.output
    assert "拒收 第 3 行：「数量」不是数字：x（应为 数字）" in res.output
    assert "拒收 1 行，其余已导入。改正这些行后重新导入该文件即可" in res.output
    assert "1  「数量」不是数字：x（应为 数字）\n" in run("status").output
    st = run("--lang", "en", "status", "--rejects", "5")
    assert "read 2 rows = accepted 1 + duplicate uploads 0 + rejected 1" in st.output
    assert "sales.csv:3: '数量' is not a number: x (expected a number)" in st.output
    missing = run("import", "nope.csv")
    assert missing.exit_code == 1
    assert missing.output.strip() == "Error: nope.csv：不存在。请检查路径。"
    assert run("--lang", "en", "import", "nope.csv").output.strip() == "Error: nope.csv: does not exist. Check the path."
    Path("x.csv").write_text("foo,bar\n1,2\n", encoding="utf-8")
    unknown = run("import", "x.csv")
    assert unknown.exit_code == 1 and "--kind" in unknown.output and "Traceback" not in unknown.output


@pytest.mark.parametrize("to_lake", [False, True])
def test_an_import_names_its_first_rejected_rows_and_how_to_list_them_all(run, to_lake):
    rows = "".join(f"P1,A{i},{'x' if i % 2 else 3},2026-09-01 10:00:00\n" for i in range(10))
    Path("sales.csv").write_text("门店编码,商品编码,数量,销售时间\n" + rows, encoding="utf-8")
    res = run("--lang", "en", "import", "sales.csv", *(["--lake", "lake"] if to_lake else []))
    assert res.exit_code == 3 and "read 10 = accepted 5 + duplicate uploads 0 + rejected 5" in res.output
    shown = [line for line in res.output.splitlines() if line.startswith("  rejected row ")]
    assert shown == [f"  rejected row {n}: '数量' is not a number: x (expected a number)" for n in (3, 5, 7)]
    assert "  ... 5 rejected in all: invreconcile status --rejects 5 lists them" in res.output


def test_status_without_ledger_says_what_to_do(run):
    res = run("status", "--db", "none.db")
    assert res.exit_code == 1
    assert "invreconcile demo" in res.output


def test_audit_rejects_bad_dates_and_unknown_rules(run):
    Path("sales.csv").write_text("门店编码,商品编码,数量,销售时间\nP1,A1,24,2026-09-01 10:00:00\n", encoding="utf-8")
    run("import", "sales.csv")
    bad = run("audit", "--since", "2026-9-1")
    assert bad.exit_code == 2 and "YYYY-MM-DD" in bad.output
    unknown = run("audit", "--rules", "no_such_rule")
    assert unknown.exit_code == 1 and "无法识别的规则或类别：no_such_rule" in unknown.output
    unknown = run("--lang", "en", "audit", "--rules", "no_such_rule")
    assert unknown.exit_code == 1 and "unknown rule or category: no_such_rule" in unknown.output
    Path("c.toml").write_text("[rules.code_resold]\nno_param = 1\n", encoding="utf-8")
    cfg = run("audit", "--config", "c.toml")
    assert cfg.exit_code == 1 and "c.toml：[rules.code_resold] 没有参数「no_param」。可用的参数：min_gap_seconds" in cfg.output
    cfg = run("--lang", "en", "audit", "--config", "c.toml")
    assert cfg.exit_code == 1 and "unknown parameter 'no_param'" in cfg.output


def test_a_memory_limit_duckdb_cannot_take_is_refused_by_every_command(run, tmp_path):
    """DuckDB failed on '4XB' with a traceback (check-lake, and the reports reading a lake)."""
    tmp_path.joinpath("lake").mkdir()
    for cmd in (["check-lake", "lake"], ["audit", "--engine", "duckdb", "--lake", "lake"], ["status", "--lake", "lake"],
                ["rank", "--lake", "lake"], ["report", "-o", "r.json", "--lake", "lake"],
                ["selfcheck", "--store", "P1", "-o", "s.xlsx", "--lake", "lake"]):
        res = run("--lang", "en", *cmd, "--memory-limit", "4XB")
        assert res.exit_code == 2 and "expected a size like 4GB or 500MB, found 4XB" in res.output, cmd


def test_a_store_the_ledger_does_not_hold_is_refused_with_close_codes(run):
    """A mistyped store code gave an empty audit, report, ranking or statement, exit 0."""
    Path("sales.csv").write_text("门店编码,商品编码,数量,销售时间\nP3301060001,A1,24,2026-09-01 10:00:00\n",
                                 encoding="utf-8")
    run("import", "sales.csv")
    for cmd in (["audit"], ["report", "-o", "r.json", "--format", "json"], ["rank"], ["selfcheck", "-o", "s.xlsx"]):
        res = run("--lang", "en", *cmd, "--store", "P330106001")
        assert res.exit_code == 2, cmd
        assert "no records or findings of store P330106001; close store codes: P3301060001" in res.output, cmd
    assert run("--lang", "en", "report", "-o", "r.json", "--format", "json", "--store", "P3301060001").exit_code == 0
    assert not Path("s.xlsx").exists()


def test_file_the_system_refuses_is_named_without_a_traceback(run):
    Path("sales.csv").write_text("门店编码,商品编码,数量,销售时间\nP1,A1,24,2026-09-01 10:00:00\n", encoding="utf-8")
    run("import", "sales.csv")
    res = run("--lang", "en", "audit", "--json", "no_such_folder/findings.json")
    assert res.exit_code == 1 and "Traceback" not in res.output
    assert "cannot read or write no_such_folder/findings.json: No such file or directory" in res.output


def test_output_to_a_reader_that_stopped_ends_quietly(tmp_path):
    """`invreconcile rules | head -2`: the rest of the output has nowhere to go; the command
    stops with the shell's code for that (141), not with an error about a file."""
    import os
    import subprocess
    import sys
    r, w = os.pipe()
    os.close(r)   # the reader is gone before the first line
    res = subprocess.run([sys.executable, "-c", "from invreconcile.cli import run; run()", "rules"], stdout=w,
                         stderr=subprocess.PIPE, text=True, cwd=tmp_path, timeout=120)
    os.close(w)
    assert (res.returncode, res.stderr) == (141, "")


def test_categories_and_severities_in_the_users_language(run):
    from invreconcile.findings import CATEGORIES, SEVERITIES
    from invreconcile.rules import builtin_rules
    zh, en = run("rules").output, run("--lang", "en", "rules").output
    for rule in builtin_rules():
        assert f"{rule.id}  [{CATEGORIES[rule.category][0]}, {SEVERITIES[rule.severity][0]}]  {rule.title_zh}" in zh
        assert f"{rule.id}  [{CATEGORIES[rule.category][1]}, {SEVERITIES[rule.severity][1]}]  {rule.title_en}" in en


def test_clicks_own_usage_errors_speak_the_users_language(run):
    """Click writes these itself: a mistyped option, a missing argument, a value not among
    the choices; Chinese by default like every other message, English with --lang en."""
    res = run("sample", "--unti", "2026-10-01")
    assert res.exit_code == 2 and "Error: 没有选项 '--unti'。 是否指 '--until'？" in res.output
    assert "sample --help' 查看帮助。" in res.output
    assert "缺少参数 'GROUND_TRUTH'" in run("evaluate").output
    assert "'--kind' 的值无效：'foo' 不是以下之一：'catalog', " in run("import", "--kind", "foo", "x.csv").output
    en = run("--lang", "en", "sample", "--unti", "2026-10-01")
    assert en.exit_code == 2 and "Error: No such option '--unti'. Did you mean '--until'?" in en.output


def test_help_pages_in_the_users_language(run):
    from invreconcile.clitext import HELP_ZH
    top = run("--help").output
    assert "用法：" in top and "  import       导入数据文件。" in top and "  audit        运行规则稽核，保存并汇总疑点。" in top
    page = run("import", "--help").output
    assert "文件的记录类型（无法自动识别时）。" in page and "显示本帮助并退出。" in page
    en = run("--lang", "en", "import", "--help").output
    assert "Record kind of the files, when it cannot be" in en and "文件的记录类型" not in en
    helps = set()

    def walk(command):
        helps.update(p._help_en for p in command.params if getattr(p, "_help_en", None))
        for sub in getattr(command, "commands", {}).values():
            walk(sub)
    walk(main)
    assert helps and not helps - set(HELP_ZH), helps - set(HELP_ZH)   # every option's help has its Chinese


def test_rules_lists_every_rule_with_parameters(run):
    from invreconcile.rules import builtin_rules
    res = run("--lang", "en", "rules")
    for rule in builtin_rules():
        assert rule.id in res.output
        assert rule.title_en in res.output
        assert rule.why_en and rule.why_zh, f"{rule.id} lacks an explanation"
        for p in rule.params:
            assert f"[rules.{rule.id}] {p.name} = " in res.output
            assert p.doc and p.doc_zh, f"{rule.id}.{p.name} is undocumented in English or Chinese"
    zh = run("rules").output
    assert all(f"  # {p.doc_zh}\n" in zh for rule in builtin_rules() for p in rule.params)


def test_a_chinese_meaning_of_a_parameter_the_rule_does_not_have_is_refused():
    from invreconcile.errors import ConfigError
    from invreconcile.rules import parse_rule
    head = "-- id: x\n-- category: phantom_sale\n-- severity: low\n-- title_zh: 甲\n-- title_en: x\n-- param n = 2  # how many\n"
    assert parse_rule(head + "-- param_zh n: 多少\nSELECT 1").params[0].meaning("zh") == "多少"
    with pytest.raises(ConfigError, match="param_zh for m, which the rule has no param line of"):
        parse_rule(head + "-- param_zh m: 多少\nSELECT 1", "x.sql")


def test_import_progress_on_a_terminal_only(tmp_path):
    import pexpect
    rows = "".join(f"P1,A{i},24,2026-09-01 10:00:00\n" for i in range(5000))
    (tmp_path / "sales.csv").write_text("门店编码,商品编码,数量,销售时间\n" + rows, encoding="utf-8")
    child = pexpect.spawn("invreconcile", ["--lang", "en", "import", "--db", str(tmp_path / "t.db"),
                                           str(tmp_path / "sales.csv")], encoding="utf-8", timeout=60)
    child.expect(pexpect.EOF)
    assert "2,000 records" in child.before  # the running count, on the terminal
    res = CliRunner().invoke(main, ["--lang", "en", "import", "--db", str(tmp_path / "u.db"), str(tmp_path / "sales.csv")])
    assert "records" not in res.output  # not a terminal: the summary only
    assert "read 5000 = accepted 5000" in res.output


def test_names_review_and_override(run):
    msgs = [
        {"infno": "2102", "fixmedins_code": "P1", "input": {
            "setlinfo": {"setl_id": "S1", "psn_no": "PSN1", "setl_time": "2026-09-01 10:00:00",
                         "medfee_sumamt": 30, "fund_pay_sumamt": 30, "psn_part_amt": 0},
            "drugdetail": [{"medins_list_codg": "A1", "medins_list_name": "阿莫西林胶囊", "cnt": 24,
                            "det_item_fee_sumamt": 30}]}},
        {"infno": "3505", "fixmedins_code": "P1", "input": {"selinfo": {
            "fixmedins_hilist_id": "B7", "fixmedins_hilist_name": "海飞丝洗发水", "sel_retn_cnt": 1,
            "sel_retn_time": "2026-09-01 10:00:00", "setl_id": "S1", "psn_no": "PSN1"}}},
    ]
    Path("log.jsonl").write_text("\n".join(json.dumps(m, ensure_ascii=False) for m in msgs), encoding="utf-8")
    run("import", "log.jsonl")
    first = run("--lang", "en", "audit", "--rules", "name_mismatch")
    assert "1 findings" in first.output
    listed = run("names", "--mismatch")
    assert "海飞丝洗发水" in listed.output and "阿莫西林胶囊" in listed.output and "rapidfuzz" in listed.output
    assert listed.output.startswith("门店\t相似度\t结论\t来源\t收银品名\t医保品名\n")   # what each column is
    run("names", "set", "--store", "P1", "--till", "海飞丝洗发水", "--insurance", "阿莫西林胶囊", "--verdict", "match")
    again = run("--lang", "en", "audit", "--rules", "name_mismatch")
    assert "0 findings" in again.output
    assert "user" in run("names").output


def test_import_to_a_lake_with_workers_and_workers_without_a_lake(run, tmp_path):
    """``--workers`` sets how many processes read a lake import's files; without ``--lake``
    it is refused with a usage error (exit 2), nothing imported."""
    pytest.importorskip("duckdb")
    data = tmp_path / "data"
    data.mkdir()
    for i in (1, 2):
        (data / f"P{i}_sale.csv").write_text(f"门店编码,商品编码,数量,销售时间\nP{i},A1,24,2026-09-0{i} 10:00:00\n",
                                             encoding="utf-8")
    ok = run("--lang", "en", "import", "--lake", str(tmp_path / "lake"), "--workers", "2", str(data))
    assert ok.exit_code == 0 and ok.output.count("accepted 1 ") == 2
    assert len(list((tmp_path / "lake" / "sales").rglob("*.parquet"))) == 2
    refused = run("--lang", "en", "import", "--workers", "2", str(data))
    assert refused.exit_code == 2 and "--workers is for imports with --lake" in refused.output
    assert not (tmp_path / "invreconcile.db").exists()
