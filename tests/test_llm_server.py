"""The generative path against a real LLM server: llama.cpp's server (xllamacpp) on loopback with
SmolLM2-135M-Instruct from a hash-pinned wheel (evals/models.txt). The model is weak: these tests check
the mechanics (streaming, citation checking, log-probabilities, fallback), not its answers."""
from __future__ import annotations

import pytest

from rag import Rag, load_settings

MEAL = "How much is the meal allowance when travelling?"


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory):
    from conftest import free_port
    from evals.llm_server import start

    port = free_port()
    proc = start("smollm2", port, tmp_path_factory.mktemp("llm") / "server.log", ctx=4096)
    yield f"http://127.0.0.1:{port}/v1"
    proc.terminate()
    proc.wait(10)


@pytest.fixture
def real(fixture_rag, llama_server):
    settings = load_settings(data_dir=fixture_rag.settings.data_dir, backend="openai", llm_base_url=llama_server,
                             llm_model="smollm2", llm_max_tokens=48, llm_timeout=600, llm_retries=3,
                             llm_temperature=0.0)   # generous: a loaded CI machine is slow, the test is not timed
    return Rag(settings, embedder=fixture_rag.embedder, store=fixture_rag.store)


def test_a_real_model_streams_and_every_shown_sentence_is_verified(real, fixture_rag):
    events = list(real.ask_stream(MEAL))
    tokens = [e[1] for e in events if e[0] == "token"]
    a = events[-1][1]
    assert events[-1][0] == "answer" and len(tokens) >= 3          # streamed token by token from the server
    generated = [c for c in a.sentences if c.text in "".join(tokens)]
    assert generated, "the model's own sentences are checked and recorded"
    assert all(c.verified for c in a.sentences if c.kept)
    if a.backend == "openai":
        assert "first_token" in a.timings_ms and a.timings_ms["first_token"] <= a.timings_ms["total"]
    else:   # nothing it wrote held up, or it said it cannot answer: extractive answer or refusal, said so
        assert a.refused or a.notes
    for c in a.citations:
        assert fixture_rag.document(c.doc_id).text[c.start:c.end] == c.quote


def test_entailment_from_the_servers_log_probabilities(real):
    premise = "The meal allowance is £25 per day when travelling for work."
    p = real.generator.entails(premise, "The meal allowance is £25 per day.")
    assert p is not None and 0.0 <= p <= 1.0
    judge = real.generator._judge
    assert judge.logprobs is True             # read from the first token's top log-probabilities
