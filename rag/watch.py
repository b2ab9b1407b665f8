"""`rag watch PATH ...`: ingest the paths, then ingest them again whenever a file under them changes.

Ingest is incremental by content hash, so re-ingesting every watched path on any change costs one hash per
unchanged file; added, edited and deleted files are indexed, replaced and removed. Changes are noticed by
watchfiles (inotify; `force_polling` for network file systems that send no events) and batched: a burst of
writes within `debounce_ms` is one ingest."""
from __future__ import annotations

import logging
import time
from pathlib import Path

from .errors import Unavailable

log = logging.getLogger(__name__)
RETRY_S = 5.0      # another ingest holds the data dir: try again after this long


def watch(rag, paths: list[Path], collection: str | None = None, on_report=None, stop_event=None,
          debounce_ms: int = 1600, force_polling: bool | None = None) -> None:
    """Ingest `paths` now and after every batch of changes under them, until `stop_event` is set (or Ctrl-C);
    each IngestReport goes to `on_report`."""
    from watchfiles import watch as changes

    def ingest():
        while True:
            try:
                report = rag.ingest(paths, collection)
                break
            except Unavailable as e:       # an ingest job or another watcher is writing: wait for it
                log.warning("%s; trying again in %.0f s", e, RETRY_S)
                if stop_event is not None and stop_event.wait(RETRY_S):
                    return
                if stop_event is None:
                    time.sleep(RETRY_S)
        if on_report:
            on_report(report)

    ingest()
    for batch in changes(*paths, stop_event=stop_event, debounce=debounce_ms, raise_interrupt=False,
                         force_polling=force_polling):
        log.info("%d change(s) under %s", len(batch), ", ".join(map(str, paths)))
        ingest()
