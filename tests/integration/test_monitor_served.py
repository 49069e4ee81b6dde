"""Issue 10 end to end: a served model logs real traffic and feedback; `make monitor` reads it."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest
import requests
from support.monitor_runs import monitor_drift
from support.prediction_logs import read_log_lines

from scripts.pipeline.params import PROJECT_ROOT
from scripts.tools.harness.bento_process import BentoServer
from service.model.store import load_model_version

pytestmark = pytest.mark.integration
SHIFTED = "sepal_width_cm"


def test_drift_json_flags_the_shifted_feature_and_the_accuracy_of_the_labels_sent(
    iris_run, tmp_path
):
    version = load_model_version(iris_run.tag)
    data = pd.read_csv(PROJECT_ROOT / "data" / "iris.csv")
    sample = data.sample(400, replace=True, random_state=1).reset_index(drop=True)
    truth = sample.pop("species")
    stats = version.reference[SHIFTED]
    # The second half is shifted but kept inside the suite's range, so it is served, not refused.
    shifted = sample.copy()
    shifted[SHIFTED] = (shifted[SHIFTED] + 0.8).clip(stats["min"], stats["max"]).round(1)
    log_dir = tmp_path / "log"
    env = {"MODEL_TAG": iris_run.tag, "PREDICTION_LOG_DIR": str(log_dir), "WORKERS": "2"}
    answered: list[tuple[str, int, str]] = []  # request id, row, prediction
    with BentoServer(env, tmp_path / "server.log") as server:
        for frame in (sample.iloc[:100], shifted.iloc[100:]):
            for start in range(frame.index[0], frame.index[-1] + 1, 4):
                batch = frame.loc[start : start + 3]
                answer = requests.post(
                    server.url + "/predict", json={"records": batch.to_dict("records")}, timeout=30
                )
                assert answer.status_code == 200, answer.text
                request_id = answer.headers["X-Request-ID"]
                for row, label in enumerate(answer.json()["predictions"]):
                    answered.append((request_id, row, label))
        # Ground truth for the first 240 records, in batches, as a labelling job would send it.
        labelled = answered[:240]
        for start in range(0, len(labelled), 60):
            answer = requests.post(
                server.url + "/feedback",
                json=[
                    {"request_id": rid, "row": row, "label": truth.iloc[start + i]}
                    for i, (rid, row, _) in enumerate(labelled[start : start + 60])
                ],
                timeout=30,
            )
            assert answer.status_code == 200, answer.text
        deadline = time.monotonic() + 10
        while len(read_log_lines(log_dir)) < len(answered) + len(labelled):
            assert time.monotonic() < deadline, "the prediction log did not catch up"
            time.sleep(0.3)

    drift = monitor_drift(log_dir, tmp_path / "monitor", f"-p model_tag={iris_run.tag}")
    assert drift["model"] == iris_run.tag
    assert drift["rows"] == len(answered)
    assert drift["drifted"] == [SHIFTED]
    predicted = np.array([label for _, _, label in labelled])
    expected = float(np.mean(predicted == truth.iloc[: len(labelled)].to_numpy()))
    assert drift["live"]["labelled"] == len(labelled)
    assert drift["live"]["accuracy"] == pytest.approx(expected)
    assert (tmp_path / "monitor" / "index.html").exists() or list(
        (tmp_path / "monitor").glob("*.html")
    )
