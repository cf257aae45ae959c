"""The HTML report and self-inspection statement: self-contained, escaped, masked by default,
and, in a real headless Chromium, charts drawn, filters working, printable, screenshots saved."""
from __future__ import annotations

import re

import pytest

from invreconcile.audit import run_audit
from invreconcile.importer import import_paths
from invreconcile.ledger import open_ledger
from invreconcile.reports import Privacy, build_report
from invreconcile.reports.html import render_html, render_selfcheck_html, write_html, write_selfcheck_html, yuan
from invreconcile.reports.selfcheck import build_selfcheck
from invreconcile.rules import load_config
from invreconcile.sample import generate

from browser import Browser, Dom, Page, find_chromium  # tests/ is on sys.path

# Hostile text as a ledger could hold it (an item name, a message, a file name): it must show as text.
HOSTILE_SCRIPT = '<script>document.body.setAttribute("data-pwned","script")</script>'
HOSTILE_IMG = '"><img src=x onerror="document.body.setAttribute(\'data-pwned\',\'img\')">'


@pytest.fixture(scope="module")
def ledger(tmp_path_factory):
    out = tmp_path_factory.mktemp("report-html")
    generate(out / "data", stores=4, days=21, customers=200, seed=42)
    db = open_ledger(out / "ledger.db")
    import_paths(db, [out / "data"])
    run_audit(db, config=load_config(out / "data" / "invreconcile.toml"))
    # hostile text in the catalog (shown in the stock chart) and in a finding's message and evidence
    item = db.conn.execute("SELECT item_id FROM v_count_book WHERE counted <> book "
                           "ORDER BY ABS(counted - book) DESC LIMIT 1").fetchone()[0]
    db.conn.execute("UPDATE items SET item_name = ? WHERE item_id = ?", ("药" + HOSTILE_SCRIPT, item))
    fid = db.conn.execute("SELECT id FROM findings ORDER BY ord LIMIT 1").fetchone()[0]
    db.conn.execute("UPDATE findings SET message_zh = message_zh || ?, message_en = message_en || ? WHERE id = ?",
                    (HOSTILE_IMG, HOSTILE_IMG, fid))
    db.conn.execute("UPDATE sales SET item_name = ? WHERE id = (SELECT MIN(id) FROM sales)", (HOSTILE_IMG,))
    db.conn.commit()
    return out, db


@pytest.fixture(scope="module")
def reports(ledger):
    out, db = ledger
    zh = build_report(db)
    en = build_report(db, lang="en")
    zh_path = write_html(zh, out / "report.html")
    en_path = write_html(en, out / "report_en.html")
    store = max(zh.ranking, key=lambda r: r["score"])["store"]
    sc = build_selfcheck(db, store)
    sc_path = write_selfcheck_html(sc, out / "selfcheck.html")
    return {"zh": zh, "en": en, "zh_path": zh_path, "en_path": en_path, "sc": sc, "sc_path": sc_path}


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    binary = find_chromium()
    if not binary:
        pytest.skip("no Chromium binary (apt-get install chromium; or set INVRECONCILE_CHROMIUM)")
    return Browser(binary, tmp_path_factory.mktemp("chromium"))


# --------------------------------------------------------------------------- without a browser

def test_self_contained_no_network(reports):
    for key in ("zh_path", "en_path", "sc_path"):
        text = reports[key].read_text(encoding="utf-8")
        assert "<link" not in text and "@import" not in text and "url(" not in text
        assert not re.search(r"<[a-zA-Z][^>]*\s(src|srcset|background)\s*=", text), key   # nothing loaded
        # the only http(s) text is the SVG namespace; nothing is fetched
        assert set(re.findall(r"https?://[^\s\"'<>]+", text)) <= {"http://www.w3.org/2000/svg"}, key
        assert "Content-Security-Policy" in text
        assert text.count("<script>") == 1


def test_hostile_text_is_escaped(reports):
    text = reports["zh_path"].read_text(encoding="utf-8")
    assert HOSTILE_SCRIPT not in text and HOSTILE_IMG not in text
    assert "药&lt;script&gt;document.body.setAttribute(&quot;data-pwned&quot;" in text      # stock chart label
    assert "&quot;&gt;&lt;img src=x onerror=" in text                                       # message / evidence
    assert len(re.findall(r"<script\b", text)) == 1


