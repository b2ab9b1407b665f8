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
from .retrieval import index_text
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
    return f"{embedder.name}|{settings.chunk_tokens}|{settings.chunk_overlap}|{int(settings.index_title)}|1"


def write(store, embedder, settings, collection: str, pending: list, sig: str) -> int:
    """Embed and store a batch of (document, chunks); empties `pending`, returns the number of chunks."""
    if not pending:
        return 0
    chunks = [c for _, cs in pending for c in cs]
    texts = [index_text(c, settings) for c in chunks]
    vectors = embedder.embed(texts) if chunks else np.zeros((0, embedder.dim), np.float32)
    store.put_documents(collection, pending, vectors, {"signature": sig})
    pending.clear()
    return len(chunks)


def ingest_documents(store, embedder, settings, docs: list[Document], collection: str,
                     progress: bool = False) -> IngestReport:
    """Index documents given in memory (e.g. JSONL records), by id: unchanged ones (same sha256 and
    signature) are skipped, changed ones replaced. Nothing is removed."""
    t0 = time.perf_counter()
    report, known, sig, pending = IngestReport(), store.doc_records(collection), signature(embedder, settings), []
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=len(docs), unit="doc", desc="ingest", leave=False)
    for doc in docs:
        old = known.get(doc.id)
        if old and old.get("sha256") == doc.sha256 and old.get("signature") == sig:
            report.skipped.append(doc.source)
        else:
            pending.append((doc, chunk_document(doc, settings.chunk_tokens, settings.chunk_overlap)))
            (report.updated if old else report.added).append(doc.source)
            if sum(len(cs) for _, cs in pending) >= BATCH_CHUNKS:
                report.chunks += write(store, embedder, settings, collection, pending, sig)
        if bar:
            bar.update(1)
    report.chunks += write(store, embedder, settings, collection, pending, sig)
    if bar:
        bar.close()
    report.seconds = time.perf_counter() - t0
    return report


def ingest(store, embedder, settings, paths: list[Path], collection: str, progress: bool = False) -> IngestReport:
    t0 = time.perf_counter()
    report = IngestReport()
    files, roots, report.errors = collect(paths)
    known = store.doc_records(collection)
    sig = signature(embedder, settings)
    seen, pending = set(), []

    def flush():
        report.chunks += write(store, embedder, settings, collection, pending, sig)

    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=len(files), unit="file", desc="ingest", leave=False)
    for path, source in files:
        key = str(path.resolve())
        doc_id = doc_id_for(key)
        seen.add(doc_id)
        try:
            old = known.get(doc_id)
            digest = file_hash(path)
            if old and old.get("sha256") == digest and old.get("signature") == sig:
                report.skipped.append(source)
            else:
                doc = read_document(path, source, doc_id)
                doc.path = key
                chunks = chunk_document(doc, settings.chunk_tokens, settings.chunk_overlap)
                pending.append((doc, chunks))
                (report.updated if old else report.added).append(source)
                if sum(len(cs) for _, cs in pending) >= BATCH_CHUNKS:
                    flush()
        except DocumentError as e:
            report.errors.append({"source": source, "error": str(e)})
            log.warning("skipped %s: %s", source, e)
        except OSError as e:
            report.errors.append({"source": source, "error": f"cannot read ({e.strerror})"})
        if bar:
            bar.update(1)
    flush()
    if bar:
        bar.close()
    for doc_id, meta in known.items():  # files gone from an ingested folder
        path = meta.get("path", "")
        if doc_id not in seen and any(path.startswith(str(r) + os.sep) for r in roots):
            store.delete_document(collection, doc_id)
            report.removed.append(meta["source"])
    report.seconds = time.perf_counter() - t0
    return report
