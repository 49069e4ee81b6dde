"""Measure how far each tree estimator's ONNX graph answers from its pipeline, and print a table.

    python -m scripts.tools.bench.booster_parity [--rows 20000] [--seed 0] [--fits 5]

For each table (data/iris.csv, data/churn.csv, data/house_prices.csv, and a generated one with
an epoch-seconds column, a column whose neighbouring values float32 cannot tell apart) and each
estimator (LightGBM as the library ships it, the project's float32-split LightGBM, XGBoost, a
random forest), it fits the project's pipeline on 75% of the rows, converts it as the export
does, and compares the two on the other 25% plus the export's edge rows (gaps, unseen
categories): labels flipped, rows whose probability (or relative value) moved by more than the
export's tolerance, the largest move, and the held-out accuracy (or RMSE) each side gives.
Then it times each booster's fit on every table with one thread and with all the cores, the
median of --fits fits: the project's default is one.

Figures are printed, never asserted: this is a measurement, not a test.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from scripts.export.onnx_graph import (
    PROBABILITY_TOLERANCE,
    VALUE_RELATIVE_TOLERANCE,
    convert_to_onnx,
    edge_rows,
    relative_differences,
)
from scripts.pipeline.data import infer_schema, load_table, split_target
from scripts.pipeline.params import PROJECT_ROOT
from scripts.pipeline.training import build_pipeline, holdout_split
from service.model.schema import Task
from service.scoring.features import model_inputs
from service.scoring.predictor import OnnxPredictor, PipelinePredictor

EPOCH = 1.7e9  # seconds: float32 steps by 128 there


def epoch_seconds_table(rows: int = 20_000, seed: int = 0, task: str = "binary") -> pd.DataFrame:
    """Return a table whose label hangs on an epoch-seconds column and an amount: `task` is
    binary (integer labels), multiclass (string labels) or regression (a float target `y`)."""
    rng = np.random.default_rng(seed)
    seconds = EPOCH + rng.integers(0, 2_000_000, rows)
    amount = rng.gamma(2, 50, rows).round(2)
    channel = rng.choice(["web", "shop", "phone"], rows)
    score = np.sin(seconds / 50_000) + amount / 100 + (channel == "web") * 0.3
    score = score + rng.normal(0, 0.3, rows)
    if task == "multiclass":
        target = np.array(["low", "middle", "high"])[
            np.digitize(score, np.quantile(score, [1 / 3, 2 / 3]))
        ]
    elif task == "binary":
        target = (score > np.median(score)).astype(int)
    else:
        target = score
    frame = pd.DataFrame({"signup time": seconds, "amount": amount, "channel": channel})
    frame.loc[rng.choice(rows, rows // 20, replace=False), "amount"] = np.nan
    return frame.assign(y=target)


@dataclass(frozen=True)
class Comparison:
    """One estimator on one table: how its graph and pipeline differ."""

    rows: int
    flipped: int
    over_tolerance: int
    largest: float
    pipeline_score: float
    graph_score: float
    fit_seconds: float


def compare(frame: pd.DataFrame, target: str, task: Task, estimator: str, raw: bool) -> Comparison:
    """Return the comparison of `estimator` fitted on 75% of `frame`; `raw` swaps LightGBM's
    float32-split form for the library's own estimator."""
    features, labels = split_target(frame, target)
    schema = infer_schema(features, labels, task)
    train_x, test_x, train_y, test_y = holdout_split(features, labels, 0.25, 0, task)
    pipeline = build_pipeline(schema, estimator, {}, 0)
    if raw:
        import lightgbm

        kind = lightgbm.LGBMRegressor if task == "regression" else lightgbm.LGBMClassifier
        pipeline.steps[-1] = ("model", kind(**pipeline.named_steps["model"].get_params()))
    started = time.perf_counter()
    pipeline.fit(model_inputs(train_x, schema), train_y)
    fitted = time.perf_counter() - started
    rows = pd.concat([test_x, edge_rows(test_x, schema)], ignore_index=True)
    graph = OnnxPredictor(convert_to_onnx(pipeline, schema), schema)
    graph_labels, graph_probabilities = graph.predict(rows)
    pipe_labels, pipe_probabilities = PipelinePredictor(pipeline, schema).predict(rows)
    held_out = len(test_x)
    truth = test_y.to_numpy()
    if task == "regression":
        moved = relative_differences(graph_labels, pipe_labels)
        tolerance = VALUE_RELATIVE_TOLERANCE
        flipped = 0

        def score(values):
            return float(np.sqrt(np.mean((values[:held_out] - truth) ** 2)))
    else:
        moved = np.max(np.abs(graph_probabilities - pipe_probabilities), axis=1)
        tolerance = PROBABILITY_TOLERANCE
        flipped = int(np.sum(graph_labels.astype(str) != pipe_labels.astype(str)))

        def score(values):
            return float(np.mean(values[:held_out].astype(str) == truth.astype(str)))

    return Comparison(
        rows=len(rows),
        flipped=flipped,
        over_tolerance=int(np.sum(moved > tolerance)),
        largest=float(np.max(moved, initial=0.0)),
        pipeline_score=score(pipe_labels),
        graph_score=score(graph_labels),
        fit_seconds=fitted,
    )


