"""The knowledge-gap page for a collection's managers: GET /gaps (the report as a page), GET /gaps/export (CSV or
JSONL), POST /gaps/eval (a row becomes an eval case in the collection's dataset). Plain HTML forms: no script,
so the page's CSP forbids every script; POSTs pass the Guard's same-origin check like every other."""
from __future__ import annotations

import html
from typing import Literal
from urllib.parse import quote

from fastapi import APIRouter, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from rag.audit import AuditLog
from rag.errors import AccessDenied
from rag.feedback import FeedbackLog
from rag.gaps import add_case, case_ids, collection_report, dataset, export
from rag.settings import COLLECTION_NAME

from .api import caller

CSP = ("default-src 'self'; script-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
       "frame-ancestors 'self'; base-uri 'none'")
GAP_ID = r"^gap-[0-9a-f]{10}$"
PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Knowledge gaps · {collection}</title>
<link rel="stylesheet" href="/ui-static/style.css"><link rel="stylesheet" href="/ui-static/gaps.css"></head>
<body><main class="rag-gaps">
<header class="rag-gaps-head">
  <a class="rag-back" href="/">Back to the chat</a>
  <h1>Knowledge gaps</h1>
  <p class="rag-sub">Questions the sources could not answer and answers rated down in <b>{collection}</b>, similar
  questions grouped, most frequent first. {kept}</p>
  <div class="rag-gaps-tools">
    <form method="get" action="/gaps"><label for="rag-gaps-collection">Collection</label>
      <select id="rag-gaps-collection" name="collection">{options}</select> <button type="submit">Show</button></form>
    <p class="rag-export">Export: <a href="/gaps/export?collection={q}&amp;format=csv" download>CSV</a> ·
      <a href="/gaps/export?collection={q}&amp;format=jsonl" download>JSONL</a></p>
  </div>
  <p class="rag-meta">Eval cases go to <code>{dataset}</code>; run them with
  <code>rag eval --dataset {dataset}</code>.</p>
  {notice}
</header>
{body}
</main></body></html>"""


def _when(t: str) -> str:
    return t[:16].replace("T", " ")


def _row(g: dict, collection: str, added: set[str]) -> str:
    e = html.escape
    kinds = (f"{g['refused']} refused, {g['down']} rated down" if g["refused"] and g["down"] else
             "refused" if g["refused"] else "rated down")
    when = _when(g["first"]) + ("" if _when(g["first"]) == _when(g["last"]) else f"<br>to {_when(g['last'])}")
    others = [a for a in g["asked"] if a != g["question"]]
    also = f'<p class="rag-also">Also asked as: {" · ".join(e(a) for a in others[:5])}</p>' if others else ""
    comments = "".join(f"<li>{e(c)}</li>" for c in g["comments"][:3])
    comments = f'<ul class="rag-comments">{comments}</ul>' if comments else ""
    cited = ", ".join(e(s.replace("\\", "/").rsplit("/", 1)[-1]) for s in g["cited"]) or "nothing"
    if g["id"] in added:
        action = '<span class="rag-done">In the eval dataset</span>'
    else:
        action = (f'<form method="post" action="/gaps/eval"><input type="hidden" name="collection" '
                  f'value="{e(collection)}"><input type="hidden" name="id" value="{e(g["id"])}">'
                  f'<button type="submit" aria-label="Add as eval case: {e(g["question"][:80])}">'
                  'Add as eval case</button></form>')
    return (f'<tr id="{e(g["id"])}"><td data-label="Question"><p class="rag-q">{e(g["question"])}</p>{also}'
            f'{comments}</td>'
            f'<td data-label="Count"><b>{g["count"]}</b> <span class="rag-kinds">{kinds}</span></td>'
            f'<td data-label="When">{when}</td>'
            f'<td data-label="Cited">{cited}</td><td data-label="Eval">{action}</td></tr>')


def router(rag, feedback: FeedbackLog, audit: AuditLog) -> APIRouter:
    r = APIRouter(include_in_schema=False)

    def managed(request: Request, collection: str | None) -> str:
        """The collection asked for (default: the first the caller manages), if the caller manages it; else 403."""
        user = caller(rag, request)
        names = rag.managed(user)
        name = collection or (rag.settings.collection if rag.settings.collection in names else
                              (names[0] if names else rag.settings.collection))
        if not COLLECTION_NAME.fullmatch(name):
            raise HTTPException(400, "collection: use 1-50 letters, digits, '-' or '_'")
        try:
            rag.access.check_manage(user, name)
        except AccessDenied as e:
            raise HTTPException(403, str(e))
        return name

    def groups(name: str) -> list[dict]:
        return collection_report(audit, feedback, name, rag.settings.collection)

    @r.get("/gaps", response_class=HTMLResponse)
    def page(request: Request, collection: str | None = Query(None, max_length=50),
             added: str | None = Query(None, pattern=GAP_ID), already: str | None = Query(None, pattern=GAP_ID)):
        name = managed(request, collection)
        found, path = groups(name), dataset(rag.settings, name)
        done = case_ids(path)
        e = html.escape
        options = "".join(f'<option value="{e(n)}"{" selected" if n == name else ""}>{e(n)}</option>'
                          for n in rag.managed(caller(rag, request)))
        notice = (f'<p class="rag-notice" role="status">Added as an eval case: {e(added)}.</p>' if added else
                  f'<p class="rag-notice" role="status">{e(already)} is in the eval dataset already.</p>' if already
                  else "")
        kept = ("Refused questions are kept " + (f"{rag.settings.audit_days} days" if rag.settings.audit_days else
                "for ever") + ", ratings " + (f"{feedback.days} days" if feedback.days else "for ever") + "."
                + (" No user names are stored with them." if feedback.anonymous else ""))
        body = ('<table class="rag-gaps-table"><caption class="rag-sr">Knowledge gaps</caption><thead><tr>'
                '<th scope="col">Question</th><th scope="col">Count</th><th scope="col">When</th>'
                '<th scope="col">Cited</th><th scope="col">Eval</th></tr></thead><tbody>'
                + "".join(_row(g, name, done) for g in found) + "</tbody></table>" if found else
                '<p class="rag-empty">No refused questions and no answers rated down yet.</p>')
        return HTMLResponse(PAGE.format(collection=e(name), q=quote(name), options=options, kept=kept,
                                        dataset=e(str(path)), notice=notice, body=body),
                            headers={"Cache-Control": "no-store", "Content-Security-Policy": CSP})

    @r.get("/gaps/export")
    def export_gaps(request: Request, format: Literal["csv", "jsonl"] = Query("csv"),
                    collection: str | None = Query(None, max_length=50)):
        name = managed(request, collection)
        return Response(export(groups(name), format), media_type="text/csv" if format == "csv" else "application/x-ndjson",
                        headers={"Content-Disposition": f'attachment; filename="gaps-{name}.{format}"',
                                 "Cache-Control": "no-store"})

    @r.post("/gaps/eval")
    def add_eval_case(request: Request, collection: str = Form(max_length=50), id: str = Form(pattern=GAP_ID)):
        name = managed(request, collection)
        group = next((g for g in groups(name) if g["id"] == id), None)
        if group is None:
            raise HTTPException(404, f"no gap {id} in collection '{name}' (past its retention?); reload /gaps")
        word = "added" if add_case(dataset(rag.settings, name), group) else "already"
        return RedirectResponse(f"/gaps?collection={quote(name)}&{word}={id}#{id}", status_code=303)

    return r
