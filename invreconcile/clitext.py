"""Click's own messages in Chinese: the usage errors it writes itself (a missing
argument, an unknown option, a value not among the choices) and the help pages (their
headings and the help of every option) when the command line speaks Chinese, as the rest
of its messages do.

Click marks these texts for gettext; :func:`speak` puts a lookup of them in the place of
gettext in click's modules, consulted at each message, so that ``--lang en`` (or
``INVRECONCILE_LANG=en``) keeps click's English. The message ids are click 8's; a text
this table does not know stays English.

>>> speak("zh"); import click.exceptions as e; str(e.NoSuchOption("--n"))
"没有选项 '--n'。"
>>> speak("en"); str(e.NoSuchOption("--n"))
"No such option '--n'."
"""
from __future__ import annotations

import gettext
import re

ZH = {
    "Invalid value for {param_hint}: {message}": "{param_hint} 的值无效：{message}",
    "Invalid value: {message}": "值无效：{message}",
    "Missing argument": "缺少参数",
    "Missing option": "缺少选项",
    "Missing parameter": "缺少参数",
    "Missing {param_type}": "缺少{param_type}",
    "Missing command.": "缺少命令。",
    "No such command {name!r}.": "没有命令 {name!r}。",
    "No such option {name!r}.": "没有选项 {name!r}。",
    "Option {name!r} does not take a value.": "选项 {name!r} 不带值。",
    "Try '{command} {option}' for help.": "用 '{command} {option}' 查看帮助。",
    "Could not open file {filename!r}: {message}": "无法打开文件 {filename!r}：{message}",
    "{name} {filename!r} does not exist.": "{name} {filename!r} 不存在。",
    "{name} {filename!r} is a directory.": "{name} {filename!r} 是文件夹。",
    "{name} {filename!r} is a file.": "{name} {filename!r} 是文件。",
    "{name} {filename!r} is not readable.": "{name} {filename!r} 不可读。",
    "{name} {filename!r} is not writable.": "{name} {filename!r} 不可写。",
    "{value!r} is not a valid {number_type}.": "{value!r} 不是有效的数（{number_type}）。",
    "{value} is not in the range {range}.": "{value} 不在范围 {range} 内。",
    "file": "文件", "directory": "文件夹", "path": "路径",
    "Aborted!": "已中止。",
    # the help pages
    "Usage:": "用法：", "Options": "选项", "Commands": "命令", "required": "必填",
    "default: {default}": "默认：{default}", "env var: {var}": "环境变量：{var}",
    "Show this message and exit.": "显示本帮助并退出。",
}
#: the help of invreconcile's options, by its English text
HELP_ZH = {
    "Language of messages: zh (default) or en.": "消息语言：zh（默认）或 en。",
    "Show the version and exit.": "显示版本号并退出。",
    "Record kind of the files, when it cannot be detected.": "文件的记录类型（无法自动识别时）。",
    "Store code (fixmedins_code) for files without that column.": "文件中没有定点机构编码（fixmedins_code）列时的门店编码。",
    "Write to this Parquet lake (docs/lake.md) instead of the SQLite ledger.": "写入此 Parquet 数据湖（docs/lake.md），而不是 SQLite 台账。",
    "With --lake: processes reading files at once (default: one per core, at most 4).":
        "与 --lake 同用：同时读取文件的进程数（默认每核一个，最多 4 个）。",
    "Ledger file (SQLite).": "台账文件（SQLite）。",
    "What this Parquet lake holds instead of the ledger.": "显示此 Parquet 数据湖（而不是台账）的内容。",
    "Memory DuckDB may use reading the lake, e.g. 4GB (default: 80% of RAM; it spills beyond).":
        "读取数据湖时 DuckDB 可用的内存，如 4GB（默认为内存的 80%；超出部分写入磁盘）。",
    "Print JSON.": "输出 JSON。",
    "Also list up to N rejected rows.": "同时列出最多 N 条拒收行。",
    "Folder for the generated sample files.": "生成的示例文件所在文件夹。",
    "Run the audit after importing.": "导入后运行稽核。",
    "Pharmacies to generate.": "生成的药店数。",
    "Days of trading to generate.": "生成的营业天数。",
    "Insured persons buying at them.": "在这些药店购药的参保人数。",
    "Random seed: the same seed gives the same data.": "随机种子：种子相同，生成的数据相同。",
    "Output format.": "输出格式。",
    "Print one JSON object per code.": "每个码输出一个 JSON 对象。",
    "Only this store (repeatable).": "只看此门店（可重复）。",
    "First day, YYYY-MM-DD.": "起始日，YYYY-MM-DD。",
    "Last day, YYYY-MM-DD.": "截止日，YYYY-MM-DD。",
    "Comma-separated rule ids or categories to run (default: all).": "要运行的规则编号或类别，逗号分隔（默认全部）。",
    "TOML file overriding rule parameters.": "覆盖规则参数的 TOML 配置文件。",
    "Write the findings as JSON here ('-' for stdout).": "把疑点以 JSON 写到此文件（'-' 为标准输出）。",
    "Query engine the rules run on.": "运行规则的查询引擎。",
    "Parquet lake the duckdb/spark engines read (docs/lake.md); findings go to --db.":
        "duckdb/spark 引擎读取的 Parquet 数据湖（docs/lake.md）；疑点写入 --db。",
    "Spark master URL for --engine spark (spark://HOST:7077, yarn, local[N]).":
        "--engine spark 的 Spark master 地址（spark://主机:7077、yarn、local[N]）。",
    "Memory DuckDB may use for --engine duckdb, e.g. 4GB (default: 80% of RAM); a larger lake is audited a group of "
    "stores at a time (docs/lake.md).":
        "--engine duckdb 时 DuckDB 可用的内存，如 4GB（默认为内存的 80%）；更大的数据湖按门店分组逐批稽核（docs/lake.md）。",
    "Show person numbers, names and ID numbers unmasked (authorised users only; masked by default).":
        "不脱敏显示人员编号、姓名和证件号码（仅限授权用户；默认脱敏）。",
    "Print JSON (every problem, and what was read).": "输出 JSON（每个问题，以及读取了什么）。",
    "Show parameters as this TOML file sets them.": "按此 TOML 配置文件显示参数值。",
    "Read the evidence rows from this lake (an audit on --engine duckdb|spark), the finding from --db.":
        "从此数据湖读取证据行（--engine duckdb|spark 的稽核），疑点从 --db 读取。",
    "Read the code's events from this lake (an audit on --engine duckdb|spark) instead of the ledger.":
        "从此数据湖（--engine duckdb|spark 的稽核）而不是台账读取该码的事件。",
    "Output file (csv: a file or a folder).": "输出文件（csv：文件或文件夹）。",
    "html: -o is a folder: index.html (summary, ranking, charts) and a page per store (for more stores than one page "
    "can show).": "html：-o 为文件夹，写 index.html（概览、排名、图表）和每家门店一页（门店多到一页放不下时）。",
    "Show personal data unmasked (authorised users only; the report says so).": "不脱敏显示个人信息（仅限授权用户；报告中会注明）。",
    "Replace persons by a keyed hash (HMAC-SHA256) for sharing.": "用带密钥的哈希（HMAC-SHA256）替换人员信息，以便共享。",
    "The lake an audit on --engine duckdb|spark read: its records (settlements, evidence rows, persons) are read from "
    "there, the findings from --db.": "--engine duckdb|spark 稽核所读的数据湖：记录（结算、证据行、人员）从这里读取，疑点从 --db 读取。",
    "Store code (fixmedins_code).": "门店编码（fixmedins_code）。",
    "Output file: .xlsx or .html.": "输出文件：.xlsx 或 .html。",
    "Only these stores (repeatable).": "只看这些门店（可重复）。",
    "Number of stores to pick.": "抽取的门店数。",
    "The published seed (digits: an integer; otherwise text).": "公布的随机种子（纯数字为整数，否则为文本）。",
    "Weight by risk score (1 + score) instead of uniform.": "按风险分加权（1 + 分数），而不是等概率。",
    "Also pick K settlements in each store.": "在每家门店再抽 K 笔结算。",
    "Population: only these stores (default: every store).": "抽样范围：只在这些门店中抽（默认全部门店）。",
    "Write the draw record as JSON here.": "把抽取记录以 JSON 写到此文件。",
    "receive, dispense, stocktake or verify (look up only).": "receive（入库）、dispense（发药）、stocktake（盘点）或 verify（只查询）。",
    "Store code (fixmedins_code) of this station.": "本扫码站所在门店编码（fixmedins_code）。",
    "Name of this station, kept with every scan.": "本扫码站名称，随每次扫码保存。",
    "Purchase document (receive) or settlement / retail document (dispense).": "采购单号（入库）或结算号/零售单号（发药）。",
    "zh (default) or en.": "zh（默认）或 en。",
    "Serial port of the scanner (/dev/ttyUSB0, COM3, or a pyserial URL).": "扫码枪的串口（/dev/ttyUSB0、COM3 或 pyserial URL）。",
    "Serial speed.": "串口波特率。",
    "Read the barcodes on every photo in this folder instead of a scanner.": "读取此文件夹中每张照片上的条码，而不是扫码枪。",
    "Session id (default: new one per start).": "会话编号（默认每次启动新建）。",
    "Colours (default: when the output is a terminal).": "彩色显示（默认在终端输出时）。",
    "Findings JSON from 'audit --json' (default: the findings stored in the ledger).": "'audit --json' 输出的疑点 JSON（默认用台账中保存的疑点）。",
    "Only this store.": "只看此门店。",
    "Only pairs judged different products.": "只列出判定为不同商品的名称对。",
    "Name as sold at the till.": "收银销售时的名称。",
    "Name as billed to insurance.": "医保结算时的名称。",
    "match: the same product under two names; mismatch: different products.":
        "match：同一商品的两个名称；mismatch：不同商品。",
    "Decoders to combine.": "组合使用的解码器。",
    "Do not retry with rotated, scaled or thresholded images.": "不再用旋转、缩放或二值化后的图片重试。",
    "Print one JSON object per symbol found.": "每个识别到的条码输出一个 JSON 对象。",
    "Output file: .png (one file per page), .svg (one per page) or .pdf.": "输出文件：.png（每页一个文件）、.svg（每页一个）或 .pdf。",
    "Item name printed on every label.": "每张标签上印的药品名称。",
    "Batch number printed on every label.": "每张标签上印的批号。",
    "Expiry date printed on every label.": "每张标签上印的有效期。",
    "Labels per A4 page.": "每张 A4 纸的标签数。",
}
#: the singular and the plural forms click chooses between, each with its Chinese
ZH_PLURAL = {
    "Did you mean {possibility}?": "是否指 {possibility}？",
    "(Did you mean one of: {possibilities}?)": "（是否指其中之一：{possibilities}？）",
    "Got unexpected extra argument ({args})": "多余的参数（{args}）",
    "Option {name!r} requires an argument.": "选项 {name!r} 需要一个值。",
    "Option {name!r} requires {nargs} arguments.": "选项 {name!r} 需要 {nargs} 个值。",
    "{value!r} is not {choice}.": "{value!r} 不是 {choice}。",
    "{value!r} is not one of {choices}.": "{value!r} 不是以下之一：{choices}。",
}
_lang = "zh"


