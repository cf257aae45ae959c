"""Reports: privacy, formula-safe workbooks, structure, ranking, random selection, self-check."""
from __future__ import annotations

import json
import random
from pathlib import Path

import openpyxl
from openpyxl.utils import get_column_letter
import pytest
from click.testing import CliRunner

from invreconcile.audit import run_audit
from invreconcile.cli import main
from invreconcile.findings import CATEGORIES, SEVERITIES, load
from invreconcile.importer import import_paths
from invreconcile.ledger import open_ledger
from invreconcile.reports import Privacy, build_report, rank_stores, sample_stores
from invreconcile.reports.selfcheck import build_selfcheck, write_selfcheck_xlsx
from invreconcile.reports.tables import write_csv, write_json
from invreconcile.reports.xlsx import write_xlsx
from invreconcile.rules import builtin_rules, load_config
from invreconcile.sample import generate

from ledger_builder import build, dispense  # tests/ is on sys.path




@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    out = tmp_path_factory.mktemp("reports")
    generate(out / "data", stores=4, days=31, customers=200, items=60, seed=11, clean_stores=1)
    db = open_ledger(out / "ledger.db")
    import_paths(db, [out / "data"])
    run_audit(db, config=load_config(out / "data" / "invreconcile.toml"))
    return out, db


def _cells(path: Path) -> list:
    wb = openpyxl.load_workbook(path)
    return [c for ws in wb.worksheets for row in ws.iter_rows() for c in row if c.value is not None]


def _raw_persons(db) -> set[str]:
    out = set()
    for sql in ("SELECT psn_no, psn_name, certno FROM settlements", "SELECT psn_no, psn_name, certno FROM sales"):
        for row in db.conn.execute(sql):
            out.update(v for v in row if v and len(v) >= 2)
    return out


# --------------------------------------------------------------------------- privacy

def test_nothing_unmasked_leaks_into_xlsx_json_csv(chain, tmp_path):
    _, db = chain
    raw = _raw_persons(db)
    assert len(raw) > 100
    for privacy in (Privacy(), Privacy(pseudonymise_key="k1")):
        report = build_report(db, privacy=privacy)
        assert report.findings and report.evidence
        texts = [str(c.value) for c in _cells(write_xlsx(report, tmp_path / f"{privacy.mode}.xlsx"))]
        texts.append(write_json(report, tmp_path / f"{privacy.mode}.json").read_text(encoding="utf-8"))
        for p in write_csv(report, tmp_path / f"csv-{privacy.mode}"):
            texts.append(p.read_text(encoding="utf-8-sig"))
        blob = "\n".join(texts)
        leaked = sorted(v for v in raw if v in blob)
        assert leaked == [], leaked[:5]


def test_pseudonyms_link_the_same_person(chain):
    _, db = chain
    privacy = Privacy(pseudonymise_key="shared-with-researchers")
    report = build_report(db, privacy=privacy)
    found = {f.id: f for f in load(db)}
    for d in report.findings:
        raw = found[d["id"]].psn_nos
        assert d["psn_nos"] == [privacy.pseudonym(p) for p in raw]
        for p in raw:
            assert p not in d["message"]
    # the same person in evidence rows and findings gets the same pseudonym
    ev = {e["psn_no"] for e in report.evidence if e["psn_no"]}
    fp = {p for d in report.findings for p in d["psn_nos"]}
    assert ev & fp and all(p.startswith("P-") and len(p) == 14 for p in ev | fp)
    other = build_report(db, privacy=Privacy(pseudonymise_key="another key"))
    assert {p for d in other.findings for p in d["psn_nos"]}.isdisjoint(fp)


def test_reveal_says_so_on_the_first_page(chain, tmp_path):
    _, db = chain
    report = build_report(db, privacy=Privacy(reveal=True), lang="en")
    first = openpyxl.load_workbook(write_xlsx(report, tmp_path / "r.xlsx")).worksheets[0]
    assert "unmasked" in first["A2"].value and "authorised" in first["A2"].value
    raw = {p for f in load(db) for p in f.psn_nos}
    assert raw & {p for d in report.findings for p in d["psn_nos"]}
    masked = build_report(db)
    assert "脱敏" in masked.privacy_note and masked.privacy_mode == "masked"


# --------------------------------------------------------------------------- hostile input

HOSTILE = ['=HYPERLINK("http://x","y")', "+1", "-2", "@SUM(A1)", "\tx", "\rx"]


