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
from .types import IngestReport

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


def ingest(store, embedder, settings, paths: list[Path], collection: str, progress: bool = False) -> IngestReport:
    t0 = time.perf_counter()
    report = IngestReport()
    files, roots, report.errors = collect(paths)
    known = store.doc_records(collection)
    signature = f"{embedder.name}|{settings.chunk_tokens}|{settings.chunk_overlap}|1"
    seen, pending = set(), []

    def flush():
        if not pending:
            return
        chunks = [c for _, cs in pending for c in cs]
        vectors = embedder.embed([c.text for c in chunks]) if chunks else np.zeros((0, embedder.dim), np.float32)
        store.put_documents(collection, pending, vectors, {"signature": signature})
        report.chunks += len(chunks)
        pending.clear()

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
            if old and old.get("sha256") == digest and old.get("signature") == signature:
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
