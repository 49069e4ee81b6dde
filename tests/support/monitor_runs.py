"""Prediction logs written for tests in the service's line format, and `make monitor` on one."""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from scripts.pipeline.params import PROJECT_ROOT

START = datetime(2026, 11, 25, 16, 0, tzinfo=UTC)
# Requests rejected in a shifted log, each for the shifted feature's range.
REJECTED = 3


def stamp(moment: datetime) -> str:
    """Return a time as the service writes it: UTC, microseconds, `Z`."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def prediction(request_id, row, features, label, *, model, time=START, probabilities=None):
    return {
        "kind": "prediction",
        "time": stamp(time),
        "request_id": request_id,
        "model": model,
        "endpoint": "/predict",
        "row": row,
        "features": features,
        "prediction": label,
        "probabilities": probabilities or {str(label): 1.0},
    }


def rejection(request_id, failures, *, model, time=START, error="validation_failed"):
    return {
        "kind": "rejection",
        "time": stamp(time),
        "request_id": request_id,
        "model": model,
        "endpoint": "/predict",
        "error": error,
        "failures": failures,
    }


def feedback(request_id, row, label, *, model, time=START):
    return {
        "kind": "feedback",
        "time": stamp(time),
        "request_id": request_id,
        "row": row,
        "label": label,
        "model": model,
    }


def write_log(folder: Path, records: list[dict], name: str = "predictions-host-1.jsonl") -> Path:
    """Append `records` to one log file as strict JSON lines; return the file."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    with open(path, "a") as handle:
        for record in records:
            handle.write(json.dumps(record, allow_nan=False) + "\n")
    return path


@dataclass(frozen=True)
class ShiftedLog:
    """A log made from real rows: which feature was shifted, and the labelled rows' accuracy."""

    folder: Path
    rows: int
    shifted: str
    labelled: int
    accuracy: float


def shifted_iris_log(
    folder: Path,
    version,
    *,
    rows: int = 300,
    shifted: str = "sepal_width_cm",
    shift: float = 0.8,
    labelled: int = 200,
    seed: int = 0,
) -> ShiftedLog:
    """Write a log of `rows` iris records scored by the real model, one feature shifted
    (clipped to its training range, so the suite would have let the rows through), with the
    true species sent as feedback for the first `labelled` rows and REJECTED rejected requests,
    in two workers' files."""
    from service.scoring.core import Scorer

    rng = np.random.default_rng(seed)
    data = pd.read_csv(PROJECT_ROOT / "data" / "iris.csv")
    sample = data.sample(rows, replace=True, random_state=seed).reset_index(drop=True)
    target = version.schema.target
    features = sample[version.schema.names].astype("float64")
    stats = version.reference[shifted]
    features[shifted] = (features[shifted] + shift).clip(stats["min"], stats["max"])
    scorer = Scorer(version)
    scored = scorer.score({name: features[name].to_numpy() for name in features})
    labels = [str(label) for label in scored.labels]
    records, answers = [], []
    for index in range(rows):
        time = START + timedelta(minutes=index // 10, seconds=float(rng.uniform(0, 59)))
        request, row = f"req-{index // 5}", index % 5
        probabilities = dict(zip(scorer.classes, scored.probabilities[index].tolist(), strict=True))
        records.append(
            prediction(
                request,
                row,
                features.iloc[index].to_dict(),
                labels[index],
                model=version.tag,
                time=time,
                probabilities=probabilities,
            )
        )
        if index < labelled:
            truth = sample[target].iloc[index]
            answers.append(
                feedback(request, row, truth, model=version.tag, time=time + timedelta(hours=1))
            )
    failure = {"column": shifted, "expectation": "expect_column_values_to_be_between", "rows": [0]}
    rejected = [
        rejection(
            f"bad-{index}", [failure], model=version.tag, time=START + timedelta(minutes=index)
        )
        for index in range(REJECTED)
    ]
    write_log(
        folder, records[::2] + answers[: labelled // 2] + rejected, "predictions-host-1.jsonl"
    )
    write_log(folder, records[1::2] + answers[labelled // 2 :], "predictions-host-2.jsonl")
    truth = sample[target].iloc[:labelled].astype(str).to_numpy()
    accuracy = float(np.mean(np.asarray(labels[:labelled]) == truth))
    return ShiftedLog(folder, rows, shifted, labelled, accuracy)


def run_monitor(log_dir: Path, *args: str, run_dir: Path | None = None, timeout: float = 600):
    """Return the finished `make monitor` process on `log_dir` (BENTOML_HOME: the tests' store)."""
    flags = [f"-p log_dir={log_dir}", *args, *([f"--run-dir {run_dir}"] if run_dir else [])]
    return subprocess.run(
        ["make", "--no-print-directory", "monitor", f"ARGS={' '.join(flags)}"],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ},
        cwd=PROJECT_ROOT,
    )


def monitor_drift(log_dir: Path, run_dir: Path, *args: str) -> dict:
    """Return drift.json of a `make monitor` run on `log_dir` into `run_dir`, which must pass.

    `args` go to the runner as they are, e.g. `-p model_tag=iris:VERSION` (the default is the
    store's champion, else latest, of params.yaml's model_name)."""
    done = run_monitor(log_dir, *args, run_dir=run_dir)
    assert done.returncode == 0, f"make monitor failed:\n{done.stdout}\n{done.stderr}"
    return json.loads((run_dir / "drift.json").read_text())
