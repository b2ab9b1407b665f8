"""The vector store: Chroma, embedded (PersistentClient) or a server (HttpClient), one code path.

A user collection NAME is three Chroma collections: NAME.chunks (our vectors, chunk text and spans),
NAME.docs (one record per document: stored text and metadata, a 1-d placeholder vector) and NAME.sentences
(one vector per sentence of a chunk, headings included, id "<chunk id>:s<n>", n its index in chunk.sentences).

Crash safety without transactions: chunk ids carry the generation (ingest run) that wrote them
("<doc id>:<gen>:<n>"), and a document record names its generation. A write adds the new rows beside the
old, switches the records in one call (the commit), then deletes the old rows; while it runs, `pending` on
the chunks collection says so. Rows no record owns (a killed writer's) are swept: at the start of every
ingest, and by the first reader that finds `pending` set while no ingest holds the data dir's lock. With a
Chroma server, readers never sweep: replicas and the ingest job have data dirs (and so locks) of their own,
so a free lock in a reader's data dir says nothing about a writer elsewhere; the next ingest sweeps.
A lost Chroma server raises Unavailable from every method.
"""
from __future__ import annotations

import functools
import json
import logging
import os
import re
import socket
from urllib.parse import urlparse

import numpy as np

from .errors import ConfigError, NotFound, RagError, Unavailable
from .lock import writer_lock
from .text import sentence_spans
from .types import LEGACY, Chunk, Document

log = logging.getLogger(__name__)
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
PAGE = 2000
ID_PAGE = 50_000     # ids-only reads (the sweep)
_OWNER = re.compile(r"^(.*?)(?::(g[0-9a-f]{10}))?:\d+(?::s\d+)?$")   # chunk/sentence id -> doc id, generation


def _owner(row_id: str) -> tuple[str, str] | None:
    m = _OWNER.match(row_id)
    return (m[1], m[2] or "") if m else None


def _outage(e: Exception) -> bool:
    """Is this the Chroma server being unreachable (not a bad request)?"""
    import httpx
    return isinstance(e, (httpx.TransportError, ConnectionError, TimeoutError)) or \
        any(w in str(e).lower() for w in ("could not connect", "connection refused", "connecterror"))


def _lost(url: str, e: Exception) -> Unavailable:
    return Unavailable(f"the Chroma server at {url} is not answering ({type(e).__name__}: {' '.join(str(e).split())}); "
                       "start it again (`chroma run`) or check RAG_CHROMA_URL")


