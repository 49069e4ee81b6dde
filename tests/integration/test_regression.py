"""Regression end to end with real parts: the papermill pipeline on a generated price table, the
BentoML store, `bentoml serve` answering floats on every endpoint, live error from /feedback,
the monitoring run, batch scoring through the local and Spark engines, and the lifecycle."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import requests
from support.batch_runs import run_batch
from support.lifecycle import lifecycle
from support.pipeline_runs import Trained, json_records, run_pipeline
from support.prediction_logs import read_log_lines

from scripts.batch.cli import main as batch_main
from scripts.monitor.metrics_text import total
from scripts.pipeline.params import PROJECT_ROOT
from scripts.tools.demo_data import house_prices
from scripts.tools.harness.bento_process import BentoServer
from service.scoring.core import Scorer

pytestmark = pytest.mark.integration

# A name of its own, so no other test's versions become its champion or challengers.
NAME = "houses_regression"
TARGET = "price"
ROWS, SEED, UNLABELLED = 700, 11, 10
TYPE_RULE = "expect_column_values_to_be_in_type_list"
# Rows sent with their true price through /feedback.
LABELLED = 40


@pytest.fixture(scope="module")
def houses_csv(tmp_path_factory) -> Path:
    """The demo price table with the price blanked in UNLABELLED rows."""
    frame = house_prices(ROWS, SEED)
    blank = np.random.default_rng(SEED).choice(ROWS, UNLABELLED, replace=False)
    frame.loc[blank, TARGET] = np.nan
    path = tmp_path_factory.mktemp("houses") / "houses.csv"
    frame.to_csv(path, index=False)
    return path


def _train(houses_csv: Path, run_dir: Path, *args: str) -> subprocess.CompletedProcess:
    return run_pipeline(
        "-p", f"model_name={NAME}", "-p", f"data_path={houses_csv}", "-p", f"target={TARGET}",
        *args, run_dir=run_dir,
    )  # fmt: skip


@pytest.fixture(scope="module")
def first_run(houses_csv, tmp_path_factory) -> Trained:
    """The default estimator (a random forest) on the price table: the model's champion."""
    run_dir = tmp_path_factory.mktemp("runs") / "forest"
    return Trained(_train(houses_csv, run_dir), run_dir)


class Served:
    """The champion served with a prediction log; counts every row it answered."""

    def __init__(self, server: BentoServer, trained: Trained, log_dir: Path):
        self.server = server
        self.url = server.url
        self.trained = trained
        self.version = trained.version
        self.log_dir = log_dir
        self.rows_answered = 0

    def features(self, frame: pd.DataFrame) -> pd.DataFrame:
        return frame[self.version.schema.names]

    def predict(self, frame: pd.DataFrame) -> requests.Response:
        answer = requests.post(
            f"{self.url}/predict", json={"records": json_records(self.features(frame))}, timeout=30
        )
        if answer.status_code == 200:
            self.rows_answered += len(frame)
        return answer

    def metrics(self) -> str:
        return requests.get(f"{self.url}/metrics", timeout=10).text


@pytest.fixture(scope="module")
def served(first_run, tmp_path_factory):
    folder = tmp_path_factory.mktemp("served")
    env = {"MODEL_TAG": f"{NAME}:champion", "PREDICTION_LOG_DIR": str(folder / "log")}
    with BentoServer(env, folder / "serve.log") as server:
        yield Served(server, first_run, folder / "log")


