"""Ingest: files/folders -> documents -> chunks -> vectors -> store, incremental by content hash."""
from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import numpy as np

from .chunking import chunk_document, doc_id_for
from .documents import META_SUFFIX, file_hash, read_document
from .errors import DocumentError
from .text import index_text, sentence_text
from .types import Document, IngestReport

log = logging.getLogger(__name__)
BATCH_CHUNKS = 512   # embed and write this many chunks at a time, across documents


def collect(paths: list[Path]) -> tuple[list[tuple[Path, str]], list[Path], list[dict]]:
    """(file, source-as-given) pairs, the folders walked, and errors for paths that do not exist."""
    files, roots, errors = [], [], []
    for given in paths:
        p = Path(given)
        if p.is_dir():
            roots.append(p.resolve())
            for dirpath, dirnames, names in os.walk(p):
                dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
                for name in sorted(names):
                    if not name.startswith(".") and not name.endswith(META_SUFFIX):
                        files.append((Path(dirpath) / name, os.path.normpath(os.path.join(dirpath, name))))
        elif p.is_file():
            files.append((p, os.path.normpath(str(p))))
        else:
            errors.append({"source": str(given), "error": "no such file or folder"})
    return files, roots, errors


def signature(embedder, settings) -> str:
    """What the stored vectors depend on besides the text: a change re-indexes unchanged documents."""
    return f"{embedder.name}|{settings.chunk_tokens}|{settings.chunk_overlap}|{int(settings.index_title)}|2"


def sentence_rows(chunks) -> list[tuple[str, str, str]]:
    """(id, doc id, text to embed) of each sentence of each chunk (headings included); the id is the chunk
    id + ":s" + the sentence's index in chunk.sentences."""
    return [(f"{c.id}:s{k}", c.doc_id, sentence_text(c.title, c.text[s - c.start:e - c.start]))
            for c in chunks for k, (s, e, _) in enumerate(c.sentences)]


class Batcher:
    """Decides what changed (content hash and signature) and writes changed documents with their
    chunks in batches of about BATCH_CHUNKS chunks, embedded together (length-sorted) across documents."""

    def __init__(self, store, embedder, settings, collection: str, report: IngestReport):
        self.store, self.embedder, self.settings, self.collection, self.report = store, embedder, settings, collection, report
        self.known = store.doc_records(collection)
        self.sig = signature(embedder, settings)
        self.pending: list = []

    def unchanged(self, doc_id: str, sha256: str) -> bool:
        old = self.known.get(doc_id)
        return bool(old) and old.get("sha256") == sha256 and old.get("signature") == self.sig

    def add(self, doc: Document) -> None:
        self.pending.append((doc, chunk_document(doc, self.settings.chunk_tokens, self.settings.chunk_overlap)))
        (self.report.updated if doc.id in self.known else self.report.added).append(doc.source)
        if sum(len(cs) for _, cs in self.pending) >= BATCH_CHUNKS:
            self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        chunks = [c for _, cs in self.pending for c in cs]
        sentences = sentence_rows(chunks)   # the answer step scores candidates with these
        texts = [index_text(c, self.settings) for c in chunks] + [t for _, _, t in sentences]
        vectors = self.embedder.embed(texts) if texts else np.zeros((0, self.embedder.dim), np.float32)
        self.store.put_documents(self.collection, self.pending, vectors[:len(chunks)], {"signature": self.sig},
                                 [(i, d) for i, d, _ in sentences], vectors[len(chunks):])
        self.report.chunks += len(chunks)
        self.pending = []


def progress_bar(total: int, unit: str, enabled: bool):
    if not enabled:
        return None
    from tqdm import tqdm
    return tqdm(total=total, unit=unit, desc="ingest", leave=False)


def ingest_documents(store, embedder, settings, docs: list[Document], collection: str,
                     progress: bool = False) -> IngestReport:
    """Index documents given in memory (e.g. JSONL records), by id: unchanged ones (same sha256 and
    signature) are skipped, changed ones replaced. Nothing is removed."""
    t0 = time.perf_counter()
    report = IngestReport()
    batch, bar = Batcher(store, embedder, settings, collection, report), progress_bar(len(docs), "doc", progress)
    for doc in docs:
        if batch.unchanged(doc.id, doc.sha256):
            report.skipped.append(doc.source)
        else:
            batch.add(doc)
        if bar:
            bar.update(1)
    batch.flush()
    if bar:
        bar.close()
    report.seconds = time.perf_counter() - t0
    return report


def ingest(store, embedder, settings, paths: list[Path], collection: str, progress: bool = False) -> IngestReport:
    t0 = time.perf_counter()
    report = IngestReport()
    files, roots, report.errors = collect(paths)
    batch, bar = Batcher(store, embedder, settings, collection, report), progress_bar(len(files), "file", progress)
    seen = set()
    for path, source in files:
        key = str(path.resolve())
        doc_id = doc_id_for(key)
        seen.add(doc_id)
        try:
            if batch.unchanged(doc_id, file_hash(path)):
                report.skipped.append(source)
            else:
                doc = read_document(path, source, doc_id)
                doc.path = key
                batch.add(doc)
        except DocumentError as e:
            report.errors.append({"source": source, "error": str(e)})
            log.warning("skipped %s: %s", source, e)
        except OSError as e:
            report.errors.append({"source": source, "error": f"cannot read ({e.strerror})"})
        if bar:
            bar.update(1)
    batch.flush()
    if bar:
        bar.close()
    for doc_id, meta in batch.known.items():  # files gone from an ingested folder
        path = meta.get("path", "")
        if doc_id not in seen and any(path.startswith(str(r) + os.sep) for r in roots):
            store.delete_document(collection, doc_id)
            report.removed.append(meta["source"])
    report.seconds = time.perf_counter() - t0
    return report