def _gettext(message: str) -> str:
    return ZH.get(message, message) if _lang == "zh" else gettext.gettext(message)


def _ngettext(singular: str, plural: str, n: int) -> str:
    if _lang == "zh":
        chosen = singular if n == 1 else plural
        return ZH_PLURAL.get(chosen, chosen)
    return gettext.ngettext(singular, plural, n)


def speak(lang: str, command=None) -> None:
    """Click's messages from now on in ``lang`` (zh or en); the help of ``command``'s
    options (and its subcommands') too."""
    global _lang
    _lang = lang
    import click.core
    import click.decorators
    import click.exceptions
    import click.formatting
    import click.parser
    import click.types
    if command is not None:
        _option_help(command, lang)
    for module in (click.core, click.decorators, click.exceptions, click.formatting, click.parser, click.types):
        if getattr(module, "_", None) is not None:
            module._ = _gettext
        if getattr(module, "ngettext", None) is not None:
            module.ngettext = _ngettext


def _option_help(command, lang: str) -> None:
    """The help of ``command``'s options in ``lang``, from :data:`HELP_ZH` (the English text
    kept on the option to go back to); in Chinese, a subcommand's line in the list of
    commands is the Chinese name its help ends its first paragraph with ("... 导入数据文件。"),
    which the English before it pushed out of the line."""
    for param in command.params:
        english = param.__dict__.setdefault("_help_en", getattr(param, "help", None))
        if english:
            param.help = HELP_ZH.get(english, english) if lang == "zh" else english
    for sub in getattr(command, "commands", {}).values():
        first = (sub.help or "").split("\n\n")[0]
        chinese = re.search(r"\.\s+([^.]*[\u4e00-\u9fff][^.]*)$", first)
        sub.short_help = chinese.group(1).strip() if chinese and lang == "zh" else None
        _option_help(sub, lang)
