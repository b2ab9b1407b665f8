"""The gate in front of every route (REST, Gradio, static): Host check, body limit, who is calling, whether
they may call this route at all, rate limits. An ASGI middleware, so the mounted Gradio app is behind it too.

Collection access is not decided here: the library checks it (rag.access) with the principal put in
`request.state.principal`."""
from __future__ import annotations

import hmac
import ipaddress
import json
import math
import re
from urllib.parse import quote

from starlette.datastructures import Headers

from rag.auth import NAME, Accounts, Principal
from rag.errors import Unavailable
from rag.limits import limiter

COOKIE = "rag_session"
SECRET_HEADER = "x-rag-proxy-secret"
# identity headers a client could send to pass as someone; dropped unless they come from the trusted proxy
IDENTITY_HEADERS = {"x-forwarded-user", "x-remote-user", "remote-user", "x-forwarded-groups", "remote-groups",
                    "x-forwarded-email", "x-forwarded-preferred-username", SECRET_HEADER}
# no data behind these: the sign-in page, liveness, and the repository's own scripts and styles (ui/static, which
# the sign-in page and the widget's iframe load without a key or cookie)
PUBLIC = re.compile(r"^/(signin|healthz|readyz|widget\.js|favicon\.ico|ui-static/[A-Za-z0-9_-]+\.(css|js))$")
PROBES = ("/healthz", "/readyz")
UPLOADS = re.compile(r"^/api/collections/[^/]+/documents$")   # the documents page's uploads: RAG_MAX_UPLOAD_BYTES
# rate-limited; /api/ask/WORD: variants such as a streaming answer
ASKS = re.compile(r"^/(api/ask(/[a-z]+)?|gradio_api/(queue/join|call/[^/]+|run/[^/]+|api/[^/]+))/?$")
KEY_ROUTES = {"key": re.compile(r"^/api/(ask(/[a-z]+)?|sources/[^/]+(/page)?|feedback)$"),
              "widget": re.compile(r"^/(api/ask(/[a-z]+)?|api/sources/[^/]+(/page)?|embed)$")}


def split(text: str | None) -> list[str]:
    return [p for p in re.split(r"[\s,]+", text or "") if p]


def host_allowed(host: str | None, allowed: list[str]) -> bool:
    if "*" in allowed:
        return True
    if not host:
        return False
    if host.startswith("[") and "]" in host:  # [::1]:7860
        name = host[1:host.index("]")]
    else:  # name:port, or a bare IPv6 address
        name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    return name.lower() in allowed


