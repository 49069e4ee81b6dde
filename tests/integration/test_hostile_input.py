"""A hostile client against a real `bentoml serve`: each finding of issue 11, reproduced.

Every request goes to 127.0.0.1; loops are bounded in count. Header size and slow clients
(finding 6) are in test_http_limits.py, TLS in test_tls.py.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import threading
import time
from pathlib import Path

import bentoml
import pytest
import requests
import yaml

from scripts.tools.bench.hostile_probe import raw_request
from scripts.tools.bench.service import worker_rss_mib
from scripts.tools.harness.bento_process import BentoServer, run_to_exit
from service.model.version import ONNX_FILE, sha256_file

pytestmark = pytest.mark.integration

KEY = "hostile-test-key-8c70"
AUTH = {"Authorization": f"Bearer {KEY}"}
GOOD = {
    "sepal_length_cm": 5.1,
    "sepal_width_cm": 3.5,
    "petal_length_cm": 1.4,
    "petal_width_cm": 0.2,
}
MAX_BODY = 2 * 1024 * 1024


@pytest.fixture(scope="module")
def server(iris_run, tmp_path_factory):
    log = tmp_path_factory.mktemp("hostile") / "server.log"
    env = {
        "MODEL_TAG": iris_run.tag,
        "API_KEYS": f"old-key,{KEY}",
        "MAX_BODY_BYTES": str(MAX_BODY),
        "REJECTION_LOG_SECONDS": "0",  # log every rejection, to look for forged lines
    }
    with BentoServer(env, log) as running:
        for _ in range(20):  # warm up before taking the idle size
            post(running, {"records": [GOOD]})
        running.idle_rss = worker_rss_mib(running.process.pid)
        yield running


def post(server, body, path="/predict", headers=AUTH, **kwargs) -> requests.Response:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"Content-Type": "application/json", **headers}
    return requests.post(server.url + path, data=data, headers=headers, timeout=30, **kwargs)


def assert_memory_bounded(server) -> None:
    assert worker_rss_mib(server.process.pid) < 2 * server.idle_rss


# --- 9: authentication -----------------------------------------------------------------


def test_no_key_or_a_wrong_key_gets_401_and_is_counted_not_logged(server):
    refused = post(server, {"records": [GOOD]}, headers={})
    assert refused.status_code == 401 and refused.headers["WWW-Authenticate"].startswith("Bearer")
    assert refused.json()["error"] == "unauthorized"
    assert post(server, {"records": [GOOD]}, headers={"X-API-Key": "wrong-9f3"}).status_code == 401
    assert post(server, {"records": [GOOD]}, headers={"X-API-Key": KEY}).status_code == 200
    assert post(server, {"records": [GOOD]}, headers={"X-API-Key": "old-key"}).status_code == 200
    metrics = requests.get(server.url + "/metrics", headers=AUTH, timeout=30).text
    assert re.search(r'model_service_auth_failures_total\{reason="invalid"\} [1-9]', metrics)
    assert re.search(r'model_service_auth_failures_total\{reason="missing"\} [1-9]', metrics)
    assert "wrong-9f3" not in server.log() and KEY not in server.log()


def test_probes_are_open_metrics_and_docs_need_the_key(server):
    assert requests.get(server.url + "/livez", timeout=30).status_code == 200
    assert requests.get(server.url + "/readyz", timeout=30).status_code == 200
    assert requests.get(server.url + "/metrics", timeout=30).status_code == 401
    assert requests.get(server.url + "/docs.json", timeout=30).status_code == 401
    assert requests.get(server.url + "/docs.json", headers=AUTH, timeout=30).status_code == 200
    preflight = requests.options(server.url + "/predict", timeout=30)
    assert preflight.status_code != 401


def test_bentoml_client_sends_the_key_as_a_bearer_token(server):
    with bentoml.SyncHTTPClient(server.url, token=KEY) as client:
        answer = client.predict(records=[GOOD])
    assert answer["predictions"] == ["setosa"]


# --- 1: unknown paths ------------------------------------------------------------------


def test_unknown_paths_leave_metrics_and_memory_alone(server):
    before = requests.get(server.url + "/metrics", headers=AUTH, timeout=30).text
    with requests.Session() as session:
        for number in range(2000):
            answer = session.get(f"{server.url}/no-such-{number}", headers=AUTH, timeout=30)
            assert answer.status_code == 404
    after = requests.get(server.url + "/metrics", headers=AUTH, timeout=30).text
    assert "no-such" not in after
    assert abs(len(after) - len(before)) < 200
    assert_memory_bounded(server)


# --- 2: body size before parsing -------------------------------------------------------


def test_a_150_mb_body_is_refused_from_its_header_within_a_second(server):
    head = (
        b"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        + f"Authorization: Bearer {KEY}\r\n".encode()
        + b"Content-Length: 150000000\r\n\r\n"
    )
    status, seconds = raw_request(server.port, head, [b"x" * 1_000_000] * 150)
    assert status == 413 and seconds < 1.0
    assert_memory_bounded(server)


def test_a_chunked_body_is_cut_at_the_limit(server):
    head = (
        b"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        + f"Authorization: Bearer {KEY}\r\n".encode()
        + b"Transfer-Encoding: chunked\r\n\r\n"
    )
    chunk = b"%x\r\n%s\r\n" % (1_000_000, b"x" * 1_000_000)
    status, seconds = raw_request(server.port, head, [chunk] * 150)
    assert status == 413 and seconds < 1.0
    assert_memory_bounded(server)


def test_four_50_mb_bodies_at_once_are_all_refused(server):
    head = (
        b"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        + f"Authorization: Bearer {KEY}\r\n".encode()
        + b"Content-Length: 50000000\r\n\r\n"
    )
    statuses = []

    def send() -> None:
        statuses.append(raw_request(server.port, head, [b"x" * 1_000_000] * 50)[0])

    threads = [threading.Thread(target=send) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert statuses == [413] * 4
    assert_memory_bounded(server)


# --- 3 and 4: bounded echo, no forged log lines ----------------------------------------


def test_many_unknown_keys_get_a_small_400_fast(server):
    record = {**GOOD, **{f"k{i:06d}": 1 for i in range(100_000)}}
    body = json.dumps({"records": [record]}).encode()
    assert len(body) < MAX_BODY
    started = time.monotonic()
    answer = post(server, body)
    assert answer.status_code == 400 and time.monotonic() - started < 1.0
    assert answer.json()["error"] == "too_many_fields" and len(answer.content) < 2_000


def test_a_1_mb_value_or_key_is_echoed_short(server):
    value = post(server, {"records": [{**GOOD, "sepal_length_cm": "v" * 1_000_000}]})
    assert value.status_code == 400 and len(value.content) < 5_000
    key = post(server, {"records": [{**GOOD, "k" * 1_000_000: 1}]})
    assert key.status_code == 400 and len(key.content) < 5_000
    assert max(len(line) for line in server.log().splitlines()) < 2_000


def test_a_newline_in_a_field_name_forges_no_log_line(server):
    forged = "2026-01-01T00:00:00+0000 [INFO] [cli] FORGED admin logged in"
    answer = post(server, {"records": [{**GOOD, f"x\n{forged}": 1}]})
    assert answer.status_code == 400
    time.sleep(0.5)
    lines = server.log().splitlines()
    assert not any(line.startswith(forged) for line in lines)
    assert any("x\\n2026-01-01" in line for line in lines)  # logged, escaped


# --- 5: malformed multipart --------------------------------------------------------------


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("multipart/form-data", b"no boundary at all"),
        (
            "multipart/form-data; boundary=zzz",
            b'--yyy\r\nContent-Disposition: form-data; name="file"\r\n\r\na,b\r\n--yyy--\r\n',
        ),
    ],
)
def test_malformed_multipart_is_a_400_not_a_500(server, content_type, body):
    answer = post(server, body, path="/predict_csv", headers={**AUTH, "Content-Type": content_type})
    assert answer.status_code == 400 and answer.json()["error"] == "malformed_multipart"
    assert "Traceback" not in server.log()


# --- 8: what /metadata and the log tell --------------------------------------------------


def test_metadata_names_no_path_of_the_training_machine(server):
    body = post(server, {}, path="/metadata").json()
    strings = re.findall(r'"((?:[^"\\]|\\.)*)"', json.dumps(body))
    assert not [s for s in strings if s.startswith("/")]
    assert body["params"]["data_path"] == "data/iris.csv"
    assert len(body["lineage"]["data_sha256"]) == 64


def test_an_open_service_warns_once_and_logs_quietly(iris_run, tmp_path):
    log = tmp_path / "server.log"
    with BentoServer({"MODEL_TAG": iris_run.tag}, log) as open_server:
        with requests.Session() as session:
            for _ in range(200):
                assert session.post(
                    open_server.url + "/predict", json={"records": [GOOD]}, timeout=30
                ).ok
                bad = session.post(
                    open_server.url + "/predict",
                    json={"records": [{**GOOD, "sepal_length_cm": 99}]},
                    timeout=30,
                )
                assert bad.status_code == 400
        lines = open_server.log().splitlines()
    assert sum("no API key is set" in line for line in lines) == 1
    assert len(lines) < 20, "\n".join(lines)


# --- 7: a model that cannot load ---------------------------------------------------------


def test_a_corrupt_graph_whose_hash_matches_stops_start_up_with_one_line(iris_run, tmp_path):
    store = Path(os.environ["BENTOML_HOME"]) / "models"
    name, version = iris_run.tag.split(":")
    home = tmp_path / "home"
    shutil.copytree(store / name / version, home / "models" / name / version)
    graph = home / "models" / name / version / ONNX_FILE
    graph.write_bytes(b"not an onnx graph at all")
    manifest = home / "models" / name / version / "model.yaml"
    info = yaml.safe_load(manifest.read_text())
    info["metadata"]["files"][ONNX_FILE] = sha256_file(graph)  # the hash says all is well
    manifest.write_text(yaml.safe_dump(info))
    said = f"model service cannot start: {iris_run.tag} cannot be loaded"
    # The model loads in the worker: its failure must stop the whole server, not restart the
    # worker in a loop; with two workers failing at once, each line stays whole.
    for workers in ("1", "2"):
        started = time.monotonic()
        done = run_to_exit(
            {"BENTOML_HOME": str(home), "MODEL_TAG": iris_run.tag, "WORKERS": workers},
            timeout=60,
        )
        output = done.stdout + done.stderr
        assert done.returncode != 0 and time.monotonic() - started < 30
        lines = [line for line in output.splitlines() if "cannot start" in line]
        assert lines, output
        assert all(line.startswith(said) and line.count("cannot start") == 1 for line in lines)
        assert "Traceback" not in output
