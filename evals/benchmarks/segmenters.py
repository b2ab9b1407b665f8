"""Sentence segmenters compared on evals/datasets/segmentation_gold.jsonl (blocks from real package docs).

    python -m evals.benchmarks.segmenters [--json] [--mb 1.0]

Every segmenter is wrapped as block -> [(start, end)] character spans into the block, whitespace-trimmed.
Metrics: exact match per block, boundary P/R/F1 (a boundary = the start offset of every sentence but the
first), exact match per tag, speed on the gold blocks repeated to ~1 MB (median of 3 runs), and the cost
of importing the library and loading its data, measured in a fresh interpreter. "blingfire + fixes" is
blingfire with three post-fixes found by error analysis on this set; the "... only" rows ablate them.
"""
from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

GOLD = Path(__file__).resolve().parents[1] / "datasets" / "segmentation_gold.jsonl"


def _spans(text: str, pairs) -> list[tuple[int, int]]:
    """Whitespace-trimmed, non-empty (start, end) spans."""
    out = []
    for s, e in pairs:
        piece = text[s:e]
        if piece.strip():
            out.append((s + len(piece) - len(piece.lstrip()), s + len(piece.rstrip())))
    return out


def make_regex():  # the project's hand-written regex (rag/segmenter.py; formerly rag.chunking.sentence_spans)
    try:
        from rag.segmenter import segment
    except ImportError:
        from rag.chunking import sentence_spans as segment
    return segment


def make_pysbd():
    import pysbd
    seg = pysbd.Segmenter(language="en", clean=False, char_span=True)
    return lambda t: _spans(t, ((x.start, x.end) for x in seg.segment(t)))


def punkt_dir() -> str:
    """punkt_tab data shipped inside llama-index-core's wheel (nothing is downloaded)."""
    import importlib.util
    core = importlib.util.find_spec("llama_index.core").submodule_search_locations[0]
    return str(Path(core) / "_static" / "nltk_cache")


def make_punkt():
    import nltk
    from nltk.tokenize.punkt import PunktTokenizer
    nltk.data.path.insert(0, punkt_dir())
    tok = PunktTokenizer("english")
    return lambda t: _spans(t, tok.span_tokenize(t))


def make_blingfire():
    import blingfire
    return lambda t: _spans(t, blingfire.text_to_sentences_and_offsets(t)[1])


# Post-fixes on top of blingfire, each kept because it measurably helps on the gold set (see FIXES).
_NEVER_END = re.compile(r"(?<![\w.])(?:e\.g|i\.e|n\.b|cf|vs)\.,?$", re.I)     # "e.g., I believe" was split
_MARKER = re.compile(r"(?:^|\s)(\d{1,2}\.)$")                                 # "... child. 2." | "Construct ..."
_RESPLIT = re.compile(r"(?<=[.!?])[\"'”’)]*(?:\[\d+\])+(?=\s)|(?<=[.!?])[\"'”’)]*(?=\s+[`(])")
_ABBREV = {"e.g", "eg", "i.e", "n.b", "cf", "vs", "etc", "no", "fig", "sec", "dr", "mr", "st", "inc", "ltd", "al"}
FIXES = {"resplit", "marker", "never_end"}


def blingfire_fixed(text: str, fixes=None) -> list[tuple[int, int]]:
    import blingfire
    fixes = FIXES if fixes is None else fixes
    cuts = {s for s, _ in _spans(text, blingfire.text_to_sentences_and_offsets(text)[1])}
    if "resplit" in fixes:  # split after "...backbone.[1][2]" and before a sentence opening with ` or (
        for m in _RESPLIT.finditer(text):
            word = text[text.rfind(" ", 0, m.start()) + 1:m.start()].strip("(`'\"").rstrip(".").lower()
            if len(word) > 1 and word not in _ABBREV and not re.fullmatch(r"(?:[a-z]\.-?)+[a-z]", word):
                cuts.add(m.end())
    out: list[list[int]] = []
    for s, e in _spans(text, zip(sorted(cuts), sorted(cuts)[1:] + [len(text)])):
        prev = text[out[-1][0]:out[-1][1]] if out else ""
        m = _MARKER.search(prev) if "marker" in fixes else None
        if prev and "never_end" in fixes and _NEVER_END.search(prev):
            out[-1][1] = e  # "e.g." never ends a sentence: glue
            continue
        if m:  # a trailing list marker: "... child. 2." + "Construct ..."
            head = prev[:m.start(1)].rstrip()
            if not head or head[-1] in ".!?\"')”’":  # it opens the next sentence: move it over
                s = out[-1][0] + m.start(1)
                if head:
                    out[-1][1] = out[-1][0] + len(head)
                else:
                    out.pop()
            elif not text[s].isupper():  # "things: 1." + "set ...": a list inside the sentence: glue
                out[-1][1] = e
                continue
        out.append([s, e])
    return [(s, e) for s, e in out]


