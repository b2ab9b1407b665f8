"""Deterministic answer metrics: no LLM, same numbers on every run.

Per question (`score_question`) and over a run (`aggregate`). Every metric is None when it does not
apply to a question (e.g. no `reference`), and an aggregate is the plain mean over the questions where
it applies ("macro" average); `counts` in the aggregate says over how many.

Answer correctness
  must_include   = |{g in groups : some alternative of g occurs in the answer}| / |groups|
                   case-insensitive substring match after normalising whitespace, quotes and dashes and
                   removing the answer's [n] markers. A group is a string or a list of alternatives.
  token_f1       = 2·P·R / (P + R), P = |A ∩ B| / |A|, R = |A ∩ B| / |B|, A and B the multisets of
                   answer and `reference` tokens (SQuAD normalisation: lower case, punctuation and
                   a/an/the removed, [n] markers removed).
  Both are computed on the answer text as given, so a false refusal scores (about) 0 on them.
Refusals
  refusal_accuracy   = refused unanswerable questions / unanswerable questions
  false_refusal_rate = refused answerable questions / answerable questions
Retrieval (the ranked chunks of `rag.search(query, k)`, query = the same standalone query `rag.ask`
retrieves with: the question, rewritten with the earlier user turns when it is a follow-up; k defaults
to RAG_ANSWER_CHUNKS, the number of chunks an answer is built from)
  A chunk is relevant when its source ends with one of the expected `sources` (if given) and its text
  contains one of the `evidence` substrings (if given; normalised as for must_include).
  hit_rate = share of questions with a relevant chunk among the top k
  mrr      = mean of 1 / rank of the first relevant chunk (0 when none in the top k)
  Only answerable questions that give `sources` or `evidence` count.
Citations (answers that were not refused; a refusal's citations are "closest passages", not claims)
  The answer is split into sentences; a sentence's citations are the [n] markers inside or right after it.
  A citation supports a sentence when   lexical ≥ LEXICAL_MIN  or  cosine ≥ COSINE_MIN,   where
    lexical = |S ∩ Q| / |S|, S and Q the sets of stemmed content words (stop words out) of the sentence
              and of the quote: how much of the claim the quote contains;
    cosine  = cosine of the all-MiniLM-L6-v2 embeddings of sentence and quote (the Rag's embedder),
              computed only when lexical < LEXICAL_MIN (otherwise it cannot change the verdict).
  citation_precision = supporting (sentence, citation) pairs / all (sentence, citation) pairs
                       (a marker [n] with no citation n counts as a non-supporting pair)
  citation_recall    = sentences with at least one supporting citation / all sentences
  Thresholds, measured on the corpus article (27 sentences, 702 ordered pairs of distinct sentences):
    claim vs its cited passage                                             lexical  cosine
    an extractive sentence vs its own quote                                  1.00    ≈1.00
    "Peter Kyle and Sam Altman signed the memorandum." vs the signing sentence 1.00   0.57
    "...signed by the UK Technology Secretary and OpenAI's chief executive."  0.75   0.61
    "The agreement is not legally binding." vs "The non-binding nature..."    0.67   0.40
    the £2 billion growth-zones sentence vs the signing sentence (unrelated)  0.11   0.51
    "Paris is the capital of France." vs the signing sentence                 0.00  -0.05
    all pairs of distinct sentences: lexical p99 0.50 (max 0.75: the headline vs the opening
    sentence, which restates it), cosine p99 0.79, max 0.83.
  Long passages keep the cosine of a faithful paraphrase low (0.4-0.6) while unrelated sentences of
  the same article reach 0.83, so lexical containment decides (LEXICAL_MIN = 0.6, above the p99 of
  unrelated pairs, below the paraphrases) and the cosine only adds claims reworded with other words
  that are nearly identical in meaning (COSINE_MIN = 0.85, above every unrelated pair).
Size and speed
  answer_words = words in the answer without [n] markers (answers that were not refused)
  latency p50 / p95 per stage (retrieve, generate, total from the answer's timings_ms; client = wall
  clock seen by the runner): nearest-rank percentile, p-th = sorted(x)[ceil(p/100 · n) − 1].
"""
from __future__ import annotations

