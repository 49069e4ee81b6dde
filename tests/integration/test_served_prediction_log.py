"""Request ids, the prediction log and /feedback on a real `bentoml serve` with two workers."""

from __future__ import annotations

import time

import pandas as pd
import pytest
import requests
from support.prediction_logs import read_log_lines

from scripts.monitor.metrics_text import total
from scripts.pipeline.params import PROJECT_ROOT
from scripts.tools.harness.bento_process import BentoServer

pytestmark = pytest.mark.integration


def test_every_answered_record_is_logged_once_with_its_request_id(iris_run, tmp_path):
    frame = pd.read_csv(PROJECT_ROOT / "data" / "iris.csv")
    truth = frame.pop("species").tolist()
    records = frame.to_dict("records")
    log_dir = tmp_path / "log"
    env = {
        "MODEL_TAG": iris_run.tag,
        "WORKERS": "2",
        "PUBLIC_METRICS": "1",
        "PREDICTION_LOG_DIR": str(log_dir),
        "REJECTION_LOG_SECONDS": "0",
    }
    sent: dict[str, list[int]] = {}  # request id -> the iris rows it carried
    with BentoServer(env, tmp_path / "server.log") as server:
        for number in range(60):
            start = (number * 7) % 148
            rows = list(range(start, start + 1 + number % 3))
            headers = {"X-Request-ID": f"client-{number}"} if number % 2 else {}
            answer = requests.post(
                server.url + "/predict",
                json={"records": [records[i] for i in rows]},
                headers=headers,
                timeout=30,
            )
            assert answer.status_code == 200, answer.text
            request_id = answer.headers["X-Request-ID"]
            if headers:
                assert request_id == headers["X-Request-ID"]
            assert answer.headers["X-Model-Version"] == iris_run.tag
            sent[request_id] = rows
        bad = requests.post(
            server.url + "/predict",
            json={"records": [{**records[0], "petal_width_cm": -50.0}]},
            headers={"X-Request-ID": "two words; not an id"},
            timeout=30,
        )
        assert bad.status_code == 400
        bad_id = bad.headers["X-Request-ID"]
        assert " " not in bad_id and bad_id not in sent

        feedback = [
            {"request_id": request_id, "row": offset, "label": truth[row]}
            for request_id, rows in sent.items()
            for offset, row in enumerate(rows)
        ]
        answer = requests.post(server.url + "/feedback", json=feedback, timeout=30)
        assert answer.status_code == 200, answer.text
        assert answer.json()["accepted"] == len(feedback)
        refused = requests.post(
            server.url + "/feedback",
            json={"request_id": "client-1", "label": "rose"},
            timeout=30,
        )
        assert refused.status_code == 400
        assert refused.json()["error"] == "unknown_label"
        assert "setosa" in refused.json()["message"]

        deadline = time.monotonic() + 10
        while len(read_log_lines(log_dir)) < sum(map(len, sent.values())) + 1 + len(feedback):
            assert time.monotonic() < deadline, "the log did not catch up in 10 s"
            time.sleep(0.2)
        metrics = requests.get(server.url + "/metrics", timeout=30).text
    lines = read_log_lines(log_dir)
    assert len(list(log_dir.glob("predictions-*.jsonl"))) >= 1

    predictions = [line for line in lines if line["kind"] == "prediction"]
    assert sorted((p["request_id"], p["row"]) for p in predictions) == sorted(
        (request_id, offset) for request_id, rows in sent.items() for offset in range(len(rows))
    )
    for line in predictions:
        row = sent[line["request_id"]][line["row"]]
        assert line["features"] == records[row]
        assert line["model"] == iris_run.tag
        assert line["prediction"] in line["probabilities"]
    (rejection,) = [line for line in lines if line["kind"] == "rejection"]
    assert rejection["request_id"] == bad_id
    assert {"column": "petal_width_cm"}.items() <= rejection["failures"][0].items()
    assert f"request {bad_id}" in server.log()
    labels = [line for line in lines if line["kind"] == "feedback"]
    assert len(labels) == len(feedback)

    # Feedback reached one worker; what it held was matched live, the rest counted as unmatched.
    matched = total(metrics, "model_service_feedback_total", match="matched")
    unmatched = total(metrics, "model_service_feedback_total", match="unmatched")
    assert matched + unmatched == len(feedback) + 0  # the refused label is not counted
    assert matched > 0
    assert total(metrics, "model_service_live_labelled_total") == matched
    correct = total(metrics, "model_service_live_correct_total")
    assert 0.8 * matched <= correct <= matched
    assert total(metrics, "model_service_prediction_log_records_total", result="written") == len(
        lines
    )
    assert total(metrics, "model_service_heldout_accuracy") > 0.8
