"""The human side of a run: a terminal summary, report.md, and report.html.

report.html is one self-contained file: inline CSS and inline SVG charts drawn here, no script, no
external asset or URL; every piece of dataset or answer text is HTML-escaped.
"""
from __future__ import annotations

import math
from html import escape

from .metrics import RATES, higher_is_better

LABELS = {"must_include": "must_include coverage", "token_f1": "token F1 vs reference",
          "refusal_accuracy": "refusal accuracy (unanswerable)", "false_refusal_rate": "false-refusal rate (answerable)",
          "hit_rate": "retrieval hit rate@k", "mrr": "retrieval MRR@k", "citation_precision": "citation precision",
          "citation_recall": "citation recall", "answer_words": "answer length (words)",
          "sentences_dropped": "generated sentences dropped (unsupported)"}
# per-question value behind each run metric (for the per-question bar charts)
PER_Q = {"must_include": "must_include", "token_f1": "token_f1", "hit_rate": "hit", "mrr": "rr",
         "citation_precision": "citation_precision", "citation_recall": "citation_recall",
         "answer_words": "answer_words", "sentences_dropped": "sentences_dropped"}


def _label(name: str, rep: dict) -> str:
    return LABELS[name].replace("@k", f"@{rep.get('k') or 'k'}")


def _fmt(v, name: str = "") -> str:
    if v is None:
        return "—"
    if name == "answer_words" or name.startswith("latency_") or abs(v) >= 100:
        return f"{v:.0f}"
    return f"{v:.3f}"


def _gate_mark(rep: dict, name: str) -> str:
    marks = [("✔ " if g["ok"] else "✘ ") + f"{g['op']} {g['threshold']:g}" for g in rep.get("gate", []) if g["name"] == name]
    return ", ".join(marks)


def _interrupted(rep: dict) -> str:
    return f" — INTERRUPTED after {rep['questions']} of {rep.get('planned')}" if rep.get("interrupted") else ""


def summary(rep: dict) -> str:
    """A few lines for the terminal."""
    m = rep["metrics"]
    lines = [f"{rep['answered']} of {rep['questions']} questions answered ({rep['errors']} errors, "
             f"{rep['failed']} with a failure){_interrupted(rep)}"]
    for name in [*RATES, "answer_words"]:
        lines.append(f"  {_label(name, rep):<34} {_fmt(m.get(name), name):>7}  (n={rep['counts'].get(name, 0)})"
                     + (f"  {_gate_mark(rep, name)}" if _gate_mark(rep, name) else ""))
    for stage, v in rep["latency_ms"].items():
        lines.append(f"  latency {stage:<26} p50 {v['p50']:>6.0f} ms  p95 {v['p95']:>6.0f} ms")
    return "\n".join(lines)


def markdown(rep: dict, rows: list[dict]) -> str:
    m = rep["metrics"]
    gate = rep.get("gate") or []
    head = "FAILED" if any(not g["ok"] for g in gate) else "passed" if gate else "not set"
    out = [f"# Eval report: {rep['dataset']}", "",
           f"{rep['questions']} questions ({rep['answerable']} answerable, {rep['unanswerable']} unanswerable), "
           f"backend `{rep['backend']}`, {rep['finished']}. Gate: **{head}**."
           + (" **Interrupted: partial run.**" if rep.get("interrupted") else ""), "",
           "| metric | value | n | gate |", "|---|---:|---:|---|"]
    for name in [*RATES, "answer_words"]:
        out.append(f"| {_label(name, rep)} | {_fmt(m.get(name), name)} | {rep['counts'].get(name, 0)} | {_gate_mark(rep, name)} |")
    for stage, v in rep["latency_ms"].items():
        out.append(f"| latency {stage} p50 / p95 (ms) | {v['p50']:.0f} / {v['p95']:.0f} | {v['n']} | "
                   f"{_gate_mark(rep, f'latency_{stage}_p95_ms')} |")
    out += ["", "All metrics are deterministic (no LLM). LLM-judged faithfulness/relevancy: not run "
            "(they need a generative backend; the default backend is extractive)."]
    failed = [g for g in gate if not g["ok"]]
    if failed:
        out += ["", "Gate failures:", *[f"- {g['message']}" for g in failed]]
    bad = _failures(rows)
    out += ["", f"## Failures ({len(bad)})", ""]
    for r, why in bad[:20]:
        answer = " ".join(((r.get("answer") or {}).get("answer") or "").split())
        out.append(f"- **{r['id']}** {r['question']} — {'; '.join(why)}"
                   + (f"\n  > {answer[:300]}" if answer else ""))
    if len(bad) > 20:
        out.append(f"- … and {len(bad) - 20} more (see report.html)")
    return "\n".join(out) + "\n"


