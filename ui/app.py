"""The web app: FastAPI with REST routes, widget.js, the /embed view and the Gradio chat mounted at /."""
from __future__ import annotations

import html
import ipaddress
import json
import logging
import os
import re
import time
from contextlib import asynccontextmanager
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # before gradio is imported: nothing phones home

from fastapi import FastAPI, Query, Request  # noqa: E402
from fastapi.exceptions import RequestValidationError  # noqa: E402
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response  # noqa: E402
from fastapi.staticfiles import StaticFiles  # noqa: E402

from rag import FeedbackLog, RagError  # noqa: E402
from rag.errors import ConfigError, Unavailable  # noqa: E402

from .api import caller, invalid_request, router  # noqa: E402
from .documents import router as documents_router  # noqa: E402
from .gaps import router as gaps_router  # noqa: E402
from .guard import Guard, principal_of  # noqa: E402
from .ops import Observe, router as ops_router  # noqa: E402

log = logging.getLogger(__name__)
HERE = Path(__file__).parent
STATIC, WIDGET = HERE / "static", HERE / "widget"
EMBED_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; "
             "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors {ancestors}")
GRACE_S = 30         # on SIGTERM/Ctrl-C: stop accepting, let requests in flight finish for up to this long
API_THREADS = 32      # worker threads for sync routes (/api/ask): 8+ concurrent askers are served at once
CHAT_CONCURRENCY = 8  # Gradio queue: chat events run concurrently per event
ACCENT = "#2563eb"    # the product's accent: the chat's theme, style.css (--rag-accent) and the widget's default


def embed_origins(setting: str) -> list[str]:
    """RAG_EMBED_ORIGINS as a list of CSP source expressions (e.g. https://intranet.example.com, http://localhost:*)."""
    return [o.rstrip("/") for o in re.split(r"[\s,]+", setting or "") if o]


def origin_allowed(origin: str, patterns: list[str]) -> bool:
    """CORS check with the same patterns as frame-ancestors: '*' matches one host label or a port."""
    for p in patterns:
        if p == "*":
            return True
        rx = "".join("[A-Za-z0-9-]+" if ch == "*" else re.escape(ch) for ch in p)
        if re.fullmatch(rx, origin):
            return True
    return False


def browser_secret(data_dir: Path) -> str:
    """The key encrypting each browser's conversation id in its localStorage, kept under the data dir so the
    id (and the browser's saved chats) survive a restart."""
    path = Path(data_dir) / "browser.secret"
    if not path.exists():
        import secrets

        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(32), "utf-8")
        path.chmod(0o600)
    return path.read_text("utf-8").strip()


def theme():
    """The chat's Gradio theme: the accent, type and radii of ui/static/style.css (shared with the widget)."""
    import gradio as gr

    return gr.themes.Default(primary_hue="blue", neutral_hue="slate", radius_size="lg",
                             font=["system-ui", "-apple-system", "Segoe UI", "sans-serif"],
                             font_mono=["ui-monospace", "monospace"]).set(
        button_primary_background_fill=ACCENT, button_primary_background_fill_hover="#1d4ed8",
        button_primary_background_fill_dark="#60a5fa", button_primary_text_color_dark="#0b1220",
        color_accent=ACCENT, body_background_fill="var(--rag-bg)", body_background_fill_dark="var(--rag-bg)",
        block_background_fill="var(--rag-surface)", block_background_fill_dark="var(--rag-surface)",
        body_text_color="var(--rag-fg)", body_text_color_dark="var(--rag-fg)", border_color_primary="var(--rag-border)",
        border_color_primary_dark="var(--rag-border)", block_border_width="0px", layout_gap="0.5rem")


