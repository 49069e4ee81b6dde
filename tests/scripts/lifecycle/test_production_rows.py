from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from scripts.lifecycle.production_rows import TIME, labelled_rows
from scripts.monitor.log_reader import LogRecords, Window
from service.errors import UserError
from service.model.schema import Feature, FeatureSchema

SCHEMA = FeatureSchema(
    features=[
        Feature("size", "numeric", "float64", True),
        Feature("colour", "categorical", "str", True, ["blue", "red"]),
    ],
    target="kind",
    classes=["a", "b"],
)
OURS, OTHER = "m:1", "m:0"


@dataclass(frozen=True)
class Version:
    """What labelled_rows reads of a model version: its tag and feature schema."""

    tag: str
    schema: FeatureSchema


def version_of(tag: str, schema: FeatureSchema) -> Version:
    return Version(tag, schema)


START = pd.Timestamp("2026-12-01T00:00:00Z")


def _log(predictions: list[tuple], feedback: list[tuple], rejections: int = 0) -> LogRecords:
    """Return a log of (minutes, request, model, row, size, colour) predictions and (request,
    row, label) feedback, the feedback logged an hour after everything else."""
    frame = pd.DataFrame(
        [
            {
                "time": START + pd.Timedelta(minutes=minutes),
                "request_id": request,
                "model": model,
                "endpoint": "/predict",
                "row": row,
                "prediction": "a",
                "features": {"size": size, "colour": colour},
                "probabilities": None,
            }
            for minutes, request, model, row, size, colour in predictions
        ]
    )
    labels = pd.DataFrame(
        [
            {
                "time": START + pd.Timedelta(hours=1, seconds=i),
                "request_id": r,
                "row": w,
                "label": v,
            }
            for i, (r, w, v) in enumerate(feedback)
        ],
        columns=["time", "request_id", "row", "label"],
    )
    rejected = pd.DataFrame(
        {
            "time": [START] * rejections,
            "request_id": [f"bad{i}" for i in range(rejections)],
            "model": [OURS] * rejections,
            "endpoint": ["/predict"] * rejections,
            "error": ["validation_failed"] * rejections,
            "failures": [[]] * rejections,
        }
    )
    for table in (frame, labels, rejected):  # as the log reader leaves them
        table["time"] = pd.to_datetime(table["time"], utc=True)
    return LogRecords(Path("log"), 1, frame, rejected, labels, 0)


def test_labelled_rows_of_one_version_take_the_last_label_and_count_the_rest():
    log = _log(
        [
            (0, "r1", OURS, 0, 1.5, "red"),
            (0, "r1", OURS, 1, None, None),
            (5, "r2", OURS, 0, 3.0, "blue"),
            (6, "r3", OTHER, 0, 9.0, "red"),
        ],
        [("r1", 0, "a"), ("r1", 1, "b"), ("r1", 0, "b"), ("r3", 0, "a")],
        rejections=2,
    )
    found = labelled_rows(log, version_of(OURS, SCHEMA), Window(None, None, None))
    rows = found.rows
    assert list(rows.columns) == ["size", "colour", "kind", TIME]
    assert rows["kind"].tolist() == ["b", "b"]  # r1 row 0 relabelled: the last label wins
    assert rows["size"].tolist()[0] == 1.5 and np.isnan(rows["size"].tolist()[1])
    assert rows["colour"].tolist() == ["red", None]
    counts = found.counts.to_dict()
    assert counts == {
        "labelled": 2,
        "unlabelled": 1,
        "outside_window": 0,
        "rejected_requests": 2,
        "other_versions": 1,
    }


def test_rows_outside_the_window_are_counted_and_left_out():
    log = _log([(0, "r1", OURS, 0, 1.0, "red"), (50, "r2", OURS, 0, 2.0, "red")],
               [("r1", 0, "a"), ("r2", 0, "b")])  # fmt: skip
    window = Window(1.0, START + pd.Timedelta(minutes=30), START + pd.Timedelta(hours=2))
    found = labelled_rows(log, version_of(OURS, SCHEMA), window)
    assert found.rows["size"].tolist() == [2.0] and found.counts.outside_window == 1


def test_no_labelled_row_says_what_the_log_holds():
    log = _log([(0, "r1", OURS, 0, 1.0, "red")], [])
    with pytest.raises(UserError, match=r"no labelled rows of m:1 .*1 unlabelled.*/feedback"):
        labelled_rows(log, version_of(OURS, SCHEMA), Window(None, None, None))


def test_the_newest_rows_are_held_back_and_too_few_rows_are_refused():
    log = _log(
        [(minute, f"r{minute}", OURS, 0, float(minute), "red") for minute in range(10)],
        [(f"r{minute}", 0, "a") for minute in range(10)],
    )
    found = labelled_rows(log, version_of(OURS, SCHEMA), Window(None, None, None))
    older, recent = found.split_recent(0.2, 1)
    assert older["size"].tolist() == [float(m) for m in range(8)]
    assert recent["size"].tolist() == [8.0, 9.0]
    assert len(found.split_recent(0.1, 3)[1]) == 3  # the minimum wins over the share
    with pytest.raises(UserError, match=r"too few.*min_recent_rows"):
        found.split_recent(0.2, 10)
    with pytest.raises(UserError, match=r"recent_share must be between 0 and 1"):
        found.split_recent(1.5, 1)