# name -> (factory returning block -> spans, how exact (start, end) offsets are obtained)
SEGMENTERS = {"regex (rag)": (make_regex, "native"),
              "pysbd": (make_pysbd, "char_span=True: re-finds each sentence string in the text"),
              "nltk punkt": (make_punkt, "native: span_tokenize"),
              "blingfire": (make_blingfire, "native: text_to_sentences_and_offsets"),
              "blingfire + fixes": (lambda: blingfire_fixed, "blingfire's, cut/merged")}


def gold_boundaries(rec) -> set[int]:
    pos, starts = 0, []
    for s in rec["sentences"]:
        pos = rec["text"].index(s, pos)
        starts.append(pos)
        pos += len(s)
    return set(starts[1:])


def evaluate(seg, gold) -> dict:
    tp = fp = fn = exact = 0
    by_tag = defaultdict(lambda: [0, 0])
    for rec in gold:
        want, got = gold_boundaries(rec), {s for s, _ in seg(rec["text"])[1:]}
        tp, fp, fn = tp + len(want & got), fp + len(got - want), fn + len(want - got)
        exact += want == got
        for tag in rec["tags"]:
            by_tag[tag][0] += want == got
            by_tag[tag][1] += 1
    p, r = tp / max(tp + fp, 1), tp / max(tp + fn, 1)
    return {"exact": exact / len(gold), "precision": p, "recall": r, "f1": 2 * p * r / max(p + r, 1e-9),
            "false_splits": fp, "missed": fn, "by_tag": {k: v[0] / v[1] for k, v in sorted(by_tag.items())}}


def speed(seg, gold, mb: float) -> dict:
    blocks = [r["text"] for r in gold]
    blocks = blocks * max(1, round(mb * 1e6 / sum(len(b) for b in blocks)))
    runs = []
    for _ in range(3):
        t0, n = time.perf_counter(), 0
        for b in blocks:
            n += len(seg(b))
        runs.append(time.perf_counter() - t0)
    t = statistics.median(runs)
    return {"sentences_per_s": n / t, "us_per_block": 1e6 * t / len(blocks), "mb": sum(map(len, blocks)) / 1e6}


def load_seconds(name: str) -> float:
    """Fresh interpreter: import the library, build the segmenter, segment one short block."""
    code = ("import time; t=time.perf_counter(); from evals.benchmarks.segmenters import SEGMENTERS as S; "
            f"S[{name!r}][0]()('One. Two.'); print(time.perf_counter()-t)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--mb", type=float, default=1.0)
    args = ap.parse_args()
    gold = [json.loads(line) for line in GOLD.read_text(encoding="utf-8").splitlines() if line.strip()]
    results = {}
    for name, (make, offsets) in SEGMENTERS.items():
        seg = make()
        results[name] = {**evaluate(seg, gold), **speed(seg, gold, args.mb), "load_s": load_seconds(name),
                         "offsets": offsets}
    for fix in sorted(FIXES):  # ablation: blingfire with one post-fix only
        results[f"blingfire + {fix} only"] = evaluate(lambda t, f=fix: blingfire_fixed(t, {f}), gold)
    if args.json:
        json.dump(results, sys.stdout, indent=1)
        return
    tags = sorted({t for r in gold for t in r["tags"]})
    print(f"{len(gold)} blocks, {sum(len(r['sentences']) for r in gold)} sentences\n")
    print("| segmenter | exact | P | R | F1 | false splits | missed | sent/s | µs/block | load s | offsets |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for n, r in results.items():
        fast = (f"{r['sentences_per_s']:,.0f} | {r['us_per_block']:.0f} | {r['load_s']:.2f} | {r['offsets']}"
                if "offsets" in r else " | | |")
        print(f"| {n} | {r['exact']:.3f} | {r['precision']:.3f} | {r['recall']:.3f} | {r['f1']:.3f} | "
              f"{r['false_splits']} | {r['missed']} | {fast} |")
    count = {t: sum(t in r["tags"] for r in gold) for t in tags}
    main_rows = [n for n in results if "offsets" in results[n]]
    print("\nExact match per tag (blocks):\n\n| tag (n) | " + " | ".join(main_rows) + " |")
    print("|---" * (len(main_rows) + 1) + "|")
    for t in tags:
        print(f"| {t} ({count[t]}) | " + " | ".join(f"{results[n]['by_tag'][t]:.2f}" for n in main_rows) + " |")


if __name__ == "__main__":
    main()
