"""Small helpers for rule tests: write the files a user would have, import them, audit.

The tests write their records inline, as platform messages (``{"infno": "3505",
"fixmedins_code": ..., "input": {"selinfo": {...}}}``) or as CSV text with platform or
Chinese headers; these helpers only add the message envelope, fill the item name and
insurance code from the shared catalog, and run the import and the audit.

>>> sale("P001", setl_id="S1", fixmedins_hilist_id="A001", sel_retn_cnt=24,
...      sel_retn_time="2026-03-02 10:00:00")["input"]["selinfo"]["fixmedins_hilist_name"]
'阿莫西林胶囊 0.25g*24粒'
"""
from __future__ import annotations

import json
import textwrap
from decimal import Decimal
from pathlib import Path

from invreconcile.audit import run_audit
from invreconcile.importer import import_paths
from invreconcile.ledger import open_ledger

#: The catalog shared by every store (no fixmedins_code column). A001: 24 capsules a box,
#: box code prefix 8123456; B001: 20 capsules, prefix 8234567; C001: a cosmetic (not
#: covered); D001: a covered drug whose conversion ratio is missing.
CATALOG_CSV = """\
fixmedins_hilist_id,fixmedins_hilist_name,med_list_codg,spec,pack_unit,min_unit,convrat,category,drug_prod_barc,trace_prefix,pric
A001,阿莫西林胶囊 0.25g*24粒,XJ01CAA040E001010100734,0.25g*24粒,盒,粒,24,drug,6901234567892,8123456,24.00
B001,布洛芬缓释胶囊 0.3g*20粒,XN02BEB012E001010101234,0.3g*20粒,盒,粒,20,drug,,8234567,30.00
C001,保湿面霜 50g,,50g,盒,盒,1,cosmetic,,,60.00
D001,维生素C片 100mg*100片,XA11GAV001A001010100001,100mg*100片,瓶,片,,drug,,,10.00
"""

NAMES = {"A001": ("阿莫西林胶囊 0.25g*24粒", "XJ01CAA040E001010100734"),
         "B001": ("布洛芬缓释胶囊 0.3g*20粒", "XN02BEB012E001010101234"),
         "C001": ("保湿面霜 50g", ""),
         "D001": ("维生素C片 100mg*100片", "XA11GAV001A001010100001")}

PLACEHOLDER = "9" * 20


def _item(fields: dict) -> dict:
    name, codg = NAMES.get(fields.get("fixmedins_hilist_id"), (None, None))
    out = {}
    if name is not None:
        out = {"fixmedins_hilist_name": name, "med_list_codg": codg}
    out.update(fields)
    return out


def message(infno: str, store: str, name: str, record: dict, output: dict | None = None) -> dict:
    msg = {"infno": infno, "fixmedins_code": store, "input": {name: record}}
    if output is not None:
        msg["output"] = output
    return msg


def purchase(store: str, **fields) -> dict:
    """3503 purchase; quantities in minimum units, price per minimum unit."""
    return message("3503", store, "purcinfo", _item(fields))


def sale(store: str, **fields) -> dict:
    """3505 sale."""
    return message("3505", store, "selinfo", _item(fields))


def sale_return(store: str, **fields) -> dict:
    """3506 sale return."""
    return message("3506", store, "selinfo", _item(fields))


def stock_count(store: str, **fields) -> dict:
    """3501 stock count."""
    return message("3501", store, "invinfo", _item(fields))


def stock_change(store: str, **fields) -> dict:
    """3502 stock change (inv_chg_type 101 transfer in, 102 transfer out ...)."""
    return message("3502", store, "invinfo", _item(fields))


