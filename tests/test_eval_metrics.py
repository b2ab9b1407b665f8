"""Each eval metric on hand-made cases with known values (evals/metrics.py)."""
import pytest

from evals import gate, metrics
from evals.compare import metric_deltas, regressions

SIGNING = ("This collaboration, formalized through a non-binding Memorandum of Understanding signed by UK "
           "Technology Secretary Peter Kyle and OpenAI CEO Sam Altman, signals a deepening of the relationship.")
ZONES = ("This government program, backed by £2 billion, is designed to create regional hubs for AI development "
         "by concentrating infrastructure, research institutions, and talent.")


def cite(n, quote, source="corpus/uk-openai.txt"):
    return {"n": n, "source": source, "title": "t", "locator": "paragraph 1", "start": 0, "end": len(quote),
            "quote": quote, "score": 0.5}


def answer(text, citations=(), refused=False, timings=None):
    return {"question": "q", "answer": text, "refused": refused, "citations": list(citations),
            "backend": "extractive", "timings_ms": timings or {"retrieve": 10.0, "generate": 20.0, "total": 30.0}}


@pytest.fixture(scope="module")
def embed(embedder):             # the session embedder of conftest.py: the one rag.ask uses
    return embedder.embed


def test_must_include_groups_and_alternatives():
    groups = [["Peter Kyle", "Technology Secretary"], "Sam Altman"]
    assert metrics.must_include("It was signed by peter  kyle and SAM ALTMAN. [1]", groups) == 1.0
    assert metrics.must_include("The Technology Secretary signed it.", groups) == 0.5
    assert metrics.must_include("Nobody signed anything.", groups) == 0.0
    assert metrics.must_include("anything", []) is None
    assert metrics.must_include("It was “non\u2011binding” – agreed", ['"non-binding" - agreed']) == 1.0


def test_token_f1():
    ref = "Peter Kyle and Sam Altman signed it."
    assert metrics.token_f1("Peter Kyle and Sam Altman signed it. [1]", ref) == 1.0
    assert metrics.token_f1("The capital of France is Paris.", ref) == 0.0
    # answer tokens: peter kyle signed (3), reference: peter kyle and sam altman signed it (7), common 3
    assert metrics.token_f1("Peter Kyle signed.", ref) == pytest.approx(2 * 1 * (3 / 7) / (1 + 3 / 7))
    assert metrics.token_f1("x", None) is None


def test_retrieval_rank_sources_and_evidence():
    hits = [{"source": "docs/other.txt", "text": "Peter Kyle signed"},
            {"source": "corpus/uk-openai.txt", "text": "nothing here"},
            {"source": "corpus/uk-openai.txt", "text": "signed by UK Technology Secretary Peter   Kyle"}]
    assert metrics.first_relevant_rank(hits, ["uk-openai.txt"], None) == 2
    assert metrics.first_relevant_rank(hits, None, ["Peter Kyle"]) == 1
    assert metrics.first_relevant_rank(hits, ["uk-openai.txt"], ["peter kyle"]) == 3
    assert metrics.first_relevant_rank(hits, ["openai.txt"], None) is None     # a path boundary is needed
    assert metrics.first_relevant_rank(hits, ["uk-openai.txt"], ["Sam Altman"]) is None


def test_split_claims_attaches_markers_to_their_sentence():
    claims = metrics.split_claims('It was signed by Peter Kyle. [1] The U.K. gets "£2 billion." [2][3] Uncited end')
    assert claims == [("It was signed by Peter Kyle.", [1]), ('The U.K. gets "£2 billion."', [2, 3]),
                      ("Uncited end", [])]
    assert metrics.split_claims("Signed by Kyle [1]. Funded by the UK [2].") == [
        ("Signed by Kyle.", [1]), ("Funded by the UK.", [2])]
    assert metrics.split_claims("Kyle [1] and Altman [2] signed it.\n- It is non-binding [3]") == [
        ("Kyle and Altman signed it.", [1, 2]), ("- It is non-binding", [3])]


def test_citation_support_thresholds(embed):
    perfect = answer("This collaboration, formalized through a non-binding Memorandum of Understanding signed by UK "
                     "Technology Secretary Peter Kyle and OpenAI CEO Sam Altman, signals a deepening of the "
                     "relationship. [1]", [cite(1, SIGNING)])
    s = metrics.citation_scores(perfect, embed)
    assert (s["citation_precision"], s["citation_recall"]) == (1.0, 1.0)
    paraphrase = answer("Peter Kyle and Sam Altman signed the memorandum. [1]", [cite(1, SIGNING)])
    assert metrics.citation_scores(paraphrase, embed)["citation_precision"] == 1.0
    unrelated = answer("Peter Kyle and Sam Altman signed the memorandum. [1]", [cite(1, ZONES)])
    s = metrics.citation_scores(unrelated, embed)
    assert s["citation_precision"] == 0.0 and s["citation_recall"] == 0.0
    assert s["claims"][0]["lexical"] < metrics.LEXICAL_MIN and s["claims"][0]["cosine"] < metrics.COSINE_MIN


