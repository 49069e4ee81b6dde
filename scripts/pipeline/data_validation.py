"""Notebook 01's steps: pick the suite (committed or built), and report how the data fared."""

from __future__ import annotations

import html
from pathlib import Path

from scripts.pipeline.suite import load_suite
from service.errors import UserError
from service.validation.results import Outcome


def committed_suite_path(expectations_dir: str | Path, model_name: str) -> Path:
    """Return where the reviewed suite for `model_name` lives in the repository."""
    return Path(expectations_dir) / f"{model_name}.json"


def choose_suite(expectations_dir: str | Path, model_name: str, built: dict) -> tuple[dict, str]:
    """Return the committed suite if there is one, else the one built from the data, and a note."""
    committed = committed_suite_path(expectations_dir, model_name)
    if committed.is_file():
        return load_suite(committed), f"validating against the committed suite {committed}"
    return built, (
        f"no committed suite at {committed}: validating against the suite built from this data. "
        f"Review the run's suite.json and commit it as {committed} to make it the contract."
    )


def failed(outcomes: list[Outcome]) -> list[Outcome]:
    return [outcome for outcome in outcomes if not outcome.success]


def describe(outcome: Outcome, limit: int = 10) -> str:
    """Return one line naming the expectation, the column and the first offending rows."""
    where = f" on column {outcome.column!r}" if outcome.column else ""
    rows = outcome.unexpected_rows
    shown = ", ".join(map(str, rows[:limit])) + (" …" if len(rows) > limit else "")
    return f"{outcome.expectation}{where}" + (f": {len(rows)} rows ({shown})" if rows else "")


def enforce_suite(outcomes: list[Outcome], source: str) -> None:
    """Raise UserError listing every failed expectation."""
    failures = failed(outcomes)
    if failures:
        lines = "\n  - ".join(describe(outcome) for outcome in failures)
        raise UserError(
            f"the data violates {len(failures)} expectation(s) ({source}):\n  - {lines}\n"
            "Fix the data, or review and update the suite in expectations/."
        )


def validation_report_html(outcomes: list[Outcome], suite: dict, data_name: str) -> str:
    """Return a standalone HTML page: one row per expectation with its verdict and failing rows."""
    rows = []
    for outcome, expectation in zip(outcomes, suite["expectations"], strict=True):
        kwargs = {k: v for k, v in expectation["kwargs"].items() if k != "column"}
        verdict = "passed" if outcome.success else "FAILED"
        rows.append(
            f"<tr class='{verdict.lower()}'><td>{verdict}</td>"
            f"<td>{html.escape(outcome.expectation)}</td>"
            f"<td>{html.escape(str(outcome.column or ''))}</td>"
            f"<td><code>{html.escape(str(kwargs))}</code></td>"
            f"<td>{len(outcome.unexpected_rows)}</td>"
            f"<td>{html.escape(', '.join(map(str, outcome.unexpected_rows[:20])))}</td></tr>"
        )
    passed = sum(outcome.success for outcome in outcomes)
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>Data validation: {html.escape(data_name)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem; }}
table {{ border-collapse: collapse; }} td, th {{ border: 1px solid #ccc; padding: .3rem .6rem; }}
tr.failed td:first-child {{ color: #b00; font-weight: bold; }}
tr.passed td:first-child {{ color: #070; }}
</style></head><body>
<h1>Data validation: {html.escape(data_name)}</h1>
<p>Suite <code>{html.escape(suite.get("name", ""))}</code>: {passed} of {len(outcomes)}
expectations passed (evaluated by Great Expectations).</p>
<table><tr><th>verdict</th><th>expectation</th><th>column</th><th>arguments</th>
<th>unexpected rows</th><th>first rows</th></tr>
{"".join(rows)}
</table></body></html>
"""
