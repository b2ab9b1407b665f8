"""Smoke version of the SciFact benchmark harness: a tiny BEIR-format dataset with known answers."""
from __future__ import annotations

import json
import math

import pytest

from evals.benchmarks import common, scifact

DOCS = [
    ("d1", "Zebrafish heart regeneration", "Adult zebrafish regenerate cardiac muscle after injury through "
     "proliferation of existing cardiomyocytes. Regeneration completes within sixty days."),
    ("d2", "Vitamin D and bone density", "Supplementation with vitamin D increased bone mineral density in "
     "elderly women. Calcium intake modified the effect."),
    ("d3", "Malaria transmission by mosquitoes", "Anopheles mosquitoes transmit Plasmodium parasites. Bed nets "
     "treated with insecticide reduced transmission in rural villages."),
    ("d4", "Graphene electrical conductivity", "Single-layer graphene shows very high electron mobility at "
     "room temperature. Defects lower the conductivity."),
]
QUERIES = {"1": "Zebrafish regenerate heart muscle after injury.",
           "2": "Insecticide-treated bed nets reduce malaria transmission.",
           "3": "Vitamin D supplements raise bone mineral density."}


@pytest.fixture
def dataset(tmp_path):
    root = tmp_path / "scifact"
    (root / "qrels").mkdir(parents=True)
    with open(root / "corpus.jsonl", "w") as f:
        for i, title, text in DOCS:
            f.write(json.dumps({"_id": i, "title": title, "text": text}) + "\n")
    with open(root / "queries.jsonl", "w") as f:
        for i, text in QUERIES.items():
            f.write(json.dumps({"_id": i, "text": text, "metadata": {}}) + "\n")
    (root / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n1\td1\t1\n2\td3\t1\n")
    (root / "qrels" / "train.tsv").write_text("query-id\tcorpus-id\tscore\n3\td2\t1\n")
    return root


def test_metrics_known_values():
    rel = {"a": 1, "c": 1}
    assert common.ndcg_at(["a", "b", "c"], rel) == pytest.approx((1 + 1 / math.log2(4)) / (1 + 1 / math.log2(3)))
    assert common.ndcg_at(["b", "a"], {"a": 1}) == pytest.approx(1 / math.log2(3))
    assert common.mrr_at(["b", "x", "a"], {"a": 1}) == pytest.approx(1 / 3)
    assert common.recall_at(["a", "b"], rel, 10) == 0.5
    assert common.doc_ranking(["x", "x", "y", "x", "z"]) == ["x", "y", "z"]   # a doc ranks at its best chunk
    run = {"1": ["d1"], "2": ["d9", "d3"]}
    m = common.score_run(run, {"1": {"d1": 1}, "2": {"d3": 1}, "3": {"d2": 1}})   # query 3 has no run: 0
    assert m["mrr@10"] == pytest.approx(round((1 + 0.5 + 0) / 3, 4))


def test_harness_end_to_end(dataset, tmp_path):
    out = scifact.main(["--split", "both", "--dataset", str(dataset), "--out", str(tmp_path / "out"),
                        "--data-dir", str(tmp_path / "data"), "--cache", str(tmp_path / "vectors.npz")])
    assert out["corpus"] == {"documents": 4, "chunks": 4, "seconds": out["corpus"]["seconds"]}
    for split, n in (("test", 2), ("train", 1)):
        for mode in scifact.MODES + ("dense-abstract",):
            m = out["results"][split][mode]
            assert m["queries"] == n
            assert m["ndcg@10"] == 1.0 and m["mrr@10"] == 1.0 and m["recall@100"] == 1.0, (split, mode, m)
    md = (tmp_path / "out" / "results.md").read_text()
    assert "ours: hybrid (default)" in md and "0.665" in md and "1 vector per abstract" in md
    assert json.loads((tmp_path / "out" / "results.json").read_text())["settings"]["fusion"]
    assert (tmp_path / "vectors.npz").exists()
