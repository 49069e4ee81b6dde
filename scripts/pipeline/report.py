"""What a run reports: its index.html, and the record of the export and the promotion gate.

The index links each executed notebook and its HTML, the headline metrics and plots, and the
gate's verdict. The export record (export.json, written by the runner) and the tables made of it
are what 05_export shows: the stored version, its files, both parity checks and the verdict.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

import pandas as pd

from scripts.lifecycle.promotion import rows_sentence
from scripts.pipeline.rundir import RunDir
from service.errors import UserError
from service.model.version import (
    HELD_OUT_METRICS,
    LINEAGE_FILE,
    METRICS_FILE,
    ONNX_FILE,
    PARAMS_FILE,
    PIPELINE_FILE,
    REFERENCE_FILE,
    REGRESSION_METRICS,
    SCHEMA_FILE,
    SUITE_FILE,
)

# What each file of a model version holds, for a reader of its hashes.
FILE_ROLES = {
    ONNX_FILE: "the pipeline as an ONNX graph: what the service runs",
    PIPELINE_FILE: "the fitted scikit-learn pipeline (skops, no pickle): served when ONNX is not",
    SUITE_FILE: "the expectation suite every request is validated against",
    SCHEMA_FILE: "the features (names, kinds, categories) and the classes",
    REFERENCE_FILE: "each feature's training statistics: the baseline for drift",
    METRICS_FILE: "the held-out metrics 03_evaluate computed",
    PARAMS_FILE: "the run's parameters",
    LINEAGE_FILE: "the git commit, the data's sha256 and the library versions",
}


def write_index(
    run: RunDir, notebooks: list[Path], status: str, tag: str | None, gate: dict | None = None
) -> Path:
    """Return the path of the index page written for the run; `gate` is its comparison.json."""
    metrics = json.loads(run.metrics.read_text()) if run.metrics.exists() else {}
    metric_rows = "".join(
        f"<tr><td>{name}</td><td>{metrics[name]:.4f}</td></tr>"
        for name in (*HELD_OUT_METRICS, *REGRESSION_METRICS)
        if isinstance(metrics.get(name), int | float)
    )
    links = "".join(
        f"<li>{html.escape(nb.stem)}: <a href='{nb.stem}.html'>report</a> · "
        f"<a href='{nb.name}'>executed notebook</a></li>"
        for nb in notebooks
    )
    extras = [("data validation", run.validation_html), ("export record", run.export)]
    links += "".join(
        f"<li><a href='{path.name}'>{label}</a></li>" for label, path in extras if path.exists()
    )
    plots = "".join(
        f"<img src='{path.name}' alt='{path.stem}' style='max-width:45%'>"
        for path in (
            run.confusion_plot,
            run.roc_plot,
            run.predicted_actual_plot,
            run.residuals_plot,
        )
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
    parts = ["<h2>Promotion gate</h2>"]
    parts += [f"<p>{html.escape(sentence)}</p>" for sentence in gate_verdict(gate)]
    if gate.get("champion") is not None:
        parts.append("<p>Details in <a href='comparison.json'>comparison.json</a>.</p>")
    rows = gate_rule_rows(gate)
    if rows:
        header = "".join(f"<th>{html.escape(name)}</th>" for name in rows[0])
        cells = "".join(
            "<tr>" + "".join(f"<td>{html.escape(value)}</td>" for value in row.values()) + "</tr>"
            for row in rows
        )
        parts.append(f"<table><tr>{header}</tr>{cells}</table>")
    return "\n".join(parts)


def gate_verdict(gate: dict) -> list[str]:
    """Return the gate's verdict as sentences: who against whom, the outcome, on which rows."""
    challenger = gate["challenger"]
    if gate.get("champion") is None:
        return [f"{challenger} is the model's first version: it became the champion."]
    verdict = "passed" if gate["passed"] else "failed"
    outcome = {
        "challenger": "it stays a challenger"
        + ("; `make promote` makes it the champion" if gate["passed"] else ""),
    }.get(gate["outcome"], gate["outcome"])
    sentences = [
        f"Challenger {challenger} against champion {gate['champion']}: "
        f"the gate {verdict}; {outcome}."
    ]
    if gate.get("error"):
        sentences.append(f"Not compared: {gate['error']}")
    rows = gate.get("rows")
    if rows:
        sentences.append(f"{rows_sentence(rows)}.")
        if not gate.get("same_data_and_split", True):
            sentences.append(
                "The champion was trained on other data or another split: it may have seen "
                "some of these rows."
            )
    production = gate.get("production")
    if production:
        verdict = "passed" if production["passed"] else "failed"
        sentences.append(
            f"On recent production rows neither version trained on, the gate {verdict}: "
            f"{rows_sentence(production['rows'])}."
        )
    return sentences


