"""The documents page for real: rag.files on an embedded Chroma store, its REST routes over HTTP on loopback
(RAG_AUTH=password: a manager, an asker, a key), and the page in Debian's chromium at 1280 and 390 px."""
from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from rag import Rag, load_settings
from rag.auth import Principal
from rag.errors import AccessDenied, DocumentError
from rag.files import check_name
from conftest import AXE, axe_violations, managed_rag, serving

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).parent / "fixtures_ui"
PASSWORD = "correct horse battery"
GARDEN = (b"# Rooftop garden opening hours\n\nDate: 2025-04-01\n\nThe rooftop garden on the sixth floor opens at 11:15 "
          b"and closes at 16:40 on weekdays.\nIt is closed on public holidays and during the annual planting week in "
          b"April.\n\n## Access\n\nThe garden is entered with the staff badge; guests must be signed in at reception.\n")


def test_uploads_are_checked_saved_ingested_listed_and_deleted(tmp_path, embedder):
    rag = Rag(load_settings(data_dir=tmp_path / "data", auth="password"), embedder=embedder)
    rag.access.grant("docs", users=["mona"], manage=True)
    rag.access.grant("docs", users=["ana"])
    mona, ana, files = Principal("mona"), Principal("ana"), rag.files
    for bad, words in [("../evil.txt", "without folders"), ("a/b.txt", "without folders"), ("..\\x.txt", "without"),
                       (".hidden.txt", "rename it"), ("run.exe", "unsupported file type '.exe'"),
                       ("x.md.meta.json", "rename it"), ("", "rename it")]:
        with pytest.raises(DocumentError, match=words):
            files.save(mona, "docs", bad, b"some text")
    for good in ("copyright", "README.Debian", "notes.rst", "changelog.gz"):       # what `rag ingest` reads
        assert check_name(good) == good
    with pytest.raises(DocumentError, match="empty"):
        files.save(mona, "docs", "blank.txt", b"  \n")
    with pytest.raises(AccessDenied, match="`rag access grant docs --users ana --manage`"):
        files.save(ana, "docs", "garden.md", GARDEN)
    assert not (tmp_path / "data" / "uploads" / "docs" / "garden.md").exists()
    garden = files.save(mona, "docs", "garden.md", GARDEN)
    files.save(mona, "docs", "broken.pdf", b"%PDF-1.4 this is not a PDF")
    assert garden == (tmp_path / "data" / "uploads" / "docs" / "garden.md").resolve()
    seen = []
    report = files.ingest(mona, "docs", progress=lambda done, total: seen.append((done, total)))
    assert seen[0] == (0, 2) and seen[-1] == (2, 2) and report.added == [str(garden)]
    listed = {d["name"]: d for d in files.list(mona, "docs")}
    assert listed["garden.md"] | {"id": "", "chunks": 0} == {
        "id": "", "name": "garden.md", "source": str(garden), "title": "Rooftop garden opening hours", "date": "2025-04-01",
        "size": len(GARDEN), "chunks": 0, "status": "indexed", "reason": None, "uploaded": True}
    assert listed["garden.md"]["chunks"] >= 1
    assert listed["broken.pdf"]["status"] == "skipped" and "PDF" in listed["broken.pdf"]["reason"]
    assert "11:15" in rag.ask("When does the rooftop garden open?", collection="docs", user=ana).answer
    assert files.original(ana, "docs", listed["garden.md"]["id"]).read_bytes() == GARDEN   # askers may download
    garden.write_bytes(GARDEN + b"Changed since.\n")            # not the file that was indexed: not served
    assert files.original(ana, "docs", listed["garden.md"]["id"]) is None
    garden.write_bytes(GARDEN)
    assert not rag.ingest([FIXTURES], collection="docs").errors  # the operator's own folder, by the CLI
    listed = {d["name"]: d for d in files.list(mona, "docs")}
    assert listed["canteen-policy.md"]["uploaded"] is False and listed["canteen-policy.md"]["status"] == "indexed"
    with pytest.raises(DocumentError, match="indexed by `rag ingest`, not uploaded here"):
        files.delete(mona, "docs", listed["canteen-policy.md"]["id"])
    with pytest.raises(AccessDenied):
        files.delete(ana, "docs", listed["garden.md"]["id"])
    assert files.delete(mona, "docs", listed["garden.md"]["id"]) == "garden.md"
    assert files.delete(mona, "docs", listed["broken.pdf"]["id"]) == "broken.pdf"
    assert sorted(d["name"] for d in files.list(mona, "docs")) == ["canteen-policy.md", "security-drill.txt"]
    assert not garden.exists()
    assert "11:15" not in rag.ask("When does the rooftop garden open?", collection="docs", user=ana).answer


# ---------------------------------------------------------------- over HTTP

class Site:
    def __init__(self, url, rag, accounts):
        self.url, self.rag, self.accounts = url, rag, accounts

    def session(self, name) -> dict:
        return {"Cookie": f"rag_session={self.accounts.start_session(self.accounts.user(name), 1)}"}


