"""Ingest: files/folders -> documents -> chunks -> vectors -> store, incremental by content hash."""
from __future__ import annotations

import logging
import os
import secrets
import time
from pathlib import Path

import numpy as np

from .chunking import chunk_document, doc_id_for
from .documents import META_SUFFIX, file_hash, read_document
from .errors import DocumentError
from .lock import writer_lock
from .text import index_text, sentence_text
from .types import Document, IngestReport

log = logging.getLogger(__name__)
BATCH_CHUNKS = 512   # embed and write this many chunks at a time, across documents


def collect(paths: list[Path]) -> tuple[list[tuple[Path, str, Path]], list[Path], list[dict]]:
    """(file to read, source as given, where it was found) of every file to index, the folders walked, and
    one error per path skipped: missing, not a regular file, a link loop or broken link, a link to a file
    outside the ingested folders, or a second name for a file already in the run (a symbolic link to it, or a
    hard link: the same device and inode). Links to
    folders are not followed. `where` keys the document, so deleting a link removes what came through it."""
    roots = [Path(p).resolve() for p in paths if Path(p).is_dir()]
    found, errors = [], []                      # (where, source, named on the command line)
    for given in paths:
        p = Path(given)
        if p.is_dir():
            root = p.resolve()
            for dirpath, dirnames, names in os.walk(p):
                inside = root / os.path.relpath(dirpath, p)
                for d in sorted(dirnames):
                    if not d.startswith(".") and os.path.islink(os.path.join(dirpath, d)):
                        errors.append({"source": os.path.normpath(os.path.join(dirpath, d)),
                                       "error": "a link to a folder, not followed; ingest that folder itself"})
                dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and
                                     not os.path.islink(os.path.join(dirpath, d)))
                for name in sorted(names):
                    if not name.startswith(".") and not name.endswith(META_SUFFIX):
                        found.append((Path(os.path.normpath(inside / name)),
                                      os.path.normpath(os.path.join(dirpath, name)), False))
        elif os.path.lexists(p):
            found.append((p.parent.resolve() / p.name, os.path.normpath(str(p)), True))
        else:
            errors.append({"source": str(given), "error": "no such file or folder"})
    files, owner = [], {}
    for where, source, named in sorted(found, key=lambda f: f[0].is_symlink()):   # real files claim theirs first
        try:
            target = where.resolve(strict=True)
        except RuntimeError:
            errors.append({"source": source, "error": "a symbolic link loop; remove or fix the link"})
            continue
        except OSError:
            errors.append({"source": source, "error": "a broken link (its target does not exist); remove it"})
            continue
        if where.is_symlink() and not named and not any(target.is_relative_to(r) for r in roots):
            errors.append({"source": source, "error": f"a link to {target}, outside the ingested folders; "
                                                      "copy the file in to index it"})
        elif not target.is_file():
            errors.append({"source": source, "error": "not a regular file (device, pipe or socket)"})
        elif (inode := _inode(target)) in owner:
            first, first_target = owner[inode]
            link = "a link" if first_target == target else "a hard link"
            errors.append({"source": source, "error": f"the same file as {first} ({link}), indexed once"})
        else:
            owner[inode] = (source, target)
            files.append((target, source, where))
    return files, roots, errors


def _inode(path: Path) -> tuple[int, int]:
    st = path.stat()
    return st.st_dev, st.st_ino


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
    chunks in batches of about BATCH_CHUNKS chunks, embedded together (length-sorted) across documents.
    Rows are written under this run's generation (in their ids), which the store's commit and sweep use.
    Opening one sweeps away rows a killed ingest left behind."""

    def __init__(self, store, embedder, settings, collection: str, report: IngestReport):
        self.store, self.embedder, self.settings, self.collection, self.report = store, embedder, settings, collection, report
        self.known = store.doc_records(collection)
        store.sweep(collection, self.known)
        self.sig = signature(embedder, settings)
        self.gen = "g" + secrets.token_hex(5)
        self.pending: list = []

    def unchanged(self, doc_id: str, sha256: str) -> bool:
        old = self.known.get(doc_id)
        return bool(old) and old.get("sha256") == sha256 and old.get("signature") == self.sig

    def add(self, doc: Document) -> None:
        chunks = chunk_document(doc, self.settings.chunk_tokens, self.settings.chunk_overlap, gen=self.gen)
        self.pending.append((doc, chunks))
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
        self.store.put_documents(self.collection, self.pending, vectors[:len(chunks)],
                                 {"signature": self.sig, "gen": self.gen},
                                 [(i, d) for i, d, _ in sentences], vectors[len(chunks):])
        self.report.chunks += len(chunks)
        self.pending = []


class _Reported:
    """A progress bar that calls `report(done, total)` (e.g. the documents page's progress bar)."""

    def __init__(self, report, total: int):
        self.report, self.total, self.done = report, total, 0
        report(0, total)

    def update(self, n: int) -> None:
        self.done += n
        self.report(self.done, self.total)

    def close(self) -> None:
        pass


def progress_bar(total: int, unit: str, enabled):
    """`enabled`: False, True (a tqdm bar on the terminal) or a callable report(done, total)."""
    if callable(enabled):
        return _Reported(enabled, total)
    if not enabled:
        return None
    from tqdm import tqdm
    return tqdm(total=total, unit=unit, desc="ingest", leave=False)


def ingest_documents(store, embedder, settings, docs: list[Document], collection: str,
                     progress: bool = False) -> IngestReport:
    """Index documents given in memory (e.g. JSONL records), by id: unchanged ones (same sha256 and
    signature) are skipped, changed ones replaced. Nothing is removed."""
    with writer_lock(settings.data_dir):
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
    """Index files and folders (one ingest per data dir at a time: Unavailable if another one runs)."""
    with writer_lock(settings.data_dir):
        return _ingest(store, embedder, settings, paths, collection, progress)


def _ingest(store, embedder, settings, paths: list[Path], collection: str, progress: bool) -> IngestReport:
    t0 = time.perf_counter()
    report = IngestReport()
    files, roots, report.errors = collect(paths)
    for e in report.errors:
        log.warning("skipped %s: %s", e["source"], e["error"])
    batch, bar = Batcher(store, embedder, settings, collection, report), progress_bar(len(files), "file", progress)
    seen = set()
    for path, source, where in files:
        doc_id = doc_id_for(str(where))
        seen.add(doc_id)
        try:
            if batch.unchanged(doc_id, file_hash(path)):
                report.skipped.append(source)
            else:
                doc = read_document(path, source, doc_id)
                doc.path = str(where)
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
    skipped = {e["source"] for e in report.errors}
    for doc_id, meta in batch.known.items():
        path = meta.get("path", "")
        gone = doc_id not in seen and any(path.startswith(str(r) + os.sep) for r in roots)   # gone from a folder
        # indexed through a link by an older version (keyed by the link's target): the link is skipped now
        via_link = doc_id not in seen and meta.get("source") in skipped
        if gone or via_link:
            store.delete_document(collection, doc_id)
            report.removed.append(meta["source"])
    report.seconds = time.perf_counter() - t0
    return report