def test_hostile_text_stays_text(tmp_path):
    # no purchase: every hostile sale is made while the book stock is negative, so that each
    # one is evidence of the negative_stock finding
    msgs = dispense("P001", "S1", "2026-03-01 10:00:00", "A001", 24, "1.00")
    for n, name in enumerate(HOSTILE, start=2):
        msgs += dispense("P001", f"S{n}", f"2026-03-{n:02d} 10:00:00", "A001", 24, "1.00",
                         fixmedins_hilist_name=name, psn_name=name, certno=name)
    db = build(tmp_path, {"msgs.jsonl": msgs})
    assert run_audit(db).errors == {}
    assert any(f.rule == "negative_stock" for f in load(db))
    stored = {n for (n,) in db.conn.execute("SELECT item_name FROM sales WHERE item_name IS NOT NULL")}
    assert {"=HYPERLINK(\"http://x\",\"y\")", "+1", "-2", "@SUM(A1)"} <= stored
    report = build_report(db, privacy=Privacy(reveal=True))
    cells = _cells(write_xlsx(report, tmp_path / "h.xlsx"))
    assert not [c.coordinate for c in cells if c.data_type == "f"]
    values = {str(c.value).replace("\r", "\n") for c in cells}
    shown = {n for n in stored if n.replace("\r", "\n") in values}
    assert shown == stored        # every name the evidence holds is there, as the same text
    dangerous = [c for c in cells if isinstance(c.value, str) and c.value[:1] in "=+-@\t\r"]
    assert dangerous and all(c.data_type == "s" and c.quotePrefix for c in dangerous)
    evidence_csv = write_csv(report, tmp_path / "hdir")[1].read_text(encoding="utf-8-sig")
    assert "'=HYPERLINK(" in evidence_csv and "\n=HYPERLINK" not in evidence_csv and ",=HYPERLINK" not in evidence_csv


@pytest.mark.parametrize("write_only", [False, True])
def test_tab_and_cr_at_the_start_stay_text(tmp_path, write_only):
    """The importer strips tabs and CRs around values; the writer must be safe without that.
    Texts that Excel would read as an error value stay text too; in a write-only workbook
    (the report's) as in one held in memory."""
    from invreconcile.reports.xlsx import Col, write_table

    wb = openpyxl.Workbook(write_only=write_only)
    ws = wb.create_sheet("t") if write_only else wb.active
    rows = [{"v": v} for v in HOSTILE + ["a\x01b", "#N/A", "plain"]]
    write_table(ws, [Col("v", "值", "value")], rows, "zh")
    wb.save(tmp_path / "t.xlsx")
    cells = list(openpyxl.load_workbook(tmp_path / "t.xlsx").active["A"])
    assert [c.value for c in cells[1:]] == [v.replace("\r", "\n") for v in HOSTILE] + ["a\\x01b", "#N/A", "plain"]   # XML reads CR back as LF
    assert all(c.data_type == "s" for c in cells)
    assert [c.quotePrefix for c in cells[1:]] == [True] * len(HOSTILE) + [False] * 3


# --------------------------------------------------------------------------- workbook

def test_workbook_structure(chain, tmp_path):
    _, db = chain
    report = build_report(db)
    wb = openpyxl.load_workbook(write_xlsx(report, tmp_path / "w.xlsx"))
    names = wb.sheetnames
    assert names[0] == "概览" and names[1] == "风险排名" and names[-2:] == ["证据", "数据质量与拒收"]
    rules = sorted({d["rule"] for d in report.findings if not d["rule"].startswith("dq_")})
    titles = {r.id: r.title_zh.replace("/", "、") for r in builtin_rules()}
    assert [n for n in names[2:-2]] == [titles[r] for r in rules]   # a rule's sheet by its Chinese title
    assert all(len(n) <= 31 for n in names) and len(set(names)) == len(names)
    for ws in wb.worksheets[1:]:
        assert ws.freeze_panes == "A2"
        assert ws.auto_filter.ref and ws.auto_filter.ref.startswith("A1:")
        assert all((ws.column_dimensions[c].width or 0) >= 8 for c in "ABC")
    ws = wb[titles[rules[0]]]
    heads = [c.value for c in ws[1]]
    first = next(d for d in report.findings if d["rule"] == rules[0])
    assert (ws.cell(2, heads.index("严重程度") + 1).value, ws.cell(2, heads.index("类别") + 1).value) == (
        SEVERITIES[first["severity"]][0], CATEGORIES[first["category"]][0])   # words, not codes
    money = ws.cell(2, heads.index("涉及医保金额（元）") + 1)
    assert money.number_format == "#,##0.00" and isinstance(money.value, float)
    day = ws.cell(2, heads.index("起始日") + 1)
    assert day.is_date and day.number_format == "yyyy-mm-dd"
    ev = wb["证据"]
    heads = [c.value for c in ev[1]]
    assert {"来源文件", "来源行号", "疑点编号"} <= set(heads)
    assert ev.max_row == len(report.evidence) + 1
    from invreconcile.ledger import TABLE_NAMES
    tables = {c.value for c in ev[get_column_letter(heads.index("台账表") + 1)][1:]}
    assert tables and tables <= {zh for zh, _ in TABLE_NAMES.values()}   # the ledger's tables by their Chinese names
    en = openpyxl.load_workbook(write_xlsx(build_report(db, lang="en"), tmp_path / "en.xlsx"))
    assert en.sheetnames[0] == "Summary" and en["Evidence"]["E1"].value == "source file"
    assert en.sheetnames[2:-2] == [r[:31] for r in rules]   # in English by the rule's id
    assert en[rules[0][:31]]["B2"].value == SEVERITIES[first["severity"]][1]


