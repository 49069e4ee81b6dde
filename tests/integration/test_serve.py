"""A real `bentoml serve` answering real HTTP, with models made by the real pipeline."""

from __future__ import annotations

import io
import math
import shutil

import pandas as pd
import pytest
import requests

from scripts.tools.harness.bento_process import BentoServer, run_to_exit
from service.model.store import load_model_version
from service.scoring.predictor import PipelinePredictor

pytestmark = pytest.mark.integration


def _records(frame: pd.DataFrame) -> list[dict]:
    """Return JSON records with NaN as null, as a client would send them."""
    return [
        {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()}
        for row in frame.to_dict(orient="records")
    ]


class Served:
    def __init__(self, run, server: BentoServer):
        self.entry = load_model_version(run.tag)
        self.run = run
        self.url = server.url
        self.server = server
        holdout = pd.read_csv(
            run.run_dir / "holdout.csv",
            dtype={f.name: "str" for f in self.entry.schema.features if f.kind == "categorical"},
        )
        self.features = holdout[self.entry.schema.names]

    def post(self, body, path: str = "/predict", **kwargs) -> requests.Response:
        if isinstance(body, bytes | str):
            return requests.post(
                self.url + path,
                data=body,
                timeout=30,
                headers={"Content-Type": "application/json"},
                **kwargs,
            )
        return requests.post(self.url + path, json=body, timeout=30, **kwargs)


@pytest.fixture(scope="module", params=["iris", "mixed"])
def served(request, tmp_path_factory):
    run = request.getfixturevalue(f"{request.param}_run")
    log = tmp_path_factory.mktemp("logs") / f"{request.param}.log"
    with BentoServer({"MODEL_TAG": run.tag, "MAX_BATCH_ROWS": "500"}, log) as server:
        yield Served(run, server)


def test_good_records_get_the_pipeline_labels(served):
    response = served.post({"records": _records(served.features)})
    assert response.status_code == 200, response.text
    body = response.json()
    expected, probabilities = PipelinePredictor(
        served.entry.load_pipeline(), served.entry.schema
    ).predict(served.features)
    assert body["model"] == served.run.tag
    assert body["predictions"] == expected.tolist()
    assert len(body["probabilities"]) == len(served.features)
    first = body["probabilities"][0]
    assert set(first) == {str(c) for c in served.entry.schema.classes}
    assert first[str(served.entry.schema.classes[0])] == pytest.approx(
        probabilities[0, 0], abs=1e-5
    )


def _first(served) -> dict:
    return _records(served.features.head(1))[0]


def _numeric(served) -> str:
    return next(f.name for f in served.entry.schema.features if f.kind == "numeric")


def _assert_failure(response, status: int, error: str, column: str | None, rule: str):
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == error
    if column is not None:
        assert any(f["column"] == column and f["expectation"] == rule for f in body["failures"]), (
            body
        )
    return body


def test_value_out_of_range_names_column_rule_and_row(served):
    column = _numeric(served)
    records = [_first(served), {**_first(served), column: 1e9}]
    body = _assert_failure(
        served.post({"records": records}),
        400,
        "validation_failed",
        column,
        "expect_column_values_to_be_between",
    )
    failure = next(f for f in body["failures"] if f["column"] == column)
    assert failure["rows"] == [1] and failure["observed"] == [1e9]
    assert column in failure["message"]


def test_string_where_a_number_belongs_is_a_400(served):
    column = _numeric(served)
    _assert_failure(
        served.post({"records": [{**_first(served), column: "tall"}]}),
        400,
        "validation_failed",
        column,
        "expect_column_values_to_be_in_type_list",
    )


def test_missing_field_is_a_400(served):
    column = _numeric(served)
    record = {k: v for k, v in _first(served).items() if k != column}
    _assert_failure(
        served.post({"records": [record]}),
        400,
        "validation_failed",
        column,
        "expect_column_to_exist",
    )


def test_unknown_field_is_rejected_not_dropped(served):
    _assert_failure(
        served.post({"records": [{**_first(served), "colour": "red"}]}),
        400,
        "validation_failed",
        "colour",
        "expect_table_columns_to_match_set",
    )


def test_null_where_training_had_none_is_a_400(served):
    feature = next(f for f in served.entry.schema.features if not f.nullable)
    _assert_failure(
        served.post({"records": [{**_first(served), feature.name: None}]}),
        400,
        "validation_failed",
        feature.name,
        "expect_column_values_to_not_be_null",
    )


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        (b'{"records": [', 400, "malformed_json"),
        (b"[1, 2]", 400, "invalid_body"),
        (b'{"records": []}', 400, "empty_batch"),
        (b'{"records": [1]}', 400, "invalid_body"),
        (b'{"rows": []}', 400, "invalid_body"),
    ],
)
def test_malformed_bodies_get_the_same_error_shape(served, body, status, error):
    response = served.post(body)
    assert response.status_code == status, response.text
    assert response.json()["error"] == error
    assert set(response.json()) == {"error", "message", "failures"}


def test_more_rows_than_the_limit_is_a_413(served):
    response = served.post({"records": [_first(served)] * 501})
    assert response.status_code == 413 and response.json()["error"] == "batch_too_large"


