"""One Settings object: every knob typed, described and bounded; env prefix RAG_."""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


COLLECTION_NAME = re.compile(r"[A-Za-z0-9]([A-Za-z0-9_-]{0,48}[A-Za-z0-9])?")   # 1-50 characters


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RAG_", extra="ignore")

    data_dir: Path = Field(Path(".rag"), description="Where the index, feedback and logs live.")
    chroma_url: str | None = Field(None, description="Use a Chroma server (e.g. http://127.0.0.1:8000) instead of the embedded store.")
    database_url: str | None = Field(None, max_length=2000, description="Database of the app's own state (feedback, users, sessions, keys, access grants, audit log), e.g. postgresql://USER:PASSWORD@HOST:5432/NAME, shared by every replica; unset: SQLite in DATA_DIR/state.sqlite3.")
    collection: str = Field("default", max_length=50, pattern=f"^{COLLECTION_NAME.pattern}$",
                            description="Collection used when a command gets no --collection.")
    uploads_dir: Path | None = Field(None, description="Folder of the files uploaded on the documents page, one subfolder per collection (ingested like any folder); replicas share it when it is on a shared volume. Unset: DATA_DIR/uploads.")
    corpus_dir: Path = Field(Path("corpus"), description="Folder ingested when `rag ingest` gets no path.")
    bm25_cache: Path | None = Field(None, description="Folder of the BM25 index cache; replicas pointing at one shared folder load what the first one built after a change instead of each rebuilding it. Unset: DATA_DIR/bm25.")
    chunk_tokens: int = Field(256, ge=32, le=1024, description="Target chunk size in cl100k_base tokens.")
    chunk_overlap: int = Field(40, ge=0, le=256, description="Tokens of whole sentences repeated between neighbouring chunks.")
    embed_threads: int = Field(2, ge=1, le=64, description="onnxruntime intra-op threads for the embedder.")
    embed_batch: int = Field(32, ge=1, le=512, description="Texts per embedder batch (batches are formed by similar length).")
    index_title: bool = Field(True, description="Put the document title before each chunk's text in what is embedded and BM25-indexed (stored spans stay exact).")
    sentence_vectors: bool = Field(True, description="The dense side also asks NAME.sentences for the nearest sentences (every sentence is embedded and stored at ingest anyway, for the answer step): a chunk's dense score is its cosine plus its best sentence's. SciFact test nDCG@10 0.732 instead of 0.715, a query ~5 ms more; off: chunk vectors only (set RAG_DENSE_WEIGHT=0.4 then).")
    candidates: int = Field(100, ge=5, le=1000, description="Chunks taken from each retriever (dense, BM25) before fusion; with sentence vectors, also the nearest sentences asked for.")
    dense_weight: float = Field(0.5, ge=0.0, le=1.0, description="Weight of the dense side in the fusion (BM25 gets the rest); tuned on SciFact train (0.5 with sentence vectors, 0.4 without).")
    rrf_k: int = Field(60, ge=1, le=1000, description="Reciprocal-rank-fusion constant.")
    fusion: Literal["blend", "rrf"] = Field("blend", description="How dense and BM25 rankings are fused: weighted sum of min-max normalised scores, or weighted reciprocal rank fusion.")
    bm25_wait: float = Field(2.0, ge=0, le=3600, description="rag serve: seconds a question waits for the BM25 index of a changed collection (rebuilt, or loaded from RAG_BM25_CACHE, in the background) before it is answered with the previous version's index, or dense retrieval only (the answer notes it) when there is none. One-shot commands wait until it is ready.")
    bm25_k1: float = Field(0.9, ge=0.0, le=5.0, description="BM25 term-frequency saturation.")
    bm25_b: float = Field(0.4, ge=0.0, le=1.0, description="BM25 length normalisation.")
    answer_chunks: int = Field(8, ge=1, le=50, description="Top fused chunks whose sentences are considered for an answer.")
    max_sentences: int = Field(3, ge=1, le=10, description="Most sentences in an extractive answer.")
    max_words: int = Field(60, ge=10, le=400, description="Word budget of an extractive answer.")
    refuse_below: float | None = Field(None, ge=0.0, le=1.0, description="Refuse when the probability that the sources answer the question is below this; unset: the threshold calibrated with the scorer (rag/scorer.json, `python -m evals.train_scorer`).")
    passages: int = Field(5, ge=1, le=20, description="Most passages (a best sentence with one sentence either side, within its chunk) an answer is written from and may cite.")
    backend: str = Field("extractive", pattern=r"^[a-z][a-z0-9_-]*$", description="Who writes the answer: `extractive` (quotes the best sentences; no model), `openai` (any OpenAI-compatible server: vLLM, llama.cpp, LM Studio, OpenAI, Azure) or `ollama`, both through llama-index.")
    unverified: Literal["drop", "mark"] = Field("drop", description="A generated sentence no cited passage supports is dropped, or shown marked [unverified].")
    llm_base_url: str | None = Field(None, description="Base URL of the LLM server, e.g. http://127.0.0.1:8080/v1 (openai) or http://127.0.0.1:11434 (ollama).")
    llm_model: str | None = Field(None, description="Model name the LLM server knows.")
    llm_api_key: SecretStr | None = Field(None, description="API key sent to the LLM server (never logged or shown).")
    llm_temperature: float = Field(0.1, ge=0.0, le=2.0, description="Sampling temperature of generated answers.")
    llm_max_tokens: int = Field(300, ge=16, le=8192, description="Most tokens the LLM may write for one answer.")
    llm_timeout: float = Field(60.0, gt=0, le=3600, description="Seconds to wait for the LLM server before falling back to the extractive answer.")
    llm_retries: int = Field(2, ge=0, le=10, description="Retries, with backoff, when the LLM server answers 429 or 5xx.")
    llm_context_window: int = Field(4096, ge=512, le=1_000_000, description="The model's context window in tokens: passages that do not fit are left out, and the answer says so.")
    llm_entailment: bool = Field(False, description="Also ask the LLM, per generated sentence, whether the cited passage entails it (yes/no read from token log-probabilities where the server returns them).")
    max_question_chars: int = Field(2000, ge=10, le=100_000, description="Longest question accepted.")
    log_level: str = Field("WARNING", description="Log level of the entry points.")
    log_format: Literal["text", "json"] = Field("text", description="Log lines as text, or as one JSON object a line (time, level, logger, message, request_id) for a log collector.")
    metrics_token: SecretStr | None = Field(None, min_length=16, description="Bearer token a scraper sends to read /metrics from any address; unset: /metrics answers loopback callers only.")
    embed_origins: str = Field("http://localhost:* http://127.0.0.1:*", max_length=4000,
                               pattern=r"^[A-Za-z0-9:/*.\- ,\[\]]*$",
                               description="Origins (space- or comma-separated) whose pages may embed the chat widget "
                                           "(CSP frame-ancestors on /embed, CORS on /api/*); the app's own origin always "
                                           "may. Default: loopback pages only; list your intranet origins, e.g. "
                                           "'https://intranet.example.com'.")
    auth: Literal["none", "password", "proxy"] = Field("none", description="Sign-in mode of `rag serve`: none (only on a loopback bind), password (local users, `rag users add`) or proxy (user and groups headers from a trusted SSO proxy). API keys (`rag keys create`) work in password and proxy modes.")
    allowed_hosts: str = Field("localhost 127.0.0.1 ::1", max_length=2000, pattern=r"^[A-Za-z0-9.:*\-\[\] ,]*$", description="Host names (space- or comma-separated) the server answers to; any other Host header gets 400 (DNS rebinding). Add the name users type, e.g. 'chat.intranet.example'; '*' turns the check off.")
    session_hours: float = Field(12, gt=0, le=24 * 90, description="How long a sign-in lasts.")
    secure_cookies: bool = Field(True, description="Mark the session cookie Secure (sent over HTTPS only; browsers also send it to http://localhost). Turn off only for plain-HTTP test setups on another host.")
    proxy_addresses: str | None = Field(None, max_length=2000, pattern=r"^[0-9A-Fa-f.:/ ,]*$", description="RAG_AUTH=proxy: addresses or networks (e.g. '10.0.0.5 10.1.0.0/16') of the proxies whose identity headers are trusted.")
    proxy_secret: str | None = Field(None, min_length=16, max_length=200, description="RAG_AUTH=proxy: a shared secret the proxy sends in X-Rag-Proxy-Secret; with it, identity headers are trusted from any address.")
    proxy_user_header: str = Field("X-Forwarded-User", pattern=r"^[A-Za-z0-9-]{1,64}$", description="RAG_AUTH=proxy: header holding the signed-in user's name.")
    proxy_groups_header: str = Field("X-Forwarded-Groups", pattern=r"^[A-Za-z0-9-]{1,64}$", description="RAG_AUTH=proxy: header holding the user's groups (comma-separated).")
    max_body_bytes: int = Field(262_144, ge=1024, le=100_000_000, description="Largest request body the server reads; larger ones get 413.")
    max_upload_bytes: int = Field(50_000_000, ge=1024, le=1_000_000_000, description="Largest upload request the documents page may send (the files in it together); larger ones get 413. One file is never indexed past 50 MB.")
    rate_limit: int = Field(60, ge=0, le=100_000, description="Questions per minute per user or key (bursts up to the same number), across all replicas when RAG_DATABASE_URL is set; over it: 429 with Retry-After. 0 turns it off.")
    audit_days: int = Field(90, ge=0, le=36_500, description="Days the audit log keeps its rows (who asked what, what was cited, who read which source); 0 keeps them for ever.")
    feedback_days: int = Field(0, ge=0, le=36_500, description="Days feedback rows (thumbs up/down, comments) are kept; 0 keeps them for ever. The gap report's refused questions are audit rows, kept RAG_AUDIT_DAYS.")
    anonymous_feedback: bool = Field(False, description="Store feedback and refused questions without the user's name or address (the rest of the audit log keeps them).")
    gaps_eval_dir: Path | None = Field(None, description="Folder of the eval datasets the gap page appends cases to, one per collection (COLLECTION.jsonl, the `rag eval` format); replicas should share one. Unset: DATA_DIR/evals.")


def load_settings(**overrides) -> Settings:
    """Settings from the environment, with explicit overrides (None values ignored)."""
    return Settings(**{k: v for k, v in overrides.items() if v is not None})


def tiktoken_offline() -> None:
    """Point tiktoken at the cl100k_base file that llama-index-core ships, so nothing downloads."""
    if "TIKTOKEN_CACHE_DIR" not in os.environ:
        import importlib.util

        spec = importlib.util.find_spec("llama_index.core")
        if spec and spec.submodule_search_locations:
            os.environ["TIKTOKEN_CACHE_DIR"] = str(Path(list(spec.submodule_search_locations)[0]) / "_static" / "tiktoken_cache")
