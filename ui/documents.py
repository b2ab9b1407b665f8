"""The documents page (/documents) and its REST routes, for whoever manages a collection: list the documents,
upload files, delete them, re-ingest, and follow the ingest's progress; plus the download of a document's
original file (GET /api/sources/{id}/original) for whoever may ask its collection. The library (rag.files,
rag.access) checks every caller; an ingest runs in a background thread, one per collection."""
from __future__ import annotations

import html
import logging
import threading
import time
from pathlib import Path
from typing import Literal

from fastapi import APIRouter, File, HTTPException, Query, Request, UploadFile
from fastapi.responses import FileResponse, HTMLResponse
from pydantic import BaseModel, Field

from rag import NotFound, QuestionError, RagError, Unavailable
from rag.documents import SUFFIXES
from rag.errors import AccessDenied, DocumentError
from rag.files import check_file

from .api import ErrorOut, audit_names, caller

log = logging.getLogger(__name__)
PAGE = Path(__file__).parent / "static" / "documents.html"
MAX_FILES = 50   # files in one upload request


class JobOut(BaseModel):
    state: Literal["idle", "running", "done", "failed"] = Field(description="The collection's latest ingest from "
                                                                            "this page.")
    done: int = Field(0, description="Files read so far.")
    total: int = Field(0, description="Files to read (0 until they are counted).")
    error: str | None = Field(None, description="Why the ingest failed (state failed).")
    report: dict | None = Field(None, description="What it added/updated/removed and skipped (state done).")


class DocumentOut(BaseModel):
    id: str
    name: str = Field(description="File name.")
    source: str = Field(description="Path as ingested.")
    title: str
    date: str | None
    size: int | None = Field(description="Bytes of the file on this server; null when it is not here.")
    chunks: int
    status: Literal["indexed", "skipped", "waiting"] = Field(description="skipped: the last ingest could not index "
                                                                         "it (see reason); waiting: not ingested yet.")
    reason: str | None = Field(description="Why it was skipped, in one line.")
    uploaded: bool = Field(description="Uploaded on this page (may be deleted here); else indexed by `rag ingest`.")


class DocumentsOut(BaseModel):
    collection: str
    documents: list[DocumentOut]
    job: JobOut


class UploadOut(BaseModel):
    saved: list[str]
    job: JobOut


class DeletedOut(BaseModel):
    deleted: str


class Jobs:
    """The latest ingest per collection started from the page, run in a thread; one at a time per collection."""

    def __init__(self):
        self._jobs: dict[str, dict] = {}
        self._lock = threading.Lock()

    def status(self, collection: str) -> dict:
        with self._lock:
            return dict(self._jobs.get(collection) or {"state": "idle"})

    def running(self, collection: str) -> bool:
        return self.status(collection)["state"] == "running"

    def start(self, collection: str, work) -> dict:
        """Run work(progress) in a thread, progress(done, total) updating the status; 409 while one runs."""
        with self._lock:
            if (self._jobs.get(collection) or {}).get("state") == "running":
                raise HTTPException(409, f"collection '{collection}' is being indexed; wait for it to finish")
            job = self._jobs[collection] = {"state": "running", "done": 0, "total": 0, "started": time.time()}

        def progress(done: int, total: int) -> None:
            job.update(done=done, total=total)

        def run():
            try:
                job.update(report=work(progress).to_dict(), state="done")
            except RagError as e:
                job.update(error=" ".join(str(e).split()), state="failed")
            except Exception:
                log.exception("ingest of %s failed", collection)
                job.update(error="the ingest failed on the server; the log has the details", state="failed")
        threading.Thread(target=run, name=f"ingest-{collection}", daemon=True).start()
        return self.status(collection)


def _http(e: RagError) -> HTTPException:
    """A library error as a one-line 4xx/5xx."""
    code = {AccessDenied: 403, NotFound: 404, Unavailable: 503, DocumentError: 400, QuestionError: 400}
    return HTTPException(next((c for t, c in code.items() if isinstance(e, t)), 400), " ".join(str(e).split()))


def page(collections: list[str], current: str) -> str:
    options = "".join(f'<option value="{html.escape(c)}"{" selected" if c == current else ""}>{html.escape(c)}</option>'
                      for c in collections)
    return PAGE.read_text("utf-8").replace("{options}", options).replace("{types}", html.escape(", ".join(SUFFIXES)))


