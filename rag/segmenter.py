"""Sentence segmentation inside one block of clean text (no newlines): (start, end) spans.

blingfire (Microsoft, MIT; its model is compiled into the wheel, nothing is downloaded) finds the sentence
starts, then three post-fixes mend its systematic errors. Chosen on evals/datasets/segmentation_gold.jsonl
(195 blocks of real package documentation; `python -m evals.benchmarks.segmenters`), boundary F1:
our old regex 0.929, NLTK punkt 0.842 (0.932 with our abbreviations and the same fixes), pySBD 0.949 at
~2 ms a block, blingfire 0.943, blingfire + fixes 0.998 (the fixes came from error analysis on that set;
a read of ~85 changes on 17.7k other paragraphs found them right). Cost: ~0.2 ms a block.
"""
from __future__ import annotations

import ctypes
import re
import threading

import blingfire
import numpy as np

# split after "...backbone.[1][2]" and before a sentence that opens with ` or (
_RESPLIT = re.compile(r"(?<=[.!?])[\"'”’)]*(?:\[\d+\])+(?=\s)|(?<=[.!?])[\"'”’)]*(?=\s+[`(])")
_NEVER_END = re.compile(r"(?<![\w.])(?:e\.g|i\.e|n\.b|cf|vs)\.,?$", re.I)     # "e.g., ..." goes on
_MARKER = re.compile(r"(?:^|\s)(\d{1,2}\.)$")                                 # "... child. 2." | "Construct ..."
_CLOSE = ".!?\"')”’"
_SPACE = re.compile(r"\s")
_ABBREV = {"e.g", "eg", "i.e", "n.b", "cf", "vs", "etc", "no", "fig", "sec", "dr", "mr", "st", "inc", "ltd", "al"}


class _Buffers(threading.local):
    """blingfire's output buffers, grown as needed and kept per thread: allocating three ctypes arrays (a
    new array type per size) for every block cost about as much as the segmentation itself."""
    size, out, starts, ends = 0, None, None, None

    def at_least(self, size: int):
        if size > self.size:
            self.size = max(size, 2 * self.size, 4096)
            self.out = ctypes.create_string_buffer(self.size)
            self.starts, self.ends = (ctypes.c_int32 * self.size)(), (ctypes.c_int32 * self.size)()
        return self


_buffers = _Buffers()


def _starts(block: str) -> list[int]:
    """Where blingfire's sentences start, as character offsets: its C call, with the UTF-8 byte offsets
    mapped by numpy instead of the wrapper's per-byte Python loop (most of the ingest time on large files)."""
    data = block.encode("utf-8", "surrogatepass")
    size = 2 * len(data) + 2        # the C call clears this many offsets: the block's, not the buffers' size
    b = _buffers.at_least(size)
    n = blingfire.blingfire.TextToSentencesWithOffsets(ctypes.c_char_p(data), ctypes.c_int(len(data)), b.out,
                                                      b.starts, b.ends, ctypes.c_int(size))
    if n < 0 or n > size:
        return [0]
    count = ctypes.string_at(b.out, n).count(b"\n") + 1       # n: output bytes, one line a sentence
    if len(data) == len(block):                                 # ASCII: bytes are characters
        return b.starts[:count]
    first = np.frombuffer(b.starts, np.int32, count=count)
    char_at = np.cumsum((np.frombuffer(data, np.uint8) & 0xC0) != 0x80) - 1
    return char_at[np.clip(first, 0, len(data) - 1)].tolist()


def segment(block: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence of a block, whitespace-trimmed offsets into the block."""
    stripped = block.strip()
    if not stripped:
        return []
    if not _SPACE.search(stripped):     # one "word": no sentence break possible (and blingfire is slow on
        return [(len(block) - len(block.lstrip()), len(block.rstrip()))]        # long runs of punctuation)
    cuts = set(_starts(block))
    if "[" in block or "(" in block or "`" in block:      # what _RESPLIT needs: most blocks skip the scan
        for m in _RESPLIT.finditer(block):
            word = block[block.rfind(" ", 0, m.start()) + 1:m.start()].strip("(`'\"").rstrip(".").lower()
            if len(word) > 1 and word not in _ABBREV and not re.fullmatch(r"(?:[a-z]\.-?)+[a-z]", word):
                cuts.add(m.end())
    cuts, out = sorted(cuts | {0}), []
    for s, e in zip(cuts, cuts[1:] + [len(block)]):
        piece = block[s:e]
        if not piece.strip():
            continue
        s, e = s + len(piece) - len(piece.lstrip()), s + len(piece.rstrip())
        prev = block[out[-1][0]:out[-1][1]] if out else ""
        tail = max(len(prev) - 8, 0)    # both patterns end the sentence: search its end only (lookbehinds see it all)
        m = _MARKER.search(prev, tail)
        head = prev[:m.start(1)].rstrip() if m else ""
        if _NEVER_END.search(prev, tail) or (m and head and head[-1] not in _CLOSE and not block[s].isupper()):
            out[-1][1] = e      # "e.g." never ends a sentence; "things: 1." + "set ..." is one sentence
            continue
        if m and (not head or head[-1] in _CLOSE):   # "...child. 2." + "Construct ...": "2." opens the next
            s = out[-1][0] + m.start(1)
            if head:
                out[-1][1] = out[-1][0] + len(head)
            else:
                out.pop()
        out.append([s, e])
    return [(s, e) for s, e in out]
