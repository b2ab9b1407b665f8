"""REST routes: /api/ask, /api/sources/{id} (and its PDF pages), /api/feedback (pydantic models for OpenAPI)."""
from __future__ import annotations

import itertools
import json
import logging
import re
from typing import Annotated, Literal
from urllib.parse import quote

import anyio

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import AfterValidator, BaseModel, Field
from pydantic_core import PydanticCustomError

from rag import NotFound, QuestionError, RagError, Unavailable
from rag.auth import ANONYMOUS
from rag.documents import MAX_TEXT_CHARS
from rag.errors import AccessDenied
from rag.pdfpage import page_png

from .guard import principal_of
from .render import answer_dict, citation_dict

log = logging.getLogger(__name__)
DOC_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,200}$")
COLLECTION = Field(None, max_length=50, description="Collection to use (default: RAG_COLLECTION).")
BAD_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")  # controls but tab/newlines; lone surrogates
BAD_CHARS_MSG = "contains control characters or unpaired surrogates; send plain UTF-8 text"


def clean(text: str) -> str:
    if BAD_CHARS.search(text):
        raise PydanticCustomError("bad_characters", BAD_CHARS_MSG)
    return text


Text = Annotated[str, AfterValidator(clean)]


class Turn(BaseModel):
    role: Literal["user", "assistant"]
    content: Text = Field(max_length=20_000)


class AskRequest(BaseModel):
    question: Text = Field(max_length=100_000, description="The question (at most RAG_MAX_QUESTION_CHARS characters).",
                           examples=["Who signed the memorandum of understanding?"])
    history: list[Turn] = Field(default_factory=list, max_length=40,
                                description="Earlier turns of this conversation, oldest first, for follow-ups.")
    collection: str | None = COLLECTION
    stream: bool = Field(False, description="Answer as server-sent events (text/event-stream): `token` {text} as "
                         "the model writes, `sentence` {text, citations, verified, kept} as each sentence is checked "
                         "(kept false: remove that sentence from what was shown), then `answer` (the answer object, "
                         "exactly as without streaming, to show instead of the streamed text), or `error` {detail}.")


class CitationOut(BaseModel):
    n: int
    source: str = Field(description="Document path as ingested.")
    title: str
    locator: str = Field(description="Human locator: paragraph, page, heading.")
    start: int
    end: int
    quote: str = Field(description="Exactly text[start:end] of the document's stored text.")
    score: float
    doc_id: str = Field(description="Id for GET /api/sources/{doc_id}.")
    date: str | None = None


class SentenceOut(BaseModel):
    text: str
    citations: list[int] = Field(description="Numbers of the citations that support it.")
    verified: bool = Field(description="A cited passage supports it (lexical and embedding check, and the LLM's "
                                       "entailment check when RAG_LLM_ENTAILMENT is on).")
    kept: bool = Field(description="Shown in the answer.")
    support: dict[str, float]


class AnswerOut(BaseModel):
    question: str
    answer: str = Field(description="Answer text; every [n] has an entry in citations.")
    refused: bool = Field(description="True when the sources do not answer it; citations are then 'see also'.")
    citations: list[CitationOut]
    backend: str = Field(description="Who wrote the answer: extractive, openai, ollama.")
    timings_ms: dict[str, float]
    sentences: list[SentenceOut] = Field(description="Every generated sentence, kept or dropped, with its check.")
    notes: list[str] = Field(description="What the reader should know, e.g. that the LLM was unreachable and this "
                                         "is the extractive answer.")


class SourceOut(BaseModel):
    id: str
    source: str
    title: str
    date: str | None
    origin: str | None
    original: str | None = Field(None, description="Path (relative to the app) to download the file it was indexed "
                                                   "from, when that file is on this server; null otherwise.")
    text: str = Field(description="The stored text every citation's start/end points into.")
    pages: int = Field(0, description="Pages of a PDF (0 for other files): GET /api/sources/{id}/page shows one.")


class CitationIn(BaseModel):
    n: int = 0
    doc_id: Text | None = Field(None, max_length=200)
    source: Text | None = Field(None, max_length=1_000)
    title: Text | None = Field(None, max_length=1_000)
    locator: Text | None = Field(None, max_length=500)
    start: int | None = None
    end: int | None = None
    quote: Text | None = Field(None, max_length=5_000)


