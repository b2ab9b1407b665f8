"""Evaluation: metrics, the `rag eval` runner, reports, gate and compare (see evals/metrics.py)."""