def test_chinese_by_default_english_with_lang(reports):
    zh = reports["zh_path"].read_text(encoding="utf-8")
    en = reports["en_path"].read_text(encoding="utf-8")
    assert '<html lang="zh-CN">' in zh and "疑点清单" in zh and "各门店、各类别涉及金额" in zh
    assert '<html lang="en">' in en and "3. Findings" in en and "Insurance money at risk by store" in en
    assert "疑点清单" not in en


def test_money_as_yuan_with_two_decimals(reports):
    r = reports["zh"]
    text = reports["zh_path"].read_text(encoding="utf-8")
    assert yuan(r.summary["money_at_risk_fen"]) in text
    f = next(f for f in r.findings if f["amount_fen"] > 0)
    assert re.search(rf'id="f-{re.escape(f["id"])}".*?<td class="num">{re.escape(yuan(f["amount_fen"]))}</td>', text)
    assert yuan(123456) == "1,234.56" and yuan(5) == "0.05" and yuan(-150) == "-1.50"


def test_masked_by_default_reveal_says_so_on_first_page(ledger, reports, tmp_path):
    _, db = ledger
    psn = db.conn.execute("SELECT psn_no FROM settlements WHERE setl_id IN "
                          "(SELECT value FROM findings, json_each(findings.setl_ids)) LIMIT 1").fetchone()[0]
    masked = reports["zh_path"].read_text(encoding="utf-8")
    assert psn not in masked
    assert "个人信息已脱敏" in masked and 'data-privacy="masked"' in masked
    revealed = render_html(build_report(db, privacy=Privacy(reveal=True)))
    assert psn in revealed
    first_page = revealed[:revealed.index('id="summary"')]
    assert 'class="privacy revealed"' in first_page and "--reveal" in first_page
    sc = render_selfcheck_html(build_selfcheck(db, reports["sc"].store, privacy=Privacy(reveal=True), lang="en"))
    assert 'class="privacy revealed"' in sc[:sc.index('id="refunds"')]


def test_every_finding_links_to_its_evidence(reports):
    text = reports["zh_path"].read_text(encoding="utf-8")
    r = reports["zh"]
    for f in r.findings:
        assert f'href="#ev-{f["id"]}"' in text
        assert f'id="ev-{f["id"]}"' in text
    ev = next(e for e in r.evidence if e.get("src_file"))
    block = text[text.index(f'id="ev-{ev["finding_id"]}"'):]
    block = block[:block.index("</table>")]
    assert str(ev["src_row"]) in block and ev["src_file"].replace("&", "&amp;") in block


def test_report_by_store_an_index_and_a_page_per_store(ledger, reports, tmp_path):
    """For a bureau's thousands of stores one page is too large (10M lines: 250 MB):
    --by-store writes an index (summary, ranking, charts; no findings) whose store links
    go to one page per store, with that store's findings and evidence only, its row of the
    whole ranking, and a link back."""
    from click.testing import CliRunner
    from invreconcile.cli import main
    out, db = ledger
    r = CliRunner().invoke(main, ["report", "--db", str(out / "ledger.db"), "--format", "html", "--by-store",
                                  "-o", str(tmp_path / "site")])
    assert r.exit_code == 0, r.output
    whole = reports["zh"]
    index = (tmp_path / "site" / "index.html").read_text(encoding="utf-8")
    assert 'class="finding"' not in index and 'class="evidence-block"' not in index
    assert len(whole.ranking) >= 4
    for row in whole.ranking:
        s = row["store"]
        assert f'href="stores/{s}.html"' in index
        page = (tmp_path / "site" / "stores" / f"{s}.html").read_text(encoding="utf-8")
        mine = [f["id"] for f in whole.findings if f["store"] == s]
        assert re.findall(r'<tr class="finding" id="f-([^"]+)"', page) == mine
        assert all(f'id="ev-{fid}"' in page for fid in mine)
        assert 'href="../index.html"' in page
        ranked = re.search(r'<table id="ranking-table">.*?</table>', page, re.S).group(0)
        assert re.findall(r'data-store-link="([^"]+)"', ranked) == [s]
        assert f'<td class="num">{row["rank"]}</td>' in ranked   # its rank among all stores
    # the code timelines link each finding on its store's page
    for href in set(re.findall(r'href="(stores/[^"#]+)#f-([^"]+)"', index)):
        assert f'id="f-{href[1]}"' in (tmp_path / "site" / href[0]).read_text(encoding="utf-8")
    r = CliRunner().invoke(main, ["report", "--db", str(out / "ledger.db"), "--format", "xlsx", "--by-store",
                                  "-o", str(tmp_path / "x.xlsx")])
    assert r.exit_code == 2 and "--by-store" in r.output