def gate_rule_rows(gate: dict) -> list[dict[str, str]]:
    """Return one row of text per promotion rule: the metric, both values, the rule, the verdict;
    then the same for the recent production rows, when `make retrain` judged on them too."""
    production = gate.get("production") or {}
    judged = [(verdict, "") for verdict in gate.get("rules", [])]
    judged += [(verdict, " (production rows)") for verdict in production.get("rules", [])]
    return [
        {
            "metric": verdict["metric"] + where,
            "challenger": _value(verdict["challenger"]),
            "champion": _value(verdict["champion"]),
            "rule": _rule(verdict),
            "verdict": "pass" if verdict["passed"] else "; ".join(verdict["failures"]),
        }
        for verdict, where in judged
    ]


def _value(value: float | None) -> str:
    return f"{value:.4f}" if isinstance(value, int | float) else "-"


def _rule(verdict: dict) -> str:
    keys = ("threshold", "min_absolute_change", "min_relative_change")
    checks = [f"{key}={verdict[key]}" for key in keys if verdict.get(key) is not None]
    direction = "higher is better" if verdict["greater_is_better"] else "lower is better"
    return ", ".join([*checks, direction])


def stored_record(tag: str) -> dict:
    """Return what the store holds about the version `tag`, as the runner writes export.json."""
    from service.model.store import find_model

    model = find_model(tag)
    return {
        "tag": str(model.tag),
        "stored": True,
        "created": model.info.creation_time.isoformat(timespec="seconds"),
        "labels": dict(model.info.labels),
        "metadata": dict(model.info.metadata),
    }


def staged_record(run: RunDir) -> dict:
    """Return the export's record for the model in `run`, made now and stored nowhere: the two
    parity checks and the file hashes, with no tag (05_export run on its own, after 01 to 03)."""
    from scripts.export.save import stage_model
    from scripts.pipeline.params import PROJECT_ROOT, load_params
    from service.model.version import version_labels, with_file_hashes

    needed = (run.suite, run.pipeline, run.schema, run.reference, run.holdout, run.metrics)
    missing = [path.name for path in (*needed, run.train_features) if not path.is_file()]
    if missing:
        raise UserError(
            f"{run.root} holds no export.json, nor what an export needs ({', '.join(missing)} "
            "missing): run 01_validate_data, 02_train and 03_evaluate into it first, or run "
            "`make pipeline`, which exports the model and runs this notebook in its run folder"
        )
    params = json.loads(run.params.read_text()) if run.params.is_file() else load_params()
    # params.yaml's data_path is relative to the project root; the runner's is absolute already.
    params = {**params, "data_path": str(PROJECT_ROOT / params["data_path"])}
    metadata = stage_model(run, params, PROJECT_ROOT, run.root.name)
    return {
        "tag": None,
        "stored": False,
        "created": None,
        "labels": version_labels(str(params.get("estimator")), run.root.name),
        "metadata": with_file_hashes(metadata, run.model_staging).to_dict(),
    }


def export_record(run: RunDir) -> dict:
    """Return the run's export.json; without one, the record staged now (see staged_record)."""
    if run.export.is_file():
        return json.loads(run.export.read_text())
    return staged_record(run)


def gate_record(run: RunDir, record: dict) -> dict | None:
    """Return the run's comparison.json when it judged the version `record` names, else None."""
    if record["tag"] is None or not run.comparison.is_file():
        return None
    gate = json.loads(run.comparison.read_text())
    return gate if gate.get("challenger") == record["tag"] else None


def _one_column(rows: dict) -> pd.DataFrame:
    # A value column of mixed types: shown as they are, not coerced to one dtype.
    return pd.DataFrame({"value": pd.Series(rows, dtype=object)})


