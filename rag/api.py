"""The public facade: one Rag object per process; ingest, search, ask, documents, status."""
from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from contextlib import closing, nullcontext
from pathlib import Path

import numpy as np

from . import metrics
from .answer import compose
from .conversation import resolve
from .evidence import candidates, features, interactions, judge, load_scorer
from .text import sentence_text
from .auth import Principal
from .errors import NotFound, QuestionError
from .settings import COLLECTION_NAME, Settings, load_settings
from .types import LEGACY, Answer, Document, Evidence, Hit, IngestReport
from .verify import Checker

log = logging.getLogger(__name__)


class Rag:
    """Owns the settings, the embedder, the store and the retriever; parts can be passed in."""

    def __init__(self, settings: Settings | None = None, embedder=None, store=None):
        self.settings = settings or load_settings()
        self._embedder, self._store, self._retriever, self._generator = embedder, store, None, None
        self._access = None
        self.index_wait: float | None = None   # seconds a question waits for a BM25 (re)build; None: until it is ready
        self._docs: OrderedDict = OrderedDict()
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
    def access(self):
        """Who may use which collection (rag.access); everyone when RAG_AUTH=none."""
        if self._access is None:
            from .access import Access
            self._access = Access(self.settings, open_to_all=self.settings.auth == "none")
        return self._access

    @property
    def files(self):
        """The files behind the collections' documents: uploads, status, originals (rag.files)."""
        from .files import Files
        return Files(self)

    @property
    def retriever(self):
        if self._retriever is None:
            from .retrieval import Retriever
            self._retriever = Retriever(self.store, self.embedder, self.settings, wait=self.index_wait)
        return self._retriever

    def _collection(self, collection: str | None, user: Principal | None = None) -> str:
        """The collection's name, validated; AccessDenied unless `user` may use it (None: the operator)."""
        name = collection or self.settings.collection
        if not isinstance(name, str) or not COLLECTION_NAME.fullmatch(name):
            raise QuestionError(f"'{str(name)[:60]}' is not a collection name: use 1-50 letters, digits, '-' "
                                "or '_', starting and ending with a letter or digit")
        self.access.check(user, name)
        return name

    def ingest(self, paths: list[str | Path] | None = None, collection: str | None = None,
               progress=False) -> IngestReport:
        """`progress`: a tqdm bar when True, or a callable report(files done, files in all)."""
        from .ingest import ingest
        paths = [Path(p) for p in (paths or [self.settings.corpus_dir])]
        name = self._collection(collection)
        with self._one_ingest(name):
            report = ingest(self.store, self.embedder, self.settings, paths, name, progress)
        metrics.ingested(report)
        return report

    def ingest_documents(self, docs: list[Document], collection: str | None = None,
                         progress: bool = False) -> IngestReport:
        """Index documents given in memory (e.g. JSONL records) by their ids; unchanged ones are skipped."""
        from .ingest import ingest_documents
        name = self._collection(collection)
        with self._one_ingest(name):
            report = ingest_documents(self.store, self.embedder, self.settings, docs, name, progress)
        metrics.ingested(report)
        return report

    def _one_ingest(self, name: str):
        """With a shared state database (RAG_DATABASE_URL): one ingest per collection across every host, as
        ingest jobs and replicas have data dirs (and so data dir locks) of their own."""
        if not self.settings.database_url:
            return nullcontext()
        from .db import connect
        return connect(self.settings).exclusive(
            f"ingest:{name}",
            f"another ingest into collection '{name}' is running (another process or host sharing RAG_DATABASE_URL); "
            "wait for it to finish and run this again")

    def search(self, query: str, k: int = 10, collection: str | None = None, mode: str = "hybrid",
               user: Principal | None = None) -> list[Hit]:
        query = self._check(query)
        return self.retriever.search(query, self._existing(collection, user), k=k, mode=mode)

    @property
    def generator(self):
        if self._generator is None:
            from .generator import make_generator
            self._generator = make_generator(self.settings)
        return self._generator

    def ask(self, question: str, history: list[dict] | None = None, collection: str | None = None,
            user: Principal | None = None) -> Answer:
        """One cited answer (what ask_stream's last event holds)."""
        for event in self.ask_stream(question, history, collection, user=user):
            if event[0] == "answer":
                return event[1]
        raise AssertionError("ask_stream ended without an answer")

    def ask_stream(self, question: str, history: list[dict] | None = None, collection: str | None = None,
                   user: Principal | None = None):
        """The answer as it is made (rag/answer.py): ("token", text) as the generator writes, ("sentence", Claim,
        [Citation]) as each sentence is verified or retracted, and last ("answer", Answer), which replaces what
        was streamed. Check, resolve and retrieve errors are raised at the first next()."""
        collection = self._collection(collection, user)  # authorizes `user` before any work
        t0 = time.perf_counter()
        question, query, qvec, hits, name, version, side = self._retrieve(question, history, collection)
        t1 = time.perf_counter()
        model = load_scorer()
        evidence, x, z = self._evidence(question, query, qvec, hits, name, version, side)
        evidence, answerable = judge(evidence, x, model, z if model.get("embedder") == self.embedder.name else None)
        threshold = model["threshold"] if self.settings.refuse_below is None else self.settings.refuse_below
        generator = self.generator
        checker = Checker(self.embedder.embed, self._span_vectors(name),
                          getattr(generator, "entails", None) if self.settings.llm_entailment else None)
        first = None
        events = compose(query, evidence, answerable, threshold, generator, checker, self.settings,
                         lambda doc_id: self.document(doc_id, name, version))
        with closing(events):       # closed early (e.g. the connection closed): the generator is closed too
            for event in events:
                if event[0] == "token" and first is None:
                    first = time.perf_counter()
                if event[0] == "answer":
                    a, t2 = event[1], time.perf_counter()
                    a.question = question
                    if side.dense_only(version):     # the side the hits came from, not whichever is ready now
                        from .retrieval import DENSE_ONLY
                        a.notes.append(DENSE_ONLY)
                    a.timings_ms = {"retrieve": (t1 - t0) * 1000, "generate": (t2 - t1) * 1000, "total": (t2 - t0) * 1000}
                    if first is not None and a.backend != "extractive":
                        a.timings_ms["first_token"] = (first - t0) * 1000
                    log.info("ask %r -> %s (answerable %.3f, %s)", question[:200],
                             "refused" if a.refused else "answered", answerable, a.backend)
                    metrics.answered(a)
                yield event

    def evidence(self, question: str, history: list[dict] | None = None,
                 collection: str | None = None) -> tuple[list[Evidence], np.ndarray, np.ndarray]:
        """The answer candidates `ask` would consider, their feature rows (evidence.FEATURES) and their
        interactions with the question (evidence.interactions), unscored: what the scorer is trained on
        (evals/train_scorer.py)."""
        return self._evidence(*self._retrieve(question, history, collection))

    def _retrieve(self, question: str, history, collection):
        """(question, standalone query, its vector, hits, collection name, version, the BM25 side searched): the
        part of `ask` before the answer step. The version is read once: one store round trip per question, not
        2 + citations; the side is taken once, so the answer's note and idf are those of the side that found
        the hits even if a newer one becomes ready meanwhile."""
        question = self._check(question)
        name = self._collection(collection)
        version = self._version(name)
        query = resolve(question, history)
        qvec = self.embedder.embed([query])[0]
        side = self.retriever.bm25(name, version)
        hits = self.retriever.search(query, name, k=self.settings.answer_chunks, vector=qvec, version=version,
                                     side=side)
        return question, query, qvec, hits, name, version, side

    def _evidence(self, question, query, qvec, hits, name, version, side):
        evidence = candidates(question, hits)
        vecs, prev_vecs = self._candidate_vectors(name, evidence)
        return evidence, features(question, query, qvec, evidence, vecs, prev_vecs, side.idf), interactions(qvec, vecs)

    def _candidate_vectors(self, name: str, evidence) -> tuple[np.ndarray, np.ndarray]:
        """The candidates' sentence vectors, and those of each one's neighbour in its chunk (Evidence.neighbour:
        the sentence before, or the description a "Default: 30" brings along; zeros for none), fetched in one
        store call."""
        zero = np.zeros((len(evidence), self.embedder.dim), np.float32)
        if not evidence:
            return zero, zero
        prev = [i for i, ev in enumerate(evidence) if ev.neighbour >= 0]
        got = self._sentence_vectors(name, [(ev.hit.chunk, ev.index) for ev in evidence]
                                     + [(evidence[i].hit.chunk, evidence[i].neighbour) for i in prev])
        prev_vecs = zero.copy()
        if prev:
            prev_vecs[prev] = np.stack(got[len(evidence):])
        return np.stack(got[:len(evidence)]), prev_vecs

    def _sentence_vectors(self, name: str, sentences) -> list[np.ndarray]:
        """Vectors of (chunk, index) sentences as computed at ingest; a sentence without one (an index written
        by an older version, whose sentence rows, if any, were numbered differently) is embedded now."""
        ids = [f"{c.id}:s{k}" for c, k in sentences]
        stored = self.store.sentence_vectors(name, list(dict.fromkeys(i for i, (c, k) in zip(ids, sentences)
                                                                      if c.sentences[k][2] != LEGACY)))
        missing = list({i: (i, c, k) for i, (c, k) in zip(ids, sentences) if i not in stored}.values())
        if missing:
            texts = []
            for _, c, k in missing:
                s, e, _ = c.sentences[k]
                texts.append(sentence_text(c.title, c.text[s - c.start:e - c.start]))
            stored.update(zip((i for i, _, _ in missing), self.embedder.embed(texts)))
        return [stored[i] for i in ids]

    def _span_vectors(self, name: str):
        """vectors(chunk, indices) for the verifier: fetched from the store once per chunk."""
        cache: dict = {}

        def vectors(chunk, indices) -> np.ndarray:
            if chunk.id not in cache:
                cache[chunk.id] = self._sentence_vectors(name, [(chunk, k) for k in range(len(chunk.sentences))])
            return np.stack([cache[chunk.id][k] for k in indices])
        return vectors

    def document(self, doc_id: str, collection: str | None = None, version: int | None = None,
                 user: Principal | None = None) -> Document | None:
        """A stored document by id (cached while the collection is unchanged, i.e. at the same version)."""
        name = self._collection(collection, user)
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

    def documents(self, collection: str | None = None, user: Principal | None = None) -> dict[str, dict]:
        """doc id -> metadata of every indexed document."""
        return self.store.doc_records(self._existing(collection, user))

    def collections(self, user: Principal | None = None) -> list[str]:
        """Names of the indexed collections `user` may ask (None: the operator, who may ask all)."""
        return [n for n in self.store.collections() if self.access.allowed(user, n)]

    def may_manage(self, user: Principal | None, collection: str) -> bool:
        """Whether `user` may upload, delete and re-ingest `collection`'s documents (rag.access; None: the operator)."""
        return bool(isinstance(collection, str) and COLLECTION_NAME.fullmatch(collection)
                    and self.access.may_manage(user, collection))

    def managed(self, user: Principal | None = None) -> list[str]:
        """Collections `user` may manage: indexed ones, and those granted with --manage though still empty."""
        names = set(self.store.collections()) | {self.settings.collection}
        if not self.access.open:
            names |= set(self.access.managers())
        return sorted(n for n in names if self.may_manage(user, n))

    def status(self, collection: str | None = None, user: Principal | None = None) -> dict:
        names = [self._collection(collection, user)] if collection else self.collections(user)
        out = {"data_dir": str(self.settings.data_dir), "chroma_url": self.settings.chroma_url, "collections": {}}
        for name in names:
            docs = self.store.doc_records(self._existing(name))
            out["collections"][name] = {
                "documents": len(docs), "chunks": self.store.count(name),
                "files": sorted(({"source": m["source"], "title": m["title"], "date": m.get("date") or None,
                                  "chunks": m.get("chunks", 0), "sha256": m["sha256"]} for m in docs.values()),
                                key=lambda f: f["source"])}
        return out

    def _existing(self, collection: str | None, user: Principal | None = None) -> str:
        name = self._collection(collection, user)
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