def test_hand_made_report_object_renders(tmp_path):
    """A Report-like dict with the chart data at top level (no model) renders every part."""
    report = {
        "generated_for": ["P1"], "period": ("2026-01-01", "2026-01-31"), "lang": "zh",
        "privacy_note": "个人信息已脱敏", "loaded": [{"store": "P1", "month": "2026-01", "sales": 3}],
        "findings": [{"id": "code_resold-0000000001", "rule": "code_resold", "category": "duplicate_code",
                      "severity": "high", "store": "P1", "period": "2026-01-02..2026-01-09", "amount_at_risk": 12.5,
                      "title_zh": "追溯码重复结算", "message": "码 8 出现两次", "codes": ["8" * 20],
                      "evidence": [{"table": "sales", "id": 1, "src_file": "a<b>.csv", "src_row": 2}]}],
        "hourly": [{"store": "P1", "dow": 1, "hour": 2, "settlements": 5, "insurance_fen": 1000}],
        "stock_gaps": [{"store": "P1", "item_id": "I1", "item_name": "x", "day": "2026-01-31", "book": -3, "counted": 4}],
        "code_timelines": {"8" * 20: [{"ts": "2026-01-02 10:00:00", "store": "P1", "event": "sold"},
                                       {"ts": "2026-01-09 11:00:00", "store": "P2", "event": "settled"}]},
    }
    text = render_html(report)
    assert text.count('<svg class="chart"') == 4
    assert "a&lt;b&gt;.csv" in text and "12.50" in text and 'href="#ev-code_resold-0000000001"' in text
    path = write_html(report, tmp_path / "sub" / "r.html")
    assert path.read_text(encoding="utf-8") == text
    # a bureau's report: the first page names the first stores and says how many
    report["generated_for"] = [f"P{i:04d}" for i in range(2280)]
    meta = re.search(r'<dl class="meta">.*?</dl>', render_html(report), re.S).group(0)
    assert "P0011" in meta and "P0012" not in meta and "共 2,280 家门店" in meta


# --------------------------------------------------------------------------- in Chromium

def test_browser_charts_render_and_nothing_injected(browser, reports):
    dom = Dom(browser.dump_dom(reports["zh_path"].as_uri()))
    expected = int(dom.body["data-charts-expected"])
    stores = {h["store"] for h in reports["zh"].charts["hourly"]}
    # money + one heat map per store + stock gaps + one timeline per resold code
    assert expected == 1 + len(stores) + 1 + len(reports["zh"].charts["code_timelines"])
    assert expected >= 4
    assert dom.body["data-rendered"] == f"{expected} charts"
    assert "data-pwned" not in dom.body
    assert dom.scripts == 1
    assert HOSTILE_SCRIPT in dom.text            # shown as text
    assert int(dom.body["data-visible-findings"]) == len(reports["zh"].findings)
    assert dom.texts["count"] == str(len(reports["zh"].findings))
    assert not any("hidden" in r for r in dom.rows)


def test_browser_filter_by_store_from_the_address(browser, reports):
    findings = reports["zh"].findings
    store = max({f["store"] for f in findings}, key=lambda s: (sum(f["store"] == s for f in findings), s))
    want = [f["id"] for f in findings if f["store"] == store]
    assert 0 < len(want) < len(findings)
    dom = Dom(browser.dump_dom(reports["zh_path"].as_uri() + f"#filter=store:{store}"))
    visible = [r["data-id"] for r in dom.rows if "hidden" not in r]
    assert visible == want
    assert all(r["data-store"] != store for r in dom.rows if "hidden" in r)
    assert dom.texts["count"] == str(len(want)) and dom.body["data-visible-findings"] == str(len(want))
    fen = sum(f["amount_fen"] for f in findings if f["store"] == store)
    assert dom.texts["count-money"] == yuan(fen)
    assert dom.body["data-filter"] == f"store:{store}"
    # evidence blocks of hidden findings are hidden too
    hidden_blocks = {i for i, a in dom.by_id.items() if i.startswith("ev-") and "hidden" in a and "data-id" in a}
    assert hidden_blocks == {f"ev-{f['id']}" for f in findings if f["store"] != store}