import math
import re
import string
from collections import Counter
from functools import lru_cache

LEXICAL_MIN = 0.6
COSINE_MIN = 0.85

# name -> True when higher is better (used by the gate, the compare and the report)
HIGHER_IS_BETTER = {"must_include": True, "token_f1": True, "refusal_accuracy": True,
                    "false_refusal_rate": False, "hit_rate": True, "mrr": True, "citation_precision": True,
                    "citation_recall": True, "answer_words": False, "sentences_dropped": False}
RATES = ["must_include", "token_f1", "refusal_accuracy", "false_refusal_rate", "hit_rate", "mrr",
         "citation_precision", "citation_recall", "sentences_dropped"]
STAGES = ["retrieve", "first_token", "generate", "total", "client"]

_MARKER = re.compile(r"\[(\d+)\]")
# a sentence ends at . ! ? (plus closing quotes and its [n] markers) before whitespace, at markers followed
# by a new sentence (capital letter) or the end, or at a line break (bulleted answers)
_SENT_END = re.compile(r"""[.!?]+["'”’)]*(?:\s*\[\d+\])*(?=\s|$)|(?:\s*\[\d+\])+(?=\s+["“(]?[A-Z0-9]|\s*$)|\n+""")
_ABBREV = re.compile(r"(?:\b(?:mr|mrs|ms|dr|prof|st|vs|etc|e\.g|i\.e|inc|ltd|no|u\.s|u\.k)|\b[A-Z])\.$", re.I)
_TRANS = str.maketrans({"’": "'", "‘": "'", "“": '"', "”": '"', "–": "-", "—": "-", "\u2010": "-", "\u2011": "-",
                        "\u00a0": " "})
_WORD = re.compile(r"[a-z0-9£$€%]+(?:'[a-z]+)?")
STOP = set("""a an the and or but if of to in on at by for with from as is are was were be been being it its
this that these those there their they them he she his her we our you your i not no so than then also which
who whom whose what when where why how will would can could should may might must do does did has have had
into about over under after before between through during while such any all each both more most other
some only own same very just up out off again further once here s t""".split())


def normalise(text: str) -> str:
    """Lower case, one kind of quote and dash, [n] markers removed, whitespace collapsed."""
    return " ".join(_MARKER.sub(" ", str(text).translate(_TRANS)).lower().split())


def words(text: str) -> int:
    return len(_MARKER.sub(" ", text).split())


# --- answer correctness -------------------------------------------------------------------------------

def must_include(answer: str, groups: list) -> float | None:
    if not groups:
        return None
    text = normalise(answer)
    hits = [any(normalise(alt) in text for alt in ([g] if isinstance(g, str) else g)) for g in groups]
    return sum(hits) / len(hits)


def missing_groups(answer: str, groups: list) -> list:
    text = normalise(answer)
    return [g for g in groups or [] if not any(normalise(a) in text for a in ([g] if isinstance(g, str) else g))]


def _squad_tokens(text: str) -> list[str]:
    text = "".join(ch if ch not in set(string.punctuation) else " " for ch in normalise(text))
    return [t for t in text.split() if t not in {"a", "an", "the"}]


def token_f1(answer: str, reference: str | None) -> float | None:
    if not reference:
        return None
    a, b = _squad_tokens(answer), _squad_tokens(reference)
    common = sum((Counter(a) & Counter(b)).values())
    if not a or not b or not common:
        return float(a == b)
    p, r = common / len(a), common / len(b)
    return 2 * p * r / (p + r)


# --- retrieval ------------------------------------------------------------------------------------------

def source_matches(source: str, names: list[str]) -> bool:
    """The chunk/citation source ends with one of the expected file names (at a path boundary)."""
    s = str(source).replace("\\", "/")
    return any(s == n or s.endswith("/" + n.lstrip("/")) for n in names)


