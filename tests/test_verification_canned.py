"""The canned verification set (evals/datasets/verification_canned.jsonl) through the whole generative path
with the scripted server: every unsupported, wrongly cited or dangling sentence is caught, and no supported
sentence is dropped."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from rag import Rag, load_settings
from evals.scripted_llm import ScriptedLLM
from test_generative import passage_numbers, prompt_of

ROOT = Path(__file__).resolve().parents[1]
CANNED = [json.loads(line) for line in (ROOT / "evals/datasets/verification_canned.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def canned_rag(tmp_path_factory, embedder):
    llm = ScriptedLLM()
    rag = Rag(load_settings(data_dir=tmp_path_factory.mktemp("canned"), backend="openai", llm_retries=0,
                            llm_base_url=f"{llm.url}/v1", llm_model="scripted", refuse_below=0.0), embedder=embedder)
    assert not rag.ingest([ROOT / "corpus"]).errors
    yield rag, llm
    llm.close()


def number_for(cite: str, passages: dict[int, str]) -> int:
    if cite == "missing":
        return len(passages) + 3
    if cite.startswith("wrong:"):
        return next(n for n, t in passages.items() if cite[6:] not in t)
    return next(n for n, t in passages.items() if cite in t)


@pytest.mark.parametrize("item", CANNED, ids=[c["question"][:40] for c in CANNED])
def test_canned_sentences_are_judged_as_labelled(canned_rag, item):
    rag, llm = canned_rag
    llm.script("I cannot answer this from the sources.")
    rag.ask(item["question"])
    passages = passage_numbers(prompt_of(llm.requests[-1]))
    llm.script(" ".join(f"{s['text']} [{number_for(s['cite'], passages)}]" for s in item["sentences"]))
    a = rag.ask(item["question"])
    got = [c.verified for c in a.sentences if a.backend == "openai"] or [False] * len(item["sentences"])
    assert got == [s["supported"] for s in item["sentences"]], [
        (s["kind"], s["text"], c.support) for s, c in zip(item["sentences"], a.sentences)]
