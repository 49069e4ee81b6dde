"""Schemathesis fuzzes every endpoint of a real `bentoml serve`, with and without a key.

The document it reads is the service's own /docs.json, which carries the suite's bounds and
categories; no generated request may get a 5xx.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from scripts.tools.harness.bento_process import BentoServer

pytestmark = pytest.mark.integration

KEY = "fuzz-test-key-51d2"
ST = str(Path(sys.executable).parent / "st")


@pytest.fixture(scope="module")
def served(iris_run, tmp_path_factory):
    folder = tmp_path_factory.mktemp("fuzz")
    env = {"MODEL_TAG": iris_run.tag, "API_KEYS": KEY, "REJECTION_LOG_SECONDS": "0"}
    with BentoServer(env, folder / "server.log") as server:
        document = requests.get(
            server.url + "/docs.json", headers={"X-API-Key": KEY}, timeout=30
        ).json()
        (folder / "docs.json").write_text(json.dumps(document))
        yield server, folder / "docs.json", document


def test_the_document_carries_the_suites_bounds_and_every_endpoint(served, iris_run):
    _, _, document = served
    assert {"/predict", "/predict_csv", "/metadata", "/feedback"} <= set(document["paths"])
    suite = json.loads((iris_run.run_dir / "suite.json").read_text())
    between = {
        e["kwargs"]["column"]: e["kwargs"]
        for e in suite["expectations"]
        if e["type"] == "expect_column_values_to_be_between"
    }
    properties = document["components"]["schemas"]["Record"]["properties"]
    for column, kwargs in between.items():
        assert properties[column]["minimum"] == pytest.approx(kwargs["min_value"])
        assert properties[column]["maximum"] == pytest.approx(kwargs["max_value"])


@pytest.mark.parametrize(
    "headers", [["-H", f"Authorization: Bearer {KEY}"], []], ids=["key", "no-key"]
)
def test_no_generated_request_gets_a_server_error(served, headers):
    server, document, _ = served
    for seed in (1, 2, 3):
        done = fuzz(server.url, document, headers, seed)
        # Hypothesis, describing a strategy, can trip CPython 3.11's "AST constructor
        # recursion depth mismatch": an error inside the fuzzer, not an answer of ours. Run
        # again with another seed rather than pass or fail on it.
        if done.returncode == 0 or not _fuzzer_crashed(done.stdout):
            break
    assert done.returncode == 0, done.stdout[-4000:]
    assert " passed" in done.stdout and "8 selected" in done.stdout
    assert "Traceback" not in server.log()


def fuzz(url: str, document: Path, headers: list[str], seed: int) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            ST,
            "run",
            str(document),
            "--url",
            url,
            *headers,
            "--checks",
            "not_a_server_error",
            "--max-examples",
            "100",
            "--workers",
            "2",
            "--seed",
            str(seed),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=document.parent,  # schemathesis writes .schemathesis/ where it runs
    )


def _fuzzer_crashed(output: str) -> bool:
    return "Failures:" not in output and "AST constructor recursion depth mismatch" in output
