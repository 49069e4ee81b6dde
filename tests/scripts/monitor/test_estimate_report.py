"""The label-free estimate over logged rows: overall, per time bucket, and why there is none."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from scripts.monitor.drift_report import drift_document
from scripts.monitor.estimate_report import (
    estimated_over_time,
    estimated_summary,
    probability_matrix,
)
from service.model.calibration import Calibrator
from service.observe.estimate import estimate

CLASSES = ["a", "b", "c"]
LINE = np.asarray([0.0, 1.0])


def version(calibrator=..., regression=False):
    """Return what the report reads of a model version (a tag, schema, metrics, calibrator)."""
    if calibrator is ...:
        calibrator = Calibrator(
            CLASSES, [LINE] * 3, [LINE] * 3, {"estimated_accuracy": 0.9, "accuracy": 0.91}
        )
    return SimpleNamespace(
        tag="m:1",
        schema=SimpleNamespace(is_regression=regression),
        metrics={"accuracy": 0.91},
        calibrator=calibrator,
    )


def logged(probabilities, labels, minutes) -> pd.DataFrame:
    times = pd.Timestamp("2026-11-25T16:00:00Z") + pd.to_timedelta(minutes, unit="min")
    return pd.DataFrame(
        {
            "time": times,
            "prediction": [CLASSES[int(np.argmax(p))] for p in probabilities],
            "probabilities": [dict(zip(CLASSES, p, strict=True)) for p in probabilities],
            "label": labels,
        }
    )


PROBABILITIES = [[0.8, 0.1, 0.1], [0.6, 0.3, 0.1], [0.2, 0.7, 0.1], [0.1, 0.1, 0.8]]


def test_the_window_estimate_is_the_service_estimate_of_the_logged_probabilities():
    rows = logged(PROBABILITIES, ["a", None, "a", None], [0, 1, 2, 3])
    summary = estimated_summary(version(), rows)
    expected = estimate(version().calibrator, np.asarray(PROBABILITIES)).metrics()
    assert summary["available"] and summary["rows"] == 4
    assert summary["accuracy"] == pytest.approx((0.8 + 0.6 + 0.7 + 0.8) / 4)
    assert {k: summary[k] for k in expected} == pytest.approx(expected)
    assert summary["heldout"] == {"accuracy": 0.91, "estimated_accuracy": 0.9}
    assert "concept drift" in summary["caveat"]


def test_rows_without_probabilities_are_left_out():
    rows = logged(PROBABILITIES, [None] * 4, [0, 1, 2, 3])
    rows.at[1, "probabilities"] = None
    rows.at[2, "probabilities"] = {"a": 0.5}  # a class missing: not a row to estimate
    matrix = probability_matrix(rows, CLASSES)
    assert np.isnan(matrix[1]).all() and np.isnan(matrix[2, 1])
    assert estimated_summary(version(), rows)["rows"] == 2


@pytest.mark.parametrize(
    ("subject", "reason"),
    [(version(calibrator=None), "re-export"), (version(regression=True), "prediction drift")],
    ids=["exported before calibration", "regressor"],
)
def test_no_estimate_says_why(subject, reason):
    rows = logged(PROBABILITIES, [None] * 4, [0, 1, 2, 3])
    summary = estimated_summary(subject, rows)
    assert summary["available"] is False and reason in summary["why"]
    assert estimated_over_time(subject, rows, "1min").empty


def test_each_bucket_has_its_estimate_beside_the_live_accuracy_of_its_labels():
    rows = logged(PROBABILITIES, ["a", "b", None, None], [0, 0, 5, 5])
    table = estimated_over_time(version(), rows, "5min")
    assert list(table["rows"]) == [2, 2]
    assert table["estimated accuracy"].tolist() == pytest.approx([0.7, 0.75])
    assert table["live accuracy"].iloc[0] == pytest.approx(0.5)
    assert np.isnan(table["live accuracy"].iloc[1]) and table["labelled"].iloc[1] == 0


def test_drift_json_carries_the_estimate_beside_live():
    rows = logged(PROBABILITIES, [None] * 4, [0, 1, 2, 3])
    model_rows = SimpleNamespace(
        model="m:1",
        window=SimpleNamespace(hours=None, start=None, end=None),
        predictions=rows,
        rejections=pd.DataFrame(),
        unparsed_lines=0,
    )
    summary = estimated_summary(version(), rows)
    document = drift_document(model_rows, [], {"labelled": 0}, pd.DataFrame(), None, summary)
    assert document["estimated"] is summary and "live" in document