def first_relevant_rank(hits: list[dict], sources: list[str] | None, evidence: list[str] | None) -> int | None:
    """1-based rank of the first relevant hit (see module doc), None when none is relevant."""
    ev = [normalise(e) for e in evidence or []]
    for i, h in enumerate(hits, start=1):
        if sources and not source_matches(h["source"], sources):
            continue
        if ev and not any(e in normalise(h["text"]) for e in ev):
            continue
        return i
    return None


# --- citations ------------------------------------------------------------------------------------------

def split_claims(answer: str) -> list[tuple[str, list[int]]]:
    """(sentence without markers, its citation numbers) for each sentence of an answer."""
    out, start = [], 0
    for m in _SENT_END.finditer(answer):
        if m.group()[:1] in ".!?" and _ABBREV.search(answer[max(start, m.start() - 6):m.start() + 1]):
            continue
        piece = answer[start:m.end()]
        start = m.end()
        _add_claim(piece, out)
    _add_claim(answer[start:], out)
    return out


def _add_claim(piece: str, out: list) -> None:
    text = re.sub(r"\s+([.,;:!?])", r"\1", " ".join(_MARKER.sub(" ", piece).split()))
    nums = [int(n) for n in _MARKER.findall(piece)]
    if re.search(r"\w", text):
        out.append((text, nums))
    elif nums and out:                  # markers alone: they belong to the sentence before
        out[-1][1].extend(nums)


@lru_cache(maxsize=1)
def _stemmer():
    import Stemmer

    return Stemmer.Stemmer("english")


def content_terms(text: str) -> set[str]:
    toks = [t for t in _WORD.findall(normalise(text)) if t not in STOP]
    return set(_stemmer().stemWords(toks))


def lexical_support(sentence: str, quote: str) -> float:
    s = content_terms(sentence)
    return len(s & content_terms(quote)) / len(s) if s else 1.0


def citation_scores(answer: dict, embed=None) -> dict:
    """citation_precision, citation_recall and the per-sentence detail of one answer object."""
    if answer.get("refused"):
        return {"citation_precision": None, "citation_recall": None, "claims": []}
    claims = split_claims(answer.get("answer", ""))
    quotes = {c["n"]: _MARKER.sub(" ", c.get("quote", "")) for c in answer.get("citations", [])}
    pairs = [(i, n) for i, (_, nums) in enumerate(claims) for n in dict.fromkeys(nums)]
    lex = {(i, n): lexical_support(claims[i][0], quotes[n]) for i, n in pairs if n in quotes}
    cos = {}
    undecided = [key for key, v in lex.items() if v < LEXICAL_MIN]    # the cosine only matters for these
    if embed is not None and undecided:
        vecs = embed([claims[i][0] for i, _ in undecided] + [quotes[n] for _, n in undecided])
        cos = {key: float(vecs[j] @ vecs[j + len(undecided)]) for j, key in enumerate(undecided)}
    detail, supported = [], set()
    for key in pairs:
        ok = key in lex and (lex[key] >= LEXICAL_MIN or cos.get(key, -1.0) >= COSINE_MIN)
        if ok:
            supported.add(key)
        detail.append({"sentence": key[0], "n": key[1], "lexical": round(lex.get(key, 0.0), 3),
                       "cosine": round(cos[key], 3) if key in cos else None, "supports": ok})
    if not claims:
        return {"citation_precision": None, "citation_recall": None, "claims": []}
    return {"citation_precision": len(supported) / len(pairs) if pairs else 0.0,
            "citation_recall": len({i for i, _ in supported}) / len(claims), "claims": detail}


# --- one question, and a run ----------------------------------------------------------------------------

