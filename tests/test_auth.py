"""Sign-in, keys, access per collection, limits and hygiene: the units, then the real app on loopback
(RAG_AUTH=password and RAG_AUTH=proxy) over HTTP, and the sign-in page in headless Chromium."""
from __future__ import annotations

import contextlib
import io
import re
import time
from pathlib import Path

import httpx
import pytest

from rag import Rag, load_settings
from rag.access import Access
from rag.auth import ANONYMOUS, Accounts, Principal
from rag.errors import AccessDenied, ConfigError
from rag.feedback import FeedbackLog, csv_cell
from conftest import AXE, axe_violations, serving, static_site, widget_ask

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).parent / "fixtures_ui"
PASSWORD = "correct horse battery"


# ---------------------------------------------------------------- units

def dump(where) -> str:
    """Every row of every state table, as text."""
    from rag.db import connect

    db = connect(where)
    return "\n".join(str(r) for t in ("users", "sessions", "keys") for r in db.rows(f"SELECT * FROM {t}"))


def test_passwords_sessions_and_keys_are_stored_hashed(state):
    accounts = Accounts(state)
    accounts.add_user("ana", PASSWORD, "staff, hr")
    assert accounts.check_password("ana", PASSWORD) == Principal("ana", frozenset({"staff", "hr"}))
    assert accounts.check_password("ana", "wrong password") is None
    assert accounts.check_password("nobody", PASSWORD) is None
    with pytest.raises(Exception, match="at least 8"):
        accounts.add_user("bo", "short")
    token = accounts.start_session(accounts.user("ana"), hours=1)
    assert accounts.session(token).name == "ana" and accounts.session(token + "x") is None
    key_id, key = accounts.create_key(["default"])
    assert key.startswith(f"rag_{key_id}_") and accounts.key(key).collections == {"default"}
    rows = dump(state)
    assert PASSWORD[:8] not in rows and token not in rows and key not in rows and key_id in rows  # only hashes
    accounts.revoke_key(key_id)
    assert accounts.key(key) is None
    accounts.add_user("ana", "a new password")  # a new password ends the old sessions
    assert accounts.session(token) is None
    accounts.remove_user("ana")
    assert accounts.users() == [] and accounts.check_password("ana", "a new password") is None


def test_access_is_denied_by_default_and_granted_per_group_user_or_key(state):
    access = Access(state)
    staff, eve = Principal("ana", frozenset({"staff"})), Principal("eve", frozenset({"guests"}))
    assert not access.allowed(staff, "default") and not access.allowed(ANONYMOUS, "default")
    access.grant("default", groups=["staff"])
    access.grant("hr", users=["eve"])
    assert access.allowed(staff, "default") and not access.allowed(staff, "hr")
    assert access.allowed(eve, "hr") and not access.allowed(eve, "default")
    assert access.allowed(None, "hr")  # the operator on this host (CLI, evals)
    key = Principal("key:1", kind="key", collections=frozenset({"hr"}))
    assert access.allowed(key, "hr") and not access.allowed(key, "default")
    with pytest.raises(AccessDenied, match="rag access grant hr --users ana"):
        access.check(staff, "hr")
    assert Access(state, open_to_all=True).allowed(ANONYMOUS, "hr")


def test_collection_managers_by_user_or_group_never_keys(state):
    access = Access(state)
    ana, hana, bo = (Principal("ana", frozenset({"staff"})), Principal("hana", frozenset({"people"})),
                     Principal("bo", frozenset({"editors"})))
    access.grant("default", groups=["staff"])
    access.grant("hr", users=["hana"], manage=True)
    access.grant("hr", groups=["editors"], manage=True)
    assert access.may_manage(hana, "hr") and access.allowed(hana, "hr")     # a manager may ask too
    assert access.may_manage(bo, "hr") and access.allowed(bo, "hr")         # through a group
    assert not access.may_manage(ana, "default") and access.allowed(ana, "default")   # asks, does not manage
    assert not access.may_manage(hana, "default") and not access.may_manage(ANONYMOUS, "hr")
    assert access.may_manage(None, "hr") and Access(state, open_to_all=True).may_manage(ANONYMOUS, "hr")
    key = Principal("key:1", kind="key", collections=frozenset({"hr"}))
    assert access.allowed(key, "hr") and not access.may_manage(key, "hr")
    with pytest.raises(AccessDenied, match=r"ana may not manage collection 'default'.*"
                                           r"`rag access grant default --users ana --manage`"):
        access.check_manage(ana, "default")
    with pytest.raises(AccessDenied, match="keys may not manage"):
        access.check_manage(key, "hr")
    access.check_manage(hana, "hr")
    access.grant("hr", users=["hana"])                     # granting again without --manage keeps the role
    assert access.may_manage(hana, "hr")
    assert access.managers() == {"hr": {"groups": ["editors"], "users": ["hana"]}}
    assert access.grants()["hr"] == {"groups": ["editors"], "users": ["hana"]}
    access.revoke("hr", users=["hana"], manage=True)       # only the role: she still asks
    assert not access.may_manage(hana, "hr") and access.allowed(hana, "hr")
    access.revoke("hr", groups=["editors"])
    assert not access.may_manage(bo, "hr") and not access.allowed(bo, "hr") and access.managers() == {}


def test_rate_limiter_refills_on_its_clock():
    from rag.limits import Limiter

    now = [0.0]
    limiter = Limiter(3, clock=lambda: now[0])
    assert [limiter.take("ana") for _ in range(3)] == [0, 0, 0]
    assert limiter.take("ana") == pytest.approx(20.0) and limiter.take("bo") == 0  # per user
    now[0] += 20
    assert limiter.take("ana") == 0 and limiter.take("ana") > 0