def create_app(rag, feedback: FeedbackLog | None = None):
    """The FastAPI app for one Rag object (routes: /api/*, /healthz, /widget.js, /widget/example, /embed,
    /gaps, /documents, / = Gradio chat), every route behind the Guard (Host, body limit, sign-in, keys, rate limits)."""
    import gradio as gr

    from rag.audit import AuditLog
    from rag.auth import Accounts
    from rag.catalog import Catalog
    from rag.chats import Chats

    from .chat import build_chat

    catalog = Catalog(rag.settings)
    feedback = feedback or FeedbackLog(rag.settings)
    origins = embed_origins(rag.settings.embed_origins)
    accounts = None if rag.settings.auth == "none" else Accounts(rag.settings)
    audit = AuditLog(rag.settings, rag.settings.audit_days)
    @asynccontextmanager
    async def lifespan(app):
        import anyio.to_thread

        anyio.to_thread.current_default_thread_limiter().total_tokens = API_THREADS
        yield
        log.info("stopped: requests in flight were finished (or cut after %d s)", GRACE_S)

    app = FastAPI(lifespan=lifespan, title="Cited answers", version="1", docs_url="/api/docs", redoc_url=None,
                  openapi_url="/api/openapi.json",
                  description="Ask questions over the indexed documents and get answers with citations.")
    app.state.rag, app.state.feedback = rag, feedback

    @app.middleware("http")
    async def security(request: Request, call_next):
        origin, path = request.headers.get("origin"), request.url.path
        cors = path.startswith("/api/") and origin and origin_allowed(origin, origins)
        if cors and request.method == "OPTIONS":
            response = Response(status_code=204, headers={
                "Access-Control-Allow-Methods": "GET, POST, OPTIONS", "Access-Control-Max-Age": "600",
                "Access-Control-Allow-Headers": "Content-Type, Authorization"})
        else:
            response = await call_next(request)
        if cors:
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Vary"] = "Origin"
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        if path == "/embed":
            widget = principal_of(request)
            pages = widget.origins if widget and widget.kind == "widget" else origins  # a widget key: its pages only
            response.headers["Content-Security-Policy"] = EMBED_CSP.format(ancestors=" ".join(["'self'", *pages]))
        elif not path.startswith(("/api/", "/widget.js", "/ui-static/")):
            response.headers.setdefault("Content-Security-Policy", "frame-ancestors 'self'")
        return response

    app.add_middleware(Guard, settings=rag.settings, accounts=accounts, origins=origins)  # runs before the app
    app.add_middleware(Observe)  # outermost: every answer, refusals included, gets a request id and is counted
    app.add_exception_handler(RequestValidationError, invalid_request)
    app.add_exception_handler(Unavailable, lambda request, e: JSONResponse({"detail": str(e)}, status_code=503))
    app.include_router(router(rag, feedback, audit))
    app.include_router(gaps_router(rag, feedback, audit))
    app.include_router(documents_router(rag, audit))
    app.include_router(ops_router(rag))
    if rag.settings.auth == "password":
        from .signin import router as signin_router
        app.include_router(signin_router(accounts, rag.settings))

    @app.get("/widget.js", include_in_schema=False)
    def widget_js():
        return FileResponse(WIDGET / "widget.js", media_type="text/javascript",
                            headers={"Cache-Control": "public, max-age=300"})

    page = (STATIC / "embed.html").read_text("utf-8")   # read once, not on every widget open
    example_page = (WIDGET / "example.html").read_text("utf-8")

    @app.get("/embed", response_class=HTMLResponse, include_in_schema=False)
    def embed(request: Request, title: str = Query("Ask the sources", max_length=80),
              collection: str | None = Query(None, max_length=50)):
        try:   # the collection's own examples, to those who may ask it; none rather than another's
            examples = catalog.info(rag._collection(collection, caller(rag, request)))["examples"]
        except RagError:
            examples = []
        return page.replace("{title}", html.escape(title)).replace("{examples}", html.escape(json.dumps(examples)))

    @app.get("/widget/example", response_class=HTMLResponse, include_in_schema=False)
    def widget_example(request: Request):
        """ui/widget/example.html with its script tag pointing at this server: the widget in one click."""
        return example_page.replace("http://127.0.0.1:7860", str(request.base_url).rstrip("/"))

    app.mount("/ui-static", StaticFiles(directory=STATIC), name="ui-static")

    demo = build_chat(rag, feedback, audit, catalog, Chats(rag.settings), browser_secret(rag.settings.data_dir))
    demo = demo.queue(default_concurrency_limit=CHAT_CONCURRENCY, max_size=64)
    head = ('<link rel="stylesheet" href="/ui-static/style.css">'
            '<script src="/ui-static/sources.js" data-base="/"></script><script src="/ui-static/a11y.js"></script>')
    signed_in = None if accounts is None else (lambda request: getattr(principal_of(request), "name", None))
    return gr.mount_gradio_app(app, demo, path="/", footer_links=[], ssr_mode=False, pwa=False,
                               mcp_server=False, theme=theme(), head=head, show_error=False,
                               auth_dependency=signed_in, max_file_size=rag.settings.max_body_bytes)