def test_unknown_category_is_a_400(served):
    feature = next((f for f in served.entry.schema.features if f.kind == "categorical"), None)
    if feature is None:
        pytest.skip("this model has no categorical feature")
    _assert_failure(
        served.post({"records": [{**_first(served), feature.name: "mars"}]}),
        400,
        "validation_failed",
        feature.name,
        "expect_column_values_to_be_in_set",
    )


def test_bad_requests_log_one_line_and_no_traceback(served):
    served.post(b"{oops")
    assert "Traceback" not in served.server.log()


def test_csv_endpoint_round_trips(served):
    buffer = io.StringIO()
    served.features.to_csv(buffer, index=False)
    response = requests.post(
        served.url + "/predict_csv",
        files={"file": ("batch.csv", buffer.getvalue(), "text/csv")},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    answer = pd.read_csv(io.StringIO(response.text))
    json_answer = served.post({"records": _records(served.features)}).json()
    assert list(answer.columns[: len(served.features.columns)]) == list(served.features.columns)
    assert answer["prediction"].tolist() == json_answer["predictions"]
    label = str(served.entry.schema.classes[0])
    assert answer[f"probability_{label}"].tolist() == pytest.approx(
        [p[label] for p in json_answer["probabilities"]], abs=1e-6
    )


def test_metadata_describes_the_model(served):
    body = served.post({}, path="/metadata").json()
    assert body["model"] == served.run.tag
    assert body["lineage"]["run_id"] == served.run.run_dir.name
    assert [f["name"] for f in body["schema"]["features"]] == served.entry.schema.names
    assert body["metrics"]["accuracy"] == served.entry.metrics["accuracy"]
    # Every expectation the builder writes is compiled: nothing goes to GX per request.
    assert body["serving"]["prediction_engine"] == "onnx"
    assert body["serving"]["gx_delegated"] == []
    # The label-free estimate: the version carries its calibrator, fitted on the held-out rows.
    estimate = body["performance_estimate"]
    assert estimate["available"] is True and "concept drift" in estimate["caveat"]
    assert estimate["heldout"]["rows"] == served.entry.metrics["n_holdout"]


def test_openapi_shows_every_feature(served):
    spec = requests.get(served.url + "/docs.json", timeout=10).json()
    record = spec["components"]["schemas"]["Record"]
    assert set(record["properties"]) == set(served.entry.schema.names)
    categorical = [f for f in served.entry.schema.features if f.kind == "categorical"]
    for feature in categorical:
        assert feature.categories[0] in str(record["properties"][feature.name])


def test_health_and_metrics(served):
    assert requests.get(served.url + "/readyz", timeout=5).status_code == 200
    assert requests.get(served.url + "/livez", timeout=5).status_code == 200
    served.post({"records": [_first(served)]})
    metrics = requests.get(served.url + "/metrics", timeout=5).text
    counted = [
        line
        for line in metrics.splitlines()
        if line.startswith("bentoml_service_request_total") and 'endpoint="/predict"' in line
    ]
    assert counted and sum(float(line.rsplit(" ", 1)[1]) for line in counted) >= 1, metrics[:2000]


def test_corrupted_artefact_stops_start_up(iris_run, tmp_path):
    entry = load_model_version(iris_run.tag)
    name, version = iris_run.tag.split(":")
    home = tmp_path / "home"
    copy = home / "models" / name / version
    shutil.copytree(entry.path, copy)
    (home / "models" / name / "latest").write_text(version)
    with open(copy / "model.onnx", "ab") as handle:
        handle.write(b"tampered")
    done = run_to_exit({"BENTOML_HOME": str(home), "MODEL_TAG": iris_run.tag})
    assert done.returncode != 0
    assert "model.onnx has sha256" in done.stderr + done.stdout


def test_missing_model_stops_start_up_with_one_line(tmp_path):
    done = run_to_exit({"BENTOML_HOME": str(tmp_path / "empty"), "MODEL_TAG": "nothing:latest"})
    assert done.returncode != 0
    output = done.stderr + done.stdout
    assert "no model 'nothing:latest'" in output and "make pipeline" in output
    assert "Traceback" not in output


def test_csv_as_plain_body_and_bad_uploads_get_the_same_error_shape(served):
    buffer = io.StringIO()
    served.features.head(3).to_csv(buffer, index=False)
    plain = requests.post(
        served.url + "/predict_csv",
        data=buffer.getvalue(),
        headers={"Content-Type": "text/csv"},
        timeout=30,
    )
    assert plain.status_code == 200 and len(pd.read_csv(io.StringIO(plain.text))) == 3
    no_file = requests.post(
        served.url + "/predict_csv", files={"upload": ("b.csv", buffer.getvalue())}, timeout=30
    )
    assert no_file.status_code == 400 and no_file.json()["error"] == "invalid_body"
    column = _numeric(served)
    broken = served.features.head(2).astype(object)
    broken.loc[broken.index[1], column] = "tall"
    bad = requests.post(
        served.url + "/predict_csv",
        files={"file": ("b.csv", broken.to_csv(index=False))},
        timeout=30,
    )
    _assert_failure(
        bad, 400, "validation_failed", column, "expect_column_values_to_be_in_type_list"
    )
    assert bad.json()["failures"][0]["rows"] == [1]
    assert "Traceback" not in served.server.log()