def test_citation_precision_and_recall_mixed():
    a = answer("Peter Kyle and Sam Altman signed it. [1][2] The UK backs AI growth zones with £2 billion. "
               "Paris is lovely. [3]", [cite(1, SIGNING), cite(2, ZONES)])
    s = metrics.citation_scores(a)           # lexical only
    # pairs: (0,1) supports, (0,2) does not, (2,3) has no citation 3 -> precision 1/3
    # sentences: 0 supported, 1 uncited, 2 unsupported -> recall 1/3
    assert s["citation_precision"] == pytest.approx(1 / 3)
    assert s["citation_recall"] == pytest.approx(1 / 3)


def test_refused_answers_are_left_out_of_citation_metrics():
    refused = answer("The sources do not cover this question.", [cite(1, ZONES)], refused=True)
    assert metrics.citation_scores(refused)["citation_precision"] is None


def test_score_question_and_aggregate():
    good = metrics.score_question(
        {"must_include": ["Peter Kyle"], "reference": "Peter Kyle and Sam Altman signed it.", "sources": ["uk-openai.txt"]},
        answer("Peter Kyle and Sam Altman signed it. [1]", [cite(1, SIGNING)], timings={"total": 100.0}),
        hits=[{"source": "x/other.txt", "text": ""}, {"source": "corpus/uk-openai.txt", "text": SIGNING}])
    assert good["failures"] == [] and good["rr"] == 0.5 and good["answer_words"] == 7
    false_refusal = metrics.score_question({"must_include": ["Peter Kyle"], "evidence": ["Peter Kyle"]},
                                           answer("The sources do not cover this question.", refused=True,
                                                  timings={"total": 300.0}), hits=[])
    assert false_refusal["must_include"] == 0.0 and false_refusal["hit"] is False
    assert "false refusal" in false_refusal["failures"]
    answered_unanswerable = metrics.score_question({"answerable": False}, answer("Paris. [1]", [cite(1, ZONES)],
                                                                                 timings={"total": 200.0}))
    refused_unanswerable = metrics.score_question({"answerable": False}, answer("No.", refused=True,
                                                                                timings={"total": 400.0}))
    rows = [{"metrics": m} for m in (good, false_refusal, answered_unanswerable, refused_unanswerable)]
    agg = metrics.aggregate(rows + [{"id": 5, "question": "?", "error": "too long"}])
    m = agg["metrics"]
    assert m["must_include"] == 0.5 and m["false_refusal_rate"] == 0.5 and m["refusal_accuracy"] == 0.5
    assert m["hit_rate"] == 0.5 and m["mrr"] == 0.25
    assert m["citation_precision"] == 0.5          # good: 1.0, answered unanswerable: 0.0
    assert m["latency_total_p50_ms"] == 200.0 and m["latency_total_p95_ms"] == 400.0
    assert agg["errors"] == 1 and agg["failed"] == 3


def test_percentile_nearest_rank():
    xs = list(range(1, 21))
    assert metrics.percentile(xs, 50) == 10 and metrics.percentile(xs, 95) == 19
    assert metrics.percentile([7], 95) == 7 and metrics.percentile([], 50) is None


def test_gate_fails_when_it_should(tmp_path):
    f = tmp_path / "gate.json"
    f.write_text('{"min": {"must_include": 0.8, "refusal_accuracy": 1.0}, "max": {"latency_total_p95_ms": 500}}')
    th = gate.load(f, mins=["must_include=0.9"])
    res = {g["name"]: g for g in gate.check({"must_include": 0.85, "latency_total_p95_ms": 900}, th)}
    assert not res["must_include"]["ok"] and "needs >= 0.9" in res["must_include"]["message"]
    assert not res["latency_total_p95_ms"]["ok"]
    assert not res["refusal_accuracy"]["ok"] and "not measured" in res["refusal_accuracy"]["message"]
    assert all(g["ok"] for g in gate.check({"must_include": 0.95, "refusal_accuracy": 1.0,
                                            "latency_total_p95_ms": 400}, th))
    assert gate.load(None, None, None) == {}
    with pytest.raises(Exception, match="unknown metric"):
        gate.load(None, ["must_inclde=0.5"])


def test_compare_finds_regressions():
    old = {"metrics": {"must_include": 0.9, "false_refusal_rate": 0.0}}
    new = {"metrics": {"must_include": 0.8, "false_refusal_rate": 0.1}}
    assert [d["worse"] for d in metric_deltas(old, new)] == [True, True]
    m_ok = {"answerable": True, "refusal_correct": True, "must_include": 1.0, "failures": []}
    m_bad = {"answerable": True, "refusal_correct": False, "must_include": 0.0, "failures": ["false refusal"]}
    regs = regressions({"a": {"id": "a", "question": "q", "metrics": m_ok}},
                       {"a": {"id": "a", "question": "q", "metrics": m_bad}})
    assert regs and regs[0]["id"] == "a" and "false refusal" in regs[0]["why"]