class Guard:
    """ASGI middleware; `settings` is rag's Settings, `accounts` a rag.auth.Accounts (None with RAG_AUTH=none)."""

    def __init__(self, app, settings, accounts: Accounts | None, origins: list[str] = ()):
        self.app, self.s, self.accounts = app, settings, accounts
        self.hosts = [h.strip("[]").lower() for h in split(settings.allowed_hosts)]
        self.proxies = [ipaddress.ip_network(a, strict=False) for a in split(settings.proxy_addresses)]
        self.limiter = limiter(settings)   # shared by the replicas when RAG_DATABASE_URL is set
        self.origins = list(origins)

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        headers = Headers(scope=scope)
        path, method = scope["path"], scope.get("method", "GET")
        # probes (load balancers, container health checks) often address a replica by its IP; nothing is behind
        # /healthz and /readyz for a DNS-rebinding page to read
        if not host_allowed(headers.get("host"), self.hosts) and path not in PROBES:
            return await self.refuse(scope, send, 400, "unknown Host header; the server's operator can add the name "
                                                       "to RAG_ALLOWED_HOSTS")
        if path == "/metrics":             # operators' data, whatever the sign-in mode: see ui/ops.py
            from .ops import metrics_allowed
            refused = metrics_allowed(self.s, scope, headers)
            return await (self.refuse(scope, send, *refused) if refused else self.app(scope, receive, send))
        limit, setting = ((self.s.max_upload_bytes, "RAG_MAX_UPLOAD_BYTES") if method == "POST" and UPLOADS.match(path)
                          else (self.s.max_body_bytes, "RAG_MAX_BODY_BYTES"))
        too_big = f"request body over {limit} bytes ({setting})"
        length = headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > limit):
            return await self.refuse(scope, send, 413, too_big)
        try:
            user, problem = self.identify(scope, headers)
        except Unavailable as e:            # the state database is down: keys and sessions cannot be checked
            return await self.refuse(scope, send, 503, str(e))
        scope["headers"] = [(k, v) for k, v in scope["headers"]
                            if k.decode("latin-1").lower() not in IDENTITY_HEADERS]  # nobody downstream sees them
        scope.setdefault("state", {})["principal"] = user
        if problem:
            return await self.refuse(scope, send, 401, problem)
        if self.s.auth != "none" and not PUBLIC.match(path) and method != "OPTIONS":
            if user is None:
                return await self.sign_in_first(scope, send, headers)
            if user.kind in KEY_ROUTES and not KEY_ROUTES[user.kind].match(path):
                return await self.refuse(scope, send, 403, "this key may not call this route (API keys: /api/ask, "
                                                           "/api/sources, /api/feedback; widget keys: asking only)")
        if method not in ("GET", "HEAD", "OPTIONS") and not self.same_origin(headers, user):
            return await self.refuse(scope, send, 403, "cross-origin request refused (Origin not allowed; "
                                                       "see RAG_EMBED_ORIGINS)")
        if method == "POST" and self.s.auth != "none" and (ASKS.match(path) or path == "/signin"):
            ip = (scope.get("client") or ("?",))[0]  # sign-in attempts are limited per address
            who = ("signin:" + ip if path == "/signin" or user is None else
                   f"{user.name}@{ip}" if user.kind == "widget" else user.name)  # a widget key: per visitor too
            try:
                wait = self.limiter.take(who)
            except Unavailable as e:        # shared limits live in the state database
                return await self.refuse(scope, send, 503, str(e))
            if wait:
                return await self.refuse(scope, send, 429, f"too many requests; try again in {math.ceil(wait)} s "
                                         "(RAG_RATE_LIMIT)", {"retry-after": str(math.ceil(wait))})
        if scope["type"] == "http" and method in ("POST", "PUT", "PATCH", "DELETE"):   # read only for callers let in
            receive = await self.buffered(receive, limit)
            if receive is None:
                return await self.refuse(scope, send, 413, too_big)
        return await self.app(scope, receive, send)

    # ------------------------------------------------------------ who is calling
    def identify(self, scope, headers) -> tuple[Principal | None, str | None]:
        """(principal or None, a reason to refuse with 401 or None). Keys win over cookies and proxy headers."""
        if self.s.auth == "none" or self.accounts is None:
            return None, None
        auth = headers.get("authorization", "")
        if not auth and scope["path"] == "/embed":  # the widget's iframe: its publishable key is in the URL
            key = re.search(r"(?:^|&)key=(ragpk_[0-9a-f]{8}_[A-Za-z0-9_-]+)", scope.get("query_string", b"").decode("latin-1"))
            auth = f"Bearer {key.group(1)}" if key else ""
        if auth:
            scheme, _, key = auth.partition(" ")
            user = self.accounts.key(key.strip()) if scheme.lower() == "bearer" else None
            return (user, None) if user else (None, "unknown or revoked API key (send Authorization: Bearer KEY; "
                                                     "`rag keys create` makes one)")
        if self.s.auth == "proxy":
            return self.from_proxy(scope, headers), None
        token = _cookie(headers.get("cookie", ""), COOKIE)
        return (self.accounts.session(token) if token else None), None

    def from_proxy(self, scope, headers) -> Principal | None:
        secret = headers.get(SECRET_HEADER)
        trusted = bool(self.s.proxy_secret and secret and hmac.compare_digest(secret, self.s.proxy_secret))
        if not trusted and scope.get("client"):
            try:
                peer = ipaddress.ip_address(scope["client"][0])
                trusted = any(peer in net for net in self.proxies)
            except ValueError:
                trusted = False
        name = headers.get(self.s.proxy_user_header, "").strip()
        if not trusted or not NAME.match(name):
            return None
        groups = frozenset(g for g in split(headers.get(self.s.proxy_groups_header)) if NAME.match(g))
        return Principal(name, groups, kind="user")

    def same_origin(self, headers, user: Principal | None) -> bool:
        """Unsafe methods: a browser's Origin must be this server or an allowed embedding page (CSRF); a widget
        key works only from a page (its iframe here, or one of the key's origins)."""
        from .app import origin_allowed  # the same patterns as RAG_EMBED_ORIGINS' CORS check

        origin = headers.get("origin")
        if not origin:
            return not (user and user.kind == "widget")
        if origin == "null" and not headers.get("cookie") and not user:
            return True
        allowed = [*self.origins, *(user.origins if user and user.kind == "widget" else ())]
        return origin.split("://", 1)[-1] == headers.get("host") or origin_allowed(origin, allowed)

    async def buffered(self, receive, limit: int):
        """Read the whole body (at most `limit` bytes) before the app runs, then replay it."""
        body, more = bytearray(), True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return None if message["type"] == "http.disconnect" else receive
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > limit:
                return None
        pending = [{"type": "http.request", "body": bytes(body), "more_body": False}]

        async def replay():
            return pending.pop() if pending else await receive()
        return replay

    # ------------------------------------------------------------ answers
    async def sign_in_first(self, scope, send, headers):
        page = scope["type"] == "http" and scope.get("method") == "GET" and "text/html" in headers.get("accept", "")
        if page and self.s.auth == "password" and not scope["path"].startswith(("/api/", "/gradio_api/")):
            target = scope["path"] + ("?" + scope["query_string"].decode("latin-1") if scope.get("query_string") else "")
            return await self.refuse(scope, send, 303, "sign in first",
                                     {"location": "/signin?next=" + quote(target, safe="/")})
        how = ("sign in at /signin" if self.s.auth == "password" else "sign in through the SSO proxy")
        return await self.refuse(scope, send, 401, f"not signed in: {how}, or send Authorization: Bearer KEY",
                                 {"www-authenticate": "Bearer"})

    async def refuse(self, scope, send, status: int, detail: str, extra: dict | None = None):
        if scope["type"] == "websocket":
            return await send({"type": "websocket.close", "code": 1008})
        body = json.dumps({"detail": detail}).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                   (b"cache-control", b"no-store")]
        headers += [(k.encode(), v.encode()) for k, v in (extra or {}).items()]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def _cookie(header: str, name: str) -> str | None:
    for part in header.split(";"):
        k, _, v = part.strip().partition("=")
        if k == name and v:
            return v
    return None


def principal_of(request) -> Principal | None:
    """The principal the guard found for this request (also on a Gradio gr.Request); None when auth is off."""
    try:
        return request.state.principal
    except (AttributeError, KeyError):
        return None
