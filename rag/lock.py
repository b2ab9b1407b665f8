"""One writer per data dir: an advisory lock on DATA_DIR/ingest.lock (fcntl.flock, which the OS drops when
its holder dies, even on kill -9), with the holder's pid in the file for the message. Readers never take it."""
from __future__ import annotations

import fcntl
import os
from contextlib import contextmanager
from pathlib import Path

from .errors import Unavailable

LOCK_FILE = "ingest.lock"


@contextmanager
def writer_lock(data_dir: Path):
    """Hold the data dir's writer lock, or raise Unavailable naming the pid that holds it."""
    data_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(data_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = os.pread(fd, 20, 0).decode("ascii", "replace").strip() or "?"
            raise Unavailable(f"another ingest is running on {data_dir} (pid {pid}); wait for it to finish, "
                              f"or stop it (kill {pid}) and run this again") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
    finally:
        os.close(fd)                       # closing the file releases the lock