def test_refusal_threshold_never_refuses_more_answerable_questions_than_the_cap():
    """Refusing answerable questions the answer gets wrong costs balanced accuracy nothing, so without the cap
    the best cut would refuse half of these answerable questions; with it, at most MAX_FALSE_REFUSALS."""
    from evals.train_scorer import MAX_FALSE_REFUSALS, pick_threshold, rates
    right = [(0.6 + i / 100, True, True) for i in range(40)]            # answered with the fact
    wrong = [(0.05 + i / 80, True, False) for i in range(40)]           # answered without it
    unanswerable = [(0.0 + i / 80, False, False) for i in range(40)]
    t, accuracy, margin = pick_threshold(right + wrong + unanswerable)
    r = rates(right + wrong + unanswerable, t)
    assert r["false_refusals"] <= MAX_FALSE_REFUSALS and r["refused_unanswerable"] > 0
    assert 0 < accuracy <= 1 and margin > 0


def test_refusal_threshold_meets_the_refusal_target_at_the_least_cost_in_answers():
    """Where a cut refuses MIN_REFUSED of the unanswerable questions within the false-refusal cap, the lowest
    such cut is taken, although a higher one has the better balanced accuracy (it refuses 7 % of the answers,
    all holding the fact, for the last 20 % of the unanswerable questions)."""
    from evals.train_scorer import MAX_FALSE_REFUSALS, MIN_REFUSED, pick_threshold, rates
    right = [(0.30 + i * 0.007, True, True) for i in range(100)]
    unanswerable = [(0.01 + i / 100, False, False) for i in range(24)] + [(0.301 + i / 100, False, False)
                                                                          for i in range(6)]
    pairs = right + unanswerable
    t, accuracy, margin = pick_threshold(pairs)
    r = rates(pairs, t)
    assert r["refused_unanswerable"] >= MIN_REFUSED and r["false_refusals"] == 0 and t < 0.30
    assert margin > 0
    # without the refusal target met, the best balanced accuracy under the cap: the higher cut
    t, _, _ = pick_threshold(right + unanswerable[:10] + unanswerable[24:])
    assert 0.30 < t and 0 < rates(right + unanswerable[:10] + unanswerable[24:], t)["false_refusals"] <= MAX_FALSE_REFUSALS


def test_the_threshold_is_the_median_of_several_splits_picks_and_its_rates_are_pooled(monkeypatch):
    """One out-of-fold split's values, and a threshold fitted to them, hang on which questions share a fold:
    calibrate takes the median of REPEATS splits' picks and reports every split's questions at it."""
    from evals import train_scorer

    def split(seed):      # the unanswerable questions score lower as the seed grows: each split picks lower
        right = [(0.5 + i / 100, True, True) for i in range(40)]
        unanswerable = [(0.45 - seed * 0.1 + i / 1000, False, False) for i in range(10)]
        return right + unanswerable
    monkeypatch.setattr(train_scorer, "out_of_fold", lambda rows, folds, seed: split(seed))
    found = train_scorer.calibrate([], 5, repeats=3)
    picks = [train_scorer.pick_threshold(split(seed))[0] for seed in range(3)]
    assert found["threshold"] == round(sorted(picks)[1], 4)
    assert found["threshold_spread"] == [round(min(picks), 4), round(max(picks), 4)]
    pooled = split(0) + split(1) + split(2)
    assert found["out_of_fold"] == train_scorer.rates(pooled, sorted(picks)[1])
    assert found["out_of_fold"]["answerable"] == 120


def test_the_ranker_learns_which_dimensions_of_question_and_sentence_vectors_mark_the_answer():
    """Where the features cannot tell the answer from its neighbours but one dimension of the question and
    sentence vectors' products can, the trained ranker puts the answer first through its interaction
    weights; without the interactions (a collection embedded by another embedder) it is left to chance."""
    import numpy as np
    from evals.train_scorer import fit_ranker
    from rag.evidence import FEATURES, rank_logits
    rng = np.random.default_rng(0)

    def question():
        x, z = rng.normal(size=(8, len(FEATURES))), rng.normal(size=(8, 384)) * 0.05
        answer = int(rng.integers(8))
        z[answer, 3] += 1.0
        return {"x": x, "z": z, "y": np.eye(8)[answer]}, answer
    part = fit_ranker([question()[0] for _ in range(80)])
    assert len(part["dims"]) == 384 and part["dims"][3] == max(part["dims"])
    new = [question() for _ in range(50)]
    first = [int(np.argmax(rank_logits(r["x"], r["z"], part))) == answer for r, answer in new]
    blind = [int(np.argmax(rank_logits(r["x"], None, part))) == answer for r, answer in new]
    assert sum(first) >= 45 and sum(blind) <= 20
