"""Retrain from production: the log's labelled rows added to the training data, the notebooks
run into a challenger, and the gate run on the held-out rows and on recent production rows.

python -m scripts.lifecycle.retrain [--params FILE] [-p NAME=VALUE ...] [--run-dir DIR]
                                   [--data-dir DIR] [--shadow [--port N]]   (make retrain)

`-p log_dir=DIR` names the service's PREDICTION_LOG_DIR and `-p model_tag=TAG` the version whose
rows to take (default: the champion); every other `-p` goes to the pipeline as in `make
pipeline`. params.yaml's `retrain` mapping holds the policy. The most recent labelled rows are
held back from training: neither model has seen them, so the gate judges both on them too.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from scripts.export.data_version import VERSIONS_DIR, dvc_unavailable, track
from scripts.lifecycle.production_rows import TIME, ProductionRows, labelled_rows
from scripts.lifecycle.promotion import compare, promote, summary_lines, with_production
from scripts.lifecycle.promotion_rules import promotion_settings
from scripts.monitor.log_reader import Window, read_log
from scripts.monitor.run import monitored_tag
from scripts.pipeline.data import load_table
from scripts.pipeline.params import (
    PROJECT_ROOT,
    load_params,
    parse_override,
    resolve_params,
    settings_mapping,
)
from scripts.pipeline.run import REPORTS_DIR, absolute, new_run_dir, runner_arguments
from scripts.pipeline.run import run as run_pipeline
from service.errors import UserError
from service.model.version import ModelVersion

RETRAIN_REPORTS = "retrain"
# Read by this command, not by the pipeline's notebooks.
LOG_PARAMS = ("log_dir", "model_tag")
TRAINING_DATA = "training_data.csv"
RECENT_ROWS = "recent_production_rows.csv"
RECORD = "retrain.json"


@dataclass(frozen=True)
class RetrainPolicy:
    """params.yaml's `retrain` mapping: which production rows join the training data."""

    # Only rows logged in the last N days; 0 takes the whole log.
    window_days: float = 0.0
    # The newest share of the labelled rows, held back to judge both models on...
    recent_share: float = 0.2
    # ...and never fewer rows than this.
    min_recent_rows: int = 20
    # false trains on production rows alone: after the relation between inputs and label
    # changed, the old rows teach the old relation.
    include_training_data: bool = True

    @classmethod
    def from_params(cls, params: dict) -> RetrainPolicy:
        """Return the checked policy; raise naming the key, the value and what it takes."""
        policy = settings_mapping(cls, params.get("retrain"), "retrain")
        if policy.window_days < 0 or policy.min_recent_rows < 1:
            raise UserError("retrain.window_days must be >= 0 and retrain.min_recent_rows >= 1")
        return policy


def pipeline_overrides(overrides: list[str]) -> list[str]:
    """Return the overrides that go to the pipeline: all but the log's own."""
    return [text for text in overrides if parse_override(text)[0] not in LOG_PARAMS]


def training_table(params: dict, production: pd.DataFrame, policy: RetrainPolicy) -> pd.DataFrame:
    """Return the new training table: the data file's rows (unless the policy leaves them out)
    and then the production rows, in the data file's columns."""
    target = params["target"]
    production = production.drop(columns=[TIME])
    if not policy.include_training_data:
        return production.reset_index(drop=True)
    base = load_table(params["data_path"], target)
    missing = sorted(set(production.columns) - set(base.columns))
    if missing:
        raise UserError(
            f"the served model takes column(s) {', '.join(missing)} that {params['data_path']} "
            "lacks: it is not the data the model was trained on. Pass -p data_path=PATH, or set "
            "retrain.include_training_data to false"
        )
    return pd.concat([base, production[list(base.columns)]], ignore_index=True)


def production_gate(
    challenger: ModelVersion, champion: ModelVersion, recent: pd.DataFrame, params: dict
) -> dict:
    """Return both versions compared on the recent production rows neither trained on."""
    rules = promotion_settings(params).rules_for(challenger.schema.task)
    times = recent[TIME]
    source = (
        f"the {len(recent)} most recent labelled production rows of {champion.tag}, logged "
        f"{times.iloc[0]:%Y-%m-%d %H:%M} to {times.iloc[-1]:%Y-%m-%d %H:%M} UTC"
    )
    return compare(challenger, champion, recent.drop(columns=[TIME]), rules, source)


