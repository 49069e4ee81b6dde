"""Live metrics from labelled log rows, over time; the prediction mix; rejection reasons."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import f1_score

from scripts.monitor.live_metrics import (
    TABLE_LEVEL,
    live_summary,
    metrics_over_time,
    prediction_mix,
    rejection_reasons,
    rejections_over_time,
    time_bucket,
)

HELDOUT = {
    "accuracy": 0.9,
    "precision_macro": 0.91,
    "recall_macro": 0.9,
    "f1_macro": 0.9,
    "roc_auc": 0.99,
    "per_class": {"a": {"support": 10}, "b": {"support": 30}},
    "confusion_matrix": {"labels": ["a", "b"], "matrix": [[8, 2], [0, 30]]},
}


def frame(predictions, labels, minutes) -> pd.DataFrame:
    times = pd.Timestamp("2026-11-25T16:00:00Z") + pd.to_timedelta(minutes, unit="min")
    return pd.DataFrame({"time": times, "prediction": predictions, "label": labels})


def test_overall_metrics_count_only_labelled_rows_and_sit_beside_the_held_out_ones():
    rows = frame(["a", "a", "b", "b", "a"], ["a", "b", "b", None, None], [0, 1, 2, 3, 4])
    live = live_summary(rows, HELDOUT)
    assert live["labelled"] == 3
    assert live["accuracy"] == pytest.approx(2 / 3)
    assert live["f1_macro"] == pytest.approx(
        f1_score(["a", "b", "b"], ["a", "a", "b"], average="macro")
    )
    assert live["heldout"] == {
        "accuracy": 0.9,
        "precision_macro": 0.91,
        "recall_macro": 0.9,
        "f1_macro": 0.9,
    }


def test_integer_classes_compare_with_their_labels():
    live = live_summary(frame([0, 1, 1], [0, 1, 0], [0, 1, 2]), HELDOUT)
    assert live["accuracy"] == pytest.approx(2 / 3)


def test_no_labels_gives_nulls_not_a_crash():
    live = live_summary(frame(["a"], [None], [0]), HELDOUT)
    assert live["labelled"] == 0 and live["accuracy"] is None and live["f1_macro"] is None


def test_metrics_over_time_per_bucket():
    rows = frame(["a", "a", "b", "a"], ["a", "b", "b", "a"], [1, 2, 70, 75])
    over_time = metrics_over_time(rows, "1h")
    assert over_time["labelled"].tolist() == [2, 2]
    assert over_time["accuracy"].tolist() == [0.5, 1.0]
    assert str(over_time.index[1]) == "2026-11-25 17:00:00+00:00"


def test_the_bucket_keeps_a_chart_to_a_few_dozen_bars():
    times = pd.Series(pd.Timestamp("2026-11-25T16:00:00Z") + pd.to_timedelta([0, 600], unit="min"))
    assert time_bucket(times) == "1h"
    assert time_bucket(times.iloc[:1]) == "1min"


def test_prediction_mix_sits_beside_the_held_out_shares():
    mix = prediction_mix(
        frame(["a", "b", "b", "b"], [None] * 4, [0, 1, 2, 3]), ["a", "b", "c"], HELDOUT
    )
    assert mix.loc["a", "live predictions"] == 0.25 and mix.loc["c", "live predictions"] == 0.0
    assert mix.loc["a", "held-out labels"] == 0.25
    assert mix.loc["a", "held-out predictions"] == pytest.approx(8 / 40)
    assert np.isnan(mix.loc["c", "held-out labels"])


def test_rejection_reasons_by_rule_and_column_over_time():
    times = pd.to_datetime(
        ["2026-11-25T16:01:00Z", "2026-11-25T16:02:00Z", "2026-11-25T17:05:00Z"], utc=True
    )
    rejections = pd.DataFrame(
        {
            "time": times,
            "error": ["validation_failed", "validation_failed", "malformed_json"],
            "failures": [
                [
                    {
                        "column": "x",
                        "expectation": "expect_column_values_to_be_between",
                        "rows": [0],
                    },
                    {
                        "column": None,
                        "expectation": "expect_table_columns_to_match_set",
                        "rows": [],
                    },
                ],
                [{"column": "x", "expectation": "expect_column_values_to_be_between", "rows": [3]}],
                None,
            ],
        }
    )
    reasons = rejection_reasons(rejections)
    assert reasons["column"].tolist() == ["x", TABLE_LEVEL, "x", TABLE_LEVEL]
    assert reasons["expectation"].iloc[-1] == "malformed_json"
    counts = rejections_over_time(rejections, "1h")
    assert counts.loc[times[0].floor("1h"), "expect_column_values_to_be_between · x"] == 2
    assert counts.loc[times[2].floor("1h"), "malformed_json · (table)"] == 1
    assert rejections_over_time(rejections.iloc[:0], "1h").empty
