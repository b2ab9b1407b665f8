"""The files behind a collection's documents: the uploads folder the documents page writes
(RAG_UPLOADS_DIR/COLLECTION/, default DATA_DIR/uploads/COLLECTION/), every document's status, and a document's
original file for download.

Uploads are ingested like any folder given to `rag ingest` (rag/ingest.py: size and bomb limits, a bad file
skipped with its one-line reason, one ingest per data dir and per collection), so deleting a file from the
folder and ingesting it again removes its document. Managing needs `Access.may_manage`; downloading an
original only needs leave to ask the collection, and is served only when the file at the document's recorded
path is still the one that was indexed (same sha256): never a path from a request."""
from __future__ import annotations

import json
import os
import re
import secrets
import time
from pathlib import Path

from .chunking import doc_id_for
from .documents import MAX_BYTES, META_SUFFIX, SUFFIXES, file_unchanged, reader_of
from .errors import DocumentError, NotFound
from .lock import writer_lock

FILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.,()+-]{0,150}$")
LAST = ".last-ingest.json"          # the folder's last ingest report (a dot file: ingest never reads it)


def check_name(name: str) -> str:
    """An uploaded file's name, or DocumentError saying what to rename: a plain name (no folder), a supported type."""
    if not isinstance(name, str) or "/" in name or "\\" in name or name in (".", "..") or ".." in name:
        raise DocumentError(f"bad file name {str(name)[:80]!r}: send a plain file name, without folders or '..'")
    if not FILE_NAME.match(name) or name.endswith(META_SUFFIX):
        raise DocumentError(f"bad file name {name[:80]!r}: rename it to letters, digits, spaces and . _ , ( ) + - "
                            "(at most 150), starting with a letter or digit")
    if reader_of(name[:-3] if name.lower().endswith(".gz") else name) is None:   # what `rag ingest` reads
        raise DocumentError(f"unsupported file type '{Path(name).suffix}' ({name}); supported: {', '.join(SUFFIXES)}, "
                            "plain text (README.*, no suffix) and .gz of these")
    return name


def check_file(name: str, data: bytes) -> str:
    """An uploaded file's name if the file may be saved: a good name, not empty, at most 50 MB."""
    check_name(name)
    if len(data) > MAX_BYTES:
        raise DocumentError(f"{name} is larger than {MAX_BYTES // 1_000_000} MB; split it")
    if not data.strip():
        raise DocumentError(f"{name} is empty")
    return name


class Files:
    def __init__(self, rag):
        self.rag = rag
        self.root = Path(rag.settings.uploads_dir or Path(rag.settings.data_dir) / "uploads")

    def folder(self, collection: str) -> Path:
        """Where `collection`'s uploads live (made on first use)."""
        return (self.root / collection).resolve()

    def check(self, user, collection: str | None) -> str:
        """The collection's name if `user` may manage it; else QuestionError (a bad name) or AccessDenied."""
        name = self.rag._collection(collection)      # a valid name, else QuestionError
        self.rag.access.check_manage(user, name)
        return name

    # ------------------------------------------------------------ managing (managers only)
    def save(self, user, collection: str | None, name: str, data: bytes) -> Path:
        """Write one uploaded file into the collection's folder (replacing one of that name); ingest it next."""
        collection, name = self.check(user, collection), check_file(name, data)
        folder = self.folder(collection)
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f".{name}.{secrets.token_hex(4)}.part"   # a dot file: ingest never reads it
        tmp.write_bytes(data)
        os.replace(tmp, folder / name)
        return folder / name

    def ingest(self, user, collection: str | None, progress=False):
        """Ingest the collection's uploads folder (new, changed and removed files); the report is kept for `list`."""
        collection = self.check(user, collection)
        folder = self.folder(collection)
        folder.mkdir(parents=True, exist_ok=True)
        report = self.rag.ingest([folder], collection, progress=progress)
        (folder / LAST).write_text(json.dumps({"time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                                               **report.to_dict()}), "utf-8")
        return report

    def delete(self, user, collection: str | None, doc_id: str) -> str:
        """Delete an uploaded document: its file, and its document from the index. Returns the file name."""
        collection = self.check(user, collection)
        entry = next((d for d in self.list(user, collection) if d["id"] == doc_id), None)
        if entry is None:
            raise NotFound(f"collection '{collection}' has no document with id {doc_id[:40]!r}; reload the list")
        if not entry["uploaded"]:
            raise DocumentError(f"{entry['source']} was indexed by `rag ingest`, not uploaded here; remove the file "
                                "from its folder and run `rag ingest` on that folder again")
        path = self.folder(collection) / entry["name"]
        with writer_lock(self.rag.settings.data_dir), self.rag._one_ingest(collection):   # not under an ingest
            path.unlink(missing_ok=True)
            path.with_name(path.name + META_SUFFIX).unlink(missing_ok=True)
            if entry["status"] == "indexed":
                self.rag.store.delete_document(collection, doc_id)
        return entry["name"]

    def list(self, user, collection: str | None) -> list[dict]:
        """Every document of the collection and every uploaded file not indexed, with its status: indexed,
        skipped (with the reason from the last ingest) or waiting (not ingested yet)."""
        collection = self.check(user, collection)
        folder = self.folder(collection)
        try:
            records = self.rag.documents(collection)
        except NotFound:                              # nothing indexed yet
            records = {}
        last = self._last(folder)
        reasons = {Path(e["source"]).name: e["error"] for e in last.get("errors", [])
                   if Path(e["source"]).parent == folder}
        out = []
        for doc_id, m in records.items():
            path = Path(m.get("path") or m["source"])
            out.append(self._entry(doc_id, path, folder, m["title"], m.get("date") or None, m.get("chunks", 0),
                                   "indexed", None, m["source"]))
        indexed = {e["id"] for e in out}
        for path in sorted(folder.iterdir()) if folder.is_dir() else ():
            if path.name.startswith(".") or path.name.endswith(META_SUFFIX) or not path.is_file():
                continue
            doc_id = doc_id_for(str(path))
            if doc_id not in indexed:
                reason = reasons.get(path.name)
                out.append(self._entry(doc_id, path, folder, path.stem, None, 0, "skipped" if reason else "waiting",
                                       reason, str(path)))
        return sorted(out, key=lambda e: e["name"].lower())

    def _entry(self, doc_id, path: Path, folder: Path, title, date, chunks, status, reason, source) -> dict:
        try:
            size = path.stat().st_size
        except OSError:
            size = None
        return {"id": doc_id, "name": path.name, "source": source, "title": title, "date": date, "size": size,
                "chunks": chunks, "status": status, "reason": reason, "uploaded": path.parent == folder}

    def _last(self, folder: Path) -> dict:
        try:
            return json.loads((folder / LAST).read_text("utf-8"))
        except (OSError, ValueError):
            return {}

    # ------------------------------------------------------------ originals (whoever may ask)
    def original(self, user, collection: str | None, doc_id: str, check: bool = True) -> Path | None:
        """The file a document was indexed from, if it is still on this host unchanged (same sha256; with
        `check` False only its presence is checked, for showing a link); None otherwise."""
        meta = self.rag.documents(collection, user=user).get(doc_id)   # AccessDenied unless `user` may ask
        path = Path(meta.get("path") or "") if meta else None
        if not path or not path.is_absolute():
            return None
        try:
            real = path.resolve(strict=True)
        except (OSError, RuntimeError):
            return None
        if not real.is_file() or (check and not file_unchanged(path, meta.get("sha256"))):
            return None
        return real