def settlement(store: str, setl_id: str, setl_time: str, lines: list[dict], *, psn_no: str = "PSN1",
               fund_share: str = "0.8", **header) -> dict:
    """2102 settlement. Lines carry platform drugdetail fields; ``medins_list_codg`` is the
    item id. Unless given, medfee_sumamt is the sum of the lines, the fund pays
    ``fund_share`` of it and the rest is the person's part, paid in cash."""
    details = []
    for n, line in enumerate(lines, start=1):
        line = dict(line)
        name, codg = NAMES.get(line.get("medins_list_codg"), (None, None))
        if name is not None:
            line.setdefault("medins_list_name", name)
            line.setdefault("med_list_codg", codg)
        line.setdefault("feedetl_sn", f"{setl_id}-{n}")
        if "det_item_fee_sumamt" not in line and "pric" in line:
            line["det_item_fee_sumamt"] = str(Decimal(str(line["pric"])) * Decimal(str(line["cnt"])))
        details.append(line)
    total = sum((Decimal(str(d.get("det_item_fee_sumamt", 0))) for d in details), Decimal(0))
    fund = (total * Decimal(fund_share)).quantize(Decimal("0.01"))
    info = {"setl_id": setl_id, "mdtrt_id": f"M{setl_id}", "psn_no": psn_no, "setl_time": setl_time,
            "medfee_sumamt": str(total), "fund_pay_sumamt": str(fund), "psn_part_amt": str(total - fund),
            "acct_pay": "0", "psn_cash_pay": str(total - fund)}
    info.update(header)
    return {"infno": "2102", "fixmedins_code": store, "input": {"setlinfo": info, "drugdetail": details}}


def reversal(store: str, orig_setl_id: str, new_setl_id: str, setl_time: str, *, psn_no: str = "PSN1") -> dict:
    """2103 reversal of ``orig_setl_id``."""
    return {"infno": "2103", "fixmedins_code": store,
            "input": {"data": {"setl_id": orig_setl_id, "psn_no": psn_no, "omsgid": f"MSG-{orig_setl_id}"}},
            "output": {"setlinfo": {"setl_id": new_setl_id, "setl_time": setl_time}}}


def jsonl(messages: list[dict]) -> str:
    return "".join(json.dumps(m, ensure_ascii=False) + "\n" for m in messages)


def write(folder: Path, files: dict[str, object]) -> list[Path]:
    """Write ``name -> text or list of messages`` into ``folder``; text is dedented."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, content in files.items():
        text = jsonl(content) if isinstance(content, list) else textwrap.dedent(content)
        path = folder / name
        path.write_text(text, encoding="utf-8")
        paths.append(path)
    return paths


def build(tmp_path: Path, files: dict[str, object], *, db_name: str = "x.db", catalog: bool = True):
    """Write the files (plus the shared catalog), import them into a fresh ledger, return it."""
    if catalog:
        files = {"catalog.csv": CATALOG_CSV, **files}
    folder = tmp_path / ("in-" + db_name.replace(".", "-"))
    paths = write(folder, files)
    db = open_ledger(tmp_path / db_name)
    results = import_paths(db, paths)
    rejected = {r.path: r.reject_reasons for r in results if r.rows_rejected}
    assert not rejected, f"test data rejected on import: {rejected}"
    return db


def audit(db, rule: str, config=None):
    """Run one rule; a rule that fails to run fails the test."""
    result = run_audit(db, rules=[rule], config=config)
    assert result.errors == {}, result.errors
    return [f for f in result.findings if f.rule == rule]


def dispense(store: str, setl_id: str, time: str, item: str, cnt: int, pric: str, codes: str = "", *,
             trdn_flag: int = 0, psn_no: str = "PSN1", **sale_fields) -> list[dict]:
    """One insured sale as a pharmacy uploads it: the 3505 sale and the 2102 settlement,
    same setl_id, same trace codes (``codes``: comma separated)."""
    return [
        sale(store, fixmedins_hilist_id=item, setl_id=setl_id, psn_no=psn_no, sel_retn_cnt=cnt,
             sel_retn_time=time, finl_trns_pric=pric, trdn_flag=trdn_flag, rtal_docno=f"R{setl_id}",
             drug_trac_codg=codes, **sale_fields),
        settlement(store, setl_id, time, [dict(medins_list_codg=item, cnt=cnt, pric=pric, trdn_flag=trdn_flag,
                                               drug_trac_codg=codes)], psn_no=psn_no),
    ]