def router(rag, audit) -> APIRouter:
    r = APIRouter()
    jobs = Jobs()
    errors = {400: {"model": ErrorOut}, 401: {"model": ErrorOut}, 403: {"model": ErrorOut}, 404: {"model": ErrorOut},
              409: {"model": ErrorOut}, 413: {"model": ErrorOut}}

    def managed(request: Request, collection: str) -> str:
        """The collection, if the caller may manage it; else the 4xx naming the fix (refusals are audited)."""
        try:
            return rag.files.check(caller(rag, request), collection)
        except AccessDenied as e:
            audit.denied(*audit_names(request), collection[:50], str(e))
            raise _http(e)
        except RagError as e:
            raise _http(e)

    @r.get("/documents", response_class=HTMLResponse, include_in_schema=False)
    def documents_page(request: Request, collection: str | None = Query(None, max_length=50)):
        user = caller(rag, request)
        names = rag.managed(user)
        if not names:
            return HTMLResponse("<!doctype html><title>Documents</title><p>You do not manage any collection. An "
                                "operator can allow it: <code>rag access grant COLLECTION --users "
                                f"{html.escape(getattr(user, 'name', 'NAME'))} --manage</code></p>", status_code=403)
        current = collection if collection in names else (rag.settings.collection if rag.settings.collection in names
                                                          else names[0])
        return HTMLResponse(page(names, current), headers={"Cache-Control": "no-store"})

    @r.get("/api/collections/{collection}/documents", response_model=DocumentsOut, responses=errors,
           tags=["documents"], summary="The collection's documents and uploaded files, with their status")
    def list_documents(collection: str, request: Request) -> dict:
        try:
            docs = rag.files.list(caller(rag, request), managed(request, collection))
        except RagError as e:
            raise _http(e)
        if jobs.running(collection):      # files the running ingest has not reached yet
            docs = [d | {"status": "waiting", "reason": None} if d["status"] == "skipped" else d for d in docs]
        return {"collection": collection, "documents": docs, "job": jobs.status(collection)}

    def ingest(request: Request, collection: str) -> dict:
        user = caller(rag, request)
        return jobs.start(collection, lambda progress: rag.files.ingest(user, collection, progress))

    @r.post("/api/collections/{collection}/documents", response_model=UploadOut, status_code=202, responses=errors,
            tags=["documents"], summary="Upload files (multipart, field `files`) and index them in the background")
    def upload(collection: str, request: Request, files: list[UploadFile] = File(...)) -> dict:
        user = caller(rag, request)
        managed(request, collection)
        if len(files) > MAX_FILES:
            raise HTTPException(400, f"{len(files)} files in one upload; send at most {MAX_FILES} at a time")
        if jobs.running(collection):
            raise HTTPException(409, f"collection '{collection}' is being indexed; wait for it to finish, then upload")
        try:   # every file is checked before any is written
            data = [f.file.read() for f in files]
            names = [check_file(f.filename or "", d) for f, d in zip(files, data)]
            for name, d in zip(names, data):
                rag.files.save(user, collection, name, d)
        except RagError as e:
            raise _http(e)
        return {"saved": names, "job": ingest(request, collection)}

    @r.post("/api/collections/{collection}/ingest", response_model=JobOut, status_code=202, responses=errors,
            tags=["documents"], summary="Ingest the collection's uploaded files again, in the background")
    def reingest(collection: str, request: Request) -> dict:
        managed(request, collection)
        return ingest(request, collection)

    @r.get("/api/collections/{collection}/ingest", response_model=JobOut, responses=errors, tags=["documents"],
           summary="Progress of the collection's latest ingest from the documents page")
    def ingest_status(collection: str, request: Request) -> dict:
        managed(request, collection)
        return jobs.status(collection)

    @r.delete("/api/collections/{collection}/documents/{doc_id}", response_model=DeletedOut, responses=errors,
              tags=["documents"], summary="Delete an uploaded document: its file and its place in the index")
    def delete(collection: str, doc_id: str, request: Request) -> dict:
        managed(request, collection)
        if jobs.running(collection):
            raise HTTPException(409, f"collection '{collection}' is being indexed; wait for it to finish, then delete")
        try:
            return {"deleted": rag.files.delete(caller(rag, request), collection, doc_id)}
        except RagError as e:
            raise _http(e)

    @r.get("/api/sources/{doc_id}/original", response_class=FileResponse, responses=errors, tags=["api"],
           summary="Download the file a document was indexed from (when it is still on this server, unchanged)")
    def original(doc_id: str, request: Request, collection: str | None = Query(None, max_length=50)):
        try:
            path = rag.files.original(caller(rag, request), collection, doc_id)
        except AccessDenied as e:
            audit.denied(*audit_names(request), collection, str(e))
            raise HTTPException(403, str(e))
        except RagError as e:
            raise _http(e)
        if path is None:
            raise HTTPException(404, "the original file is not on this server, or it changed since it was indexed; "
                                     "ingest it again to serve it")
        audit.read(*audit_names(request), collection or rag.settings.collection, doc_id)
        return FileResponse(path, filename=path.name, media_type="application/octet-stream",
                            content_disposition_type="attachment", headers={"Cache-Control": "no-store"})

    return r

