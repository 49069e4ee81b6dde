"""The Open Inference Protocol, spoken to a real `bentoml serve` by tritonclient, a client
nobody here wrote: health, metadata, infer with JSON and binary tensors, and 400s that name
the input, rule and rows. Its answers equal /predict's for the same records."""

from __future__ import annotations

import re
import time

import httpx
import numpy as np
import pandas as pd
import pytest
import requests
import tritonclient.http as triton
from prometheus_client.parser import text_string_to_metric_families
from support.prediction_logs import read_log_lines
from tritonclient.utils import InferenceServerException

from scripts.pipeline.params import PROJECT_ROOT
from scripts.tools.harness.bento_process import BentoServer
from service.model.store import load_model_version

pytestmark = pytest.mark.integration

KEY = "open-inference-test-key"


class Served:
    def __init__(self, run, server: BentoServer, log_dir) -> None:
        self.run = run
        self.server = server
        self.log_dir = log_dir
        self.version = load_model_version(run.tag)
        self.name, _, self.version_id = run.tag.partition(":")
        self.client = triton.InferenceServerClient(server.url.removeprefix("http://"))

    @property
    def headers(self) -> dict:
        # A new dict each time: tritonclient's infer adds its own headers to the one it is given.
        return {"Authorization": f"Bearer {KEY}"}

    def records(self, rows: int = 8, *, text_gaps: bool = True) -> pd.DataFrame:
        """The first held-out rows; without gaps in text columns, which binary BYTES cannot
        carry, when `text_gaps` is False."""
        schema = self.version.schema
        text = [f.name for f in schema.features if f.kind == "categorical"]
        data = pd.read_csv(self.run.run_dir / "holdout.csv", dtype=dict.fromkeys(text, "str"))
        data = data[schema.names]
        return (data if text_gaps else data.dropna(subset=text)).head(rows)

    def predict(self, frame: pd.DataFrame) -> dict:
        records = [
            {k: (None if pd.isna(v) else v) for k, v in row.items()}
            for row in frame.to_dict("records")
        ]
        answer = requests.post(
            f"{self.server.url}/predict",
            json={"records": records},
            headers=self.headers,
            timeout=30,
        )
        assert answer.status_code == 200, answer.text
        return answer.json()

    def infer(self, body: dict, version: str | None = None) -> requests.Response:
        path = f"/v2/models/{self.name}" + (f"/versions/{version}" if version else "") + "/infer"
        return requests.post(self.server.url + path, json=body, headers=self.headers, timeout=30)


def tensors(frame: pd.DataFrame, schema, *, binary: bool = True) -> list[triton.InferInput]:
    """One tensor per feature, as a tritonclient user writes them."""
    inputs = []
    for feature in schema.features:
        column = frame[feature.name]
        if feature.kind == "numeric":
            tensor = triton.InferInput(feature.name, [len(frame)], "FP64")
            tensor.set_data_from_numpy(column.to_numpy(dtype=np.float64), binary_data=binary)
        else:
            tensor = triton.InferInput(feature.name, [len(frame), 1], "BYTES")
            values = column.astype(object).to_numpy().reshape(-1, 1)
            tensor.set_data_from_numpy(values, binary_data=binary)
        inputs.append(tensor)
    return inputs


def json_tensors(frame: pd.DataFrame, schema) -> list[dict]:
    """The same tensors written as JSON by hand, gaps as null."""
    return [
        {
            "name": f.name,
            "datatype": "FP64" if f.kind == "numeric" else "BYTES",
            "shape": [len(frame)],
            "data": [None if pd.isna(v) else v for v in frame[f.name].tolist()],
        }
        for f in schema.features
    ]


@pytest.fixture(scope="module", params=["iris", "mixed"])
def served(request, tmp_path_factory):
    run = request.getfixturevalue(f"{request.param}_run")
    folder = tmp_path_factory.mktemp(f"open-inference-{request.param}")
    env = {
        "MODEL_TAG": run.tag,
        "API_KEYS": KEY,
        "MAX_BATCH_ROWS": "500",
        "PREDICTION_LOG_DIR": str(folder / "log"),
    }
    with BentoServer(env, folder / "serve.log") as server:
        yield Served(run, server, folder / "log")


def test_health_and_metadata_through_tritonclient(served):
    client, headers = served.client, served.headers
    assert client.is_server_live(headers=headers) and client.is_server_ready(headers=headers)
    assert client.is_model_ready(served.name, headers=headers)
    assert client.is_model_ready(served.name, served.version_id, headers=headers)
    assert not client.is_model_ready("no-such-model", headers=headers)
    metadata = client.get_model_metadata(served.name, headers=headers)
    assert metadata["name"] == served.name and metadata["versions"] == [served.version_id]
    assert [i["name"] for i in metadata["inputs"]] == served.version.schema.names
    classes = [str(c) for c in served.version.schema.classes]
    assert [o["name"] for o in metadata["outputs"]] == [
        "label",
        "probabilities",
        *(f"probability_{c}" for c in classes),
    ]
    assert client.get_server_metadata(headers=headers)["extensions"] == ["binary_tensor_data"]