def test_browser_filter_by_store_category_and_severity_from_query(browser, reports):
    findings = reports["zh"].findings
    f0 = findings[0]
    want = [f["id"] for f in findings if (f["store"], f["category"], f["severity"]) ==
            (f0["store"], f0["category"], f0["severity"])]
    url = (reports["zh_path"].as_uri() + f"?store={f0['store']}&category={f0['category']}&severity={f0['severity']}")
    dom = Dom(browser.dump_dom(url))
    assert [r["data-id"] for r in dom.rows if "hidden" not in r] == want
    assert dom.texts["count"] == str(len(want))
    # a value that matches nothing shows nothing, and says so
    dom = Dom(browser.dump_dom(reports["zh_path"].as_uri() + "#filter=severity:low,category:price_anomaly,store:NONE"))
    assert dom.body["data-filter"] == "category:price_anomaly,severity:low"   # unknown store ignored
    assert dom.texts["count"] == str(sum(f["category"] == "price_anomaly" and f["severity"] == "low" for f in findings))


def _wait(page, expression, timeout=10.0):
    import time
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if page.evaluate(expression):
            return
        time.sleep(0.05)
    raise AssertionError(f"not true within {timeout} s: {expression}")


def test_browser_real_clicks_and_keys_filter(browser, reports, tmp_path):
    """Real input events over the DevTools protocol: click a store in the ranking, clear, pick a severity."""
    findings = reports["zh"].findings
    store = [r["store"] for r in reports["zh"].ranking if r["findings"]][-1]
    n_store = sum(f["store"] == store for f in findings)
    assert 0 < n_store < len(findings)
    n_high = sum(f["severity"] == "high" for f in findings)
    count = "document.getElementById('count').textContent"
    visible = "Array.from(document.querySelectorAll('tr.finding')).filter(r => !r.hidden).map(r => r.dataset.store)"
    with Page(browser.binary, tmp_path) as page:
        page.goto(reports["zh_path"].as_uri(), "document.body.getAttribute('data-rendered') !== '0 charts'")
        assert page.evaluate(count) == str(len(findings))
        page.click(f'a[data-store-link="{store}"]')
        _wait(page, f"{count} === '{n_store}'")
        assert set(page.evaluate(visible)) <= {store}
        assert page.evaluate("document.getElementById('filter-store').value") == store
        page.click("#filter-reset")
        _wait(page, f"{count} === '{len(findings)}'")
        page.click("#filter-severity")          # opens the list; the first entry after 全部 is 高
        page.press("ArrowDown", 40)
        page.press("Enter", 13)
        _wait(page, f"{count} === '{n_high}'")
        assert page.evaluate("document.getElementById('filter-severity').value") == "high"
        assert page.evaluate("location.hash") == "#filter=severity%3Ahigh"


def _looks_drawn(path, size):
    from PIL import Image
    with Image.open(path) as im:
        assert im.size == size
        colors = im.convert("RGB").resize((350, 750)).getcolors(maxcolors=1_000_000)
        assert len(colors) > 50, "screenshot is (nearly) blank"


def test_browser_screenshots_and_print(browser, reports, tmp_path):
    zh = browser.screenshot(reports["zh_path"].as_uri(), tmp_path / "report_zh.png", window=(1400, 3000))
    en = browser.screenshot(reports["en_path"].as_uri(), tmp_path / "report_en.png", window=(1400, 3000))
    sc = browser.screenshot(reports["sc_path"].as_uri(), tmp_path / "selfcheck.png", window=(1400, 2000))
    for p, size in ((zh, (1400, 3000)), (en, (1400, 3000)), (sc, (1400, 2000))):
        _looks_drawn(p, size)
    pdf = browser.print_pdf(reports["zh_path"].as_uri(), tmp_path / "report.pdf")
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF") and len(data) > 20_000
    # sections start on new pages: more pages than sections
    assert len(re.findall(rb"/Type\s*/Page[^s]", data)) >= 5


def test_browser_selfcheck(browser, reports):
    sc = reports["sc"]
    dom = Dom(browser.dump_dom(reports["sc_path"].as_uri()))
    assert dom.texts["refund-total"] == yuan(sc.totals["refund_fen"])
    assert dom.body["data-rendered"] == f'{dom.body["data-charts-expected"]} charts'
    assert "data-pwned" not in dom.body
    assert "应退回的医保结算" in dom.text and "需更正的库存" in dom.text and "发现的管理漏洞" in dom.text
    refunds = sc.refunds
    assert refunds and refunds[0]["setl_id"] in dom.text
