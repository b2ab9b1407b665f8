"""Kill-9 loop for tests/test_ingest_hardening.py: ROUNDS ingests of a changing folder, each a forked process
killed with SIGKILL at a random moment, each followed by a fresh process that opens the store the way
`rag ask` does and checks it against the folder. Prints one JSON summary line.

    python tests/crash_driver.py DATA_DIR FOLDER ROUNDS SEED

This process never opens Chroma itself (a forked child must not inherit a client); it only forks, kills,
edits the folder and keeps every version each file has had."""
from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import sys
import time
from pathlib import Path

import numpy as np

from rag import Rag, load_settings
from rag.store import _owner

COLLECTION = "crash"
WORDS = "alpha board budget canteen data centre laptop badge policy report staff vault window".split()


class HashEmbedder:
    """Deterministic 16-d vectors: the kill loop tests the writes, not the model."""
    name, dim = "hash16", 16

    def embed(self, texts: list[str]) -> np.ndarray:
        out = np.array([np.frombuffer(hashlib.sha256(t.encode()).digest()[:16], np.uint8) for t in texts],
                       np.float32).reshape(len(texts), self.dim) + 1.0
        return out / np.linalg.norm(out, axis=1, keepdims=True)


def rag_for(data: Path) -> Rag:
    return Rag(load_settings(data_dir=data, collection=COLLECTION, chunk_tokens=48, chunk_overlap=8),
               embedder=HashEmbedder())


def text(rnd: random.Random) -> str:
    return "\n\n".join(" ".join(rnd.choice(WORDS) for _ in range(rnd.randint(8, 14))).capitalize() + "."
                       for _ in range(rnd.randint(4, 12))) + "\n"


def edit(folder: Path, rnd: random.Random, versions: dict[str, set[str]]) -> None:
    """Change, add and delete a few files; remember every version's sha256."""
    names = sorted(p.name for p in folder.iterdir())
    for name in rnd.sample(names, k=min(len(names), rnd.randint(2, 5))):
        if rnd.random() < 0.2 and len(names) > 6:
            (folder / name).unlink()
        else:
            (folder / name).write_text(text(rnd), "utf-8")
    for _ in range(rnd.randint(0, 2)):
        (folder / f"new{rnd.randrange(10**6)}.txt").write_text(text(rnd), "utf-8")
    for p in folder.iterdir():
        versions.setdefault(str(p.resolve()), set()).add(hashlib.sha256(p.read_bytes()).hexdigest())


def in_child(func) -> dict:
    """Run func in a forked process; its dict result comes back through a pipe."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            out = func()
        except BaseException as e:          # noqa: BLE001 -- reported to the parent, which fails the test
            out = {"error": f"{type(e).__name__}: {e}"}
        os.write(w, json.dumps(out).encode())
        os._exit(0)
    os.close(w)
    data = b""
    while chunk := os.read(r, 1 << 16):
        data += chunk
    os.close(r)
    os.waitpid(pid, 0)
    return json.loads(data)


def check(data: Path, folder: Path, versions: dict[str, set[str]], exact: bool) -> dict:
    """What a fresh reader sees: every chunk and sentence row owned by a document record of its generation,
    every record complete and a version its file has had (exact: the file's current version, all files)."""
    rag = rag_for(data)
    store = rag.store
    col = store.client.get_collection(f"{COLLECTION}.chunks")
    pending = bool((col.metadata or {}).get("pending"))
    store.version(COLLECTION)                            # what `rag ask` does first: sweeps a dead write
    records = store.doc_records(COLLECTION)
    problems = []
    owned = {}
    for kind in ("chunks", "sentences"):
        for row in store._ids(store._col(COLLECTION, kind)):
            doc, gen = _owner(row)
            rec = records.get(doc)
            if rec is None or rec.get("gen", "") != gen:
                problems.append(f"orphan {kind} row {row}")
            elif kind == "chunks":
                owned[doc] = owned.get(doc, 0) + 1
    for doc, m in records.items():
        if owned.get(doc, 0) != m["chunks"]:
            problems.append(f"{m['source']}: record says {m['chunks']} chunks, {owned.get(doc, 0)} stored")
        if m["sha256"] not in versions.get(m["path"], ()):
            problems.append(f"{m['source']}: stored version {m['sha256'][:8]} was never the file's")
        if exact and (not os.path.exists(m["path"]) or
                      m["sha256"] != hashlib.sha256(Path(m["path"]).read_bytes()).hexdigest()):
            problems.append(f"{m['source']}: not the file's current version")
    if exact and len(records) != len(list(folder.iterdir())):
        problems.append(f"{len(records)} records for {len(list(folder.iterdir()))} files")
    return {"pending": pending, "documents": len(records), "chunks": sum(owned.values()), "problems": problems}


def ingest_child(data: Path, folder: Path) -> None:
    rag_for(data).ingest([folder], COLLECTION)
    os._exit(0)


def main() -> None:
    data, folder, rounds, seed = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    rnd, versions = random.Random(seed), {}
    import chromadb  # noqa: F401 -- imported (no client) and the tokenizer loaded once, before any fork
    from rag.chunking import encoder
    encoder()
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(10):
        (folder / f"doc{i}.txt").write_text(text(rnd), "utf-8")
    edit(folder, rnd, versions)
    summary = {"rounds": 0, "killed_while_writing": 0, "problems": [], "durations": []}
    t0 = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        ingest_child(data, folder)
    os.waitpid(pid, 0)
    duration = time.perf_counter() - t0                  # a whole ingest, imports already done
    summary["durations"].append(round(duration, 2))
    for _ in range(rounds):
        edit(folder, rnd, versions)
        pid = os.fork()
        if pid == 0:
            ingest_child(data, folder)
        time.sleep(rnd.uniform(0.0, duration))
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        got = in_child(lambda: check(data, folder, versions, exact=False))
        summary["rounds"] += 1
        summary["killed_while_writing"] += bool(got.get("pending"))
        summary["problems"] += got.get("problems", [got.get("error")])
    pid = os.fork()                                      # and a last ingest left to finish
    if pid == 0:
        ingest_child(data, folder)
    os.waitpid(pid, 0)
    final = in_child(lambda: check(data, folder, versions, exact=True))
    summary["problems"] += final.get("problems", [final.get("error")])
    summary["final"] = {k: final.get(k) for k in ("documents", "chunks")}
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