class FeedbackIn(BaseModel):
    question: Text = Field(max_length=10_000)
    answer: Text = Field(max_length=50_000)
    verdict: Literal["up", "down"]
    comment: Text | None = Field(None, max_length=5_000)
    citations: list[CitationIn] = Field(default_factory=list, max_length=50)
    collection: str | None = COLLECTION


class FeedbackOut(BaseModel):
    id: int


class ErrorOut(BaseModel):
    detail: str


def caller(rag, request):
    """Who is asking, for the library's access check: None (the open loopback mode) only when RAG_AUTH=none."""
    user = principal_of(request)
    return user if user or rag.settings.auth == "none" else ANONYMOUS


def original_href(rag, user, collection: str | None, doc_id: str) -> str | None:
    """Where the source drawer's "Open original" downloads the document's file (GET /api/sources/{id}/original),
    if that file is on this server; None for keys and the widget, which may only ask."""
    if user is not None and user.kind != "user":
        return None
    try:
        if rag.files.original(user, collection, doc_id, check=False) is None:   # the download checks the hash
            return None
    except RagError:
        return None
    return f"api/sources/{quote(doc_id, safe='')}/original" + (f"?collection={quote(collection)}" if collection else "")


def _event(kind: str, data: dict) -> str:
    return f"event: {kind}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


async def _sse(first, events, request: Request, on_answer=None):
    """Server-sent events of an answer; a closed connection closes the events, which cancels the LLM request
    (checked between events: the app's middleware hides the disconnect from the response itself)."""
    def step():
        return first if step.first else next(events, None)
    step.first = True
    try:
        while True:
            event = await anyio.to_thread.run_sync(step)
            step.first = False
            if event is None or await request.is_disconnected():
                return
            if event[0] == "token":
                yield _event("token", {"text": event[1]})
            elif event[0] == "sentence":
                yield _event("sentence", {**event[1].to_dict(), "citations": [citation_dict(c) for c in event[2]]})
            else:
                if on_answer:
                    await anyio.to_thread.run_sync(on_answer, event[1])
                yield _event("answer", answer_dict(event[1]))
    except RagError as e:
        yield _event("error", {"detail": str(e)})
    except Exception:
        log.exception("streamed answer failed")
        yield _event("error", {"detail": "The answer failed on the server; please try again."})
    finally:
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(events.close)


def audit_names(request) -> tuple[str | None, str | None]:
    """(user name or None, client address) of a FastAPI or Gradio request, for the audit log."""
    user, client = principal_of(request), getattr(request, "client", None)
    return (user.name if user else None), getattr(client, "host", None)


async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
    """422 (400 for bad characters) naming the field and the rule, never echoing the input back."""
    errors = exc.errors()
    first = errors[0] if errors else {"loc": (), "msg": "invalid request"}
    where = ".".join(str(p) for p in first.get("loc", ()) if p != "body") or "body"
    bad = any(e.get("type") in ("bad_characters", "string_unicode") for e in errors)  # the latter: surrogates
    return JSONResponse({"detail": f"{where}: {BAD_CHARS_MSG if bad else first.get('msg', 'invalid')}"},
                        status_code=400 if bad else 422)