def score_question(item: dict, answer: dict, hits: list[dict] | None = None, embed=None) -> dict:
    """Every per-question metric of one dataset item and its answer object (hits: rag.search results)."""
    answerable = item.get("answerable", True)
    text = answer.get("answer", "")
    refused = bool(answer.get("refused"))
    m = {"answerable": answerable, "refused": refused, "refusal_correct": refused != answerable,
         "must_include": must_include(text, item.get("must_include")),
         "missing": missing_groups(text, item.get("must_include")),
         "token_f1": token_f1(text, item.get("reference")),
         "answer_words": None if refused else words(text), "retrieval_rank": None, "hit": None, "rr": None}
    if hits is not None and answerable and (item.get("sources") or item.get("evidence")):
        rank = first_relevant_rank(hits, item.get("sources"), item.get("evidence"))
        m.update(retrieval_rank=rank, hit=rank is not None, rr=1 / rank if rank else 0.0)
    m.update(citation_scores(answer, embed))
    generated = [c for c in answer.get("sentences") or []]
    m["sentences_dropped"] = (sum(not c.get("kept") for c in generated) / len(generated)) if generated else None
    m["backend"] = answer.get("backend")
    m["timings_ms"] = dict(answer.get("timings_ms") or {})
    m["failures"] = failures(m)
    return m


def failures(m: dict) -> list[str]:
    """Why a question counts as failed (empty list = passed)."""
    out = []
    if m["answerable"] and m["refused"]:
        out.append("false refusal")
    if not m["answerable"] and not m["refused"]:
        out.append("answered an unanswerable question")
    if m["must_include"] is not None and m["must_include"] < 1 and not m["refused"]:
        out.append("missing " + "; ".join(str(g if isinstance(g, str) else " | ".join(g)) for g in m["missing"]))
    if m["hit"] is False:
        out.append("no relevant chunk retrieved")
    if m.get("citation_precision") is not None and m["citation_precision"] < 1:
        out.append("citation not supporting its sentence")
    if m.get("citation_recall") is not None and m["citation_recall"] < 1:
        out.append("sentence without a supporting citation")
    return out


def percentile(values: list[float], p: float) -> float | None:
    """Nearest-rank percentile."""
    if not values:
        return None
    xs = sorted(values)
    return xs[max(0, math.ceil(p / 100 * len(xs)) - 1)]


def _mean(xs: list) -> float | None:
    xs = [float(x) for x in xs if x is not None]
    return sum(xs) / len(xs) if xs else None


def aggregate(rows: list[dict]) -> dict:
    """Run-level metrics from results rows ({"metrics": score_question(...)} or {"error": ...})."""
    ms = [r["metrics"] for r in rows if r.get("metrics")]
    ans = [m for m in ms if m["answerable"]]
    una = [m for m in ms if not m["answerable"]]
    per = {
        "must_include": [m["must_include"] for m in ms],
        "token_f1": [m["token_f1"] for m in ms],
        "refusal_accuracy": [m["refused"] for m in una],
        "false_refusal_rate": [m["refused"] for m in ans],
        "hit_rate": [m["hit"] for m in ms],
        "mrr": [m["rr"] for m in ms],
        "citation_precision": [m.get("citation_precision") for m in ms],
        "citation_recall": [m.get("citation_recall") for m in ms],
        "answer_words": [m["answer_words"] for m in ms],
        "sentences_dropped": [m.get("sentences_dropped") for m in ms],
    }
    metrics = {k: _mean(v) for k, v in per.items()}
    counts = {k: sum(x is not None for x in v) for k, v in per.items()}
    latency = {}
    for stage in STAGES:
        xs = [m["timings_ms"][stage] for m in ms if m["timings_ms"].get(stage) is not None]
        if xs:
            latency[stage] = {"p50": percentile(xs, 50), "p95": percentile(xs, 95), "n": len(xs)}
            metrics[f"latency_{stage}_p50_ms"] = latency[stage]["p50"]
            metrics[f"latency_{stage}_p95_ms"] = latency[stage]["p95"]
    backends: dict[str, int] = {}
    for m in ms:
        backends[m.get("backend") or "?"] = backends.get(m.get("backend") or "?", 0) + 1
    return {"questions": len(rows), "answered": len(ms), "errors": sum(1 for r in rows if r.get("error")),
            "backends": backends,
            "answerable": len(ans), "unanswerable": len(una),
            "failed": sum(1 for m in ms if m["failures"]) + sum(1 for r in rows if r.get("error")),
            "metrics": metrics, "counts": counts, "latency_ms": latency}


def higher_is_better(name: str) -> bool:
    return HIGHER_IS_BETTER.get(name, not name.startswith("latency_"))
