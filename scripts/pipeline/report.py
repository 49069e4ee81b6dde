"""The run's index.html: links to each executed notebook and its HTML, headline metrics, plots."""

from __future__ import annotations

import html
import json
from pathlib import Path

from scripts.lifecycle.promotion import rows_sentence
from scripts.pipeline.rundir import RunDir
from service.model.version import HELD_OUT_METRICS


def write_index(
    run: RunDir, notebooks: list[Path], status: str, tag: str | None, gate: dict | None = None
) -> Path:
    """Return the path of the index page written for the run; `gate` is its comparison.json."""
    metrics = json.loads(run.metrics.read_text()) if run.metrics.exists() else {}
    metric_rows = "".join(
        f"<tr><td>{name}</td><td>{metrics[name]:.4f}</td></tr>"
        for name in HELD_OUT_METRICS
        if isinstance(metrics.get(name), int | float)
    )
    links = "".join(
        f"<li>{html.escape(nb.stem)}: <a href='{nb.stem}.html'>report</a> · "
        f"<a href='{nb.name}'>executed notebook</a></li>"
        for nb in notebooks
    )
    extras = [("data validation", run.validation_html)]
    links += "".join(
        f"<li><a href='{path.name}'>{label}</a></li>" for label, path in extras if path.exists()
    )
    plots = "".join(
        f"<img src='{path.name}' alt='{path.stem}' style='max-width:45%'>"
        for path in (run.confusion_plot, run.roc_plot)
        if path.exists()
    )
    model = f"<p>Model version: <code>{html.escape(tag)}</code></p>" if tag else ""
    page = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>Run {run.root.name}</title>
<style>body {{ font-family: system-ui, sans-serif; margin: 2rem; }}
td {{ padding: .2rem .8rem; }}</style></head><body>
<h1>Run {html.escape(run.root.name)}: {html.escape(status)}</h1>
{model}
<h2>Reports</h2><ul>{links}</ul>
<h2>Held-out metrics</h2><table>{metric_rows}</table>
<h2>Plots</h2>{plots}
{gate_section(gate) if gate is not None else ""}
</body></html>
"""
    index = run.root / "index.html"
    index.write_text(page)
    return index


def gate_section(gate: dict) -> str:
    """Return the "Promotion gate" section: the verdict, the rows, each rule with both values."""
    challenger = html.escape(str(gate["challenger"]))
    title = "<h2>Promotion gate</h2>"
    if gate.get("champion") is None:
        return (
            f"{title}<p><code>{challenger}</code> is the model's first version: "
            "it became the champion.</p>"
        )
    champion = html.escape(str(gate["champion"]))
    verdict = "passed" if gate["passed"] else "failed"
    outcome = {
        "challenger": "it stays a challenger"
        + ("; <code>make promote</code> makes it the champion" if gate["passed"] else ""),
    }.get(gate["outcome"], html.escape(gate["outcome"]))
    parts = [
        title,
        f"<p>Challenger <code>{challenger}</code> against champion <code>{champion}</code>: "
        f"the gate <strong>{verdict}</strong>; {outcome}. Details in "
        "<a href='comparison.json'>comparison.json</a>.</p>",
    ]
    if gate.get("error"):
        parts.append(f"<p>Not compared: {html.escape(gate['error'])}</p>")
    rows = gate.get("rows")
    if rows:
        parts.append(f"<p>{html.escape(rows_sentence(rows))}.</p>")
        if not gate.get("same_data_and_split", True):
            parts.append(
                "<p>The champion was trained on other data or another split: it may have seen "
                "some of these rows.</p>"
            )
    cells = "".join(
        f"<tr><td>{html.escape(v['metric'])}</td><td>{_value(v['challenger'])}</td>"
        f"<td>{_value(v['champion'])}</td><td>{_rule(v)}</td>"
        f"<td>{'pass' if v['passed'] else html.escape('; '.join(v['failures']))}</td></tr>"
        for v in gate.get("rules", [])
    )
    if cells:
        parts.append(
            "<table><tr><th>metric</th><th>challenger</th><th>champion</th><th>rule</th>"
            f"<th>verdict</th></tr>{cells}</table>"
        )
    return "\n".join(parts)


def _value(value: float | None) -> str:
    return f"{value:.4f}" if isinstance(value, int | float) else "-"


def _rule(verdict: dict) -> str:
    keys = ("threshold", "min_absolute_change", "min_relative_change")
    checks = [f"{key}={verdict[key]}" for key in keys if verdict.get(key) is not None]
    direction = "higher is better" if verdict["greater_is_better"] else "lower is better"
    return html.escape(", ".join([*checks, direction]))
