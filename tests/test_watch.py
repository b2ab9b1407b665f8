"""`rag watch`: files added, edited and deleted under a watched folder are ingested, replaced and removed."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from rag import Rag, load_settings
from rag.watch import watch


def wait_for(check, timeout: float = 60.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        got = check()
        if got:
            return got
        time.sleep(0.1)
    raise AssertionError("timed out")


def test_watch_ingests_changes_until_stopped(tmp_path, embedder):
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "a.txt").write_text("Parking\n\nThe car park opens at seven in the morning.\n")
    rag = Rag(load_settings(data_dir=tmp_path / "data"), embedder=embedder)
    reports, stop = [], threading.Event()
    watcher = threading.Thread(target=watch, args=(rag, [folder]), daemon=True,
                               kwargs={"on_report": reports.append, "stop_event": stop, "debounce_ms": 300})
    watcher.start()
    try:
        wait_for(lambda: reports)
        assert [Path(s).name for s in reports[0].added] == ["a.txt"]
        (folder / "b.txt").write_text("Bicycles\n\nThe bicycle shed opens with door code 4711.\n")
        wait_for(lambda: any(r.added for r in reports[1:]))
        assert "4711" in rag.ask("What is the door code of the bicycle shed?").answer
        (folder / "b.txt").write_text("Bicycles\n\nThe bicycle shed opens with door code 8080.\n")
        wait_for(lambda: any(r.updated for r in reports[1:]))
        assert "8080" in rag.ask("What is the door code of the bicycle shed?").answer
        (folder / "a.txt").unlink()
        wait_for(lambda: any(r.removed for r in reports[1:]))
        assert [f["source"] for f in rag.status()["collections"]["default"]["files"]] == [str(folder / "b.txt")]
    finally:
        stop.set()
        watcher.join(10)
    assert not watcher.is_alive()


def test_rag_watch_command(tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "a.txt").write_text("Parking\n\nThe car park opens at seven in the morning.\n")
    rag = str(Path(sys.executable).with_name("rag"))
    missing = subprocess.run([rag, "--data-dir", str(tmp_path / "data"), "watch", str(tmp_path / "nope")],
                             capture_output=True, text=True)
    assert missing.returncode == 2 and missing.stderr.startswith("rag: ") and "does not exist" in missing.stderr
    out = tmp_path / "watch.log"
    proc = subprocess.Popen([rag, "--data-dir", str(tmp_path / "data"), "watch", str(folder), "--debounce", "300"],
                            stdout=out.open("w"), stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        wait_for(lambda: "added  " in out.read_text() and "watching" in out.read_text())
        (folder / "b.md").write_text("# Bicycles\n\nThe bicycle shed opens with door code 4711.\n")
        wait_for(lambda: "b.md" in out.read_text())
        assert "1 added, 0 updated, 1 unchanged" in out.read_text()
    finally:
        proc.send_signal(signal.SIGINT)
        code = proc.wait(30)
    assert code in (0, 130), out.read_text()
