"""A PDF source's cited page as an image with the span highlighted: the renderer on a real LibreOffice PDF, the
route over HTTP on loopback, and the source drawer in headless Chromium at 1280 and 390 px."""
from __future__ import annotations

import io
import re
import shutil
from pathlib import Path

import httpx
import pytest
from PIL import Image

from rag import Rag, load_settings
from rag.documents import read_document
from rag.errors import NotFound
from rag.pdfpage import WIDTH, page_of, page_png

from conftest import AXE, axe_violations, serving

ROOT = Path(__file__).resolve().parents[1]
POLICY = Path(__file__).parent / "fixtures" / "formats" / "policy.pdf"   # hyphenation, running header, 3 pages
QUESTION = "Within how many days must insurance claims be submitted?"
YELLOW = "([r, g, b]) => r > 230 && g > 200 && b < 140"


def yellow(rgb) -> bool:
    r, g, b = rgb[:3]
    return r > 230 and g > 200 and b < 140


def policy_doc(tmp_path) -> "Document":  # noqa: F821
    path = tmp_path / "policy.pdf"
    shutil.copy(POLICY, path)
    doc = read_document(path, "policy.pdf", "policy")
    doc.path = str(path)
    return doc


def test_every_block_of_a_real_pdf_is_highlighted_on_its_own_page(tmp_path):
    doc = policy_doc(tmp_path)
    assert len(doc.pages) == 3
    for start, end, kind in doc.blocks:
        png, page, span = page_png(doc, start, end)
        assert page == page_of(doc, start) and span is not None, (kind, doc.text[start:end])
        image = Image.open(io.BytesIO(png)).convert("RGB")
        assert image.width == WIDTH and image.height < 1400       # bounded: a letter page at 1000 px wide
        top, bottom = (round(f * image.height) for f in span)
        row = [image.getpixel((x, (top + bottom) // 2)) for x in range(0, image.width, 4)]
        assert sum(map(yellow, row)) > 10, (kind, doc.text[start:end])
    # a passage repeated on a page is marked where the cited one is, not at its first occurrence
    repeated = "who travel for work must follow the international accommodation guidance"
    first, second = (doc.text.index(repeated, doc.text.index(f"Rule {n} covers")) for n in (1, 2))
    spans = [page_png(doc, s, s + len(repeated))[2] for s in (first, second)]
    assert spans[0][0] < spans[1][0]


def test_a_missing_moved_or_changed_file_says_how_to_fix_it(tmp_path):
    doc = policy_doc(tmp_path)
    Path(doc.path).write_bytes(Path(doc.path).read_bytes() + b"\n% edited\n")
    with pytest.raises(NotFound, match="changed since it was indexed; run `rag ingest` again"):
        page_png(doc, 0, 5)
    Path(doc.path).unlink()
    with pytest.raises(NotFound, match="no longer where it was ingested from; ingest it again"):
        page_png(doc, 0, 5)
    doc.pages, doc.path = [], str(tmp_path / "notes.txt")
    with pytest.raises(NotFound, match="not a .pdf file"):
        page_png(doc, 0, 5)


@pytest.fixture(scope="module")
def pdf_site(tmp_path_factory, embedder):
    """The app over a collection holding the travel policy PDF and a text file (sign-in off, loopback)."""
    from ui.app import create_app

    docs = tmp_path_factory.mktemp("pdf-docs")
    shutil.copy(POLICY, docs / "policy.pdf")
    (docs / "notes.txt").write_text("The travel desk is on the second floor, next to the canteen.\n")
    rag = Rag(load_settings(data_dir=tmp_path_factory.mktemp("pdf-data"), collection="travel"), embedder=embedder)
    assert not rag.ingest([docs]).errors
    with serving(create_app(rag)) as url:
        yield url, rag


def test_page_route_serves_the_cited_page_bounded_and_cached(pdf_site):
    url, rag = pdf_site
    a = httpx.post(f"{url}/api/ask", json={"question": QUESTION}, timeout=60).json()
    c = a["citations"][0]
    assert c["source"].endswith("policy.pdf") and c["locator"].startswith("page ")
    meta = httpx.get(f"{url}/api/sources/{c['doc_id']}").json()
    assert meta["pages"] == 3
    r = httpx.get(f"{url}/api/sources/{c['doc_id']}/page", params={"start": c["start"], "end": c["end"]})
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    assert c["locator"].startswith(f"page {r.headers['x-rag-page']}") and r.headers["x-rag-highlight"] != "none"
    assert Image.open(io.BytesIO(r.content)).width == WIDTH and len(r.content) < 1_000_000
    again = httpx.get(f"{url}/api/sources/{c['doc_id']}/page", params={"start": c["start"], "end": c["end"]},
                      headers={"If-None-Match": r.headers["etag"]})
    assert again.status_code == 304 and "private" in r.headers["cache-control"]
    notes = next(i for i, m in rag.documents().items() if m["source"].endswith("notes.txt"))
    for doc_id, params, status, words in [
            (c["doc_id"], {"start": 10, "end": 5}, 400, "start <= end"),
            (c["doc_id"], {"start": 0, "end": 10**9}, 422, "end"),
            (c["doc_id"], {"start": "x", "end": 3}, 422, "start"),
            (c["doc_id"], {"end": 3}, 422, "start"),
            (notes, {"start": 0, "end": 3}, 404, "not a .pdf file"),
            ("nope", {"start": 0, "end": 3}, 404, "no indexed document"),
            (c["doc_id"], {"start": 0, "end": 3, "collection": "../x"}, 404, "no indexed document")]:
        r = httpx.get(f"{url}/api/sources/{doc_id}/page", params=params)
        assert r.status_code == status and words in r.json()["detail"], (params, r.text)
        assert "\n" not in r.json()["detail"]


def page_image_ok(page, expect, url):
    """The drawer shows the cited page, loaded, with yellow highlight pixels, scrolled to where the server said
    the highlight is."""
    fig = page.locator("#rag-source-panel figure.rag-page")
    img = fig.locator("img")
    expect(img).to_be_visible()
    expect(img).to_have_attribute("alt", re.compile(r"^Page 3 of policy, the cited passage highlighted$"))
    expect(fig.locator("figcaption")).to_have_text("Page 3")
    page.wait_for_function("() => document.querySelector('#rag-source-panel figure img').naturalWidth > 0")
    yellow_pixels = img.evaluate(f"""img => {{
        const c = document.createElement('canvas'); c.width = img.naturalWidth; c.height = img.naturalHeight;
        const g = c.getContext('2d'); g.drawImage(img, 0, 0);
        const d = g.getImageData(0, 0, c.width, c.height).data; let n = 0;
        for (let i = 0; i < d.length; i += 4) if (({YELLOW})([d[i], d[i + 1], d[i + 2]])) n++;
        return n; }}""")
    assert yellow_pixels > 2000
    href = page.locator("a[href*='#cite?']").first.get_attribute("href")
    cite = dict(p.split("=", 1) for p in href.split("#cite?", 1)[1].split("&"))
    r = httpx.get(f"{url}/api/sources/{cite['d']}/page", params={"start": cite["s"], "end": cite["e"]})
    top = float(r.headers["x-rag-highlight"].split()[0])
    page.wait_for_timeout(200)   # the scroll to the highlight runs once the image has loaded
    box, view = img.bounding_box(), fig.bounding_box()
    assert view["y"] <= box["y"] + top * box["height"] < view["y"] + view["height"]


@pytest.mark.parametrize("width", [1280, 390])
def test_a_pdf_citation_opens_its_page_with_the_span_highlighted(browser, pdf_site, width):
    from playwright.sync_api import expect

    url, _ = pdf_site
    ctx = browser.new_context(viewport={"width": width, "height": 900 if width > 500 else 844},
                              is_mobile=width < 500, bypass_csp=False)
    try:
        page = ctx.new_page()
        page.goto(url + "/")
        box = page.get_by_label("Your question")
        box.fill(QUESTION)
        box.press("Enter")
        link = page.locator('#rag-chat [data-testid="bot"] a[href*="#cite?"]').first
        expect(link).to_have_text("[1]")
        link.click()
        mark = page.locator("#rag-source-panel mark.rag-cited")
        expect(mark).to_be_visible()
        expect(mark).to_contain_text("insurance claims within 30 days")
        page_image_ok(page, expect, url)
        panel, fig, text = (page.locator(s).bounding_box() for s in
                            ("#rag-source-panel", "#rag-source-panel figure", "#rag-source-panel .rag-text"))
        if width > 500:   # beside the text, in a wider drawer
            assert panel["x"] + panel["width"] == width and 800 < panel["width"] < width
            assert fig["x"] + fig["width"] <= text["x"] + 1 and abs(fig["y"] - text["y"]) < 2
            page.wait_for_timeout(300)
            page.screenshot(path=str(ROOT / "artifacts" / "pdf-page.png"))
        else:             # above the text in the bottom sheet
            assert panel["x"] == 0 and panel["width"] == width
            assert fig["y"] + fig["height"] <= text["y"] + 1 and text["height"] > 150
        expect(mark).to_be_in_viewport()
        page.keyboard.press("Escape")
        expect(page.locator("#rag-source-panel")).to_be_hidden()
    finally:
        ctx.close()


def test_the_widget_view_shows_the_page_too_under_its_csp(browser, pdf_site):
    """/embed (the widget's iframe) has a strict CSP: the page image, fetched with the widget's key and shown
    from a blob: URL, must be allowed by it; no serious accessibility violations with the page open."""
    from playwright.sync_api import expect

    url, _ = pdf_site
    ctx = browser.new_context(viewport={"width": 420, "height": 700})
    try:
        page = ctx.new_page()
        refused = []
        page.on("console", lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None)
        page.goto(url + "/embed")
        q = page.get_by_label("Your question")
        q.fill(QUESTION)
        q.press("Enter")
        link = page.locator(".rag-msg.bot a.rag-cite").first
        expect(link).to_have_text("[1]")
        link.click()
        page_image_ok(page, expect, url)
        assert refused == []
        if AXE.exists():
            ctx2 = browser.new_context(viewport={"width": 1280, "height": 900}, bypass_csp=True)
            p2 = ctx2.new_page()
            p2.goto(url + "/")
            p2.get_by_label("Your question").fill(QUESTION)
            p2.get_by_label("Your question").press("Enter")
            p2.locator('#rag-chat [data-testid="bot"] a[href*="#cite?"]').first.click()
            page_image_ok(p2, expect, url)
            assert axe_violations(p2) == []
            ctx2.close()
    finally:
        ctx.close()
