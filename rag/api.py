"""The public facade: one Rag object per process; ingest, search, ask, documents, status."""
from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from pathlib import Path

import numpy as np

from .answer import extractive_answer
from .chunking import locate
from .conversation import resolve
from .errors import NotFound, QuestionError
from .settings import Settings, load_settings
from .types import Answer, Document, Hit, IngestReport

log = logging.getLogger(__name__)


class Rag:
    """Owns the settings, the embedder, the store and the retriever; parts can be passed in."""

    def __init__(self, settings: Settings | None = None, embedder=None, store=None):
        self.settings = settings or load_settings()
        self._embedder, self._store, self._retriever = embedder, store, None
        self._docs: OrderedDict = OrderedDict()
        self._sentence_vectors: OrderedDict = OrderedDict()   # answer sentences recur across questions
        self._lock = threading.Lock()

    @property
    def embedder(self):
        if self._embedder is None:
            from .embedder import make_embedder
            self._embedder = make_embedder(self.settings)
        return self._embedder

    @property
    def store(self):
        if self._store is None:
            from .store import ChromaStore
            self._store = ChromaStore(self.settings)
        return self._store

    @property
    def retriever(self):
        if self._retriever is None:
            from .retrieval import Retriever
            self._retriever = Retriever(self.store, self.embedder, self.settings)
        return self._retriever

    def _collection(self, collection: str | None) -> str:
        name = collection or self.settings.collection
        Settings(collection=name)  # validates the name, raising a clear pydantic error
        return name

    def ingest(self, paths: list[str | Path] | None = None, collection: str | None = None,
               progress: bool = False) -> IngestReport:
        from .ingest import ingest
        paths = [Path(p) for p in (paths or [self.settings.corpus_dir])]
        return ingest(self.store, self.embedder, self.settings, paths, self._collection(collection), progress)

    def ingest_documents(self, docs: list[Document], collection: str | None = None,
                         progress: bool = False) -> IngestReport:
        """Index documents given in memory (e.g. JSONL records) by their ids; unchanged ones are skipped."""
        from .ingest import ingest_documents
        return ingest_documents(self.store, self.embedder, self.settings, docs, self._collection(collection), progress)

    def search(self, query: str, k: int = 10, collection: str | None = None, mode: str = "hybrid") -> list[Hit]:
        query = self._check(query)
        return self.retriever.search(query, self._existing(collection), k=k, mode=mode)

    def ask(self, question: str, history: list[dict] | None = None, collection: str | None = None) -> Answer:
        t0 = time.perf_counter()
        question = self._check(question)
        name = self._collection(collection)
        version = self._version(name)   # read once: one store round trip per question, not 2 + citations
        query = resolve(question, history)
        qvec = self.embedder.embed([query])[0]
        hits = self.retriever.search(query, name, k=self.settings.answer_chunks, vector=qvec, version=version)
        t1 = time.perf_counter()
        text, refused, cites = extractive_answer(question, query, qvec, hits, self, self.settings,
                                                 lambda doc_id: self.document(doc_id, name, version), locate)
        t2 = time.perf_counter()
        return Answer(question=question, answer=text, refused=refused, citations=cites, backend="extractive",
                      timings_ms={"retrieve": (t1 - t0) * 1000, "generate": (t2 - t1) * 1000,
                                  "total": (t2 - t0) * 1000})

    def embed(self, texts: list[str]) -> np.ndarray:
        """The embedder, with an LRU cache (sentences of popular passages are embedded once)."""
        if not texts:
            return np.zeros((0, self.embedder.dim), np.float32)
        cache = self._sentence_vectors
        with self._lock:
            known = {t: cache[t] for t in texts if t in cache}
        missing = [t for t in dict.fromkeys(texts) if t not in known]
        if missing:
            known.update(zip(missing, self.embedder.embed(missing)))
            with self._lock:
                cache.update((t, known[t]) for t in missing)
                while len(cache) > 20_000:
                    cache.popitem(last=False)
        return np.stack([known[t] for t in texts])

    def document(self, doc_id: str, collection: str | None = None, version: int | None = None) -> Document | None:
        """A stored document by id (cached while the collection is unchanged, i.e. at the same version)."""
        name = self._collection(collection)
        key = (name, doc_id, self.store.version(name) if version is None else version)
        with self._lock:
            if key in self._docs:
                self._docs.move_to_end(key)
                return self._docs[key]
        doc = self.store.document(name, doc_id)
        with self._lock:
            self._docs[key] = doc
            while len(self._docs) > 64:
                self._docs.popitem(last=False)
        return doc

    def documents(self, collection: str | None = None) -> dict[str, dict]:
        """doc id -> metadata of every indexed document."""
        return self.store.doc_records(self._existing(collection))

    def status(self, collection: str | None = None) -> dict:
        names = [self._collection(collection)] if collection else self.store.collections()
        out = {"data_dir": str(self.settings.data_dir), "chroma_url": self.settings.chroma_url, "collections": {}}
        for name in names:
            docs = self.store.doc_records(self._existing(name))
            out["collections"][name] = {
                "documents": len(docs), "chunks": self.store.count(name),
                "files": sorted(({"source": m["source"], "title": m["title"], "date": m.get("date") or None,
                                  "chunks": m.get("chunks", 0), "sha256": m["sha256"]} for m in docs.values()),
                                key=lambda f: f["source"])}
        return out

    def _existing(self, collection: str | None) -> str:
        name = self._collection(collection)
        self._version(name)
        return name

    def _version(self, name: str) -> int:
        """The collection's version; NotFound when it is empty or does not exist."""
        version = self.store.version(name)
        if version < 0:
            raise NotFound(f"collection '{name}' is empty or does not exist; run `rag ingest` first"
                           + (f" (with --collection {name})" if name != self.settings.collection else ""))
        return version

    def _check(self, question: str) -> str:
        if not isinstance(question, str) or not question.strip():
            raise QuestionError("Please type a question.")
        if len(question) > self.settings.max_question_chars:
            raise QuestionError(f"The question is {len(question)} characters long; please keep it under "
                                f"{self.settings.max_question_chars} (ask about one thing at a time).")
        return question.strip()