def test_shared_rate_limit_is_one_bucket_for_all_replicas(state):
    """Two limiters on one state database (two replicas) take from each caller's one bucket, atomically."""
    from concurrent.futures import ThreadPoolExecutor

    from rag.db import connect
    from rag.limits import SharedLimiter

    now = [1000.0]
    one, two = (SharedLimiter(3, state, clock=lambda: now[0]) for _ in range(2))
    assert [one.take("ana"), two.take("ana"), one.take("ana")] == [0, 0, 0]
    assert two.take("ana") == pytest.approx(20.0) and one.take("ana") == pytest.approx(20.0)
    assert two.take("bo") == 0                                               # per caller
    now[0] += 20
    assert two.take("ana") == 0 and one.take("ana") > 0
    with ThreadPoolExecutor(8) as pool:                                       # concurrent takes of one bucket
        waits = list(pool.map(lambda _: (one, two)[_ % 2].take("cy"), range(12)))
    assert waits.count(0) == 3
    now[0] += 3600                                                            # full buckets' rows are swept
    assert SharedLimiter(3, state, clock=lambda: now[0]).take("dee") == 0
    assert [r["name"] for r in connect(state).rows("SELECT name FROM rate_limits")] == ["dee"]
    real = SharedLimiter(2, state)                                            # the database's own clock
    assert [real.take("eve"), real.take("eve")] == [0, 0] and 0 < real.take("eve") <= 30


def test_csv_export_neutralises_formulas(state):
    log = FeedbackLog(state)
    for q in ["=cmd|' /C calc'!A0", "+HYPERLINK(\"http://x\")", "-2+3", "@SUM(A1)", "\tx", "\rx", "fine = ok"]:
        log.add(q, "a", "up")
    import csv

    cells = [row["question"] for row in csv.DictReader(io.StringIO(log.export("csv"), newline=""))]
    assert cells == ["'=cmd|' /C calc'!A0", "'+HYPERLINK(\"http://x\")", "'-2+3", "'@SUM(A1)", "'\tx", "'\rx", "fine = ok"]
    assert csv_cell(3) == 3 and csv_cell("-") == "'-"


