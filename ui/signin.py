"""The sign-in page (RAG_AUTH=password): GET/POST /signin, POST /signout; sessions in HttpOnly cookies."""
from __future__ import annotations

import html
import logging

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from .guard import COOKIE, _cookie

log = logging.getLogger(__name__)
PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign in · Ask the sources</title><link rel="stylesheet" href="/ui-static/style.css"><link rel="stylesheet" href="/ui-static/signin.css"></head>
<body><main class="rag-signin">
<h1>Ask the sources</h1>
<p class="rag-sub">Answers quote your organisation's documents. Sign in to continue.</p>
<form method="post" action="/signin">
<input type="hidden" name="next" value="{next}">
<label for="rag-user">User name</label>
<input id="rag-user" name="name" autocomplete="username" required maxlength="64" autofocus value="{name}">
<label for="rag-password">Password</label>
<input id="rag-password" name="password" type="password" autocomplete="current-password" required maxlength="200">
<p id="rag-signin-error" class="rag-error" role="alert">{error}</p>
<button type="submit">Sign in</button>
</form></main></body></html>"""


def safe_next(target: str | None) -> str:
    """Only a path on this server: never an absolute URL or '//host' (no open redirect)."""
    t = target or "/"
    return t if t.startswith("/") and not t.startswith(("//", "/\\")) and "\n" not in t and "\r" not in t else "/"


def page(next_: str = "/", name: str = "", error: str = "") -> str:
    return PAGE.format(next=html.escape(safe_next(next_)), name=html.escape(name), error=html.escape(error))


def router(accounts, settings) -> APIRouter:
    r = APIRouter(include_in_schema=False)

    @r.get("/signin", response_class=HTMLResponse)
    def signin_page(next: str = "/"):
        return HTMLResponse(page(next), headers={"Cache-Control": "no-store"})

    @r.post("/signin")
    def signin(name: str = Form("", max_length=64), password: str = Form("", max_length=200), next: str = Form("/")):
        user = accounts.check_password(name, password)
        if user is None:
            log.info("sign-in refused for %r", name[:64])
            return HTMLResponse(page(next, name, "Wrong user name or password."), status_code=401,
                                headers={"Cache-Control": "no-store"})
        token = accounts.start_session(user, settings.session_hours)
        response = RedirectResponse(safe_next(next), status_code=303)
        response.set_cookie(COOKIE, token, max_age=int(settings.session_hours * 3600), httponly=True,
                            secure=settings.secure_cookies, samesite="lax", path="/")
        return response

    @r.post("/signout")
    def signout(request: Request):
        token = _cookie(request.headers.get("cookie", ""), COOKIE)
        if token:
            accounts.end_session(token)
        response = RedirectResponse("/signin", status_code=303)
        response.delete_cookie(COOKIE, path="/", httponly=True, secure=settings.secure_cookies, samesite="lax")
        return response

    return r
