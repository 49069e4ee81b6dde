"""Run the notebooks in order with papermill, and export the model when every one succeeded.

python -m scripts.pipeline [--params FILE] [-p NAME=VALUE ...] [--run-dir DIR]

After the export and the promotion gate, 05_export shows what they recorded (export.json,
comparison.json); a run that stops before the gate's verdict has nothing for it, and skips it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from scripts.pipeline.params import (
    DEFAULT_PARAMS,
    PIPELINE_SETTINGS,
    PROJECT_ROOT,
    RUNNER_PARAMS,
    load_params,
    resolve_params,
)
from service.errors import UserError

NOTEBOOKS_DIR = PROJECT_ROOT / "notebooks"
REPORTS_DIR = PROJECT_ROOT / "reports"
# Run on its own by `make monitor` (scripts/monitor/run.py), against a served model's log.
MONITOR_NOTEBOOK = NOTEBOOKS_DIR / "04_monitor.ipynb"
# Run after the export and the promotion gate, on what they recorded.
EXPORT_NOTEBOOK = NOTEBOOKS_DIR / "05_export.ipynb"
KERNEL = "python3"


def notebook_paths() -> list[Path]:
    """Return the notebooks `make pipeline` runs before the export, in order."""
    found = sorted(NOTEBOOKS_DIR.glob("[0-9][0-9]_*.ipynb"))
    return [nb for nb in found if nb not in (MONITOR_NOTEBOOK, EXPORT_NOTEBOOK)]


def declared_parameters(notebooks: list[Path]) -> dict[Path, set[str]]:
    """Return, per notebook, the names its `parameters` cell assigns."""
    import papermill

    return {nb: set(papermill.inspect_notebook(str(nb))) for nb in notebooks}


def monitor_only(known: set[str]) -> frozenset[str]:
    """Return the parameters only the monitoring notebook takes; params.yaml holds them too."""
    declared = declared_parameters([MONITOR_NOTEBOOK])[MONITOR_NOTEBOOK]
    return frozenset(declared - RUNNER_PARAMS - known)


def absolute(path: str) -> str:
    candidate = Path(path).expanduser()
    return str(candidate if candidate.is_absolute() else (PROJECT_ROOT / candidate).resolve())


def new_run_dir(run_dir: str | None, parent: Path = REPORTS_DIR) -> Path:
    """Return a fresh run directory; an existing non-empty one is never overwritten."""
    if run_dir is None:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        path = parent / stamp
    else:
        path = Path(run_dir).expanduser().resolve()
    if path.exists() and any(path.iterdir()):
        raise UserError(f"run directory {path} is not empty; pick a new --run-dir")
    path.mkdir(parents=True, exist_ok=True)
    return path


def preflight(params: dict) -> None:
    """Fail before any notebook starts on input the notebooks would trip over."""
    from scripts.lifecycle.promotion_rules import promotion_settings
    from scripts.pipeline.data import load_table, resolve_task, split_target
    from scripts.pipeline.reference import check_drift_settings
    from scripts.pipeline.training import make_estimator

    table = load_table(params["data_path"], params["target"])
    _, labels = split_target(table, params["target"])
    task, reason = resolve_task(labels, params["task"])
    print(f"task: {task} ({reason})", flush=True)
    if len(labels) < len(table):
        print(
            f"{len(table) - len(labels)} of {len(table)} rows have no {params['target']!r}: "
            "they are left out of training and evaluation",
            flush=True,
        )
    make_estimator(params["estimator"], params["hyperparameters"], params["random_state"], task)
    check_drift_settings(
        params["drift_bins"], params["drift_cdf_points"], params["drift_max_category_bins"]
    )
    promotion_settings(params)


def execute(notebook: Path, output: Path, parameters: dict) -> None:
    """Run one notebook with papermill; raise UserError naming the cell that failed."""
    import papermill
    from papermill.exceptions import PapermillExecutionError

    try:
        papermill.execute_notebook(
            str(notebook),
            str(output),
            parameters=parameters,
            kernel_name=KERNEL,
            cwd=str(notebook.parent),
            progress_bar=sys.stderr.isatty(),
        )
    except PapermillExecutionError as error:
        # The error a notebook raised on purpose (a UserError) says it all; its last
        # line is the message, without the notebook's traceback.
        raise UserError(
            f"{notebook.name} failed in cell {error.exec_count} (cell index {error.cell_index}): "
            f"{error.ename}: {error.evalue}\n"
            f"The executed notebook with the traceback is {output}"
        ) from None


def to_html(executed: Path) -> Path:
    """Return the nbconvert HTML written beside an executed notebook."""
    import nbformat
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter().from_notebook_node(nbformat.read(executed, as_version=4))
    target = executed.with_suffix(".html")
    target.write_text(body)
    return target


def run_notebook(notebook: Path, run_dir: Path, parameters: dict, step: str) -> None:
    """Run one notebook into the run directory, printing its step and time; its HTML report is
    rendered also when it fails."""
    started = time.perf_counter()
    print(f"{step} {notebook.name} ...", flush=True)
    output = run_dir / notebook.name
    try:
        execute(notebook, output, {**parameters, "run_dir": str(run_dir)})
    finally:
        if output.exists():
            to_html(output)
    print(f"      done in {time.perf_counter() - started:.1f} s", flush=True)


def point_latest(run_dir: Path) -> None:
    """Point `latest` beside the run directory at it, replacing the old link atomically."""
    latest = run_dir.parent / "latest"
    temporary = run_dir.parent / f".latest-{os.getpid()}"
    temporary.unlink(missing_ok=True)
    temporary.symlink_to(run_dir.name)
    os.replace(temporary, latest)


def run(
    params_file: Path,
    overrides: list[str],
    run_dir: str | None,
    also_judge: Callable[[str, dict], dict] | None = None,
) -> str:
    """Return the exported model tag after running every notebook and the export step.

    `also_judge` takes the new tag and the promotion gate's comparison and returns it with more
    verdicts in it (`make retrain`'s on production rows), before the report shows it."""
    notebooks = notebook_paths()
    declared = declared_parameters([*notebooks, EXPORT_NOTEBOOK])
    known = (set().union(*declared.values()) - RUNNER_PARAMS) | PIPELINE_SETTINGS
    params = resolve_params(load_params(params_file), overrides, known, monitor_only(known))
    params["data_path"] = absolute(params["data_path"])
    preflight(params)

    from scripts.export.save import export_model
    from scripts.lifecycle.promotion import gate_after_export, summary_lines
    from scripts.pipeline.report import stored_record, write_index
    from scripts.pipeline.rundir import RunDir

    def chosen(notebook: Path) -> dict:
        return {name: params[name] for name in declared[notebook] if name in params}

    run_path = new_run_dir(run_dir)
    run = RunDir(run_path)
    run.params.write_text(json.dumps(params, indent=2))
    print(f"run directory: {run_path}")
    status, tag, gate = "failed", None, None
    steps = len(notebooks) + 1
    try:
        for position, notebook in enumerate(notebooks, start=1):
            run_notebook(notebook, run_path, chosen(notebook), f"[{position}/{steps}]")
        from scripts.pipeline.data_validation import committed_suite_path

        committed = committed_suite_path(PROJECT_ROOT / "expectations", params["model_name"])
        if not committed.is_file():
            print(
                f"note: no reviewed suite at {committed.relative_to(PROJECT_ROOT)}; the data was "
                f"checked against one built from it. Review {run.suite} and commit it there.",
                flush=True,
            )
        print("exporting to the BentoML model store ...", flush=True)
        tag, metadata = export_model(run, params, PROJECT_ROOT, run_path.name)
        status = "exported"
        run.export.write_text(json.dumps(stored_record(tag), indent=2))
        gate = gate_after_export(params, tag, run.holdout, run.comparison)
        if also_judge is not None:
            gate = also_judge(tag, gate)
            run.comparison.write_text(json.dumps(gate, indent=2))
        print("promotion gate: " + "\n".join(summary_lines(gate)), flush=True)
        try:
            run_notebook(EXPORT_NOTEBOOK, run_path, chosen(EXPORT_NOTEBOOK), f"[{steps}/{steps}]")
        except UserError as error:
            # The version is stored and judged; only its report failed, so the run stands.
            print(
                f"WARNING: {tag} is exported, but its export report failed: {error}",
                file=sys.stderr,
            )
    finally:
        if gate is None:
            print(
                f"{EXPORT_NOTEBOOK.name} not run: the run stopped before the promotion gate's "
                "verdict, so there is no export to show",
                flush=True,
            )
        reported = (run_path / EXPORT_NOTEBOOK.name).exists()
        write_index(run, [*notebooks, *([EXPORT_NOTEBOOK] if reported else [])], status, tag, gate)
    point_latest(run_path)
    onnx = metadata.onnx
    if metadata.serving_format != "onnx":
        print(
            "WARNING: the model is not served through ONNX: "
            + (onnx.get("error") or f"parity failed: {onnx.get('parity')}")
            + ". The service falls back to the scikit-learn pipeline (skops).",
            file=sys.stderr,
        )
    suite_parity = metadata.validation_parity
    if not suite_parity["agree"]:
        print(
            f"WARNING: the compiled suite and Great Expectations disagree on "
            f"{len(suite_parity['mismatches'])} verdict(s); see validation_parity in the model's "
            "metadata, and serve with VALIDATION_ENGINE=gx until it is fixed.",
            file=sys.stderr,
        )
    print(f"report: {run_path / 'index.html'}")
    print(f"model: {tag}")
    return tag


def runner_arguments(description: str, default_run_dir: str) -> argparse.ArgumentParser:
    """Return the parser every notebook runner shares: --params, -p NAME=VALUE, --run-dir."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--params", type=Path, default=DEFAULT_PARAMS, help="parameter file (YAML)")
    parser.add_argument(
        "-p",
        dest="overrides",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override one parameter; the value is read as YAML; repeatable",
    )
    parser.add_argument(
        "--run-dir", help=f"where the run's outputs go (default {default_run_dir}/<UTC time>)"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = runner_arguments(__doc__.splitlines()[0], "reports")
    args = parser.parse_args(argv)
    try:
        run(args.params, args.overrides, args.run_dir)
    except UserError as error:
        print(f"pipeline failed: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