def is_loopback(host: str) -> bool:
    if host.strip("[]").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_serving(settings, host: str) -> list[str]:
    """ConfigError when this bind would expose the app without sign-in; else warnings to print."""
    loopback = is_loopback(host)
    if settings.auth == "none" and not loopback:
        raise ConfigError(f"refusing to serve on {host} without sign-in: set RAG_AUTH=password (and add users with "
                          "`rag users add NAME`) or RAG_AUTH=proxy behind your SSO proxy, or serve on 127.0.0.1")
    if settings.auth == "proxy" and not (settings.proxy_addresses or settings.proxy_secret):
        raise ConfigError("RAG_AUTH=proxy needs RAG_PROXY_ADDRESSES (your proxy's address) or RAG_PROXY_SECRET "
                          "(a secret your proxy sends in X-Rag-Proxy-Secret)")
    warnings = []
    if not loopback and "*" not in settings.allowed_hosts and host not in settings.allowed_hosts:
        warnings.append(f"only requests for the host names in RAG_ALLOWED_HOSTS ({settings.allowed_hosts}) are "
                        "answered; add the name users type, e.g. RAG_ALLOWED_HOSTS='chat.intranet.example'")
    if settings.auth == "password" and settings.secure_cookies and not loopback:
        warnings.append("the sign-in cookie is Secure: serve behind HTTPS (a TLS-terminating proxy), or browsers "
                        "on other machines will not keep it (RAG_SECURE_COOKIES=false only for trials on plain HTTP)")
    if settings.auth == "password":
        from rag.auth import Accounts
        if not Accounts(settings).users():
            warnings.append("no users yet: add one with `rag users add NAME` (password on standard input)")
    return warnings


def warm_up(rag) -> None:
    """Load the embedder and retrieval index before serving, so the first question is answered at once."""
    t0 = time.perf_counter()
    try:
        rag.search("warm up", k=1)
    except RagError as e:
        print(f"rag: {' '.join(str(e).split())}", flush=True)  # e.g. the chat's collection is empty: say so now
    log.info("warm-up took %.1f s", time.perf_counter() - t0)


def listen(host: str, port: int):
    """The bound, listening socket `rag serve` will serve on: a busy port is reported before anything is
    announced, and nothing can take the port between the check and serving."""
    import socket

    try:
        return socket.create_server((host.strip("[]"), port), family=socket.AF_INET6 if ":" in host else socket.AF_INET)
    except OSError as e:
        why = os.strerror(e.errno) if e.errno else str(e)
        raise ConfigError(f"cannot listen on {host}:{port} ({why}); another program may be using it: "
                          f"stop it, or pick another port, e.g. `rag serve --port {port + 1}`")


def serve(rag, host: str = "127.0.0.1", port: int = 7860) -> int:
    """`rag serve`: build the app, warm up the models, run uvicorn until interrupted."""
    import signal
    import threading

    import uvicorn

    for warning in check_serving(rag.settings, host):
        print(f"rag: {warning}", flush=True)
    sock = listen(host, port)
    warm = threading.Thread(target=warm_up, args=(rag,), name="warm-up")
    warm.start()  # model loading overlaps with building the app (importing gradio); joined before serving
    app = create_app(rag)
    warm.join()
    print(f"serving the chat on http://{host}:{port}/  (collection {rag.settings.collection}; API docs: /api/docs, "
          f"widget: /widget.js, try it: /widget/example)", flush=True)
    # proxy_headers=False: X-Forwarded-For from a client must never change the peer address the Guard checks
    # SIGTERM (an orchestrator stopping a replica): uvicorn stops accepting, finishes the requests in flight, then
    # raises the signal again; this no-op handler turns that into a clean exit 0 (Ctrl-C still ends with 130)
    signal.signal(signal.SIGTERM, lambda *_: None)
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", timeout_graceful_shutdown=GRACE_S,
                            proxy_headers=False, log_config=None)   # uvicorn logs through the root handler
    uvicorn.Server(config).run(sockets=[sock])
    print("stopped", flush=True)
    return 0
