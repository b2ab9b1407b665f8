"""The knowledge-gap page (/gaps) for collection managers: the real app with sign-in on loopback, questions
refused and answers rated down through the REST API, the page over HTTP and in headless Chromium at 1280 and
390 px."""
from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest


from conftest import AXE, axe_violations, managed_rag, serving

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).parent / "fixtures_ui"
PASSWORD = "correct horse battery"
PARKING = ["What is the parking fee for visitors?", "what is the parking fee for visitors", "Parking fee for visitors?"]
FORMULA = "=HYPERLINK(1) Who repaints the bike shed?"


@pytest.fixture(scope="module")
def gap_site(tmp_path_factory, embedder):
    """Sign-in on: mia manages 'default' (group leads), sam may only ask it; sam's refused questions and a
    thumbs down are in the logs, through the REST API."""
    from ui.app import create_app

    data = tmp_path_factory.mktemp("gaps-data")
    rag, accounts = managed_rag(data, embedder, FIXTURES, PASSWORD, manager=("mia", "leads"), asker="sam")
    with serving(create_app(rag)) as url:
        site = SimpleNamespace(url=url, rag=rag, data=data,
                               mia={"Cookie": f"rag_session={accounts.start_session(accounts.user('mia'), 1)}"},
                               sam={"Cookie": f"rag_session={accounts.start_session(accounts.user('sam'), 1)}"})
        for q in PARKING + [FORMULA]:
            a = httpx.post(f"{url}/api/ask", json={"question": q}, headers=site.sam, timeout=60).json()
            assert a["refused"], a
        r = httpx.post(f"{url}/api/feedback", headers=site.sam, json={
            "question": "When does the canteen open?", "answer": "At noon. [1]", "verdict": "down",
            "comment": "it opens at 11:30", "citations": [{"n": 1, "source": "x/canteen-policy.md"}]})
        assert r.status_code == 201
        yield site


def dataset(site) -> Path:
    return site.data / "evals" / "default.jsonl"


def test_managers_get_the_report_export_and_eval_cases_others_get_403(gap_site):
    s = gap_site
    with httpx.Client(base_url=s.url, timeout=30) as c:
        r = c.get("/gaps", headers=s.mia)
        assert r.status_code == 200 and "script-src 'none'" in r.headers["content-security-policy"]
        row = re.search(r'<tr id="(gap-[0-9a-f]{10})"><td data-label="Question"><p class="rag-q">'
                        r'What is the parking fee for visitors\?</p>.*?<b>(\d+)</b>', r.text)
        assert row and row.group(2) == "3", r.text[:3000]
        assert "it opens at 11:30" in r.text and "canteen-policy.md" in r.text and "sam" not in r.text
        assert "=HYPERLINK(1) Who repaints" in r.text and "<script" not in r.text
        rows = list(csv.DictReader(io.StringIO(c.get("/gaps/export", headers=s.mia).text)))
        assert {"'" + FORMULA, PARKING[0]} <= {x["question"] for x in rows}          # formulas never run
        lines = [json.loads(x) for x in c.get("/gaps/export?format=jsonl", headers=s.mia).text.splitlines()]
        assert {x["question"]: x["count"] for x in lines}[PARKING[0]] == 3
        for method, path in (("GET", "/gaps"), ("GET", "/gaps/export"), ("POST", "/gaps/eval")):
            data = {"collection": "default", "id": row.group(1)} if method == "POST" else None
            r = c.request(method, path, headers=s.sam, data=data)
            assert r.status_code == 403 and "--manage" in r.json()["detail"], (path, r.text)
            assert c.request(method, path, data=data).status_code == 401
        for data, status, words in [({"collection": "default", "id": "nope"}, 422, "id"),
                                    ({"collection": "default", "id": "gap-0000000000"}, 404, "reload /gaps"),
                                    ({"collection": "../etc", "id": row.group(1)}, 400, "collection"),
                                    ({"collection": "hr", "id": row.group(1)}, 403, "may not manage"),
                                    ({"id": row.group(1)}, 422, "collection")]:
            r = c.post("/gaps/eval", data=data, headers=s.mia)
            assert r.status_code == status and words in r.json()["detail"] and "\n" not in r.json()["detail"], r.text
        assert c.get("/gaps/export?format=xml", headers=s.mia).status_code == 422
        r = c.post("/gaps/eval", data={"collection": "default", "id": row.group(1)},
                   headers={**s.mia, "Origin": "http://evil.example"})
        assert r.status_code == 403 and "cross-origin" in r.json()["detail"]          # CSRF
        assert not dataset(s).exists()


@pytest.mark.parametrize("width", [1280, 390])
def test_a_manager_turns_a_gap_into_an_eval_case_in_the_browser(browser, gap_site, width):
    from playwright.sync_api import expect

    s = gap_site
    dataset(s).unlink(missing_ok=True)
    ctx = browser.new_context(viewport={"width": width, "height": 900 if width > 500 else 844},
                              is_mobile=width < 500, bypass_csp=True)   # bypass: for axe-core's script only
    try:
        ctx.add_cookies([{"name": "rag_session", "value": s.mia["Cookie"].split("=", 1)[1], "url": s.url}])
        page = ctx.new_page()
        page.goto(s.url + "/")
        link = page.get_by_role("link", name="Knowledge gaps")
        if width < 500:                                     # on a phone the link is in the sidebar behind its toggle
            expect(link).to_be_attached()
            page.locator("#rag-sidebar .toggle-button").click()
        link.click()
        expect(page.get_by_role("heading", name="Knowledge gaps")).to_be_visible()
        row = page.locator("tr", has_text=PARKING[0])
        expect(row.locator('td[data-label="Count"]')).to_contain_text("3")
        expect(row.locator('td[data-label="Count"]')).to_contain_text("refused")
        assert page.evaluate("document.documentElement.scrollWidth <= innerWidth + 1")   # no sideways scrolling
        row.get_by_role("button", name=f"Add as eval case: {PARKING[0]}").click()
        expect(page.get_by_role("status")).to_contain_text("Added as an eval case")
        expect(page.locator("tr", has_text=PARKING[0])).to_contain_text("In the eval dataset")
        cases = [json.loads(x) for x in dataset(s).read_text().splitlines()]
        assert cases == [{"id": cases[0]["id"], "question": PARKING[0], "answerable": False}]
        if width > 500:
            page.wait_for_timeout(200)
            page.screenshot(path=str(ROOT / "artifacts" / "gap-report.png"))
        if AXE.exists():
            assert axe_violations(page) == []
        r = httpx.post(f"{s.url}/gaps/eval", data={"collection": "default", "id": cases[0]["id"]}, headers=s.mia)
        assert r.status_code == 303 and f"already={cases[0]['id']}" in r.headers["location"]   # added once only
        assert len(dataset(s).read_text().splitlines()) == 1
    finally:
        ctx.close()


def test_a_non_manager_gets_no_link_and_403(browser, gap_site):
    from playwright.sync_api import expect

    s = gap_site
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        ctx.add_cookies([{"name": "rag_session", "value": s.sam["Cookie"].split("=", 1)[1], "url": s.url}])
        page = ctx.new_page()
        page.goto(s.url + "/")
        expect(page.get_by_label("Your question")).to_be_visible()
        page.wait_for_timeout(1500)                          # the page's load events have run
        expect(page.get_by_role("link", name="Knowledge gaps")).to_have_count(0)
        r = page.goto(s.url + "/gaps")
        assert r.status == 403 and "sam may not manage collection 'default'" in page.content()
    finally:
        ctx.close()
