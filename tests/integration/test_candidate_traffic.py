"""A second model version served beside the main one: shadow and split, over real HTTP."""

from __future__ import annotations

import time

import pandas as pd
import pytest
import requests
from support.pipeline_runs import printed_tag, run_pipeline
from support.prediction_logs import read_log_lines

from scripts.monitor.metrics_text import total
from scripts.pipeline.params import PROJECT_ROOT
from scripts.tools.harness.bento_process import BentoServer, run_to_exit
from service.traffic.candidate import client_share

pytestmark = pytest.mark.integration
SHARE = 0.3


@pytest.fixture(scope="module")
def candidate_tag(iris_run, tmp_path_factory) -> str:
    """A second iris version (another estimator) in the same store as `iris_run`."""
    done = run_pipeline(
        "-p", "estimator=logistic_regression", run_dir=tmp_path_factory.mktemp("runs") / "lr"
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return printed_tag(done)


@pytest.fixture(scope="module")
def records() -> list[dict]:
    return (
        pd.read_csv(PROJECT_ROOT / "data" / "iris.csv").drop(columns=["species"]).to_dict("records")
    )


def test_a_shadow_candidate_is_scored_and_never_answers(iris_run, candidate_tag, records, tmp_path):
    log_dir = tmp_path / "log"
    env = {
        "MODEL_TAG": iris_run.tag,
        "CANDIDATE_MODEL_TAG": candidate_tag,
        "CANDIDATE_MODE": "shadow",
        "PREDICTION_LOG_DIR": str(log_dir),
        "PUBLIC_METRICS": "1",
    }
    requests_sent = 60
    with BentoServer(env, tmp_path / "server.log") as server:
        for number in range(requests_sent):
            batch = records[number * 2 : number * 2 + 2]
            answer = requests.post(server.url + "/predict", json={"records": batch}, timeout=30)
            assert answer.status_code == 200, answer.text
            assert answer.json()["model"] == iris_run.tag
            assert answer.headers["X-Model-Version"] == iris_run.tag
        metadata = requests.post(server.url + "/metadata", timeout=30).json()
        deadline = time.monotonic() + 10
        while True:
            metrics = requests.get(server.url + "/metrics", timeout=30).text
            scored = total(metrics, "model_service_shadow_requests_total", result="scored")
            # Class counts reach /metrics within a second (monitoring.py, FLUSH_SECONDS).
            flushed = total(metrics, "model_service_predictions_total", model=iris_run.tag)
            done = scored == requests_sent and flushed == 2 * requests_sent
            if done or time.monotonic() > deadline:
                break
            time.sleep(0.3)
    assert metadata["candidate"]["model"] == candidate_tag
    assert metadata["candidate"]["mode"] == "shadow"
    assert scored == requests_sent
    agree = total(metrics, "model_service_shadow_agreement_total", agree="true")
    disagree = total(metrics, "model_service_shadow_agreement_total", agree="false")
    assert agree + disagree == 2 * requests_sent
    assert agree >= 0.8 * 2 * requests_sent  # two good iris models mostly agree
    assert total(metrics, "model_service_shadow_probability_difference_count") == agree + disagree
    # Timed on a sample: the first request of each drain, scored alone.
    assert 1 <= total(metrics, "model_service_shadow_seconds_count") <= requests_sent
    # Only the main model answered, so only its rows reached its class counters.
    assert (
        total(metrics, "model_service_predictions_total", model=iris_run.tag) == 2 * requests_sent
    )
    assert total(metrics, "model_service_predictions_total", model=candidate_tag) == 0
    # A shadow never serves: no model_info of its own (ModelVersionChanged would fire).
    assert total(metrics, "model_service_model_info", model=candidate_tag) == 0
    lines = [line for line in read_log_lines(log_dir) if line["kind"] == "prediction"]
    assert len(lines) == 2 * requests_sent
    assert all(line["model"] == iris_run.tag for line in lines)
    assert all(line["candidate"]["model"] == candidate_tag for line in lines)


def test_split_traffic_answers_a_share_sticky_per_client(
    iris_run, candidate_tag, records, tmp_path
):
    env = {
        "MODEL_TAG": iris_run.tag,
        "CANDIDATE_MODEL_TAG": candidate_tag,
        "CANDIDATE_MODE": "split",
        "CANDIDATE_SHARE": str(SHARE),
        "PUBLIC_METRICS": "1",
    }
    anonymous = 300
    clients = [f"shop-{n}" for n in range(30)]
    by_client: dict[str, set[str]] = {client: set() for client in clients}
    answered_by = []
    with BentoServer(env, tmp_path / "server.log") as server:
        for number in range(anonymous):
            answer = requests.post(
                server.url + "/predict", json={"records": [records[number % 150]]}, timeout=30
            )
            assert answer.status_code == 200, answer.text
            assert answer.json()["model"] == answer.headers["X-Model-Version"]
            answered_by.append(answer.json()["model"])
        for _ in range(4):
            for client in clients:
                answer = requests.post(
                    server.url + "/predict",
                    json={"records": [records[7]]},
                    headers={"X-Client-ID": client},
                    timeout=30,
                )
                assert answer.status_code == 200, answer.text
                by_client[client].add(answer.headers["X-Model-Version"])
        time.sleep(1.5)  # class counts reach /metrics within a second (FLUSH_SECONDS)
        metrics = requests.get(server.url + "/metrics", timeout=30).text
    share = answered_by.count(candidate_tag) / anonymous
    assert set(answered_by) == {iris_run.tag, candidate_tag}
    assert abs(share - SHARE) < 0.1, share  # 300 draws: 0.1 is about four standard deviations
    for client, versions in by_client.items():
        expected = candidate_tag if client_share(client) < SHARE else iris_run.tag
        assert versions == {expected}, client
    # Every series is labelled by the version that answered, so the two can be compared.
    candidate_rows = answered_by.count(candidate_tag) + 4 * sum(
        client_share(c) < SHARE for c in clients
    )
    assert total(metrics, "model_service_predictions_total", model=candidate_tag) == candidate_rows
    assert total(metrics, "model_service_request_rows_count", model=candidate_tag) == candidate_rows


def test_a_candidate_with_another_schema_is_refused_at_start_up(iris_run, mixed_run):
    done = run_to_exit({"MODEL_TAG": iris_run.tag, "CANDIDATE_MODEL_TAG": mixed_run.tag})
    assert done.returncode != 0
    message = done.stdout + done.stderr
    assert f"candidate {mixed_run.tag} cannot run beside {iris_run.tag}" in message
    assert "the candidate lacks sepal_length_cm, sepal_width_cm" in message
    assert "Traceback" not in message
