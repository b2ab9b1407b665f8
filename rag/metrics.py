"""Prometheus metrics of this process (prometheus_client only here): HTTP requests, answer latency by stage,
refusals, LLM tokens, ingests, retrieval-index reloads, errors. `rag serve` shows them at GET /metrics
(ui/ops.py decides who may read them). Each replica counts its own; Prometheus adds them up.

The library records through the small functions below, so no other module imports prometheus_client."""
from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, ProcessCollector, \
    generate_latest

REGISTRY = CollectorRegistry()
ProcessCollector(registry=REGISTRY)          # process_cpu_seconds_total, process_resident_memory_bytes, ...
SECONDS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0, 60.0)

REQUESTS = Counter("rag_http_requests", "HTTP requests answered, by route group, method and status.",
                   ["route", "method", "status"], registry=REGISTRY)
REQUEST_SECONDS = Histogram("rag_http_request_seconds", "Time to the end of the response, by route group.",
                            ["route"], buckets=SECONDS, registry=REGISTRY)
ANSWER_SECONDS = Histogram("rag_answer_seconds", "Time spent making an answer, by stage (retrieve, generate, total).",
                           ["stage"], buckets=SECONDS, registry=REGISTRY)
ANSWERS = Counter("rag_answers", "Answers made, by backend and whether the sources did not answer (refused).",
                  ["backend", "refused"], registry=REGISTRY)
LLM_TOKENS = Counter("rag_llm_tokens", "Tokens sent to (prompt) and received from (completion) the LLM, counted "
                     "with tiktoken cl100k_base (an estimate of the model's own count).", ["kind"], registry=REGISTRY)
INGESTED = Counter("rag_ingest_documents", "Documents seen by ingests in this process, by result.", ["result"],
                   registry=REGISTRY)
INGEST_CHUNKS = Counter("rag_ingest_chunks", "Chunks embedded by ingests in this process.", registry=REGISTRY)
INDEX_LOADS = Counter("rag_bm25_loads", "BM25 index (re)loads after the collection changed, by where it came "
                      "from (cache: the data dir's file, build: rebuilt from the store).", ["source"], registry=REGISTRY)
ERRORS = Counter("rag_errors", "Failures, by kind: a library error type (Unavailable, LLMError, ...) or "
                 "'unexpected' for a bug (HTTP 500).", ["kind"], registry=REGISTRY)


def answered(answer) -> None:
    """One answer (rag.types.Answer): its stage timings and whether it was refused."""
    for stage in ("retrieve", "generate", "total"):
        if stage in answer.timings_ms:
            ANSWER_SECONDS.labels(stage).observe(answer.timings_ms[stage] / 1000)
    ANSWERS.labels(answer.backend, str(bool(answer.refused)).lower()).inc()


def ingested(report) -> None:
    """One ingest (rag.types.IngestReport)."""
    for result, items in (("added", report.added), ("updated", report.updated), ("unchanged", report.skipped),
                          ("removed", report.removed), ("error", report.errors)):
        if items:
            INGESTED.labels(result).inc(len(items))
    INGEST_CHUNKS.inc(report.chunks)


def llm_tokens(kind: str, n: int) -> None:
    LLM_TOKENS.labels(kind).inc(n)


def index_loaded(source: str) -> None:
    INDEX_LOADS.labels(source).inc()


def failed(kind: str) -> None:
    ERRORS.labels(kind).inc()


def request(route: str, method: str, status: int, seconds: float) -> None:
    REQUESTS.labels(route, method, str(status)).inc()
    REQUEST_SECONDS.labels(route).observe(seconds)


def exposition() -> tuple[bytes, str]:
    """(body, content type) of the Prometheus text format."""
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