@pytest.fixture(scope="module")
def labelled(served) -> tuple[np.ndarray, np.ndarray]:
    """Return the true and predicted prices of LABELLED held-out rows, predicted in four requests
    and labelled through /feedback by request id and row."""
    rows = served.trained.holdout().head(LABELLED)
    answered: list[tuple[str, int, float]] = []
    for start in range(0, LABELLED, LABELLED // 4):
        answer = served.predict(rows.iloc[start : start + LABELLED // 4])
        assert answer.status_code == 200, answer.text
        request_id = answer.headers["X-Request-ID"]
        answered += [
            (request_id, row, value) for row, value in enumerate(answer.json()["predictions"])
        ]
    truth = rows[TARGET].to_numpy(dtype=np.float64)
    feedback = [
        {"request_id": request_id, "row": row, "label": float(label)}
        for (request_id, row, _), label in zip(answered, truth, strict=True)
    ]
    answer = requests.post(f"{served.url}/feedback", json=feedback, timeout=30)
    assert answer.status_code == 200, answer.text
    assert answer.json()["accepted"] == LABELLED
    return truth, np.array([value for _, _, value in answered])


# 1. The pipeline


def test_the_pipeline_trains_a_regressor_and_leaves_out_rows_without_a_price(first_run):
    out = first_run.done.stdout
    assert "task: regression" in out
    assert f"{UNLABELLED} of {ROWS} rows have no 'price'" in out
    metrics = json.loads((first_run.run_dir / "metrics.json").read_text())
    for name in ("mae", "rmse", "r2", "median_absolute_error"):
        assert isinstance(metrics[name], float), name
    assert metrics["r2"] > 0.5 and metrics["mae"] <= metrics["rmse"]
    deciles = metrics["error_by_decile"]
    assert len(deciles) == 10 and sum(d["rows"] for d in deciles) == metrics["n_holdout"]
    assert metrics["n_holdout"] == round((ROWS - UNLABELLED) * 0.2)


def test_the_exported_regressor_serves_onnx_within_the_relative_tolerance(first_run):
    version = first_run.version
    assert version.schema.task == "regression" and version.schema.classes == []
    assert version.metadata.serving_format == "onnx"
    parity = version.metadata.onnx["parity"]
    assert parity["passed"] and parity["max_relative_difference"] <= 1e-5
    assert version.metrics["prediction_reference"]["kind"] == "numeric"
    assert set(version.metadata.metrics) == {"rmse", "mae", "r2", "median_absolute_error"}
    # No label-free estimate for a regressor: no calibrator is stored.
    assert version.calibrator is None and "calibration.json" not in version.metadata.files


def test_a_price_is_no_class_and_logistic_regression_no_regressor(houses_csv, tmp_path):
    as_classes = _train(houses_csv, tmp_path / "classes", "-p", "task=classification")
    assert as_classes.returncode != 0
    (line,) = as_classes.stderr.strip().splitlines()
    assert "'price'" in line and "-p task=regression" in line and "Traceback" not in line

    logistic = _train(houses_csv, tmp_path / "logistic", "-p", "estimator=logistic_regression")
    assert logistic.returncode != 0
    (line,) = logistic.stderr.strip().splitlines()
    assert "'logistic_regression' does not do regression" in line and "ridge" in line
    assert not (tmp_path / "classes").exists() and not (tmp_path / "logistic").exists()


# 2. The service


def test_predict_answers_floats_equal_to_the_scoring_core(served):
    rows = served.trained.holdout().iloc[LABELLED : LABELLED + 20]
    answer = served.predict(rows)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert "probabilities" not in body and body["model"] == served.version.tag
    predictions = body["predictions"]
    assert len(predictions) == len(rows) and all(type(p) is float for p in predictions)
    expected = Scorer(served.version).score_rows(served.features(rows)).labels
    assert predictions == pytest.approx(expected.tolist(), rel=1e-9)


def test_text_in_a_number_column_is_refused_naming_the_column_and_the_rule(served):
    record = json_records(served.features(served.trained.holdout().head(1)))[0]
    answer = requests.post(
        f"{served.url}/predict", json={"records": [{**record, "rooms": "many"}]}, timeout=30
    )
    assert answer.status_code == 400, answer.text
    body = answer.json()
    assert body["error"] == "validation_failed"
    assert {(f["column"], f["expectation"]) for f in body["failures"]} == {("rooms", TYPE_RULE)}


def test_predict_csv_answers_a_float_prediction_column_and_no_probabilities(served):
    rows = served.features(served.trained.holdout().head(12))
    buffer = io.StringIO()
    rows.to_csv(buffer, index=False)
    answer = requests.post(
        f"{served.url}/predict_csv",
        files={"file": ("houses.csv", buffer.getvalue(), "text/csv")},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    served.rows_answered += len(rows)
    scored = pd.read_csv(io.StringIO(answer.text))
    assert scored["prediction"].dtype == np.float64
    assert not [c for c in scored.columns if c.startswith("probability")]
    assert list(scored.columns[: len(rows.columns)]) == list(rows.columns)
    expected = Scorer(served.version).score_rows(rows).labels
    np.testing.assert_allclose(scored["prediction"], expected, rtol=1e-6)


def test_open_inference_answers_one_fp64_prediction_tensor(served):
    rows = served.features(served.trained.holdout().head(6))
    inputs = [
        {
            "name": f.name,
            "datatype": "FP64" if f.kind == "numeric" else "BYTES",
            "shape": [len(rows)],
            "data": [None if pd.isna(v) else v for v in rows[f.name].tolist()],
        }
        for f in served.version.schema.features
    ]
    answer = requests.post(
        f"{served.url}/v2/models/{NAME}/infer", json={"inputs": inputs}, timeout=30
    )
    assert answer.status_code == 200, answer.text
    served.rows_answered += len(rows)
    (output,) = answer.json()["outputs"]
    assert (output["name"], output["datatype"], output["shape"]) == ("prediction", "FP64", [6])
    expected = Scorer(served.version).score_rows(rows).labels
    assert output["data"] == pytest.approx(expected.tolist(), rel=1e-9)


def test_openapi_documents_the_predictions_as_numbers(served):
    spec = requests.get(f"{served.url}/docs.json", timeout=10).json()
    response = spec["components"]["schemas"]["PredictResponse"]
    predictions = response["properties"]["predictions"]
    assert predictions["type"] == "array" and predictions["items"] == {"type": "number"}
    assert "probabilities" not in response["properties"]


# 3. Live error from feedback


def test_feedback_adds_up_the_live_errors_and_the_held_out_rmse_is_published(served, labelled):
    truth, predicted = labelled
    errors = truth - predicted
    model = served.version.tag
    deadline = time.monotonic() + 10
    while True:
        metrics = served.metrics()
        counted = total(metrics, "model_service_live_error_rows_total", model=model)
        binned = total(metrics, "model_service_prediction_bin_rows_total", model=model)
        if counted == LABELLED and binned == served.rows_answered:
            break
        assert time.monotonic() < deadline, (
            f"live error rows {counted} (want {LABELLED}), binned answers {binned} "
            f"(want {served.rows_answered}) after 10 s"
        )
        time.sleep(0.3)
    assert total(metrics, "model_service_live_absolute_error_total", model=model) == pytest.approx(
        float(np.abs(errors).sum()), rel=1e-6
    )
    assert total(metrics, "model_service_live_squared_error_total", model=model) == pytest.approx(
        float((errors**2).sum()), rel=1e-6
    )
    for heldout in ("rmse", "mae"):
        assert total(metrics, f"model_service_heldout_{heldout}", model=model) == pytest.approx(
            served.version.metadata.metrics[heldout], rel=1e-9
        )
    assert total(metrics, "model_service_feedback_total", match="matched") == LABELLED


def test_a_label_that_is_no_number_is_refused(served, labelled):
    answer = requests.post(
        f"{served.url}/feedback", json={"request_id": "any", "row": 0, "label": "abc"}, timeout=30
    )
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"] == "invalid_label"


# 4. The monitoring run on the served log


def test_monitor_reports_the_live_error_of_the_labels_sent_and_prediction_drift(
    served, labelled, tmp_path
):
    truth, predicted = labelled
    deadline = time.monotonic() + 10
    while sum(line["kind"] == "feedback" for line in read_log_lines(served.log_dir)) < LABELLED:
        assert time.monotonic() < deadline, "the prediction log did not catch up in 10 s"
        time.sleep(0.3)
    run_dir = tmp_path / "monitor"
    done = subprocess.run(
        [sys.executable, "-m", "scripts.monitor", "-p", f"log_dir={served.log_dir}",
         "-p", f"model_name={NAME}", "--run-dir", str(run_dir)],
        capture_output=True, text=True, timeout=300, env={**os.environ}, cwd=PROJECT_ROOT,
    )  # fmt: skip
    assert done.returncode == 0, f"monitor failed:\n{done.stdout}\n{done.stderr}"
    drift = json.loads((run_dir / "drift.json").read_text())
    assert drift["model"] == served.version.tag
    assert drift["rows"] == served.rows_answered  # every endpoint's rows, /predict_csv and V2
    assert drift["live"]["labelled"] == LABELLED
    errors = truth - predicted
    assert drift["live"]["mae"] == pytest.approx(float(np.abs(errors).mean()), rel=1e-6)
    assert drift["live"]["rmse"] == pytest.approx(float(np.sqrt((errors**2).mean())), rel=1e-6)
    assert "prediction_drift" in drift
    assert (run_dir / "04_monitor.html").is_file()


# 5. Batch scoring


def _read(path: Path) -> pd.DataFrame:
    """Return one output, a file (local engine) or a folder of parts (Spark)."""
    parts = sorted(path.glob("part-*")) if path.is_dir() else [path]
    return pd.concat([pd.read_csv(part) for part in parts], ignore_index=True)


def test_both_batch_engines_predict_what_the_service_answers_and_reject_the_bad_row(
    served, spark, tmp_path
):
    rows = served.trained.holdout().head(30).astype({"rooms": object})
    rows.insert(0, "id", np.arange(500, 500 + len(rows)))
    rows.loc[4, "rooms"] = "many"
    rows.to_csv(tmp_path / "in.csv", index=False)
    tag = served.version.tag

    local = run_batch(
        "--input", str(tmp_path / "in.csv"), "--output", str(tmp_path / "local.csv"),
        "--model", tag, "--keep", "id", TARGET, "--engine", "local",
    )  # fmt: skip
    assert local.returncode == 0, local.stderr
    argv = ["--input", str(tmp_path / "in.csv"), "--output", str(tmp_path / "spark.csv"),
            "--model", tag, "--keep", "id", TARGET, "--engine", "spark"]  # fmt: skip
    assert batch_main(argv) == 0

    good = rows.drop(index=4)
    answer = served.predict(good.astype({"rooms": "int64"}))
    assert answer.status_code == 200, answer.text
    answered = np.array(answer.json()["predictions"])
    for engine in ("local", "spark"):
        scored = _read(tmp_path / f"{engine}.csv")
        rejects = _read(tmp_path / f"{engine}.rejects.csv")
        assert scored["prediction"].dtype == np.float64, engine
        assert not [c for c in scored.columns if c.startswith("probability")], engine
        assert scored["id"].tolist() == good["id"].tolist(), engine
        np.testing.assert_allclose(scored["prediction"], answered, rtol=1e-6, err_msg=engine)
        assert rejects[["id", "failed_expectations", "failed_columns"]].values.tolist() == [
            [504, TYPE_RULE, "rooms"]
        ], engine


# 6. The lifecycle: a ridge challenger, promoted by force and rolled back


def test_a_ridge_challenger_is_compared_on_errors_promoted_and_rolled_back(
    first_run, houses_csv, tmp_path
):
    ridge = Trained(
        _train(houses_csv, tmp_path / "ridge", "-p", "estimator=ridge"), tmp_path / "ridge"
    )
    assert ridge.version.params["estimator"] == "ridge"
    gate = json.loads((ridge.run_dir / "comparison.json").read_text())
    assert gate["outcome"] == "challenger"
    assert (gate["challenger"], gate["champion"]) == (ridge.tag, first_run.tag)
    rules = {rule["metric"]: rule for rule in gate["rules"]}
    assert set(rules) == {"rmse", "mae"}
    assert all(rule["greater_is_better"] is False for rule in rules.values())
    for metric, rule in rules.items():
        # The prices bend away from a line, so ridge's errors are larger and both rules fail.
        assert rule["challenger"] > rule["champion"] and not rule["passed"], metric
    assert gate["passed"] is False
    champion = lifecycle("resolve", f"{NAME}:champion")
    assert champion.stdout.strip() == first_run.tag

    # The run folder is outside reports/, so the command compares again on recreated held-out
    # rows, which it cannot do for a data file outside the repository: it refuses, saying why.
    refused = lifecycle("promote", "--name", NAME)
    assert refused.returncode == 1, refused.stdout
    assert "promote failed:" in refused.stderr and "FORCE=1" in refused.stderr
    assert "trained on 'houses.csv'" in refused.stderr
    assert lifecycle("resolve", f"{NAME}:champion").stdout.strip() == first_run.tag

    forced = lifecycle("promote", "--name", NAME, "--force")
    assert forced.returncode == 0, forced.stderr
    assert "not compared:" in forced.stdout
    assert f"{ridge.tag} is the champion now by force, past a failed gate" in forced.stdout
    assert f"previous: {first_run.tag}" in forced.stdout
    assert lifecycle("resolve", f"{NAME}:champion").stdout.strip() == ridge.tag

    rolled = lifecycle("rollback", "--name", NAME)
    assert rolled.returncode == 0, rolled.stderr
    assert f"{first_run.tag} serves as champion now; previous: {ridge.tag}" in rolled.stdout
    assert lifecycle("resolve", f"{NAME}:champion").stdout.strip() == first_run.tag
