"""Run the monitoring notebook on a prediction log: a run folder with its HTML and drift.json.

python -m scripts.monitor [--params FILE] [-p NAME=VALUE ...] [--run-dir DIR] [--fail-on-drift]

The log and the model are read before papermill starts, so a log with no rows of the model
ends with one line saying what the log holds, not with a notebook's traceback.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

from scripts.monitor.log_reader import ModelRows, Window, model_rows, read_log
from scripts.pipeline.params import RUNNER_PARAMS, load_params, resolve_params
from scripts.pipeline.run import (
    MONITOR_NOTEBOOK,
    REPORTS_DIR,
    absolute,
    declared_parameters,
    execute,
    new_run_dir,
    point_latest,
    runner_arguments,
    to_html,
)
from scripts.pipeline.rundir import RunDir
from service.errors import UserError
from service.model.version import ModelStoreError, ModelVersion

MONITOR_REPORTS = "monitor"
DRIFT_EXIT = 3


@dataclass(frozen=True)
class Monitored:
    """The model version a report is about, and its rows in the log."""

    version: ModelVersion
    rows: ModelRows


def monitored_tag(model_tag: str, model_name: str) -> str:
    """Return `model_tag`, else the champion the service serves by default; a store exported
    before aliases existed has none, and then `latest` is what the service served."""
    from service.model.store import find_model

    if model_tag:
        return model_tag
    try:
        return str(find_model(f"{model_name}:champion").tag)
    except ModelStoreError:
        return f"{model_name}:latest"


def load_monitored(log_dir: str, model_tag: str, model_name: str, window_hours: float) -> Monitored:
    """Return the monitored version and its rows, or raise saying what is missing."""
    from service.model.store import load_model_version

    version = load_model_version(monitored_tag(model_tag, model_name))
    rows = model_rows(read_log(log_dir), version.tag, Window.last_hours(window_hours))
    return Monitored(version, rows)


def run(params_file: Path, overrides: list[str], run_dir: str | None) -> Path:
    """Return the drift.json written by the notebook run into a new run folder."""
    known = declared_parameters([MONITOR_NOTEBOOK])[MONITOR_NOTEBOOK] - RUNNER_PARAMS
    base = load_params(params_file)
    params = resolve_params(base, overrides, known, frozenset(set(base) - known))
    params["log_dir"] = absolute(params["log_dir"])
    monitored = load_monitored(
        params["log_dir"], params["model_tag"], params["model_name"], params["window_hours"]
    )
    # The version found now, so the notebook reads the same one if `latest` moves meanwhile.
    params["model_tag"] = monitored.version.tag
    print(f"{len(monitored.rows.predictions)} prediction rows of {monitored.version.tag}")

    run_path = new_run_dir(run_dir, REPORTS_DIR / MONITOR_REPORTS)
    output = run_path / MONITOR_NOTEBOOK.name
    print(f"run directory: {run_path}", flush=True)
    try:
        execute(MONITOR_NOTEBOOK, output, {**params, "run_dir": str(run_path)})
    finally:
        if output.exists():
            to_html(output)
    point_latest(run_path)
    print(f"report: {output.with_suffix('.html')}")
    return RunDir(run_path).drift


def main(argv: list[str] | None = None) -> int:
    parser = runner_arguments(__doc__.splitlines()[0], f"reports/{MONITOR_REPORTS}")
    parser.add_argument(
        "--fail-on-drift",
        action="store_true",
        help=f"exit with {DRIFT_EXIT} when any feature drifted, for a scheduled job",
    )
    args = parser.parse_args(argv)
    try:
        drift_file = run(args.params, args.overrides, args.run_dir)
    except UserError as error:
        print(f"monitor failed: {error}", file=sys.stderr)
        return 1
    drifted = json.loads(drift_file.read_text())["drifted"]
    print(f"drift: {drift_file}")
    print(f"drifted features: {', '.join(drifted) if drifted else 'none'}")
    return DRIFT_EXIT if drifted and args.fail_on_drift else 0


if __name__ == "__main__":
    sys.exit(main())