def test_report_model_is_deterministic_and_filters(chain):
    _, db = chain
    a, b = build_report(db).as_dict(), build_report(db).as_dict()
    assert a == b
    store = a["ranking"][0]["store"]
    one = build_report(db, stores=[store], since="2026-09-10", until="2026-09-20")
    assert one.generated_for == [store]
    assert all(d["store"] == store for d in one.findings)
    assert all(not d["day_last"] or d["day_last"] >= "2026-09-10" for d in one.findings)
    assert {"hourly", "money_by_store_category", "stock_gaps", "code_timelines"} <= set(one.charts)
    assert sum(r["settlements"] for r in one.charts["hourly"]) == one.summary["settlements"]


# --------------------------------------------------------------------------- ranking and sampling

def test_ranking_reasons_and_determinism(chain):
    _, db = chain
    found = load(db)
    ranking = rank_stores(db, found)
    assert ranking == rank_stores(db, list(reversed(found)))
    assert [r["rank"] for r in ranking] == list(range(1, len(ranking) + 1))
    assert [r["score"] for r in ranking] == sorted((r["score"] for r in ranking), reverse=True)
    for r in ranking:
        assert abs(sum(r["parts"].values()) - r["score"]) < 0.25
        assert len(r["reasons"]) >= 4
        assert any("元" in s for s in r["reasons"]) and any("z" in s for s in r["reasons"])
    assert ranking[0]["parts"]["money"] == 40.0 or ranking[0]["score"] >= ranking[-1]["score"]
    en = rank_stores(db, found, lang="en")
    assert en[0]["reasons"][0].startswith("Money at risk")


def test_sample_is_reproducible():
    pop = [f"P{n:03d}" for n in range(60)]
    a = sample_stores(pop, 5, 20260101)
    assert a["picks"] == sample_stores(list(reversed(pop)), 5, "20260101")["picks"]
    assert a["picks"] != sample_stores(pop, 5, 20260102)["picks"]
    assert a["method"] == "uniform" and "random.Random(seed)" in a["algorithm"]
    assert [p["store"] for p in a["population"]] == sorted(pop) and a["seed"] == 20260101
    # re-running from the record alone gives the same list
    again = random.Random(a["seed"]).sample([p["store"] for p in a["population"]], a["n"])
    assert again == [p["store"] for p in a["picks"]]


def test_weighted_sample_favours_high_scores():
    ranking = [{"store": f"H{n}", "score": 90.0} for n in range(10)] + \
              [{"store": f"L{n}", "score": 0.0} for n in range(10)]
    high = 0
    for seed in range(300):
        rec = sample_stores(ranking, 3, seed, weighted=True)
        assert rec == sample_stores(ranking, 3, seed, weighted=True)
        high += sum(p["store"].startswith("H") for p in rec["picks"])
    assert high / (300 * 3) > 0.9
    assert "Efraimidis-Spirakis" in rec["algorithm"]


def test_sample_settlements_and_cli(chain, tmp_path):
    out, db = chain
    ranking = rank_stores(db, load(db))
    rec = sample_stores(ranking, 2, "lottery-2026-01", weighted=True, settlements_per_store=4, db=db)
    assert rec == sample_stores(ranking, 2, "lottery-2026-01", weighted=True, settlements_per_store=4, db=db)
    for p in rec["picks"]:
        assert len(p["settlements"]) == 4 and p["settlement_population"] > 4
    runner = CliRunner()
    args = ["sample", "--stores", "2", "--seed", "7", "--settlements", "3", "--db", str(out / "ledger.db")]
    r1 = runner.invoke(main, args + ["-o", str(tmp_path / "a.json")], catch_exceptions=False)
    r2 = runner.invoke(main, args + ["-o", str(tmp_path / "b.json")], catch_exceptions=False)
    assert r1.exit_code == 0 and r2.exit_code == 0
    a, b = (json.loads((tmp_path / n).read_text(encoding="utf-8")) for n in ("a.json", "b.json"))
    assert a == b and a["seed"] == 7 and a["population_size"] == 4