@pytest.fixture(scope="module")
def site(tmp_path_factory, embedder):
    """RAG_AUTH=password: 'default' (the UI fixtures, by the CLI) asked by group staff, managed by group editors."""
    from ui.app import create_app

    rag, accounts = managed_rag(tmp_path_factory.mktemp("docs-data"), embedder, FIXTURES, PASSWORD,
                                manager=("mona", "editors"), asker="ana", max_upload_bytes=300_000)
    with serving(create_app(rag)) as url:
        yield Site(url, rag, accounts)


def finished(client, headers) -> dict:
    for _ in range(600):
        job = client.get("/api/collections/default/ingest", headers=headers).json()
        if job["state"] != "running":
            return job
        time.sleep(0.1)
    raise AssertionError("the ingest did not finish")


def test_documents_api_upload_list_download_delete(site):
    mona, ana = site.session("mona"), site.session("ana")
    with httpx.Client(base_url=site.url, timeout=60) as client:
        up = client.post("/api/collections/default/documents", headers=mona,
                         files=[("files", ("garden.md", GARDEN, "text/markdown"))])
        assert up.status_code == 202 and up.json()["saved"] == ["garden.md"], up.text
        job = finished(client, mona)
        assert job["state"] == "done" and len(job["report"]["added"]) == 1 and job["total"] == 1 == job["done"]
        listed = client.get("/api/collections/default/documents", headers=mona).json()["documents"]
        garden = next(d for d in listed if d["name"] == "garden.md")
        assert garden["status"] == "indexed" and garden["uploaded"] and garden["size"] == len(GARDEN)
        assert {d["name"] for d in listed if not d["uploaded"]} == {"canteen-policy.md", "security-drill.txt"}
        # whoever may ask the collection downloads the original from the source drawer's link
        src = client.get(f"/api/sources/{garden['id']}", headers=ana).json()
        assert src["original"] == f"api/sources/{garden['id']}/original"
        got = client.get("/" + src["original"], headers=ana)
        assert got.status_code == 200 and got.content == GARDEN
        assert got.headers["content-disposition"] == 'attachment; filename="garden.md"'
        assert got.headers["content-type"] == "application/octet-stream"
        _, key = site.accounts.create_key(["default"])
        bearer = {"Authorization": f"Bearer {key}"}
        assert client.get(f"/api/sources/{garden['id']}", headers=bearer).json()["original"] is None
        assert client.get("/" + src["original"], headers=bearer).status_code == 403
        assert client.get(f"/api/sources/{'0' * 16}/original", headers=ana).status_code == 404
        # bad input: one-line 4xx, nothing written
        for name, words in [("../../etc/cron.txt", "without folders"), ("notes.exe", "unsupported file type"),
                            ("..", "without folders")]:
            r = client.post("/api/collections/default/documents", headers=mona,
                            files=[("files", (name, b"text", "text/plain"))])
            assert r.status_code == 400 and words in r.json()["detail"], (name, r.text)
        r = client.post("/api/collections/default/documents", headers=mona,   # one bad file: none is written
                        files=[("files", ("first.md", GARDEN, "text/markdown")), ("files", ("blank.txt", b" ", "text/plain"))])
        assert r.status_code == 400 and "blank.txt is empty" in r.json()["detail"]
        assert not (site.rag.files.folder("default") / "first.md").exists()
        big = client.post("/api/collections/default/documents", headers=mona,
                          files=[("files", ("big.txt", b"x" * 400_000, "text/plain"))])
        assert big.status_code == 413 and "RAG_MAX_UPLOAD_BYTES" in big.json()["detail"]
        r = client.post("/api/collections/..%2Fetc/documents", headers=mona, files=[("files", ("a.txt", b"a"))])
        assert r.status_code in (400, 404) and "Traceback" not in r.text
        r = client.post("/api/collections/default/documents", headers=mona, data={"files": "not a file"})
        assert r.status_code == 422 and len(r.text) < 300
        # managers only; refusals name the fix; browsers' cross-site posts are refused (CSRF)
        r = client.get("/api/collections/default/documents", headers=ana)
        assert r.status_code == 403 and "rag access grant default --users ana --manage" in r.json()["detail"]
        r = client.post("/api/collections/default/documents", headers={**mona, "Origin": "https://evil.example"},
                        files=[("files", ("evil.md", b"# Evil\n\nText.", "text/markdown"))])
        assert r.status_code == 403 and not (site.rag.files.folder("default") / "evil.md").exists()
        cli_doc = next(d for d in listed if not d["uploaded"])
        r = client.delete(f"/api/collections/default/documents/{cli_doc['id']}", headers=mona)
        assert r.status_code == 400 and "rag ingest" in r.json()["detail"]
        assert client.delete("/api/collections/default/documents/nope", headers=mona).status_code == 404
        r = client.delete(f"/api/collections/default/documents/{garden['id']}", headers=mona)
        assert r.status_code == 200 and r.json() == {"deleted": "garden.md"}
        assert client.get(f"/api/sources/{garden['id']}", headers=ana).status_code == 404
        assert client.post("/api/collections/default/ingest", headers=mona).status_code == 202
        assert finished(client, mona)["state"] == "done"


