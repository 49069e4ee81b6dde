"""The run's index.html: links to each executed notebook and its HTML, headline metrics, plots."""

from __future__ import annotations

import html
import json
from pathlib import Path

from scripts.rundir import RunDir

HEADLINE = ("accuracy", "precision_macro", "recall_macro", "f1_macro", "roc_auc")


def write_index(run: RunDir, notebooks: list[Path], status: str, tag: str | None) -> Path:
    """Return the path of the index page written for the run."""
    metrics = json.loads(run.metrics.read_text()) if run.metrics.exists() else {}
    metric_rows = "".join(
        f"<tr><td>{name}</td><td>{metrics[name]:.4f}</td></tr>"
        for name in HEADLINE
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
</body></html>
"""
    index = run.root / "index.html"
    index.write_text(page)
    return index