def test_serving_without_sign_in_only_on_loopback(tmp_path, capsys):
    from rag.cli import main
    from ui.app import check_serving

    settings = load_settings(data_dir=tmp_path)
    assert check_serving(settings, "127.0.0.1") == [] and check_serving(settings, "::1") == []
    with pytest.raises(ConfigError, match="RAG_AUTH=password"):
        check_serving(settings, "0.0.0.0")
    assert main(["--data-dir", str(tmp_path), "serve", "--host", "0.0.0.0"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("rag: refusing to serve on 0.0.0.0 without sign-in") and "rag users add" in err
    with pytest.raises(ConfigError, match="RAG_PROXY_ADDRESSES"):
        check_serving(load_settings(data_dir=tmp_path, auth="proxy"), "0.0.0.0")


def test_cli_users_keys_and_access(state, tmp_path, monkeypatch, capsys):
    from rag.cli import main

    d = ["--data-dir", str(tmp_path)]
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    assert main(d + ["users", "add", "ana", "--groups", "staff,hr"]) == 0
    assert main(d + ["users", "list"]) == 0 and "ana  groups: hr, staff" in capsys.readouterr().out
    assert Accounts(state).check_password("ana", PASSWORD)
    assert main(d + ["keys", "create", "--collection", "hr"]) == 0
    out = capsys.readouterr()
    key = out.out.strip()
    assert re.fullmatch(r"rag_[0-9a-f]{8}_\S+", key) and "shown once" in out.err
    assert main(d + ["keys", "list"]) == 0 and key not in capsys.readouterr().out
    assert main(d + ["access", "grant", "hr", "--groups", "hr"]) == 0
    assert "hr  groups: hr  users: -" in capsys.readouterr().out
    assert main(d + ["access", "grant", "hr", "--groups", "editors", "--manage"]) == 0
    assert "hr  groups: editors, hr  users: -  managers: editors" in capsys.readouterr().out
    assert Access(state).may_manage(Principal("bo", frozenset({"editors"})), "hr")
    assert main(d + ["access", "revoke", "hr", "--groups", "editors", "--manage"]) == 0
    assert "hr  groups: editors, hr  users: -\n" in capsys.readouterr().out
    assert main(d + ["users", "remove", "nobody"]) == 2 and "rag users list" in capsys.readouterr().err
    assert main(d + ["keys", "revoke", key.split("_")[1]]) == 0 and Accounts(state).key(key) is None


# ---------------------------------------------------------------- the real app, RAG_AUTH=password

class Site:
    def __init__(self, url, rag, app, accounts):
        self.url, self.rag, self.app, self.accounts = url, rag, app, accounts

    def session(self, name) -> dict:
        return {"Cookie": f"rag_session={self.accounts.start_session(self.accounts.user(name), 1)}"}


@pytest.fixture(scope="module")
def site(tmp_path_factory, embedder):
    """The app with RAG_AUTH=password: collection 'default' open to group staff and managed by group editors
    (mona), 'hr' open to user hana only."""
    from ui.app import create_app

    data = tmp_path_factory.mktemp("auth-data")
    rag = Rag(load_settings(data_dir=data, auth="password", rate_limit=10), embedder=embedder)
    for name in ("default", "hr"):
        assert not rag.ingest([FIXTURES], collection=name).errors
    accounts = Accounts(data)
    accounts.add_user("ana", PASSWORD, "staff")
    accounts.add_user("hana", PASSWORD, "people")
    accounts.add_user("mona", PASSWORD, "editors")
    rag.access.grant("default", groups=["staff"])
    rag.access.grant("hr", users=["hana"])
    rag.access.grant("default", groups=["editors"], manage=True)
    app = create_app(rag)
    with serving(app) as url:
        yield Site(url, rag, app, accounts)


def concrete_routes(app):
    """(method, path) for every route of the app, the mounted Gradio app's included, path parameters filled."""
    from starlette.routing import Mount

    def walk(routes, prefix):
        for route in routes:
            if isinstance(route, Mount):
                yield from walk(route.routes, prefix + route.path)
                continue
            if hasattr(route, "original_router"):  # FastAPI's include_router: its routes under its prefix
                yield from walk(route.original_router.routes, prefix + route.include_context.prefix)
                continue
            path = prefix + route.path
            path = re.sub(r"\{[^}:]+:path\}", "x/y.txt", path)
            path = re.sub(r"\{[^}]+\}", "x", path).replace("//", "/")
            for method in sorted(getattr(route, "methods", None) or {"GET"}):
                if method != "HEAD":
                    yield method, path
    return sorted(set(walk(app.routes, "")))


PUBLIC = {"/signin", "/healthz", "/readyz", "/widget.js", "/favicon.ico"}  # and ui/static/*.css, *.js
LOOPBACK = {"/metrics"}  # operators' data: loopback callers, or RAG_METRICS_TOKEN holders (tests/test_ops.py)


def test_every_route_refuses_anonymous_callers(site):
    routes = concrete_routes(site.app)
    paths = {p for _, p in routes}
    assert {"/api/ask", "/api/sources/x", "/api/sources/x/page", "/api/feedback", "/config", "/gradio_api/info",
            "/gradio_api/queue/join", "/gradio_api/file=x/y.txt", "/embed", "/api/docs", "/api/openapi.json", "/", "/widget.js",
            "/widget/example", "/healthz",
            "/readyz", "/metrics", "/api/sources/x/original", *DOCUMENT_ROUTES} <= paths
    assert len(routes) > 60
    extra = ["/gradio_api/file=/etc/passwd", "/ui-static/embed.html", "/gradio_api/call/ask", "/theme.css",
             "/gradio_api/upload", "/assets/index.js"]
    with httpx.Client(base_url=site.url, timeout=30) as client:
        for method, path in routes + [("GET", p) for p in extra] + [("POST", p) for p in extra]:
            r = client.request(method, path, json={} if method in ("POST", "PUT", "PATCH") else None)
            if path in PUBLIC:
                continue
            if path in LOOPBACK:   # this test's client is on loopback; through a proxy it is not
                assert r.status_code == 200
                r = client.request(method, path, headers={"X-Forwarded-For": "203.0.113.9"})
                assert r.status_code == 403, (method, path, r.status_code)
                continue
            assert r.status_code in (401, 403), (method, path, r.status_code, r.text[:200])
            assert len(r.text) < 300 and "root:" not in r.text
        page = client.get("/", headers={"Accept": "text/html"})
        assert page.status_code == 303 and page.headers["location"] == "/signin?next=/"
        for path in ("/healthz", "/readyz", "/widget.js"):
            assert client.get(path).status_code == 200
        static = {f.name for f in (ROOT / "ui" / "static").iterdir() if f.suffix in (".css", ".js")}
        for name in static:
            assert client.get(f"/ui-static/{name}").status_code == 200  # the repository's own code, no data
        assert client.get("/ui-static/embed.html").status_code == 401


def test_every_route_refuses_an_unauthorised_key_and_user(site):
    _, key = site.accounts.create_key(["default"])
    _, widget = site.accounts.create_key(["default"], "widget", ["http://127.0.0.1:9"])
    with httpx.Client(base_url=site.url, timeout=30) as client:
        for method, path in concrete_routes(site.app):
            if path in PUBLIC or path in LOOPBACK:
                continue
            for k, allowed in ((key, r"/api/(ask|sources/x(/page)?|feedback)"),
                               (widget, r"/(api/ask|api/sources/x(/page)?|embed)")):
                if re.fullmatch(allowed, path):
                    continue
                r = client.request(method, path, headers={"Authorization": f"Bearer {k}"})
                assert r.status_code == 403, (method, path, r.status_code)
        ana, hana = site.session("ana"), site.session("hana")
        assert client.post("/api/ask", json={"question": "When does the canteen open?", "collection": "hr"},
                           headers=ana).status_code == 403
        assert client.post("/api/ask", json={"question": "When does the canteen open?"}, headers=hana).status_code == 403
        doc_id = next(iter(site.rag.documents("hr")))
        r = client.get(f"/api/sources/{doc_id}", params={"collection": "hr"}, headers=ana)
        assert r.status_code == 403 and "rag access grant hr" in r.json()["detail"]
        assert client.get(f"/api/sources/{doc_id}", params={"collection": "hr"}, headers=hana).status_code == 200
        page = {"collection": "hr", "start": 0, "end": 5}   # a source's page image: the same check, then the rest
        r = client.get(f"/api/sources/{doc_id}/page", params=page, headers=ana)
        assert r.status_code == 403 and "rag access grant hr" in r.json()["detail"]
        r = client.get(f"/api/sources/{doc_id}/page", params=page, headers=hana)
        assert r.status_code == 404 and "not a .pdf file" in r.json()["detail"]
        r = client.get(f"/api/sources/{doc_id}/page", params=page, headers={"Authorization": f"Bearer {key}"})
        assert r.status_code == 403   # a key for 'default' only
        assert client.post("/api/ask", json={"question": "Hi there", "collection": "hr"},
                           headers={"Authorization": f"Bearer {key}"}).status_code == 403
        r = client.post("/api/ask", json={"question": "When does the canteen open?", "collection": "hr"},
                        headers={"Authorization": "Bearer rag_00000000_" + "x" * 43})
        assert r.status_code == 401 and "rag keys create" in r.json()["detail"]


DOCUMENT_ROUTES = {"/documents", "/api/collections/x/documents", "/api/collections/x/documents/x",
                   "/api/collections/x/ingest"}   # the documents page: managers only (ui/documents.py)


def test_document_routes_refuse_non_managers_and_serve_managers(site):
    """Every route of the documents page: a signed-in user who may ask but not manage gets 403 naming the fix
    (`--manage`); a manager gets it; so does the source's original for whoever may ask, and no key."""
    routes = [(m, p) for m, p in concrete_routes(site.app) if p in DOCUMENT_ROUTES]
    assert {p for _, p in routes} == DOCUMENT_ROUTES and len(routes) == 6   # a new route must be added here
    ana, mona = site.session("ana"), site.session("mona")
    with httpx.Client(base_url=site.url, timeout=60) as client:
        def call(method, path, headers):
            path = path.replace("/collections/x/", "/collections/default/")
            files = [("files", ("note.md", b"# Note\n\nThe note says hello.", "text/markdown"))]
            return client.request(method, path, headers=headers, files=files if path.endswith("/documents")
                                  and method == "POST" else None)

        def settle():
            for _ in range(600):
                if client.get("/api/collections/default/ingest", headers=mona).json()["state"] != "running":
                    return
                time.sleep(0.1)
        for method, path in routes:
            r = call(method, path, ana)
            assert r.status_code == 403, (method, path, r.status_code)
            assert "--manage" in r.text, (method, path, r.text[:200])
        for method, path in sorted(routes, key=lambda r: r[0] == "DELETE"):   # delete what was uploaded last
            if method == "DELETE":
                docs = client.get("/api/collections/default/documents", headers=mona).json()["documents"]
                path = path.replace("/documents/x", "/documents/" + next(d["id"] for d in docs if d["uploaded"]))
            r = call(method, path, mona)
            assert r.status_code in (200, 202), (method, path, r.status_code, r.text[:200])
            settle()
        doc_id = next(iter(site.rag.documents("default")))
        r = client.get(f"/api/sources/{doc_id}/original", headers=site.session("hana"))   # may not ask 'default'
        assert r.status_code == 403 and "rag access grant default" in r.json()["detail"]
        assert client.get(f"/api/sources/{doc_id}/original", headers=ana).status_code == 200
    assert site.rag.may_manage(site.accounts.user("mona"), "default")
    assert not site.rag.may_manage(site.accounts.user("ana"), "default") and site.rag.may_manage(None, "default")
    assert site.rag.managed(site.accounts.user("mona")) == ["default"] and site.rag.managed(ANONYMOUS) == []


def test_gradio_chat_refuses_a_signed_in_user_without_a_grant(site):
    from gradio_client import Client

    from rag.audit import AuditLog

    question = "When does the canteen open? (asked in the chat)"
    hana = Client(site.url + "/", verbose=False, headers=site.session("hana"))  # granted hr, not default
    box, chat, notice, _ = hana.predict(question, [], "default", "b1", api_name="/ask")
    assert chat == [] and "hana may not use collection 'default'" in notice
    ana = Client(site.url + "/", verbose=False, headers=site.session("ana"))
    box, chat, notice, _ = ana.predict(question, [], "default", "b1", api_name="/ask")
    assert notice == "" and "#cite?" in str(chat[-1]["content"])
    rows = [r for r in AuditLog(site.rag.settings.data_dir).rows() if r["question"] == question]
    assert [(r["user"], r["action"]) for r in rows] == [("hana", "denied"), ("ana", "ask")]


def test_library_enforces_access_for_every_caller(site):
    ana = site.accounts.user("ana")
    with pytest.raises(AccessDenied):
        site.rag.ask("When does the canteen open?", collection="hr", user=ana)
    with pytest.raises(AccessDenied):
        site.rag.search("canteen", collection="hr", user=ana)
    with pytest.raises(AccessDenied):
        site.rag.document(next(iter(site.rag.documents("hr"))), "hr", user=ana)
    with pytest.raises(AccessDenied):
        site.rag.ask("When does the canteen open?", user=ANONYMOUS)
    assert set(site.rag.status(user=ana)["collections"]) == {"default"}
    assert site.rag.search("canteen", user=ana)


def test_sign_in_session_cookie_and_sign_out(site):
    with httpx.Client(base_url=site.url, timeout=60) as client:
        bad = client.post("/signin", data={"name": "ana", "password": "nope-nope", "next": "/"})
        assert bad.status_code == 401 and "Wrong user name or password" in bad.text and "rag_session" not in bad.headers.get("set-cookie", "")
        ok = client.post("/signin", data={"name": "ana", "password": PASSWORD, "next": "//evil.example/"})
        assert ok.status_code == 303 and ok.headers["location"] == "/"  # no open redirect
        cookie = ok.headers["set-cookie"]
        assert re.search(r"rag_session=\S+;", cookie) and all(
            flag in cookie.lower() for flag in ("httponly", "secure", "samesite=lax", "path=/"))
        headers = {"Cookie": cookie.split(";")[0]}
        r = client.post("/api/ask", json={"question": "When does the canteen open?"}, headers=headers)
        assert r.status_code == 200 and r.json()["citations"], r.text
        assert client.get("/config", headers=headers).status_code == 200
        fb = {"question": "q", "answer": "a", "verdict": "up"}
        assert client.post("/api/feedback", json=fb, headers=headers).status_code == 201
        assert client.post("/api/feedback", json=fb | {"collection": "hr"}, headers=headers).status_code == 403
        assert client.post("/signout", headers=headers).status_code == 303
        assert client.post("/api/ask", json={"question": "When does the canteen open?"}, headers=headers).status_code == 401
        cross = client.post("/signin", data={"name": "ana", "password": PASSWORD},
                            headers={"Origin": "https://evil.example"})
        assert cross.status_code == 403


def test_api_key_asks_over_rest(site):
    key_id, key = site.accounts.create_key(["hr"])
    auth = {"Authorization": f"Bearer {key}"}
    r = httpx.post(f"{site.url}/api/ask", json={"question": "When does the canteen open?", "collection": "hr"},
                   headers=auth, timeout=60)
    assert r.status_code == 200 and r.json()["citations"]
    c = r.json()["citations"][0]
    src = httpx.get(f"{site.url}/api/sources/{c['doc_id']}", params={"collection": "hr"}, headers=auth)
    assert src.json()["text"][c["start"]:c["end"]] == c["quote"]
    streamed = httpx.post(f"{site.url}/api/ask", json={"question": "When does the canteen open?", "collection": "hr",
                                                     "stream": True}, headers=auth, timeout=60)
    assert streamed.status_code == 200 and "event: answer" in streamed.text
    assert httpx.post(f"{site.url}/api/ask", json={"question": "Hi?", "stream": True},
                      headers=auth).status_code == 403  # a collection the key was not made for, streamed or not
    from rag.audit import AuditLog
    assert sum(r["user"] == f"key:{key_id}" and r["action"] == "ask" for r in AuditLog(site.rag.settings.data_dir).rows()) == 2
    site.accounts.revoke_key(key_id)
    assert httpx.post(f"{site.url}/api/ask", json={"question": "x?"}, headers=auth).status_code == 401


def test_rate_limit_per_key_answers_429_with_retry_after(site):
    _, key = site.accounts.create_key(["default"])
    auth = {"Authorization": f"Bearer {key}"}
    # 10 a minute: the bucket refills one request every 6 s, far longer than these 11 quick requests take
    codes = [httpx.post(f"{site.url}/api/ask", json={"question": ""}, headers=auth).status_code for _ in range(11)]
    assert codes == [400] * 10 + [429]
    r = httpx.post(f"{site.url}/api/ask", json={"question": ""}, headers=auth)
    assert r.status_code == 429 and 1 <= int(r.headers["retry-after"]) <= 6 and "RAG_RATE_LIMIT" in r.json()["detail"]
    _, other = site.accounts.create_key(["default"])  # limits are per key
    assert httpx.post(f"{site.url}/api/ask", json={"question": ""},
                      headers={"Authorization": f"Bearer {other}"}).status_code == 400


def test_widget_key_asks_only_from_its_pages(site):
    _, widget = site.accounts.create_key(["default"], "widget", ["http://127.0.0.1:9"])
    auth = {"Authorization": f"Bearer {widget}"}
    q = {"question": "When does the canteen open?"}
    embed = httpx.get(f"{site.url}/embed", params={"key": widget})
    assert embed.status_code == 200 and "frame-ancestors 'self' http://127.0.0.1:9" in embed.headers["content-security-policy"]
    assert "localhost" not in embed.headers["content-security-policy"]
    assert httpx.get(f"{site.url}/embed").status_code == 401
    for origin, status in ((site.url, 200), ("http://127.0.0.1:9", 200), ("https://evil.example", 403), (None, 403)):
        headers = {**auth, **({"Origin": origin} if origin else {})}
        assert httpx.post(f"{site.url}/api/ask", json=q, headers=headers, timeout=60).status_code == status, origin
    r = httpx.post(f"{site.url}/api/feedback", json={"question": "q", "answer": "a", "verdict": "up"},
                   headers={**auth, "Origin": site.url})
    assert r.status_code == 403
    with pytest.raises(Exception, match="bad origin"):
        site.accounts.create_key(["default"], "widget", ["javascript:alert(1)"])


GAP_ROUTES = [("GET", "/gaps"), ("GET", "/gaps/export"), ("POST", "/gaps/eval")]   # managers of a collection only


def test_gap_report_routes_are_for_a_collections_managers_only(site):
    assert set(GAP_ROUTES) <= set(concrete_routes(site.app))
    site.accounts.add_user("mo", PASSWORD, "leads")
    site.rag.access.grant("default", groups=["leads"], manage=True)
    _, key = site.accounts.create_key(["default"])
    with httpx.Client(base_url=site.url, timeout=30) as client:
        for method, path in GAP_ROUTES:
            data = {"collection": "default", "id": "gap-0000000000"} if method == "POST" else None
            assert client.request(method, path, data=data).status_code == 401
            r = client.request(method, path, data=data, headers={"Authorization": f"Bearer {key}"})
            assert r.status_code == 403
            r = client.request(method, path, data=data, headers=site.session("ana"))   # asks, does not manage
            assert r.status_code == 403 and "rag access grant default --users ana --manage" in r.json()["detail"]
            r = client.request(method, path, data=data, headers=site.session("mo"))
            assert r.status_code == (404 if method == "POST" else 200), (path, r.text)   # no such gap: 404
        assert client.get("/gaps", params={"collection": "hr"}, headers=site.session("mo")).status_code == 403


def test_audit_log_records_asks_reads_and_refusals(site, tmp_path):
    import csv
    import json

    from rag.audit import AuditLog
    from rag.cli import main

    hana, ana = site.session("hana"), site.session("ana")
    q = {"question": "When does the canteen open?", "collection": "hr"}
    a = httpx.post(f"{site.url}/api/ask", json=q, headers=hana, timeout=60).json()
    doc_id = a["citations"][0]["doc_id"]
    assert httpx.get(f"{site.url}/api/sources/{doc_id}", params={"collection": "hr"}, headers=hana).status_code == 200
    assert httpx.post(f"{site.url}/api/ask", json={**q, "question": "=HYPERLINK(1)"}, headers=ana).status_code == 403
    rows = AuditLog(site.rag.settings.data_dir).rows()
    asked = next(r for r in rows if r["action"] == "ask" and r["user"] == "hana")
    assert asked["collection"] == "hr" and asked["answer"] == a["answer"] and asked["client"] == "127.0.0.1"
    assert [c["source"] for c in asked["citations"]] == [c["source"] for c in a["citations"]]
    assert any(r["action"] == "read" and r["user"] == "hana" and r["doc_id"] == doc_id for r in rows)
    denied = next(r for r in rows if r["action"] == "denied" and r["question"] == "=HYPERLINK(1)")
    assert denied["user"] == "ana" and denied["collection"] == "hr" and "rag access grant" in denied["detail"]
    out = tmp_path / "audit.csv"
    assert main(["--data-dir", str(site.rag.settings.data_dir), "audit", "export", "--format", "csv",
                 "--out", str(out)]) == 0
    exported = list(csv.DictReader(out.open(newline="")))
    assert any(r["question"] == "'=HYPERLINK(1)" for r in exported)  # formulas neutralised here too


# ---------------------------------------------------------------- limits and hygiene (open mode)

@pytest.fixture(scope="module")
def open_site(tmp_path_factory, embedder):
    from ui.app import create_app

    rag = Rag(load_settings(data_dir=tmp_path_factory.mktemp("open-data")), embedder=embedder)
    assert not rag.ingest([FIXTURES]).errors
    with serving(create_app(rag)) as url:
        yield url, rag


def test_big_bodies_get_413_and_422s_never_echo_the_input(open_site):
    url, _ = open_site
    big = httpx.post(f"{url}/api/ask", json={"question": "x" * 10_000_000}, timeout=60)
    assert big.status_code == 413 and len(big.text) < 200
    fb = httpx.post(f"{url}/api/feedback", content=b'{"question": "' + b"y" * 300_000 + b'"}',
                    headers={"Content-Type": "application/json"}, timeout=60)
    assert fb.status_code == 413
    long = httpx.post(f"{url}/api/ask", json={"question": "z" * 150_000}, timeout=60)
    assert long.status_code == 422 and "zzz" not in long.text and "at most 100000" in long.json()["detail"]
    history = [{"role": "user", "content": "h" * 20_001}]
    r = httpx.post(f"{url}/api/ask", json={"question": "Why?", "history": history}, timeout=60)
    assert r.status_code == 422 and "hhh" not in r.text and r.json()["detail"].startswith("history.0.content")
    assert httpx.post(f"{url}/api/ask", content=b"{not json", headers={"Content-Type": "application/json"}).status_code == 422


@pytest.mark.parametrize("body", [
    {"question": "When does the canteen open?\ud800"},
    {"question": "Why?", "history": [{"role": "user", "content": "a\udfff"}]},
    {"question": "When\x00 does it open?"},
    {"question": "When does it open?\x1b[31m"}])
def test_surrogates_and_control_characters_get_400(open_site, body):
    import json

    url, _ = open_site
    r = httpx.post(f"{url}/api/ask", content=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and "control characters or unpaired surrogates" in r.json()["detail"]


def test_feedback_hygiene_and_spoofed_identity_headers(open_site):
    import json

    url, rag = open_site
    body = {"question": "q\ud800", "answer": "a", "verdict": "up"}
    r = httpx.post(f"{url}/api/feedback", content=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    assert r.status_code == 400
    r = httpx.post(f"{url}/api/feedback", json={"question": "spoof", "answer": "a", "verdict": "up"},
                   headers={"X-Forwarded-User": "boss", "X-Remote-User": "boss"})
    assert r.status_code == 201
    row = next(x for x in FeedbackLog(rag.settings.data_dir).rows() if x["question"] == "spoof")
    assert row["user"] is None  # identity headers from a client are not believed


def test_unknown_host_names_are_refused(open_site):
    url, _ = open_site
    for path in ("/config", "/", "/api/openapi.json"):
        r = httpx.get(url + path, headers={"Host": "evil.example"})
        assert r.status_code == 400 and "RAG_ALLOWED_HOSTS" in r.text and "evil" not in r.text
    assert httpx.get(url + "/healthz", headers={"Host": "localhost:7860"}).status_code == 200


def test_gradio_chat_api_rejects_bad_characters(open_site):
    import json

    from gradio_client import Client

    url, _ = open_site
    client = Client(url + "/", verbose=False)
    box, chat, notice, _ = client.predict("When\x00 does the canteen open?", [], "default", "b1", api_name="/ask")
    assert "plain text" in notice and chat == []
    # a lone surrogate cannot even be sent by gradio_client (httpx refuses to encode it): plain HTTP, JSON-escaped
    sent = httpx.post(f"{url}/gradio_api/call/ask", content=json.dumps({"data": ["Why?\ud800", [], "default", "b1"]}).encode(),
                      headers={"Content-Type": "application/json"})
    assert sent.status_code == 200, sent.text
    events = httpx.get(f"{url}/gradio_api/call/ask/{sent.json()['event_id']}", timeout=60).text
    assert "plain text" in events and "Traceback" not in events


# ---------------------------------------------------------------- RAG_AUTH=proxy

def test_proxy_headers_only_from_the_proxy_or_with_its_secret(tmp_path, embedder, open_site):
    from ui.app import create_app

    _, source = open_site
    secret = "s3cret-shared-with-the-proxy"
    rag = Rag(load_settings(data_dir=source.settings.data_dir, auth="proxy", proxy_addresses="127.0.0.2",
                            proxy_secret=secret), embedder=embedder, store=source.store)
    rag.access.grant("default", groups=["staff"])
    with serving(create_app(rag)) as url:
        q = {"question": "When does the canteen open?"}
        who = {"X-Forwarded-User": "ana", "X-Forwarded-Groups": "staff"}
        assert httpx.post(f"{url}/api/ask", json=q, headers=who, timeout=60).status_code == 401  # from 127.0.0.1
        via_proxy = httpx.Client(transport=httpx.HTTPTransport(local_address="127.0.0.2"), timeout=60)
        assert via_proxy.post(f"{url}/api/ask", json=q, headers=who).status_code == 200
        assert via_proxy.post(f"{url}/api/ask", json=q, headers={"X-Forwarded-User": "eve",
                                                                 "X-Forwarded-Groups": "guests"}).status_code == 403
        assert httpx.post(f"{url}/api/ask", json=q, headers={**who, "X-Rag-Proxy-Secret": secret},
                          timeout=60).status_code == 200
        assert httpx.post(f"{url}/api/ask", json=q, headers={**who, "X-Rag-Proxy-Secret": "wrong" * 6},
                          timeout=60).status_code == 401


@contextlib.contextmanager
def sso_proxy(upstream: str, inject: dict):
    """A tiny real reverse proxy on loopback, as oauth2-proxy would sit in front of the app: every request is
    passed on to `upstream` with the client's identity headers dropped and `inject` added; responses are
    streamed back as they come (the chat's server-sent events too). Yields its base URL."""
    import http.client
    import http.server
    import threading

    from ui.guard import IDENTITY_HEADERS

    hop = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-connection"}
    host, port = upstream.split("://")[1].split(":")

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"      # one request per connection: a body ends when the connection closes

        def relay(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            headers = {k: v for k, v in self.headers.items() if k.lower() not in hop | IDENTITY_HEADERS}
            conn = http.client.HTTPConnection(host, int(port), timeout=120)
            conn.request(self.command, self.path, body=body or None, headers={**headers, **inject})
            answer = conn.getresponse()
            self.send_response(answer.status)
            for k, v in answer.getheaders():
                if k.lower() not in hop | {"date", "server"}:
                    self.send_header(k, v)
            self.end_headers()
            while chunk := answer.read1(65536):
                self.wfile.write(chunk)
                self.wfile.flush()
            conn.close()

        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_OPTIONS = relay

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


def test_chat_through_a_real_sso_proxy_in_chromium(tmp_path, embedder, open_site, browser):
    """RAG_AUTH=proxy behind a reverse proxy that signs the user in (its headers and the shared secret): the chat
    works through it as that user; the same identity headers sent to the app directly are ignored."""
    from playwright.sync_api import expect

    from rag.audit import AuditLog
    from ui.app import create_app

    _, source = open_site
    secret = "s3cret-only-the-proxy-knows"
    data = tmp_path / "proxied"
    rag = Rag(load_settings(data_dir=data, auth="proxy", proxy_secret=secret), embedder=embedder, store=source.store)
    rag.access.grant("default", groups=["staff"])
    who = {"X-Forwarded-User": "ana", "X-Forwarded-Groups": "staff"}
    contexts = []
    with serving(create_app(rag)) as app, sso_proxy(app, {**who, "X-Rag-Proxy-Secret": secret}) as proxy:
        try:
            contexts.append(browser.new_context(viewport={"width": 1100, "height": 800}))
            page = contexts[-1].new_page()
            page.set_default_timeout(30_000)
            page.goto(proxy + "/")
            box = page.get_by_label("Your question")
            box.fill("When does the canteen open?")
            box.press("Enter")
            expect(page.locator('#rag-chat a[href*="#cite?"]').first).to_be_visible()
            asked = [r for r in AuditLog(data).rows() if r["action"] == "ask"]
            assert [(r["user"], r["question"]) for r in asked] == [("ana", "When does the canteen open?")]

            contexts.append(browser.new_context(extra_http_headers=who))      # the same headers, not via the proxy
            direct = contexts[-1].new_page()
            assert direct.goto(app + "/").status == 401
            assert "sign in through the SSO proxy" in direct.content()
        finally:
            for ctx in contexts:
                ctx.close()


def test_rag_serve_never_takes_the_peer_address_from_x_forwarded_for(tmp_path):
    """`rag serve` itself (a subprocess): a client claiming to be the proxy via X-Forwarded-For stays unknown."""
    import os
    import subprocess
    import sys

    from conftest import free_port

    port = free_port()
    env = {**os.environ, "RAG_AUTH": "proxy", "RAG_PROXY_ADDRESSES": "10.9.9.9", "RAG_DATA_DIR": str(tmp_path)}
    proc = subprocess.Popen([str(Path(sys.executable).with_name("rag")), "serve", "--port", str(port)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert any("serving the chat on" in line for line in proc.stdout)  # ends early only if serve exits
        url = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                httpx.get(url + "/healthz")
                break
            except httpx.TransportError:
                time.sleep(0.1)
        spoof = {"X-Forwarded-For": "10.9.9.9", "X-Real-IP": "10.9.9.9", "Forwarded": "for=10.9.9.9",
                 "X-Forwarded-User": "admin", "X-Forwarded-Groups": "staff"}
        r = httpx.get(url + "/config", headers=spoof)
        assert r.status_code == 401 and "SSO proxy" in r.json()["detail"]
    finally:
        proc.terminate()
        proc.wait(10)


# ---------------------------------------------------------------- the sign-in page in a real browser

def test_sign_in_page_then_chat_then_sign_out_in_chromium(site, browser):
    from playwright.sync_api import expect

    contexts = []
    try:
        contexts.append(browser.new_context(viewport={"width": 1100, "height": 800}, bypass_csp=True))
        page = contexts[-1].new_page()
        page.set_default_timeout(30_000)
        page.goto(site.url + "/")
        assert "/signin?next=/" in page.url
        assert not AXE.exists() or axe_violations(page) == []   # axe-core: the sign-in page too
        page.get_by_label("User name").fill("ana")
        page.get_by_label("Password").fill("wrong password")
        page.get_by_role("button", name="Sign in").click()
        expect(page.locator("#rag-signin-error")).to_contain_text("Wrong user name or password")
        ARTIFACTS = ROOT / "artifacts"
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "signin.png"))
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        box = page.get_by_label("Your question")
        box.fill("When does the canteen open?")
        box.press("Enter")
        expect(page.locator('#rag-chat a[href*="#cite?"]').first).to_be_visible()
        page.screenshot(path=str(ARTIFACTS / "chat-signed-in.png"))
        cookie = next(c for c in page.context.cookies() if c["name"] == "rag_session")
        assert cookie["httpOnly"] and cookie["secure"] and cookie["sameSite"] == "Lax"
        page.get_by_role("button", name="Sign out").click()
        expect(page.get_by_role("button", name="Sign in")).to_be_visible()
        page.goto(site.url + "/")
        assert "/signin" in page.url
        for name, collection, chats in (("hana", "hr", 0), ("ana", "default", 1)):  # a fresh browser each
            contexts.append(browser.new_context(viewport={"width": 1100, "height": 800}))
            other = contexts[-1].new_page()
            other.set_default_timeout(30_000)
            other.goto(site.url + "/")
            other.get_by_label("User name").fill(name)
            other.get_by_label("Password").fill(PASSWORD)
            other.get_by_role("button", name="Sign in").click()
            expect(other.get_by_label("Collection")).to_have_value(collection)   # only what they may ask
            expect(other.locator("#rag-past").get_by_text("When does the canteen open?", exact=True)).to_have_count(chats)
    finally:
        for ctx in contexts:
            ctx.close()


def test_widget_key_on_an_intranet_page_in_chromium(site, tmp_path, browser):
    """The widget with a publishable key on a page of another origin: asks, cites, opens the source; the
    same key on a page of an origin it was not made for is refused by the browser (CSP frame-ancestors),
    and the widget says so."""
    from playwright.sync_api import expect

    with static_site(tmp_path) as intranet:
        _, key = site.accounts.create_key(["default"], "widget", [intranet])
        html = (ROOT / "ui" / "widget" / "example.html").read_text("utf-8").replace("http://127.0.0.1:7860", site.url)
        (tmp_path / "index.html").write_text(html.replace('data-accent="#0a7d55"', f'data-accent="#0a7d55" data-key="{key}"'))
        _, other = site.accounts.create_key(["default"], "widget", ["https://elsewhere.example"])
        (tmp_path / "other.html").write_text(html.replace('data-accent="#0a7d55"', f'data-accent="#0a7d55" data-key="{other}"'))
        ctx = browser.new_context(viewport={"width": 1100, "height": 800})
        try:
            page = ctx.new_page()
            page.set_default_timeout(30_000)
            page.goto(intranet + "/index.html")
            chat, link = widget_ask(page, "When does the canteen open?")
            link.click()
            expect(chat.locator("mark.rag-cited")).to_contain_text("7:30")
            expect(chat.locator(".rag-fb")).to_have_count(0)  # widget keys do not write feedback
            page.goto(intranet + "/other.html")  # a key made for another site's pages
            with page.expect_console_message(lambda m: "frame-ancestors" in m.text) as refused:
                page.locator("#rag-widget-button").click()
            assert "blocked" in refused.value.text and "https://elsewhere.example" in refused.value.text
            expect(page.locator("#rag-widget-refused")).to_contain_text("may not embed the chat")
            assert not any(f.url.startswith(site.url + "/embed") for f in page.frames)
        finally:
            ctx.close()
