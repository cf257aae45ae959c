"""Click's own messages in Chinese: the usage errors it writes itself (a missing
argument, an unknown option, a value not among the choices) when the command line speaks
Chinese, as the rest of its messages do.

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


def speak(lang: str) -> None:
    """Click's messages from now on in ``lang`` (zh or en)."""
    global _lang
    _lang = lang
    import click.core
    import click.exceptions
    import click.parser
    import click.types
    for module in (click.core, click.exceptions, click.parser, click.types):
        if getattr(module, "_", None) is not None:
            module._ = _gettext
        if getattr(module, "ngettext", None) is not None:
            module.ngettext = _ngettext