def test_binary_tensors_answer_what_predict_answers(served):
    frame = served.records(text_gaps=False)
    expected = served.predict(frame)
    result = served.client.infer(
        served.name, tensors(frame, served.version.schema), request_id="req-7",
        headers=served.headers,
    )  # fmt: skip
    response = result.get_response()
    assert response["id"] == "req-7" and response["model_version"] == served.version_id
    labels = [v.decode() if isinstance(v, bytes) else v for v in result.as_numpy("label")]
    assert labels == expected["predictions"]
    classes = list(expected["probabilities"][0])
    served_probabilities = [[row[c] for c in classes] for row in expected["probabilities"]]
    assert result.as_numpy("probabilities").tolist() == served_probabilities


def test_json_tensors_with_gaps_and_chosen_outputs_answer_what_predict_answers(served):
    frame = served.records(40)  # the mixed data has gaps in both kinds of column
    expected = served.predict(frame)
    first = list(expected["probabilities"][0])[0]
    body = {
        "id": "json-1",
        "inputs": json_tensors(frame, served.version.schema),
        "outputs": [{"name": "label"}, {"name": f"probability_{first}"}],
    }
    answer = served.infer(body, served.version_id)
    assert answer.status_code == 200, answer.text
    document = answer.json()
    assert document["id"] == "json-1"
    assert [o["name"] for o in document["outputs"]] == ["label", f"probability_{first}"]
    label, probability = document["outputs"]
    assert label["data"] == expected["predictions"] and label["shape"] == [len(frame)]
    assert probability["data"] == [row[first] for row in expected["probabilities"]]


def test_a_tensor_of_json_records_is_read_as_predict_reads_records(served):
    frame = served.records(5)
    records = frame.astype(object).where(frame.notna(), None).to_dict("records")
    body = {
        "inputs": [
            {
                "name": "records",
                "datatype": "BYTES",
                "shape": [1],
                "parameters": {"content_type": "pd_json"},
                "data": [pd.io.json.ujson_dumps(records)],
            }
        ]
    }
    answer = served.infer(body)
    assert answer.status_code == 200, answer.text
    (label, _) = answer.json()["outputs"]
    assert label["data"] == served.predict(frame)["predictions"]


def test_a_record_that_breaks_the_suite_is_a_400_naming_input_rule_and_row(served):
    frame = served.records(4, text_gaps=False).copy()
    numeric = next(f.name for f in served.version.schema.features if f.kind == "numeric")
    frame.loc[frame.index[2], numeric] = 1e9
    with pytest.raises(InferenceServerException) as refused:
        served.client.infer(
            served.name, tensors(frame, served.version.schema), headers=served.headers
        )
    assert refused.value.status() == "400"
    message = refused.value.message()
    assert numeric in message and "expect_column_values_to_be_between" in message
    assert "row 2 is not" in message


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (lambda inputs: inputs[1:], "lacks input"),
        (lambda inputs: [*inputs, {**inputs[0], "name": "extra"}], "no input 'extra'"),
        (lambda inputs: [{**inputs[0], "datatype": "BOOL"}, *inputs[1:]], "datatype"),
        (lambda inputs: [{**inputs[0], "shape": [2, 2]}, *inputs[1:]], "shape"),
        (
            lambda inputs: [
                {**inputs[0], "shape": [1], "data": inputs[0]["data"][:1]},
                *inputs[1:],
            ],
            "rows where",
        ),  # fmt: skip
        (lambda inputs: [{**inputs[0], "data": ["x", "y"]}, *inputs[1:]], "numbers or null"),
    ],
)
def test_a_bad_tensor_is_a_400_in_the_protocols_error_body(served, change, named):
    inputs = json_tensors(served.records(2), served.version.schema)
    answer = served.infer({"inputs": change(inputs)})
    assert answer.status_code == 400, answer.text
    assert list(answer.json()) == ["error"] and named in answer.json()["error"]


def test_unknown_models_versions_and_paths_are_404s_in_the_protocols_terms(served):
    assert served.infer({"inputs": []}, version="0000").status_code == 404
    for path in ("/v2/models/nope", "/v2/models/nope/infer", "/v2/nothing"):
        method = requests.post if path.endswith("infer") else requests.get
        answer = method(served.server.url + path, headers=served.headers, timeout=30)
        assert answer.status_code == 404 and "error" in answer.json(), path


