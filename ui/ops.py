"""Operations routes and the request observer: /healthz, /readyz, /metrics; a request id on every request
(its log lines and the X-Request-Id response header), per-route metrics and an access log line.

Who may reach them (the Guard enforces it): /healthz and /readyz are public, as load balancers call them
without credentials, and say nothing but ok/unavailable per part. /metrics answers loopback callers only
(a request carrying X-Forwarded-For, Forwarded or X-Real-IP came through a proxy and is not local), or, when
RAG_METRICS_TOKEN is set, only callers sending `Authorization: Bearer <token>`, from any address."""
from __future__ import annotations

import hmac
import ipaddress
import logging
import re
import time
import uuid

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response

from rag import metrics
from rag.db import connect
from rag.errors import RagError
from rag.logs import request_id

log = logging.getLogger(__name__)
access = logging.getLogger("rag.access_log")
REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")   # a caller's X-Request-Id is kept only when it is this tame
FORWARDED = ("x-forwarded-for", "forwarded", "x-real-ip")
ROUTES = re.compile(r"^/(api/ask|api/sources|api/feedback|api/docs|gradio_api|healthz|readyz|metrics|embed|widget\.js|"
                    r"ui-static|signin|signout)")


def route_of(path: str) -> str:
    """A bounded label for a path: its route group, 'chat' for the page, else 'other'."""
    m = ROUTES.match(path)
    return m.group(1) if m else ("chat" if path == "/" else "other")


def metrics_allowed(settings, scope, headers) -> tuple[int, str] | None:
    """None when this caller may read /metrics, else (status, reason)."""
    if settings.metrics_token:
        sent = headers.get("authorization", "")
        want = f"Bearer {settings.metrics_token.get_secret_value()}"
        if hmac.compare_digest(sent.encode(), want.encode()):
            return None
        return 401, "send Authorization: Bearer RAG_METRICS_TOKEN to read /metrics"
    try:
        local = ipaddress.ip_address((scope.get("client") or ("",))[0]).is_loopback
    except ValueError:
        local = False
    if local and not any(h in headers for h in FORWARDED):
        return None
    return 403, "/metrics answers loopback callers only; set RAG_METRICS_TOKEN to scrape it from another host"


def router(rag) -> APIRouter:
    r = APIRouter()

    @r.get("/healthz", tags=["ops"], summary="Liveness: the process answers")
    def healthz() -> dict:
        return {"status": "ok"}

    @r.get("/readyz", tags=["ops"], summary="Readiness: the store and the state database answer (else 503)")
    def readyz():
        parts = {}
        for part, check in (("store", lambda: rag.store.collections()),
                            ("database", lambda: connect(rag.settings).ping())):
            try:
                check()
                parts[part] = "ok"
            except Exception as e:        # any failure means not ready; the cause goes to the log, not the caller
                log.warning("readyz: %s unavailable: %s", part, e if isinstance(e, RagError) else repr(e))
                parts[part] = "unavailable"
        ready = all(v == "ok" for v in parts.values())
        return JSONResponse({"status": "ready" if ready else "unavailable", **parts}, status_code=200 if ready else 503)

    @r.get("/metrics", include_in_schema=False)
    def prometheus() -> Response:
        body, content_type = metrics.exposition()
        return Response(body, media_type=content_type, headers={"Cache-Control": "no-store"})

    return r


class Observe:
    """ASGI middleware, outermost: a request id (the caller's tame X-Request-Id, else a new one) for the log
    lines of this request and its X-Request-Id response header; request count and latency per route group;
    an access log line (INFO) per request; 5xx answers counted as errors."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        sent = dict(scope.get("headers") or []).get(b"x-request-id", b"").decode("latin-1")
        rid = sent if REQUEST_ID.match(sent) else uuid.uuid4().hex
        token = request_id.set(rid)
        status, started = [500], time.perf_counter()

        async def send_with_id(message):
            if message["type"] == "http.response.start":
                status[0] = message["status"]
                message = {**message, "headers": [*message.get("headers", []), (b"x-request-id", rid.encode())]}
            await send(message)
        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            log.exception("request failed")
            raise
        finally:
            seconds = time.perf_counter() - started
            path, method = scope["path"], scope.get("method", "GET")
            metrics.request(route_of(path), method, status[0], seconds)
            if status[0] >= 500:
                metrics.failed("unavailable" if status[0] == 503 else "unexpected")
            access.info("%s %s %d %.0f ms", method, path, status[0], seconds * 1000,
                        extra={"method": method, "path": path, "status": status[0], "ms": round(seconds * 1000, 1),
                               "client": (scope.get("client") or ("",))[0]})
            request_id.reset(token)