def router(rag, feedback, audit=None) -> APIRouter:
    from rag.audit import AuditLog

    audit = audit or AuditLog(rag.settings, rag.settings.audit_days)
    r = APIRouter()
    errors = {400: {"model": ErrorOut}, 401: {"model": ErrorOut}, 403: {"model": ErrorOut}, 404: {"model": ErrorOut},
              429: {"model": ErrorOut}}

    @r.post("/api/ask", response_model=AnswerOut, responses=errors | {200: {"content": {"text/event-stream": {}}}},
            tags=["api"], summary="Answer a question with citations (optionally streamed)")
    def ask(body: AskRequest, request: Request):  # sync: FastAPI runs it in its thread pool
        try:
            events = rag.ask_stream(body.question, history=[t.model_dump() for t in body.history],
                                    collection=body.collection, user=caller(rag, request))
            first = next(events)          # check, resolve, authorize and retrieve happen here: their errors are 4xx
        except AccessDenied as e:
            audit.denied(*audit_names(request), body.collection, str(e), body.question)
            raise HTTPException(403, str(e))
        except QuestionError as e:
            raise HTTPException(400, str(e))
        except NotFound as e:
            raise HTTPException(404, str(e))
        except Unavailable as e:
            raise HTTPException(503, str(e))
        except RagError as e:
            raise HTTPException(400, str(e))

        def audited(a):
            audit.asked(*audit_names(request), body.collection or rag.settings.collection, a)
        if body.stream:
            return StreamingResponse(_sse(first, events, request, audited), media_type="text/event-stream",
                                     headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})
        for event in itertools.chain([first], events):
            if event[0] == "answer":
                audited(event[1])
                return answer_dict(event[1])

    def indexed(doc_id: str, collection: str | None, request: Request):
        """The indexed document `doc_id` if the caller may read it: 403, 404 or 503 otherwise. Ids are looked
        up in the index only; no request ever names a file path."""
        user = caller(rag, request)
        try:
            known = DOC_ID.match(doc_id) and doc_id in rag.documents(collection, user=user)
            doc = rag.document(doc_id, collection, user=user) if known else None
        except AccessDenied as e:
            audit.denied(*audit_names(request), collection, str(e))
            raise HTTPException(403, str(e))
        except (NotFound, QuestionError):
            doc = None
        except Unavailable as e:
            raise HTTPException(503, str(e))
        if doc is None:
            raise HTTPException(404, "no indexed document has this id")
        return doc

    @r.get("/api/sources/{doc_id}", response_model=SourceOut, responses=errors, tags=["api"],
           summary="Stored text and metadata of one indexed document")
    def source(doc_id: str, request: Request, collection: str | None = Query(None, max_length=50)) -> dict:
        doc = indexed(doc_id, collection, request)
        audit.read(*audit_names(request), collection or rag.settings.collection, doc.id)
        return {"id": doc.id, "source": doc.source, "title": doc.title, "date": doc.date, "origin": doc.origin,
                "original": original_href(rag, caller(rag, request), collection, doc.id), "text": doc.text,
                "pages": len(doc.pages)}

    @r.get("/api/sources/{doc_id}/page", response_class=Response, tags=["api"],
           responses=errors | {200: {"content": {"image/png": {}}}, 304: {"description": "Not modified"}},
           summary="A PDF source's page where a cited span starts, as PNG, the span highlighted")
    def source_page(doc_id: str, request: Request, start: int = Query(ge=0, le=MAX_TEXT_CHARS),
                    end: int = Query(ge=0, le=MAX_TEXT_CHARS),
                    collection: str | None = Query(None, max_length=50)) -> Response:
        """Headers: X-Rag-Page (the page number) and X-Rag-Highlight (the highlight's top and bottom as fractions
        of the image's height, or "none" when the span was not found on the page image)."""
        doc = indexed(doc_id, collection, request)
        if not start <= end <= len(doc.text):
            raise HTTPException(400, f"start and end must satisfy start <= end <= {len(doc.text)} (the length of "
                                     "the stored text), as a citation's do")
        tag = f'"{doc.sha256[:20]}-{start}-{end}"'    # the same span of the same file: the same image
        cache = {"Cache-Control": "private, no-cache", "ETag": tag}
        if request.headers.get("if-none-match") == tag:
            return Response(status_code=304, headers=cache)
        try:
            png, page, span = page_png(doc, start, end)
        except NotFound as e:
            raise HTTPException(404, str(e))
        return Response(png, media_type="image/png", headers={**cache, "X-Rag-Page": str(page),
                        "X-Rag-Highlight": f"{span[0]:.4f} {span[1]:.4f}" if span else "none"})

    @r.post("/api/feedback", response_model=FeedbackOut, status_code=201, tags=["api"],
            summary="Store a thumbs up/down (and optional comment) on an answer")
    def give_feedback(body: FeedbackIn, request: Request) -> dict:
        user = principal_of(request)
        try:   # feedback is about a collection's answers: only those who may ask it may rate them
            rag.access.check(caller(rag, request), body.collection or rag.settings.collection)
        except AccessDenied as e:
            raise HTTPException(403, str(e))
        return {"id": feedback.add(body.question, body.answer, body.verdict,
                                   citations=[c.model_dump(exclude_none=True) for c in body.citations],
                                   comment=body.comment, user=user.name if user else None, collection=body.collection)}

    return r
