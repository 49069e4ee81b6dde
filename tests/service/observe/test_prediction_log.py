"""The prediction log writer: strict JSON lines, a bounded queue, rotation under a total cap."""

from __future__ import annotations

import math
import threading
from pathlib import Path

import numpy as np
from support.prediction_logs import read_log_lines

from service.observe.metrics import service_metrics
from service.observe.prediction_log import Answer, PredictionLog
from service.settings import PredictionLogSettings
from service.validation.results import Failure, Rejection

FEATURES = ["width", "color"]
CLASSES = ["a", "b"]


def _settings(folder: Path, **overrides) -> PredictionLogSettings:
    values = {
        "folder": folder,
        "sample_rate": 1.0,
        "max_queued_rows": 10_000,
        "file_bytes": 1 << 20,
        "total_bytes": 4 << 20,
    }
    return PredictionLogSettings(**{**values, **overrides})


def _answer(rows: int) -> Answer:
    labels = np.array(["a", "b"] * rows)[:rows]
    probabilities = np.tile([0.75, 0.25], (rows, 1))
    return Answer("m:1", labels, probabilities, CLASSES)


def _columns(rows: int) -> dict:
    width = np.arange(rows, dtype=np.float64)
    width[0] = np.nan
    color = np.array(["red", None, *["blue"] * (rows - 2)], dtype=object)[:rows]
    return {"width": width, "color": color}


def _counted(result: str) -> float:
    return service_metrics().prediction_log_records.labels(result)._value.get()


def test_each_record_becomes_one_strict_json_line(tmp_path):
    log = PredictionLog(_settings(tmp_path), FEATURES)
    log.start()
    log.scored("req-1", "/predict", _columns(3), _answer(3))
    log.close()
    lines = read_log_lines(tmp_path)
    assert [line["row"] for line in lines] == [0, 1, 2]
    first = lines[0]
    assert first["kind"] == "prediction"
    assert first["request_id"] == "req-1"
    assert first["model"] == "m:1"
    assert first["features"] == {"width": None, "color": "red"}
    assert lines[1]["features"] == {"width": 1.0, "color": None}
    assert first["prediction"] == "a"
    assert first["probabilities"] == {"a": 0.75, "b": 0.25}
    assert first["time"].endswith("Z") and "T" in first["time"]


def test_rejections_and_feedback_are_logged_with_the_request_id(tmp_path):
    log = PredictionLog(_settings(tmp_path), FEATURES)
    log.start()
    failure = Failure("expect_column_values_to_be_between", "width", [0, 2], [-1, -2], 2, "bad")
    log.rejected("req-2", "/predict", "m:1", Rejection.validation_failed([failure]))
    log.feedback([{"request_id": "req-1", "model": "m:1", "row": 0, "label": "b"}])
    log.close()
    rejection, feedback = read_log_lines(tmp_path)
    assert rejection["kind"] == "rejection"
    assert rejection["request_id"] == "req-2"
    assert rejection["failures"] == [
        {"column": "width", "expectation": "expect_column_values_to_be_between", "rows": [0, 2]}
    ]
    assert feedback == {**feedback, "kind": "feedback", "request_id": "req-1", "label": "b"}


def test_a_full_queue_drops_records_and_counts_them(tmp_path):
    log = PredictionLog(_settings(tmp_path, max_queued_rows=5), FEATURES)
    before = _counted("dropped")
    log.scored("big", "/predict", _columns(4), _answer(4))  # no writer yet: stays queued
    log.scored("too-many", "/predict", _columns(2), _answer(2))
    assert _counted("dropped") - before == 2
    log.start()
    log.close()
    assert {line["request_id"] for line in read_log_lines(tmp_path)} == {"big"}
    assert log.queued_rows() == 0


def test_sampling_keeps_about_the_share_asked(tmp_path):
    log = PredictionLog(_settings(tmp_path, sample_rate=0.25), FEATURES)
    log.start()
    for index in range(2_000):
        log.scored(f"r{index}", "/predict", _one(), _answer(1))
    log.close()
    share = len(read_log_lines(tmp_path)) / 2_000
    assert 0.2 < share < 0.3


def _one() -> dict:
    return {"width": np.array([1.5]), "color": np.array(["red"], dtype=object)}


def test_files_rotate_by_size_and_the_oldest_go_past_the_total_cap(tmp_path):
    log = PredictionLog(_settings(tmp_path, file_bytes=4_000, total_bytes=12_000), FEATURES)
    log.start()
    for index in range(400):
        log.scored(f"r{index}", "/predict", _one(), _answer(1))
    log.close()
    files = list(tmp_path.glob("predictions-*.jsonl"))
    assert len(files) > 1
    assert sum(path.stat().st_size for path in files) <= 12_000 + 4_000
    kept = [line["request_id"] for line in read_log_lines(tmp_path)]
    assert "r399" in kept and "r0" not in kept  # the newest kept, the oldest deleted


def test_writes_from_many_threads_lose_nothing(tmp_path):
    log = PredictionLog(_settings(tmp_path), FEATURES)
    log.start()

    def client(name: str) -> None:
        for index in range(200):
            log.scored(f"{name}-{index}", "/predict", _one(), _answer(1))

    threads = [threading.Thread(target=client, args=(f"t{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    log.close()
    ids = [line["request_id"] for line in read_log_lines(tmp_path)]
    assert len(ids) == len(set(ids)) == 800


def test_a_folder_that_cannot_be_written_counts_failures_without_raising(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    log = PredictionLog(_settings(tmp_path), FEATURES)
    log.start()
    log.settings = _settings(blocker / "sub")  # the writer opens its file lazily, here
    log._active = blocker / "sub" / "x.jsonl"
    before = _counted("failed")
    log.scored("r", "/predict", _one(), _answer(1))
    log.close()
    assert _counted("failed") - before == 1


def test_probabilities_stay_numbers_and_nan_becomes_null(tmp_path):
    log = PredictionLog(_settings(tmp_path), FEATURES)
    log.start()
    answer = Answer("m:1", np.array([1]), np.array([[math.nan, 1.0]]), CLASSES)
    log.scored("r", "/predict", _one(), answer)
    log.close()
    (line,) = read_log_lines(tmp_path)
    assert line["prediction"] == 1
    assert line["probabilities"] == {"a": None, "b": 1.0}