# --------------------------------------------------------------------------- self-inspection

def test_selfcheck_contents(chain, tmp_path):
    _, db = chain
    found = load(db)
    store = rank_stores(db, found)[0]["store"]
    sc = build_selfcheck(db, store)
    mine = [f for f in found if f.store == store]
    refund_ids = {r["setl_id"] for r in sc.refunds}
    accusing = {s for f in mine if f.category != "data_quality" and not f.rule.startswith("dq_")
                and f.rule not in ("count_surplus", "count_shortage", "negative_stock",
                                   "covered_surplus_noncovered_shortage") for s in f.setl_ids}
    assert refund_ids == accusing and refund_ids
    for r in sc.refunds:
        assert r["rules"] and r["evidence"] and all(":" in e for e in r["evidence"])
        assert r["refund_fen"] == (0 if r["reversed"] else (r["insurance_fen"] or 0))
    assert sc.totals["refund_fen"] == sum(r["refund_fen"] for r in sc.refunds)
    stock_items = {i for f in mine if f.rule in ("count_surplus", "count_shortage", "negative_stock") for i in f.items}
    assert stock_items <= {c["item_id"] for c in sc.stock_corrections}
    surplus = [c for c in sc.stock_corrections if "count_surplus" in c["rules"]]
    assert all(c["counted"] - c["book"] >= c["gap"] > 0 for c in surplus)
    gap_rules = {g["rule"] for g in sc.process_gaps}
    assert gap_rules == {f.rule for f in mine if f.rule.startswith("dq_") or f.rule in
                         ("product_barcode_as_code", "codes_fewer_than_boxes", "expired_at_sale", "name_mismatch")}
    wb = openpyxl.load_workbook(write_selfcheck_xlsx(sc, tmp_path / "sc.xlsx"))
    assert wb.sheetnames[:5] == ["自查说明", "应退回结算", "库存更正", "流程问题", "拒收行"]
    assert wb["应退回结算"].max_row == len(sc.refunds) + 1
    assert all(c.data_type != "f" for ws in wb.worksheets for row in ws.iter_rows() for c in row)


def test_report_cli(chain, tmp_path):
    out, db = chain
    runner = CliRunner()
    dbp = str(out / "ledger.db")
    for fmt, name in (("xlsx", "r.xlsx"), ("json", "r.json"), ("csv", "r.csv")):
        res = runner.invoke(main, ["report", "--format", fmt, "-o", str(tmp_path / name), "--db", dbp],
                            catch_exceptions=False)
        assert res.exit_code == 0, res.output
        assert (tmp_path / name).exists()
    both = runner.invoke(main, ["report", "-o", str(tmp_path / "x.xlsx"), "--reveal", "--pseudonymise", "k", "--db", dbp])
    assert both.exit_code == 2
    rank = runner.invoke(main, ["--lang", "en", "rank", "--db", dbp], catch_exceptions=False)
    assert rank.exit_code == 0 and "  1. " in rank.output and "Money at risk" in rank.output
    sc = runner.invoke(main, ["selfcheck", "--store", "X", "-o", str(tmp_path / "s.txt"), "--db", dbp])
    assert sc.exit_code == 2 and ".xlsx" in sc.output


def test_json_written_is_the_text_json_writes():
    """write_indented (report and audit JSON) is json.dumps(..., ensure_ascii=False,
    indent=1), byte for byte, however deep it streams."""
    import io
    import random
    from invreconcile.reports.tables import write_indented
    rnd = random.Random(7)
    leaves = [None, True, False, 0, -3, 2 ** 70, 1.5, -0.0, 1e300, float("nan"), float("-inf"), "",
              'a"b\\c\n\t中文\u2028\x01', "张三", 12345678901234567890]

    def value(depth=0):
        c = rnd.random()
        if depth > 4 or c < 0.4:
            return rnd.choice(leaves)
        if c < 0.7:
            return [value(depth + 1) for _ in range(rnd.randint(0, 4))]
        return {rnd.choice(["k", "中", 'a"', 1, 2.5, True, None]): value(depth + 1) for _ in range(rnd.randint(0, 4))}
    for _ in range(3000):
        v, out = value(), io.StringIO()
        write_indented(out, v, stream=rnd.randint(0, 3))
        assert out.getvalue() == json.dumps(v, ensure_ascii=False, indent=1)