# ---------------------------------------------------------------- the page in chromium

def signed_in(browser, site, name, width):
    ctx = browser.new_context(viewport={"width": width, "height": 844}, is_mobile=width < 500, bypass_csp=True)
    token = site.accounts.start_session(site.accounts.user(name), 1)
    ctx.add_cookies([{"name": "rag_session", "value": token, "url": site.url}])
    page = ctx.new_page()
    page.set_default_timeout(30_000)
    return ctx, page


@pytest.mark.parametrize("width", [1280, 390])
def test_a_manager_uploads_asks_and_deletes_in_chromium(site, browser, width):
    from playwright.sync_api import expect

    ctx, page = signed_in(browser, site, "mona", width)
    try:
        page.goto(site.url + "/")
        page.get_by_role("link", name="Documents").click()
        expect(page.get_by_role("heading", name="Documents", exact=True)).to_be_visible()
        expect(page.locator("#rag-docs-rows")).to_contain_text("Canteen opening hours")
        page.evaluate("""() => { window.sawProgress = false; new MutationObserver(() => {
            if (!document.getElementById('rag-progress').hidden) window.sawProgress = true; })
            .observe(document.getElementById('rag-progress'), {attributes: true}); }""")
        name, scan = f"garden-{width}.md", f"scan-{width}.pdf"
        page.locator("#rag-file").set_input_files([{"name": name, "mimeType": "text/markdown", "buffer": GARDEN},
                                                   {"name": scan, "mimeType": "application/pdf", "buffer": b"%PDF-1.4 x"}])
        row = page.locator("#rag-docs-rows tr", has_text=name)
        expect(row.locator(".rag-status")).to_have_text("indexed")
        assert page.evaluate("window.sawProgress"), "no progress bar while indexing"
        expect(page.locator("#rag-docs-status")).to_contain_text("1 added, 0 updated, 0 removed, 1 skipped")
        expect(page.locator("#rag-progress")).to_be_hidden()
        skipped = page.locator("#rag-docs-rows tr", has_text=scan)
        expect(skipped.locator(".rag-status")).to_have_text("skipped")
        expect(skipped.locator(".rag-reason")).to_contain_text("broken PDF")
        if width == 1280:
            page.screenshot(path=str(ROOT / "artifacts" / "documents-page.png"))
        else:
            page.screenshot(path="/tmp/documents-phone.png", full_page=True)
        # a file dropped on the drop zone (a DataTransfer, as a browser makes for a drag) of an unsupported type
        page.evaluate("""() => { const dt = new DataTransfer();
            dt.items.add(new File(['MZ'], 'tool.exe', {type: 'application/octet-stream'}));
            document.getElementById('rag-drop').dispatchEvent(new DragEvent('drop', {dataTransfer: dt, bubbles: true,
                cancelable: true})); }""")
        expect(page.locator("#rag-docs-error")).to_contain_text("unsupported file type '.exe'")
        if AXE.exists():
            assert axe_violations(page) == []
        page.get_by_role("link", name="Back to the chat").click()
        box = page.get_by_label("Your question")
        box.fill("When does the rooftop garden open?")
        box.press("Enter")
        expect(page.locator('#rag-chat [data-testid="bot"]').last).to_contain_text("11:15")
        page.locator('#rag-chat [data-testid="bot"] a[href*="#cite?"]').first.click()
        expect(page.locator("#rag-source-panel h3")).to_contain_text("Rooftop garden opening hours")
        with page.expect_download() as download:     # the source drawer's "Open original": the uploaded file
            page.locator("#rag-source-panel").get_by_role("link", name="Open original").click()
        assert download.value.suggested_filename == name
        assert Path(download.value.path()).read_bytes() == GARDEN
        page.keyboard.press("Escape")
        page.goto(site.url + "/documents")
        page.once("dialog", lambda d: d.accept())
        page.get_by_role("button", name=f"Delete {name}").click()
        expect(page.locator("#rag-docs-status")).to_contain_text(f"Deleted {name}.")
        expect(row).to_have_count(0)
        page.once("dialog", lambda d: d.accept())
        page.get_by_role("button", name=f"Delete {scan}").click()
        expect(skipped).to_have_count(0)
        expect(page.locator("#rag-docs-rows")).to_contain_text("Canteen opening hours")
    finally:
        ctx.close()


def test_a_non_manager_gets_no_link_and_a_403(site, browser):
    from playwright.sync_api import expect

    ctx, page = signed_in(browser, site, "ana", 1280)
    try:
        page.goto(site.url + "/")
        expect(page.locator("#rag-chat")).to_contain_text("Every answer quotes its sources")
        expect(page.get_by_role("link", name="Documents")).to_have_count(0)
        assert page.goto(site.url + "/documents").status == 403
        expect(page.locator("body")).to_contain_text("--manage")
    finally:
        ctx.close()
