"""A full disk under a real `bentoml serve`: the prediction log fails what does not fit, counts it,
and writes again once there is room (a small tmpfs is the disk)."""

from __future__ import annotations

import os
import subprocess
import time

import pandas as pd
import pytest
import requests
from support.prediction_logs import read_log_lines

from scripts.monitor.metrics_text import total
from scripts.pipeline.params import PROJECT_ROOT
from scripts.tools.harness.bento_process import BentoServer

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root"),
]
ROWS_PER_REQUEST = 20
METRIC = "model_service_prediction_log_records_total"


@pytest.fixture
def small_disk(tmp_path):
    disk = tmp_path / "disk"
    disk.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(disk)], check=True)
    yield disk
    subprocess.run(["umount", "-l", str(disk)], check=True)


def counts(server: BentoServer) -> dict[str, float]:
    metrics = requests.get(server.url + "/metrics", timeout=30).text
    return {
        result: total(metrics, METRIC, result=result) for result in ("written", "dropped", "failed")
    }


def wait_for(server: BentoServer, done, what: str) -> dict[str, float]:
    deadline = time.monotonic() + 15
    while not done(found := counts(server)):
        assert time.monotonic() < deadline, f"{what} in 15 s: {found}"
        time.sleep(0.2)
    return found


def test_a_full_disk_fails_and_counts_records_and_the_log_comes_back_with_room(
    iris_run, tmp_path, small_disk
):
    records = pd.read_csv(PROJECT_ROOT / "data" / "iris.csv").drop(columns="species")
    batch = {"records": records.head(ROWS_PER_REQUEST).to_dict("records")}
    # Leave room for a few hundred lines, then fill the rest.
    free = os.statvfs(small_disk).f_bavail * os.statvfs(small_disk).f_frsize
    filler = small_disk / "filler"
    filler.write_bytes(b"\0" * (free - 48 * 1024))
    log_dir = small_disk / "log"
    env = {
        "MODEL_TAG": iris_run.tag,
        "WORKERS": "1",
        "PUBLIC_METRICS": "1",
        "PREDICTION_LOG_DIR": str(log_dir),
    }
    server = BentoServer(env, tmp_path / "server.log")
    sent = 0

    def send(requests_to_send: int) -> None:
        nonlocal sent
        for _ in range(requests_to_send):
            answer = requests.post(server.url + "/predict", json=batch, timeout=30)
            assert answer.status_code == 200, answer.text  # a full disk never fails a request
            sent += ROWS_PER_REQUEST

    with server:
        deadline = time.monotonic() + 30
        while counts(server)["failed"] == 0:
            assert time.monotonic() < deadline, "the disk never filled"
            send(10)
        send(20)  # the writer must live on after its first failure
        full = wait_for(server, lambda c: sum(c.values()) == sent, "not every record counted")
        assert full["written"] > 0 and full["failed"] > 0
        lines = read_log_lines(log_dir)  # strict JSON: no half line left by a short write
        assert len(lines) == full["written"]

        filler.unlink()
        before = sent
        send(10)
        back = wait_for(server, lambda c: sum(c.values()) == sent, "not every record counted")
        assert back["written"] - full["written"] == sent - before, back
        assert len(read_log_lines(log_dir)) == back["written"]
    log = server.log()
    assert server.process.returncode == 0, log[-3000:]
    assert "Traceback" not in log, log[-3000:]