def version_table(record: dict) -> pd.DataFrame:
    """Return the version at a glance, one row each: tag, serving format, where it came from."""
    metadata = record["metadata"]
    return _one_column(
        {
            "tag": record["tag"] or "none: staged by 05_export on its own, not stored",
            "created (UTC)": record["created"] or "-",
            "serving format": metadata["serving_format"],
            "estimator": record["labels"].get("estimator", "-"),
            "run id": metadata["run_id"],
            "git commit": metadata["git_commit"],
            "data sha256": metadata["data_sha256"],
            "classes": ", ".join(map(str, metadata["classes"])),
        }
    )


def files_table(record: dict) -> pd.DataFrame:
    """Return the version's files: each one's sha256, checked at every load, and what it holds."""
    files = record["metadata"]["files"]
    return pd.DataFrame(
        [{"file": n, "sha256": d, "holds": FILE_ROLES.get(n, "")} for n, d in files.items()],
        columns=["file", "sha256", "holds"],
    )


def onnx_parity_table(record: dict) -> pd.DataFrame:
    """Return the ONNX conversion and its parity with scikit-learn on the held-out rows."""
    onnx = record["metadata"]["onnx"]
    rows: dict[str, object] = {"converted by skl2onnx": onnx.get("converted", False)}
    if onnx.get("error"):
        rows["error"] = onnx["error"]
    parity = onnx.get("parity")
    if parity and "max_relative_difference" in parity:
        rows |= _rows_compared(parity) | {
            "largest absolute difference": f"{parity['max_absolute_difference']:.2g}",
            "largest relative difference": f"{parity['max_relative_difference']:.2g}",
            "relative tolerance": f"{parity['relative_tolerance']:.2g}",
            "parity passed": parity["passed"],
        }
    elif parity:
        rows |= _rows_compared(parity) | {
            "labels that differ": parity["labels_differing"],
            # Differences around 1e-7 would print as 0.000000 among the other values.
            "largest probability difference": f"{parity['max_probability_difference']:.2g}",
            "tolerance": f"{parity['tolerance']:.2g}",
            "parity passed": parity["passed"],
        }
    rows["served as"] = record["metadata"]["serving_format"]
    return _one_column(rows)


def _rows_compared(parity: dict) -> dict[str, int]:
    # Versions exported before the edge rows compared the held-out rows only.
    edges = parity.get("edge_rows", 0)
    return {
        "held-out rows compared": parity["rows"] - edges,
        "rows with a gap or an unseen category compared": edges,
    }


def suite_parity_table(record: dict) -> pd.DataFrame:
    """Return how the compiled suite's verdicts compared with Great Expectations' verdicts."""
    parity = record["metadata"]["validation_parity"]
    return _one_column(
        {
            "frames checked": parity["checked_frames"],
            "verdicts compared": parity["expectations_compared"],
            "verdicts that differ (up to 20 kept)": len(parity["mismatches"]),
            "agree": parity["agree"],
        }
    )


def suite_mismatches(record: dict) -> pd.DataFrame:
    """Return one row per kept verdict on which the compiled suite and GX differ; empty if none."""
    rows = [
        {
            "frame": item["frame"],
            "position": item["position"],
            "rule": item["expectation"],
            "column": item["column"],
            "compiled": _verdict(item["compiled"]),
            "great expectations": _verdict(item["gx"]),
        }
        for item in record["metadata"]["validation_parity"]["mismatches"]
    ]
    columns = ["frame", "position", "rule", "column", "compiled", "great expectations"]
    return pd.DataFrame(rows, columns=columns)


def _verdict(outcome: dict) -> str:
    if outcome["success"]:
        return "pass"
    rows = outcome["rows"]
    return f"fail, rows {', '.join(map(str, rows[:10]))}" + (" …" if len(rows) > 10 else "")


def gate_rules_table(gate: dict) -> pd.DataFrame:
    """Return the promotion rules with both versions' values and each verdict, as a table."""
    columns = ["metric", "challenger", "champion", "rule", "verdict"]
    return pd.DataFrame(gate_rule_rows(gate), columns=columns)
