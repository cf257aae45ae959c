"""One exception tree for the package.

Every message a user can see names what it is about (file, row, column), what was
expected, what was found and what to do. The CLI turns these into ``Error: ...`` lines
and a non-zero exit code; the library never prints.
"""
from __future__ import annotations


class InvReconcileError(Exception):
    """Base of every error invreconcile raises on purpose. ``zh``: the message in Chinese,
    which the command line shows unless asked for English (the message itself is English)."""

    def __init__(self, message: str, zh: str | None = None):
        super().__init__(message)
        self.zh = zh


class InputError(InvReconcileError):
    """A file cannot be read or understood as a whole."""

    def __init__(self, path, problem: str, fix: str = "", problem_zh: str = "", fix_zh: str = ""):
        self.path = str(path)
        self.problem = problem
        self.fix = fix
        msg = f"{self.path}: {problem}"
        if fix:
            msg += f" {fix}"
        super().__init__(msg, f"{self.path}：{problem_zh}{fix_zh}" if problem_zh else None)


class ConfigError(InvReconcileError):
    """A configuration file or option has a wrong value, or a lake is off its layout."""


class LedgerError(InvReconcileError):
    """The ledger file is missing, locked or of another format."""
