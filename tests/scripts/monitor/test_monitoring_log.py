"""Reading the prediction log: every file, cut lines counted, one model's rows, feedback joined."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest
from support.monitor_runs import START, feedback, prediction, rejection, write_log

from scripts.monitor.log_reader import Window, feature_frame, model_rows, read_log
from service.errors import UserError
from service.model.schema import Feature, FeatureSchema

MODEL, OTHER = "iris:aaa", "iris:bbb"
SCHEMA = FeatureSchema(
    features=[
        Feature("x", "numeric", "float64", True),
        Feature("colour", "categorical", "str", True, ["red", "blue"]),
    ],
    target="y",
    classes=["a", "b"],
)


def at(minutes: float):
    return START + timedelta(minutes=minutes)


def test_every_file_is_read_and_records_are_ordered_by_time(tmp_path):
    write_log(
        tmp_path,
        [prediction("r2", 0, {"x": 2.0}, "b", model=MODEL, time=at(2))],
        "predictions-w1.jsonl",
    )
    write_log(
        tmp_path,
        [prediction("r1", 0, {"x": 1.0}, "a", model=MODEL, time=at(1))],
        "predictions-w2-20261125T160000Z.jsonl",
    )
    write_log(tmp_path, [prediction("r9", 0, {"x": 9.0}, "a", model=MODEL)], "other.jsonl")
    log = read_log(tmp_path)
    assert log.files == 2
    assert log.predictions["request_id"].tolist() == ["r1", "r2"]


def test_a_cut_line_and_a_nan_literal_are_counted_not_fatal(tmp_path):
    path = write_log(tmp_path, [prediction("r1", 0, {"x": 1.0}, "a", model=MODEL)])
    with open(path, "a") as handle:
        handle.write(
            '{"kind": "prediction", "time": "2026-11-25T16:00:00Z", "request_id": "r2", "model": "iris:aaa", "row": 0, "features": {"x": NaN}, "prediction": "a"}\n'
        )
        handle.write('{"kind": "prediction", "time": "2026-11-25T16:00:01.0000')  # a crash cut it
    log = read_log(tmp_path)
    assert log.unparsed_lines == 2
    assert log.predictions["request_id"].tolist() == ["r1"]


def test_records_without_their_keys_or_a_known_kind_are_counted(tmp_path):
    records = [
        {"kind": "prediction", "time": "2026-11-25T16:00:00Z", "request_id": "r", "model": MODEL},
        {"kind": "heartbeat", "time": "2026-11-25T16:00:00Z"},
        [1, 2],
        {**feedback("r", 0, "a", model=MODEL), "time": "yesterday"},
        {**feedback("r", 0, "a", model=MODEL), "row": "0"},
    ]
    write_log(tmp_path, records)
    assert read_log(tmp_path).unparsed_lines == 5


def test_only_the_models_rows_in_the_window_are_kept(tmp_path):
    write_log(
        tmp_path,
        [
            prediction("old", 0, {"x": 1.0}, "a", model=MODEL, time=at(-120)),
            prediction("new", 0, {"x": 1.0}, "a", model=MODEL, time=at(0)),
            prediction("other", 0, {"x": 1.0}, "a", model=OTHER, time=at(0)),
            rejection("bad", [], model=MODEL, time=at(0)),
            rejection("bad-old", [], model=MODEL, time=at(-120)),
            rejection("bad-other", [], model=OTHER, time=at(0)),
        ],
    )
    rows = model_rows(read_log(tmp_path), MODEL, Window.last_hours(1, now=at(1)))
    assert rows.predictions["request_id"].tolist() == ["new"]
    assert rows.rejections["request_id"].tolist() == ["bad"]
    everything = model_rows(read_log(tmp_path), MODEL, Window.last_hours(0))
    assert everything.predictions["request_id"].tolist() == ["old", "new"]


def test_feedback_joins_by_request_and_row_and_the_last_label_wins(tmp_path):
    write_log(
        tmp_path,
        [
            prediction("r1", 0, {"x": 1.0}, "a", model=MODEL),
            prediction("r1", 1, {"x": 2.0}, "b", model=MODEL),
            prediction("r2", 0, {"x": 3.0}, 1, model=MODEL),
            feedback("r1", 1, "a", model=MODEL, time=at(5)),
            feedback("r1", 1, "b", model=MODEL, time=at(6)),
            feedback("r2", 0, 1, model=MODEL, time=at(5)),
            feedback("r1", 7, "a", model=MODEL, time=at(5)),  # no such row: never joins
        ],
    )
    rows = model_rows(read_log(tmp_path), MODEL, Window.last_hours(0))
    assert rows.predictions["label"].tolist() == [None, "b", 1]
    assert len(rows.labelled) == 2


def test_a_later_line_in_an_earlier_file_still_wins(tmp_path):
    write_log(tmp_path, [feedback("r1", 0, "b", model=MODEL, time=at(9))], "predictions-w1.jsonl")
    write_log(
        tmp_path,
        [
            prediction("r1", 0, {"x": 1.0}, "a", model=MODEL),
            feedback("r1", 0, "a", model=MODEL, time=at(3)),
        ],
        "predictions-w2.jsonl",
    )
    rows = model_rows(read_log(tmp_path), MODEL, Window.last_hours(0))
    assert rows.predictions["label"].tolist() == ["b"]


def test_features_become_typed_columns_in_schema_order(tmp_path):
    write_log(
        tmp_path,
        [
            prediction("r1", 0, {"colour": "red", "x": 1}, "a", model=MODEL),
            prediction("r1", 1, {"colour": None, "x": None}, "a", model=MODEL),
        ],
    )
    frame = feature_frame(read_log(tmp_path).predictions, SCHEMA)
    assert list(frame.columns) == ["x", "colour"]
    assert frame["x"].dtype == np.float64 and np.isnan(frame["x"].iloc[1])
    assert frame["colour"].tolist() == ["red", None]


def test_a_missing_folder_and_an_empty_one_name_the_parameter(tmp_path):
    with pytest.raises(UserError, match="does not exist; pass -p log_dir=DIR"):
        read_log(tmp_path / "nowhere")
    with pytest.raises(UserError, match=r"holds no predictions-\*\.jsonl files"):
        read_log(tmp_path)


def test_a_log_without_predictions_says_what_it_holds(tmp_path):
    write_log(tmp_path, [rejection("r", [], model=MODEL)])
    with pytest.raises(UserError, match="no prediction records .*1 rejection"):
        model_rows(read_log(tmp_path), MODEL, Window.last_hours(0))


def test_rows_of_another_model_only_name_that_model(tmp_path):
    write_log(tmp_path, [prediction("r", i, {"x": 1.0}, "a", model=OTHER) for i in range(3)])
    with pytest.raises(
        UserError, match=r"no predictions by iris:aaa; .* iris:bbb \(3\)\. Pass -p model_tag"
    ):
        model_rows(read_log(tmp_path), MODEL, Window.last_hours(0))


def test_rows_outside_the_window_say_when_the_rows_are(tmp_path):
    write_log(tmp_path, [prediction("r", 0, {"x": 1.0}, "a", model=MODEL, time=at(-600))])
    with pytest.raises(UserError, match="no predictions in the last 2 hours .* window_hours"):
        model_rows(read_log(tmp_path), MODEL, Window.last_hours(2, now=at(0)))


def test_window_of_zero_hours_reads_everything():
    window = Window.last_hours(0)
    times = pd.Series(pd.to_datetime(["2020-01-01", "2030-01-01"], utc=True))
    assert window.contains(times).all() and window.describe() == "the whole log"