def retrain(
    params_file: Path, overrides: list[str], run_dir: str | None, data_dir: str | None = None
) -> dict:
    """Return what retrain.json records, after training and judging the challenger."""
    from service.model.store import load_model_version

    base = load_params(params_file)
    # Every name and type checked as params.yaml has them, before anything is read.
    params = resolve_params(base, overrides, set(base))
    policy = RetrainPolicy.from_params(params)
    settings = promotion_settings(params)
    params["data_path"] = absolute(params["data_path"])

    params["log_dir"] = absolute(params["log_dir"])
    log = read_log(params["log_dir"])
    champion = load_model_version(monitored_tag(params["model_tag"], params["model_name"]))
    window = Window.last_hours(policy.window_days * 24)
    production: ProductionRows = labelled_rows(log, champion, window)
    older, recent = production.split_recent(policy.recent_share, policy.min_recent_rows)
    training = training_table(params, older, policy)

    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    # With DVC, the training set is a data version inside the repository; else a run output.
    without_dvc = dvc_unavailable(PROJECT_ROOT)
    default_dir = REPORTS_DIR / RETRAIN_REPORTS if without_dvc else PROJECT_ROOT / VERSIONS_DIR
    folder = new_run_dir(data_dir or str(default_dir / stamp))
    training.to_csv(folder / TRAINING_DATA, index=False)
    recent.to_csv(folder / RECENT_ROWS, index=False)
    versioned = _version(folder / TRAINING_DATA, without_dvc)
    print(f"data version: {json.dumps(versioned)}", flush=True)
    counts = production.counts.to_dict()
    print(
        f"{champion.tag}: {counts['labelled']} labelled production rows in {window.describe()} "
        f"({len(older)} to train on, {len(recent)} held back); left out: "
        f"{counts['unlabelled']} unlabelled, {counts['rejected_requests']} rejected request(s), "
        f"{counts['outside_window']} older, {counts['other_versions']} of other versions",
        flush=True,
    )
    print(f"training data: {folder / TRAINING_DATA} ({len(training)} rows)", flush=True)

    def judge_on_production(tag: str, held_out: dict) -> dict:
        if held_out.get("champion") is None:
            return held_out  # the model's first version: nothing to compare with
        challenger = load_model_version(tag)
        verdict = production_gate(challenger, champion, recent, params)
        print("on recent production rows: " + "\n".join(summary_lines(verdict)), flush=True)
        combined = with_production(held_out, verdict)
        if combined["passed"] and settings.auto_promote:
            name, _, version = tag.partition(":")
            promote(name, version, champion.tag.partition(":")[2], "promoted (auto_promote)")
            combined["outcome"] = "promoted (auto_promote)"
        return combined

    # The pipeline's own gate must not promote on the held-out rows alone.
    quiet_gate = {**params["promotion"], "auto_promote": False}
    pipeline_dir = Path(run_dir or REPORTS_DIR / stamp).expanduser().resolve()
    tag = run_pipeline(
        params_file,
        [
            *pipeline_overrides(overrides),
            f"data_path={folder / TRAINING_DATA}",
            f"promotion={json.dumps(quiet_gate)}",
        ],
        str(pipeline_dir),
        also_judge=judge_on_production,
    )
    comparison = json.loads((pipeline_dir / "comparison.json").read_text())
    record = {
        "champion": champion.tag,
        "challenger": tag,
        "policy": asdict(policy),
        "rows": {**counts, "trained_on": len(older), "held_back": len(recent)},
        "training_data": str(folder / TRAINING_DATA),
        "data_version": versioned,
        "log_dir": params["log_dir"],
        "run_dir": str(pipeline_dir),
        "passed": comparison.get("passed"),
        "outcome": comparison.get("outcome"),
    }
    (folder / RECORD).write_text(json.dumps(record, indent=2))
    verdict = "passes" if record["passed"] else "fails"
    print(f"retrain: {folder / RECORD}")
    print(f"challenger: {tag} ({verdict} the gate on held-out and recent production rows)")
    return record


def _version(path: Path, without_dvc: str | None) -> dict:
    """Return the training set's data version: put under DVC when the repository holds it."""
    if without_dvc:
        return {"tracked": False, "reason": without_dvc}
    try:
        path.resolve().relative_to(PROJECT_ROOT.resolve())
    except ValueError:
        return {"tracked": False, "reason": f"{path} lies outside the repository"}
    return track(PROJECT_ROOT, path)


def main(argv: list[str] | None = None) -> int:
    parser = runner_arguments(__doc__.splitlines()[0], "reports")
    parser.add_argument(
        "--data-dir",
        help=f"where the new training data and retrain.json go (default reports/"
        f"{RETRAIN_REPORTS}/<UTC time>)",
    )
    parser.add_argument(
        "--shadow",
        action="store_true",
        help="then serve the champion with the challenger as its shadow, logging to log_dir",
    )
    parser.add_argument("--port", type=int, default=3000, help="with --shadow: the port")
    args = parser.parse_args(argv)
    try:
        record = retrain(args.params, args.overrides, args.run_dir, args.data_dir)
    except UserError as error:
        print(f"retrain failed: {error}", file=sys.stderr)
        return 1
    if args.shadow:
        serve_with_shadow(record, args.port)
    return 0


def serve_with_shadow(record: dict, port: int) -> None:
    """Replace this process with `bentoml serve`: the champion answers, the challenger scores
    the same rows beside it, and both go on writing the prediction log the loop reads."""
    env = {
        "MODEL_TAG": record["champion"],
        "CANDIDATE_MODEL_TAG": record["challenger"],
        "CANDIDATE_MODE": "shadow",
        "PREDICTION_LOG_DIR": record["log_dir"],
    }
    shown = " ".join(f"{key}={value}" for key, value in env.items())
    print(f"serving on 127.0.0.1:{port}: {shown}", flush=True)
    bentoml = str(Path(sys.executable).parent / "bentoml")
    command = [bentoml, "serve", "service.service:ModelService", "--host", "127.0.0.1"]
    os.chdir(PROJECT_ROOT)
    os.execve(bentoml, [*command, "--port", str(port)], {**os.environ, **env})


if __name__ == "__main__":
    sys.exit(main())