def tables(rows: int, seed: int) -> list[tuple[str, pd.DataFrame, str, Task]]:
    """Return (name, frame, target, task) for every table measured."""
    found: list[tuple[str, pd.DataFrame, str, Task]] = [
        (name, load_table(PROJECT_ROOT / f"data/{name}.csv", target), target, task)
        for name, target, task in (
            ("iris", "species", "classification"),
            ("churn", "churned", "classification"),
            ("house_prices", "price", "regression"),
        )
    ]
    for task in ("binary", "multiclass", "regression"):
        kind: Task = "regression" if task == "regression" else "classification"
        found.append((f"epoch seconds, {task}", epoch_seconds_table(rows, seed, task), "y", kind))
    return found


FORMS = (
    ("lightgbm (the library's own)", "lightgbm", True),
    ("lightgbm (float32 splits)", "lightgbm", False),
    ("xgboost", "xgboost", False),
    ("random_forest", "random_forest", False),
)


def fit_seconds(frame: pd.DataFrame, target: str, task: Task, estimator: str, jobs: int, fits: int):
    """Return the median seconds of `fits` fits of `estimator` on all of `frame`."""
    features, labels = split_target(frame, target)
    schema = infer_schema(features, labels, task)
    inputs = model_inputs(features, schema)
    timings = []
    for _ in range(fits):
        pipeline = build_pipeline(schema, estimator, {"n_jobs": jobs}, 0)
        started = time.perf_counter()
        pipeline.fit(inputs, labels)
        timings.append(time.perf_counter() - started)
    return statistics.median(timings)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000, help="rows of each generated table")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fits", type=int, default=5, help="fits per thread count, median shown")
    args = parser.parse_args(argv)
    print(
        "| table | estimator | rows compared | labels flipped | rows over tolerance | largest move "
        "| held-out accuracy or RMSE, pipeline / graph | fit s |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for name, frame, target, task in tables(args.rows, args.seed):
        for label, estimator, raw in FORMS:
            found = compare(frame, target, task, estimator, raw)
            print(
                f"| {name} | {label} | {found.rows} | {found.flipped} | {found.over_tolerance} "
                f"| {found.largest:.2g} | {found.pipeline_score:.4f} / {found.graph_score:.4f} "
                f"| {found.fit_seconds:.2f} |",
                flush=True,
            )
    cores = os.cpu_count() or 1
    print(f"\n| table | estimator | fit s, n_jobs 1 | fit s, n_jobs {cores} |\n|---|---|---|---|")
    for name, frame, target, task in tables(args.rows, args.seed):
        for estimator in ("lightgbm", "xgboost"):
            one, every = (
                fit_seconds(frame, target, task, estimator, jobs, args.fits) for jobs in (1, cores)
            )
            print(f"| {name} | {estimator} | {one:.3f} | {every:.3f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
