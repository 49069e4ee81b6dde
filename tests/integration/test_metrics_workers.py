"""With two workers, /metrics adds up both: its counts equal the requests sent."""

from __future__ import annotations

import re
import time

import pandas as pd
import pytest
import requests

from scripts.monitor.metrics_text import total
from scripts.pipeline.params import PROJECT_ROOT
from scripts.tools.harness.bento_process import BentoServer

pytestmark = pytest.mark.integration


def test_counts_in_metrics_equal_the_requests_sent(iris_run, tmp_path):
    frame = pd.read_csv(PROJECT_ROOT / "data" / "iris.csv").drop(columns=["species"])
    records = frame.to_dict("records")
    env = {"MODEL_TAG": iris_run.tag, "WORKERS": "2", "PUBLIC_METRICS": "1"}
    rows_sent = good = bad = 0
    with BentoServer(env, tmp_path / "server.log") as server:
        # A new connection per request, so the kernel hands requests to both workers.
        for number in range(300):
            batch = records[number % 150 : number % 150 + 1 + number % 3]
            answer = requests.post(server.url + "/predict", json={"records": batch}, timeout=30)
            assert answer.status_code == 200
            rows_sent += len(batch)
            good += 1
        for _ in range(20):
            broken = [{**records[0], "sepal_length_cm": 1000.0}]
            answer = requests.post(server.url + "/predict", json={"records": broken}, timeout=30)
            assert answer.status_code == 400
            bad += 1
        time.sleep(2.5)  # each worker hands its counts to Prometheus once a second
        metrics = requests.get(server.url + "/metrics", timeout=30).text
        pids = {int(p) for p in re.findall(r'pid="(\d+)"', metrics)}
    assert len(pids) == 2, "both workers should have answered and reported"
    assert total(metrics, "model_service_predictions_total") == rows_sent
    assert total(metrics, "model_service_request_rows_count") == good
    assert total(metrics, "model_service_request_rows_sum") == rows_sent
    assert total(metrics, "model_service_rejected_requests_total", error="validation_failed") == bad
    assert (
        total(
            metrics,
            "model_service_failed_expectations_total",
            expectation="expect_column_values_to_be_between",
            column="sepal_length_cm",
        )
        == bad
    )
    for feature in frame.columns:
        assert total(metrics, "model_service_drift_rows_total", feature=feature) == rows_sent
    assert total(metrics, "bentoml_service_request_total", endpoint="/predict") == good + bad
    assert total(metrics, "model_service_model_info", model=iris_run.tag) == 1
