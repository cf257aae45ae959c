"""Personal data in reports: masked by default, revealed on request, or pseudonymised.

Three modes, one :class:`Privacy` object passed to every report builder:

* masked (default): a name keeps its first character, an ID number its first 6 and last
  4 characters, a person number (psn_no) its last 4.
* revealed (``reveal=True``): values as in the ledger, for an authorised user; the report
  says so on its first page.
* pseudonymised (``pseudonymise_key=KEY``): every person value is replaced by a keyed
  hash (HMAC-SHA256), so that a third party can link findings of the same person without
  learning who it is. Wins over ``reveal``.

>>> mask_name('张三')
'张*'
>>> mask_name('欧阳娜娜')
'欧***'
>>> mask_id('330102199001011234')
'330102********1234'
>>> mask_psn('33010000000012345678')
'****************5678'
>>> p = Privacy(pseudonymise_key='secret')
>>> p.psn('33010000000012345678') == p.psn('33010000000012345678')
True
>>> p.psn('33010000000012345678')
'P-ad8b430a0fb9'
>>> Privacy().psn('33010000000012345678')
'****************5678'
>>> Privacy(reveal=True).name('张三')
'张三'
>>> Privacy().scrub('人员 3301000000001234 当日结算 5 次', {'3301000000001234': 'psn'})
'人员 ************1234 当日结算 5 次'
"""
from __future__ import annotations

import functools
import hashlib
import hmac
import re
from dataclasses import dataclass


def mask_name(value: str | None) -> str | None:
    """Keep the first character of a name, star the rest."""
    if not value:
        return value
    value = str(value)
    return value[0] + "*" * max(len(value) - 1, 1)


def mask_id(value: str | None) -> str | None:
    """Keep the first 6 and last 4 characters of an ID number (certno)."""
    if not value:
        return value
    value = str(value)
    if len(value) > 10:
        return value[:6] + "*" * (len(value) - 10) + value[-4:]
    return mask_psn(value)


def mask_psn(value: str | None) -> str | None:
    """Keep the last 4 characters of a person number (psn_no)."""
    if not value:
        return value
    value = str(value)
    if len(value) <= 4:
        return "*" * len(value)
    return "*" * (len(value) - 4) + value[-4:]


NOTES = {
    "masked": ("个人信息已脱敏（姓名仅保留姓，证件号保留前6位和后4位，人员编号保留后4位）。",
               "Personal data is masked (names keep the first character, ID numbers the first 6 and "
               "last 4 characters, person numbers the last 4)."),
    "revealed": ("本报告包含未脱敏的个人信息（--reveal），仅供经授权人员使用，不得外传。",
                 "This report shows personal data unmasked (--reveal), for authorised users only; "
                 "do not pass it on."),
    "pseudonymised": ("个人信息已假名化：人员以带密钥的哈希（HMAC-SHA256）代替，同一人在各疑点中代号相同。",
                      "Personal data is pseudonymised: persons are replaced by a keyed hash (HMAC-SHA256); "
                      "the same person has the same pseudonym across findings."),
}

#: kinds of personal value a report may hold
KINDS = ("psn", "name", "id")
#: ledger columns that hold personal data (insured persons, prescribing doctors,
#: pharmacists), and their kind
PERSONAL_COLUMNS = {"psn_no": "psn", "psn_name": "name", "certno": "id", "prsc_dr_name": "name", "phar_name": "name"}


@dataclass(frozen=True)
class Privacy:
    reveal: bool = False
    pseudonymise_key: str | None = None

    @property
    def mode(self) -> str:
        if self.pseudonymise_key:
            return "pseudonymised"
        return "revealed" if self.reveal else "masked"

    def note(self, lang: str = "zh") -> str:
        zh, en = NOTES[self.mode]
        return en if lang == "en" else zh

    def pseudonym(self, value: str) -> str:
        """``P-`` and the first 12 hex digits of HMAC-SHA256(key, value)."""
        key = (self.pseudonymise_key or "").encode("utf-8")
        return "P-" + hmac.new(key, str(value).encode("utf-8"), hashlib.sha256).hexdigest()[:12]

    def apply(self, kind: str, value):
        if value is None or value == "":
            return value
        if self.mode == "revealed":
            return value
        if self.mode == "pseudonymised":
            return self.pseudonym(value)
        return {"psn": mask_psn, "name": mask_name, "id": mask_id}[kind](value)

    def psn(self, value):
        return self.apply("psn", value)

    def name(self, value):
        return self.apply("name", value)

    def id(self, value):
        return self.apply("id", value)

    def scrub(self, text, persons: dict[str, str], extra: dict[str, str] | None = None):
        """Replace every occurrence in ``text`` of the values of ``persons`` (value ->
        kind: psn / name / id) and of ``extra`` (where ``persons`` does not know them),
        longest first."""
        if not text or self.mode == "revealed" or not (persons or extra):
            return text
        text = str(text)
        hits = {**_occurring(text, extra or {}), **_occurring(text, persons)}
        if not hits:
            return text
        if len(hits) == 1:   # what the pattern below does, without compiling one for each text
            (value, kind), = hits.items()
            return text.replace(value, self.apply(kind, value))
        values = sorted(hits, key=lambda v: (-len(v), v))
        pattern = re.compile("|".join(re.escape(v) for v in values))
        return pattern.sub(lambda m: self.apply(hits[m.group(0)], m.group(0)), text)


class PersonValues(dict):
    """value -> kind of the persons a ledger holds (:func:`ledger_persons`), with the
    lengths of its values and the characters they start with, found once: what
    :func:`_occurring` looks up in a text."""

    @functools.cached_property
    def shape(self) -> tuple[list[int], set[str]]:
        return sorted({len(v) for v in self if v}), {v[0] for v in self if v}


def _occurring(text: str, persons: dict[str, str]) -> dict[str, str]:
    """The values of ``persons`` that occur in ``text``: each stretch of the text as long
    as some value, starting with a character some value starts with, looked up (a ledger
    of 920,000 persons holds 2.7M values: testing each one against every text took hours
    for a report of 106,780 findings)."""
    if not persons:
        return {}
    if len(persons) <= 64:   # a finding's own persons: each looked for (the scan below is for millions)
        return {v: kind for v, kind in persons.items() if v and v in text}
    lengths, firsts = persons.shape if isinstance(persons, PersonValues) else PersonValues(persons).shape
    out: dict[str, str] = {}
    n = len(text)
    for i, ch in enumerate(text):
        if ch in firsts:
            for k in lengths:
                if i + k > n:
                    break
                kind = persons.get(text[i:i + k])
                if kind:
                    out[text[i:i + k]] = kind
    return out


def ledger_persons(db) -> PersonValues:
    """Every personal value the ledger holds: value -> kind (psn / name / id)."""
    out = PersonValues()
    conn = db.conn
    queries = (
        ("name", "SELECT DISTINCT psn_name FROM settlements UNION SELECT DISTINCT psn_name FROM sales"),
        ("id", "SELECT DISTINCT certno FROM settlements UNION SELECT DISTINCT certno FROM sales"),
        ("psn", "SELECT DISTINCT psn_no FROM settlements UNION SELECT DISTINCT psn_no FROM sales "
                "UNION SELECT DISTINCT psn_no FROM settlement_lines UNION SELECT DISTINCT psn_no FROM code_events"),
    )
    for kind, sql in queries:
        for (v,) in conn.execute(sql):
            if v is not None and str(v).strip() and len(str(v)) >= 2:
                out[str(v)] = kind
    return out
