"""The label-free estimate (CBPE) over logged rows: the window's figures and per time bucket,
beside the live ones where labels came back.

The prediction log keeps each row's probabilities, so the estimate here is the one the
service's counters give, from the calibrator stored in the model version
(service/observe/estimate.py explains it and its blind spot, concept drift).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from scripts.monitor.live_metrics import classification_scores
from service.model.version import ModelVersion
from service.observe.estimate import ExpectedCounts, availability, estimate


def probability_matrix(predictions: pd.DataFrame, classes: list[str]) -> np.ndarray:
    """Return the logged probabilities as rows x classes; NaN where a row lacks a class."""
    return np.asarray(
        [
            [np.nan] * len(classes)
            if not isinstance(logged, dict)
            else [logged.get(name, np.nan) for name in classes]
            for logged in predictions["probabilities"]
        ],
        dtype=np.float64,
    ).reshape(len(predictions), len(classes))


def expected_counts(version: ModelVersion, predictions: pd.DataFrame) -> ExpectedCounts:
    """Return the expected confusion sums of the logged rows that carry probabilities."""
    classes = version.calibrator.classes
    probabilities = probability_matrix(predictions, classes)
    complete = ~np.isnan(probabilities).any(axis=1)
    if not complete.any():
        return ExpectedCounts.zeros(len(classes))
    return estimate(version.calibrator, probabilities[complete])


def estimated_summary(version: ModelVersion, predictions: pd.DataFrame) -> dict:
    """Return what drift.json's `estimated` holds: the window's estimate and held-out figures,
    or why there is none."""
    found = availability(version)
    if not found["available"]:
        return found
    counts = expected_counts(version, predictions)
    return {**found, "rows": int(counts.rows), **counts.metrics()}


def estimated_over_time(
    version: ModelVersion, predictions: pd.DataFrame, bucket: str
) -> pd.DataFrame:
    """Return per time bucket: rows, the estimated accuracy, and the live accuracy with its
    labelled rows (NaN where none came back); empty without an estimate."""
    columns = ["rows", "estimated accuracy", "labelled", "live accuracy"]
    if not availability(version)["available"] or predictions.empty:
        return pd.DataFrame(columns=columns)
    rows = []
    for start, group in predictions.groupby(predictions["time"].dt.floor(bucket)):
        labelled = group[group["label"].notna()]
        live = classification_scores(labelled["label"], labelled["prediction"])["accuracy"]
        rows.append(
            {
                "time": start,
                "rows": len(group),
                "estimated accuracy": expected_counts(version, group).metrics()["accuracy"],
                "labelled": len(labelled),
                "live accuracy": np.nan if live is None else live,
            }
        )
    return pd.DataFrame(rows, columns=["time", *columns]).set_index("time").astype("float64")
