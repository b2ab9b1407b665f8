"""REST routes: /api/ask, /api/sources/{id}, /api/feedback, /healthz (pydantic models for OpenAPI)."""
from __future__ import annotations

import logging
import re
from typing import Literal

from fastapi import APIRouter, HTTPException, Query, Request
from pydantic import BaseModel, Field, ValidationError

from rag import NotFound, QuestionError, RagError

from .render import citation_dict

log = logging.getLogger(__name__)
DOC_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,200}$")
COLLECTION = Field(None, max_length=50, description="Collection to use (default: RAG_COLLECTION).")


class Turn(BaseModel):
    role: Literal["user", "assistant"]
    content: str = Field(max_length=20_000)


class AskRequest(BaseModel):
    question: str = Field(max_length=100_000, description="The question (at most RAG_MAX_QUESTION_CHARS characters).",
                          examples=["Who signed the memorandum of understanding?"])
    history: list[Turn] = Field(default_factory=list, max_length=100,
                                description="Earlier turns of this conversation, oldest first, for follow-ups.")
    collection: str | None = COLLECTION


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


class AnswerOut(BaseModel):
    question: str
    answer: str = Field(description="Answer text; every [n] has an entry in citations.")
    refused: bool = Field(description="True when the sources do not answer it; citations are then 'see also'.")
    citations: list[CitationOut]
    backend: str
    timings_ms: dict[str, float]


class SourceOut(BaseModel):
    id: str
    source: str
    title: str
    date: str | None
    origin: str | None
    text: str = Field(description="The stored text every citation's start/end points into.")


class FeedbackIn(BaseModel):
    question: str = Field(max_length=10_000)
    answer: str = Field(max_length=50_000)
    verdict: Literal["up", "down"]
    comment: str | None = Field(None, max_length=5_000)
    citations: list[dict] = Field(default_factory=list, max_length=50)
    collection: str | None = COLLECTION


class FeedbackOut(BaseModel):
    id: int


class ErrorOut(BaseModel):
    detail: str


def user_of(request: Request) -> str | None:
    """The user a trusted front proxy authenticated, if any (e.g. X-Forwarded-User), else None."""
    return request.headers.get("x-forwarded-user") or request.headers.get("x-remote-user") or None


def router(rag, feedback) -> APIRouter:
    r = APIRouter()
    errors = {400: {"model": ErrorOut}, 404: {"model": ErrorOut}}

    @r.post("/api/ask", response_model=AnswerOut, responses=errors, tags=["api"],
            summary="Answer a question with citations")
    def ask(body: AskRequest) -> dict:  # sync: FastAPI runs it in its thread pool
        try:
            a = rag.ask(body.question, history=[t.model_dump() for t in body.history], collection=body.collection)
        except QuestionError as e:
            raise HTTPException(400, str(e))
        except NotFound as e:
            raise HTTPException(404, str(e))
        except ValidationError as e:
            raise HTTPException(400, f"bad collection name: {e.errors()[0]['msg']}")
        except RagError as e:
            raise HTTPException(400, str(e))
        return {**a.to_dict(), "citations": [citation_dict(c) for c in a.citations]}

    @r.get("/api/sources/{doc_id}", response_model=SourceOut, responses=errors, tags=["api"],
           summary="Stored text and metadata of one indexed document")
    def source(doc_id: str, collection: str | None = Query(None, max_length=50)) -> dict:
        # ids are looked up in the index only; nothing here ever touches the file system
        try:
            known = DOC_ID.match(doc_id) and doc_id in rag.documents(collection)
            doc = rag.document(doc_id, collection) if known else None
        except (NotFound, ValidationError):
            doc = None
        if doc is None:
            raise HTTPException(404, "no indexed document has this id")
        return {"id": doc.id, "source": doc.source, "title": doc.title, "date": doc.date, "origin": doc.origin,
                "text": doc.text}

    @r.post("/api/feedback", response_model=FeedbackOut, status_code=201, tags=["api"],
            summary="Store a thumbs up/down (and optional comment) on an answer")
    def give_feedback(body: FeedbackIn, request: Request) -> dict:
        return {"id": feedback.add(body.question, body.answer, body.verdict, citations=body.citations,
                                   comment=body.comment, user=user_of(request), collection=body.collection)}

    @r.get("/healthz", tags=["ops"], summary="Liveness")
    def healthz() -> dict:
        return {"status": "ok"}

    return r