def _guarded(method):
    @functools.wraps(method)
    def call(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except RagError:
            raise
        except Exception as e:
            if self.url and _outage(e):
                raise _lost(self.url, e) from None
            raise
    return call


def _outage_guard(cls):
    """Every public method of the store turns a lost Chroma server into Unavailable (CLI: one line, API: 503)."""
    for name, f in list(vars(cls).items()):
        if callable(f) and not name.startswith("_"):
            setattr(cls, name, _guarded(f))
    return cls


def _chunk_from(cid: str, text: str, m: dict) -> Chunk:
    return Chunk(id=cid, doc_id=m["doc_id"], source=m["source"], title=m["title"], date=m.get("date") or None,
                 start=int(m["start"]), end=int(m["end"]), text=text, locator=m["locator"],
                 sentences=[tuple(x) for x in json.loads(m["sentences"])] if m.get("sentences") else
                 [(int(m["start"]) + s, int(m["start"]) + e, LEGACY) for s, e in sentence_spans(text)])


@_outage_guard
class ChromaStore:
    def __init__(self, settings):
        import chromadb
        from chromadb.config import Settings as ChromaSettings

        self.url, self.data_dir = settings.chroma_url, settings.data_dir
        self.writer = f"{socket.gethostname()} {os.getpid()}"     # who set `pending`

        chroma_settings = ChromaSettings(anonymized_telemetry=False)
        try:
            if settings.chroma_url:
                u = urlparse(settings.chroma_url)
                if not u.hostname:
                    raise ConfigError(f"RAG_CHROMA_URL={settings.chroma_url!r} is not a URL like http://127.0.0.1:8000")
                self.client = chromadb.HttpClient(host=u.hostname, port=u.port or (443 if u.scheme == "https" else 8000),
                                                  ssl=u.scheme == "https", settings=chroma_settings)
                self.client.heartbeat()
            else:
                path = settings.data_dir / "chroma"
                path.mkdir(parents=True, exist_ok=True)
                self.client = chromadb.PersistentClient(path=str(path), settings=chroma_settings)
        except ConfigError:
            raise
        except Exception as e:
            if self.url and _outage(e):
                raise _lost(self.url, e) from None
            where = settings.chroma_url or settings.data_dir
            raise ConfigError(f"cannot open the Chroma store at {where} ({type(e).__name__}: {e}); "
                              "check RAG_CHROMA_URL / RAG_DATA_DIR, or start the server with `chroma run`") from None
        self._cols: dict[str, object] = {}

    def _col(self, name: str, kind: str, create: bool = True):
        key = f"{name}.{kind}"
        if key not in self._cols:
            if create:
                cfg = {"hnsw": {"space": "cosine", "ef_search": 100}} if kind != "docs" else None
                self._cols[key] = self.client.get_or_create_collection(key, configuration=cfg, embedding_function=None)
            else:
                col = self._get(key)
                if col is None:
                    raise NotFound(f"no collection '{name}'; ingest into it first (rag ingest --collection {name})")
                self._cols[key] = col
        return self._cols[key]

    def _get(self, key: str):
        """The Chroma collection named key, or None if there is none (a lost server still raises)."""
        from chromadb.errors import NotFoundError
        try:
            return self.client.get_collection(key, embedding_function=None)
        except (NotFoundError, ValueError):
            return None

    def collections(self) -> list[str]:
        names = [c if isinstance(c, str) else c.name for c in self.client.list_collections()]
        return sorted(n[:-len(".chunks")] for n in names if n.endswith(".chunks"))

    def version(self, name: str) -> int:
        """The collection's version (-1: none); a killed writer's rows are swept first when it is safe."""
        col = self._get(f"{name}.chunks")
        if col is None:
            return -1
        meta = col.metadata or {}
        if meta.get("pending") and self._recover(name, meta["pending"]):
            meta = self._get(f"{name}.chunks").metadata or {}
        return int(meta.get("version", 0))

    def _recover(self, name: str, writer: str) -> bool:
        """Sweep after a writer that died mid-write: only with the embedded store, whose data dir every writer
        shares (so its lock tells whether the writer still runs), when no ingest holds that lock now."""
        if self.url or writer.split(" ")[0] != socket.gethostname():
            log.info("collection %s: a write by %s is under way or did not finish; the next ingest repairs it",
                     name, writer)
            return False
        try:
            with writer_lock(self.data_dir):
                log.warning("collection %s: sweeping rows of a write by %s that did not finish", name, writer)
                self.sweep(name)
            return True
        except Unavailable:                 # an ingest is writing right now
            return False

    def uid(self, name: str) -> str:
        """Chroma's id of the chunks collection: new whenever the collection is re-created."""
        return str(self.client.get_collection(f"{name}.chunks", embedding_function=None).id)

    def _mark(self, name: str, pending: bool, bump: bool = False) -> None:
        """Set or clear `pending` (the write journal) on the chunks collection; bump the version."""
        col = self._col(name, "chunks")
        meta = dict(self._get(f"{name}.chunks").metadata or {})
        meta["pending"] = self.writer if pending else ""
        if bump:
            meta["version"] = int(meta.get("version", 0)) + 1
        meta.pop("hnsw:space", None)
        col.modify(metadata=meta)
        self._cols.pop(f"{name}.chunks", None)

    def _bump(self, name: str) -> None:
        self._mark(name, pending=False, bump=True)

    def _ids(self, col, where: dict | None = None) -> list[str]:
        out, offset = [], 0
        while True:
            got = col.get(where=where, include=[], limit=ID_PAGE, offset=offset)
            out += got["ids"]
            if len(got["ids"]) < ID_PAGE:
                return out
            offset += ID_PAGE

    def _delete_rows(self, name: str, keep, where: dict | None = None) -> int:
        """Delete chunk and sentence rows whose (doc id, generation) keep() rejects; how many went."""
        n = 0
        for kind in ("chunks", "sentences"):
            col = self._col(name, kind)
            stale = [i for i in self._ids(col, where) if (o := _owner(i)) is not None and not keep(*o)]
            for b in range(0, len(stale), PAGE):
                col.delete(ids=stale[b:b + PAGE])
            n += len(stale)
        return n

    def sweep(self, name: str, records: dict[str, dict] | None = None) -> int:
        """Delete the rows no document record owns (a killed writer's): rows of a document without a record,
        or of another generation than its record's. Clears `pending`; returns the rows deleted."""
        if self._get(f"{name}.chunks") is None:
            return 0
        records = self.doc_records(name) if records is None else records
        gens = {i: m.get("gen", "") for i, m in records.items()}
        n = self._delete_rows(name, lambda doc, gen: gens.get(doc) == gen)
        if n:
            log.warning("collection %s: removed %d rows left by an ingest that did not finish", name, n)
        self._mark(name, pending=False, bump=n > 0)
        return n

    def doc_records(self, name: str) -> dict[str, dict]:
        """doc_id -> metadata (no text) of every document in the collection."""
        docs = self._col(name, "docs")
        out, offset = {}, 0
        while True:
            got = docs.get(include=["metadatas"], limit=PAGE, offset=offset)
            out.update(zip(got["ids"], got["metadatas"]))
            if len(got["ids"]) < PAGE:
                return out
            offset += PAGE

    def put_documents(self, name: str, items: list[tuple[Document, list[Chunk]]], vectors: np.ndarray,
                      meta: dict, sentences: list[tuple[str, str]] = (), sentence_vectors: np.ndarray | None = None) -> None:
        """Add or replace documents with their chunks and (id, doc id) sentences, written under the generation
        meta["gen"] (the chunks' ids carry it): new rows beside the old, then the records in one call (the
        commit), then the old rows deleted. No duplicates remain; a crash leaves the old or the new version."""
        if not items:
            return
        col, docs, sents = self._col(name, "chunks"), self._col(name, "docs"), self._col(name, "sentences")
        ids, gen = [d.id for d, _ in items], meta["gen"]
        self._mark(name, pending=True)
        for b in range(0, len(sentences), PAGE):
            part = sentences[b:b + PAGE]
            sents.upsert(ids=[i for i, _ in part], embeddings=sentence_vectors[b:b + PAGE],
                         metadatas=[{"doc_id": d} for _, d in part])
        chunks = [c for _, cs in items for c in cs]
        for b in range(0, len(chunks), PAGE):
            part = chunks[b:b + PAGE]
            col.upsert(ids=[c.id for c in part], embeddings=vectors[b:b + PAGE], documents=[c.text for c in part],
                       metadatas=[{"doc_id": c.doc_id, "source": c.source, "title": c.title, "date": c.date or "",
                                   "start": c.start, "end": c.end, "locator": c.locator,
                                   "sentences": json.dumps(c.sentences)} for c in part])
        docs.upsert(ids=ids, embeddings=[[1.0]] * len(ids), documents=[d.text for d, _ in items],
                    metadatas=[{"source": d.source, "title": d.title, "date": d.date or "", "origin": d.origin or "",
                                "sha256": d.sha256, "path": d.path, "chunks": len(cs), **meta,
                                "structure": json.dumps({"paragraphs": d.paragraphs, "pages": d.pages,
                                                         "headings": d.headings, "blocks": d.blocks})} for d, cs in items])
        self._delete_rows(name, lambda doc, g: g == gen, where={"doc_id": {"$in": ids}})
        self._bump(name)

    def delete_document(self, name: str, doc_id: str) -> None:
        self._mark(name, pending=True)
        self._col(name, "docs").delete(ids=[doc_id])
        self._delete_rows(name, lambda doc, gen: False, where={"doc_id": doc_id})
        self._mark(name, pending=False, bump=True)

    def document(self, name: str, doc_id: str) -> Document | None:
        got = self._col(name, "docs", create=False).get(ids=[doc_id], include=["documents", "metadatas"])
        if not got["ids"]:
            return None
        m, s = got["metadatas"][0], json.loads(got["metadatas"][0]["structure"])
        return Document(id=doc_id, source=m["source"], title=m["title"], text=got["documents"][0], sha256=m["sha256"],
                        date=m.get("date") or None, origin=m.get("origin") or None, path=m.get("path", ""),
                        paragraphs=s["paragraphs"],
                        pages=s["pages"], headings=[tuple(h) for h in s["headings"]],
                        blocks=[tuple(b) for b in s.get("blocks", [])])

    def all_chunks(self, name: str) -> list[Chunk]:
        col, out, offset = self._col(name, "chunks"), [], 0
        while True:
            got = col.get(include=["documents", "metadatas"], limit=PAGE, offset=offset)
            out += [_chunk_from(i, t, m) for i, t, m in zip(got["ids"], got["documents"], got["metadatas"])]
            if len(got["ids"]) < PAGE:
                return out
            offset += PAGE

    def dense_ids(self, name: str, vector: np.ndarray, k: int) -> list[tuple[str, float]]:
        """(chunk id, cosine) of the k nearest chunks: ids and distances only, the fastest Chroma query."""
        col = self._col(name, "chunks")
        got = col.query(query_embeddings=[vector], n_results=k, include=["distances"])
        return [(i, 1.0 - d) for i, d in zip(got["ids"][0], got["distances"][0])]

    def dense_sentence_ids(self, name: str, vector: np.ndarray, k: int) -> list[tuple[str, float]]:
        """(chunk id, cosine of its best sentence) for the chunks among the k nearest sentences, best first."""
        got = self._col(name, "sentences").query(query_embeddings=[vector], n_results=k, include=["distances"])
        best: dict[str, float] = {}
        for i, d in zip(got["ids"][0], got["distances"][0]):
            best.setdefault(i.rsplit(":s", 1)[0], 1.0 - d)
        return list(best.items())

    def sentence_vectors(self, name: str, ids: list[str]) -> dict[str, np.ndarray]:
        """id -> stored vector of the answer candidates asked for (ids "<chunk id>:s<n>"); missing ids are absent."""
        if not ids:
            return {}
        got = self._col(name, "sentences").get(ids=ids, include=["embeddings"])
        return dict(zip(got["ids"], np.asarray(got["embeddings"], dtype=np.float32)))

    def chunks(self, name: str, ids: list[str]) -> list[Chunk]:
        got = self._col(name, "chunks").get(ids=ids, include=["documents", "metadatas"])
        return [_chunk_from(i, t, m) for i, t, m in zip(got["ids"], got["documents"], got["metadatas"])]

    def count(self, name: str, kind: str = "chunks") -> int:
        """How many chunks the collection has (kind="sentences": sentence rows)."""
        return self._col(name, kind).count()

    def drop(self, name: str) -> None:
        for kind in ("chunks", "docs", "sentences"):
            try:
                self.client.delete_collection(f"{name}.{kind}")
            except Exception:
                pass
            self._cols.pop(f"{name}.{kind}", None)