def _failures(rows: list[dict]) -> list[tuple[dict, list[str]]]:
    out = []
    for r in rows:
        why = [f"error: {r['error']}"] if r.get("error") else (r.get("metrics") or {}).get("failures") or []
        if why:
            out.append((r, why))
    return out


# --- HTML -----------------------------------------------------------------------------------------------

CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px auto;max-width:1100px;color:#1d2433;padding:0 16px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #dde2ea;padding-bottom:4px}
.meta{color:#5b6475}.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(190px,1fr));gap:10px}
.card{border:1px solid #dde2ea;border-radius:8px;padding:10px 12px}.card b{display:block;font-size:22px}
.card.fail{border-color:#d33;background:#fff3f3}.card small{color:#5b6475}.pass{color:#18794e}.bad{color:#c62828}
.charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(330px,1fr));gap:14px}
figure{margin:0;border:1px solid #eef1f5;border-radius:8px;padding:8px}figcaption{font-weight:600;margin-bottom:4px}
table{border-collapse:collapse;width:100%}td,th{border-top:1px solid #e5e9f0;padding:6px;vertical-align:top;text-align:left}
th{background:#f6f8fb}blockquote{margin:4px 0;padding:2px 8px;border-left:3px solid #c9d2e0;color:#364152}
.why{color:#c62828}.small{font-size:12px;color:#5b6475}
"""


def bar_chart(bars: list[tuple[str, float]], vmax: float, lines: list[tuple[float, str, str]] = (),
              width: int = 320, height: int = 110, axis: tuple[str, str] = ("", "")) -> str:
    """An inline SVG bar chart: one bar per (label, value); lines = (value, label, colour) rules."""
    vmax = vmax or 1.0
    n = max(1, len(bars))
    left, bottom, top = 4, 16, 6
    plot_w, plot_h = width - 2 * left, height - bottom - top
    bw = plot_w / n
    y = lambda v: top + plot_h * (1 - max(0.0, min(v, vmax)) / vmax)  # noqa: E731
    parts = [f'<svg role="img" width="{width}" height="{height}" viewBox="0 0 {width} {height}">',
             f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="#f6f8fb"/>']
    for i, (label, v) in enumerate(bars):
        colour = "#3b82f6" if v > 0 else "#cbd5e1"
        yy = y(v)
        parts.append(f'<rect x="{left + i * bw + 0.5:.1f}" y="{yy:.1f}" width="{max(1.0, bw - 1):.1f}" '
                     f'height="{max(1.0, top + plot_h - yy):.1f}" fill="{colour}"><title>{escape(label)}: '
                     f'{escape(_fmt(v, "x" if abs(v) >= 100 else ""))}</title></rect>')
    for v, label, colour in lines:
        yy = y(v)
        parts.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{yy:.1f}" y2="{yy:.1f}" stroke="{colour}" '
                     f'stroke-dasharray="4 3"><title>{escape(label)}</title></line>')
    parts.append(f'<text x="{left}" y="{height - 3}" font-size="10" fill="#5b6475">{escape(axis[0])}</text>'
                 f'<text x="{left + plot_w}" y="{height - 3}" font-size="10" fill="#5b6475" text-anchor="end">'
                 f'{escape(axis[1])}</text></svg>')
    return "".join(parts)


def _metric_chart(name: str, rep: dict, rows: list[dict]) -> str:
    key = PER_Q.get(name)
    ms = [(r, r["metrics"]) for r in rows if r.get("metrics")]
    if name in ("refusal_accuracy", "false_refusal_rate"):
        want = name == "false_refusal_rate"
        bars = [(f"{r['id']}", float(m["refused"])) for r, m in ms if m["answerable"] == want]
    else:
        bars = [(f"{r['id']}", float(m[key])) for r, m in ms if m.get(key) is not None]
    value = rep["metrics"].get(name)
    vmax = max([v for _, v in bars] + [1.0]) if name == "answer_words" else 1.0
    lines = [] if value is None else [(value, f"run value {_fmt(value, name)}", "#111827")]
    lines += [(g["threshold"], f"gate {g['op']} {g['threshold']:g}", "#d33") for g in rep.get("gate", [])
              if g["name"] == name]
    per = "1/rank" if key == "rr" else "hit" if key == "hit" else "refused" if name in ("refusal_accuracy", "false_refusal_rate") else "value"
    return (f'<figure><figcaption>{escape(_label(name, rep))}: {_fmt(value, name)}</figcaption>'
            + bar_chart(bars, vmax, lines, axis=(f"{len(bars)} questions, bar = {per}", f"max {vmax:g}"))
            + "</figure>")


def _histogram(rows: list[dict], stage: str = "total") -> str:
    xs = [r["metrics"]["timings_ms"][stage] for r in rows if r.get("metrics") and stage in r["metrics"]["timings_ms"]]
    if not xs:
        return "<p>no timings</p>"
    lo, hi = min(xs), max(xs)
    nb = max(1, min(15, math.ceil(math.sqrt(len(xs)))))
    step = (hi - lo) / nb or 1.0
    counts = [0] * nb
    for x in xs:
        counts[min(nb - 1, int((x - lo) / step))] += 1
    bars = [(f"{lo + i * step:.0f}–{lo + (i + 1) * step:.0f} ms", float(c)) for i, c in enumerate(counts)]
    return bar_chart(bars, max(counts), width=680, height=150, axis=(f"{lo:.0f} ms", f"{hi:.0f} ms"))


def html_report(rep: dict, rows: list[dict]) -> str:
    m, gate = rep["metrics"], rep.get("gate") or []
    failed_names = {g["name"] for g in gate if not g["ok"]}
    status = ('<span class="bad">gate FAILED</span>' if failed_names else '<span class="pass">gate passed</span>'
              if gate else "no gate")
    cards = "".join(
        f'<div class="card{" fail" if name in failed_names else ""}"><small>{escape(_label(name, rep))}</small>'
        f'<b>{_fmt(m.get(name), name)}</b><small>n={rep["counts"].get(name, 0)} '
        f'{escape(_gate_mark(rep, name))}</small></div>' for name in [*RATES, "answer_words"])
    cards += "".join(
        f'<div class="card{" fail" if f"latency_{s}_p95_ms" in failed_names else ""}"><small>latency {escape(s)} '
        f'p50 / p95</small><b>{v["p50"]:.0f} / {v["p95"]:.0f} ms</b><small>n={v["n"]} '
        f'{escape(_gate_mark(rep, f"latency_{s}_p95_ms"))}</small></div>' for s, v in rep["latency_ms"].items())
    charts = "".join(_metric_chart(name, rep, rows) for name in [*RATES, "answer_words"] if name in m)
    lat_rows = "".join(f"<tr><td>{escape(s)}</td><td>{v['p50']:.0f}</td><td>{v['p95']:.0f}</td><td>{v['n']}</td></tr>"
                       for s, v in rep["latency_ms"].items())
    gate_rows = "".join(f'<tr><td>{escape(g["name"])}</td><td>{escape(g["op"])} {g["threshold"]:g}</td>'
                        f'<td>{escape(_fmt(g["value"], g["name"]))}</td><td class="{"pass" if g["ok"] else "bad"}">'
                        f'{"ok" if g["ok"] else "FAILED"}</td></tr>' for g in gate)
    fail_rows = "".join(_failure_row(r, why) for r, why in _failures(rows))
    title = f"Eval report: {rep['dataset']}"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)}</title><style>{CSS}</style></head><body>
<h1>{escape(title)}</h1>
<p class="meta">{rep['questions']} questions ({rep['answerable']} answerable, {rep['unanswerable']} unanswerable),
{rep['errors']} errors, {rep['failed']} with a failure · backend {escape(rep['backend'])} ·
{escape(rep['finished'])} · {status}{' · <b class="bad">interrupted: partial run</b>' if rep.get('interrupted') else ''}</p>
<h2>Headline</h2><div class="cards">{cards}</div>
{f'<h2>Gate</h2><table><tr><th>metric</th><th>threshold</th><th>value</th><th></th></tr>{gate_rows}</table>' if gate else ''}
<h2>Per metric (one bar per question; dashed: run value, red: gate)</h2><div class="charts">{charts}</div>
<h2>Latency</h2><figure><figcaption>total latency per question (histogram)</figcaption>{_histogram(rows)}</figure>
<table><tr><th>stage</th><th>p50 ms</th><th>p95 ms</th><th>n</th></tr>{lat_rows}</table>
<h2>Failures ({len(_failures(rows))})</h2>
<table><tr><th>id</th><th>question</th><th>why</th><th>answer</th><th>cited passages</th></tr>{fail_rows}</table>
<p class="small">Citation support: lexical ≥ {rep.get('support_thresholds', {}).get('lexical')} or cosine ≥
{rep.get('support_thresholds', {}).get('cosine')}; metric definitions in evals/metrics.py.</p>
</body></html>
"""


def _failure_row(r: dict, why: list[str]) -> str:
    a = r.get("answer") or {}
    cites = "".join(f"<blockquote>[{escape(str(c.get('n')))}] <span class='small'>{escape(str(c.get('source', '')))}, "
                    f"{escape(str(c.get('locator', '')))}</span><br>{escape(' '.join(str(c.get('quote', '')).split()))}"
                    f"</blockquote>" for c in a.get("citations") or [])
    refused = " <span class='small'>(refused)</span>" if a.get("refused") else ""
    return (f"<tr><td>{escape(str(r['id']))}</td><td>{escape(str(r['question']))}</td>"
            f"<td class='why'>{'<br>'.join(escape(w) for w in why)}</td>"
            f"<td>{escape(str(a.get('answer', '')))}{refused}</td><td>{cites}</td></tr>")