def test_the_api_key_guards_the_protocol_too(served):
    frame = served.records(2)
    refused = requests.post(
        f"{served.server.url}/v2/models/{served.name}/infer",
        json={"inputs": json_tensors(frame, served.version.schema)},
        timeout=30,
    )
    assert refused.status_code == 401
    # Health, like /livez and /readyz, is open: probes carry no key.
    assert served.client.is_server_live() and served.client.is_server_ready()
    assert not served.client.is_model_ready(served.name)


def _predicted_rows(served) -> float:
    metrics = requests.get(served.server.url + "/metrics", headers=served.headers, timeout=30)
    return sum(
        sample.value
        for family in text_string_to_metric_families(metrics.text)
        for sample in family.samples
        if sample.name == "model_service_predictions_total"
        and sample.labels.get("model") == served.run.tag
    )


def _settled_rows(served) -> float:
    """Return the count once the earlier tests' rows are published (each second, per worker)."""
    counted = _predicted_rows(served)
    while True:
        time.sleep(1.2)
        again = _predicted_rows(served)
        if again == counted:
            return counted
        counted = again


def test_inferences_reach_the_metrics_and_the_prediction_log(served):
    frame = served.records(3, text_gaps=False)
    before = _settled_rows(served)
    result = served.client.infer(
        served.name, tensors(frame, served.version.schema), headers=served.headers
    )
    assert result.get_response().get("id") is None  # none was sent, none comes back
    deadline = time.monotonic() + 10
    while _predicted_rows(served) < before + len(frame):  # counts are published every second
        assert time.monotonic() < deadline, "the predictions were not counted in 10 s"
        time.sleep(0.2)
    assert _settled_rows(served) == before + len(frame)
    endpoint = f"/v2/models/{served.name}/infer"
    while True:
        lines = [line for line in read_log_lines(served.log_dir) if line["endpoint"] == endpoint]
        predicted = [line for line in lines if line["kind"] == "prediction"]
        if len(predicted) >= len(frame) and any(line["kind"] == "rejection" for line in lines):
            break
        assert time.monotonic() < deadline, "the log did not catch up in 10 s"
        time.sleep(0.2)
    assert all(line["model"] == served.run.tag for line in lines)
    metrics = requests.get(served.server.url + "/metrics", headers=served.headers, timeout=30)
    assert f'endpoint="{endpoint}"' in metrics.text  # BentoML's request counters count it


@pytest.mark.parametrize("served", ["iris"], indirect=True)  # the documented call is iris's
def test_the_documented_tritonclient_call_runs(served, capsys):
    page = (PROJECT_ROOT / "docs" / "open-inference.md").read_text()
    (snippet,) = re.findall(r"```python\n(.*?)```", page, re.DOTALL)
    snippet = snippet.replace('"localhost:3000"', repr(served.server.url.removeprefix("http://")))
    snippet = snippet.replace("headers = {}", f"headers = {served.headers!r}")
    exec(compile(snippet, "docs/open-inference.md", "exec"), {})
    printed = capsys.readouterr().out.splitlines()
    assert printed[0] == "[b'setosa' b'virginica']"


def test_the_protocols_own_schema_and_client_take_the_answers(served):
    # open-inference-openapi: the protocol's OpenAPI document as pydantic models and a client
    # generated from it, so every answer below is parsed against the protocol's schema.
    from open_inference.openapi.client import OpenInferenceClient
    from open_inference.openapi.core.api_error import ApiError
    from open_inference.openapi.errors import BadRequestError
    from open_inference.openapi.types import InferenceRequest, RequestInput

    client = OpenInferenceClient(
        base_url=served.server.url, httpx_client=httpx.Client(headers=served.headers, timeout=30)
    )
    client.check_server_liveness()
    client.check_model_readiness(served.name)
    assert client.read_server_metadata().extensions == ["binary_tensor_data"]
    metadata = client.read_model_version_metadata(served.name, served.version_id)
    assert [tensor.name for tensor in metadata.inputs] == served.version.schema.names
    frame = served.records(40).dropna().head(6)  # the schema's data has no null
    request = InferenceRequest(
        id="schema-1",
        inputs=[RequestInput(**tensor) for tensor in json_tensors(frame, served.version.schema)],
    )
    answer = client.model_infer(served.name, request=request)
    assert answer.id == "schema-1" and answer.model_version == served.version_id
    assert answer.outputs[0].data.__root__ == served.predict(frame)["predictions"]
    bad = frame.copy()
    numeric = next(f.name for f in served.version.schema.features if f.kind == "numeric")
    bad.loc[bad.index[0], numeric] = 1e9
    request = InferenceRequest(
        inputs=[RequestInput(**tensor) for tensor in json_tensors(bad, served.version.schema)]
    )
    with pytest.raises(BadRequestError) as refused:
        client.model_infer(served.name, request=request)
    assert "row 0 is not" in refused.value.body["error"]
    with pytest.raises(ApiError) as missing:
        client.read_model_metadata("no-such-model")
    assert missing.value.status_code == 404 and "not served here" in missing.value.body["error"]
