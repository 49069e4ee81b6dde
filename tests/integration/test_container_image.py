"""The image `make containerize` builds serves: /readyz, a good and a bad request.

Runs where a Docker engine answers or buildah is installed (as root, where the base image can
be made without a registry); skipped elsewhere with the reason.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import requests
from support.bentos import build_bento

from scripts.tools.harness.bento_process import descendants, free_port
from scripts.tools.release.containerize import backend, containerize
from service.errors import UserError

pytestmark = pytest.mark.integration
ENTRYPOINT = "/home/bentoml/bento/env/docker/entrypoint.sh"
KEY = "container-test-key"
AUTH = {"Authorization": f"Bearer {KEY}"}


def _backend() -> str:
    try:
        chosen = backend()
    except UserError as error:
        pytest.skip(str(error))
    if chosen == "buildah":
        if os.geteuid() != 0:
            pytest.skip("buildah without a Docker engine needs root here (chroot isolation)")
        from support.base_image import ensure_base_image

        ensure_base_image()
    return chosen


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


class RunningImage:
    """The image's server on a loopback port, stopped and removed however the test ends."""

    def __init__(self, chosen: str, image: str, port: int, env: dict[str, str] | None = None):
        self.chosen, self.image, self.port = chosen, image, port
        self.env = env or {}
        self.url = f"http://127.0.0.1:{port}"
        self.container = self.process = None
        self._output = ""

    def wait_exit(self, timeout: float) -> int:
        """Return the server's exit code, once it has exited of its own accord."""
        if self.chosen == "docker":
            done = subprocess.run(
                ["docker", "wait", self.container], capture_output=True, text=True, timeout=timeout
            )
            return int(done.stdout.strip())
        self._output = self.process.communicate(timeout=timeout)[0].decode(errors="replace")
        return self.process.returncode

    def output(self) -> str:
        if self.chosen == "docker":
            done = subprocess.run(
                ["docker", "logs", self.container], capture_output=True, text=True
            )
            return done.stdout + done.stderr
        return self._output

    def start(self) -> None:
        if self.chosen == "docker":
            self.container = subprocess.run(
                ["docker", "run", "-d", "-p", f"127.0.0.1:{self.port}:3000"]
                + [f"--env={name}={value}" for name, value in self.env.items()]
                + [self.image],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.strip()
            return
        self.container = subprocess.run(
            ["buildah", "from", self.image], capture_output=True, text=True, check=True
        ).stdout.strip()
        self.process = subprocess.Popen(
            [
                "buildah",
                "run",
                "--isolation",
                "chroot",
                *[f"--env={name}={value}" for name, value in self.env.items()],
                self.container,
                "--",
                ENTRYPOINT,
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def stop(self) -> None:
        if self.chosen == "docker":
            if self.container:
                subprocess.run(["docker", "rm", "-f", self.container], capture_output=True)
            return
        if self.process is not None and self.process.poll() is None:
            # SIGTERM to `bentoml serve` inside lets it stop its workers; buildah run follows.
            tree = descendants(self.process.pid)
            for pid in tree:
                if b"bentoml\0serve" in _cmdline(pid):
                    os.kill(pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
            # A worker the server did not take down would outlive the test: end it too.
            for pid in tree:
                if b"bentoml" in _cmdline(pid):
                    os.kill(pid, signal.SIGKILL)
        if self.container:
            subprocess.run(["buildah", "rm", self.container], capture_output=True)

    def wait_ready(self, timeout: float = 120) -> float:
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if self.process is not None and self.process.poll() is not None:
                raise AssertionError(f"the image's server exited:\n{self.process.stdout.read()}")
            try:
                if requests.get(self.url + "/readyz", timeout=5).status_code == 200:
                    return time.monotonic() - started
            except (requests.ConnectionError, requests.Timeout):
                pass
            time.sleep(0.3)
        raise AssertionError(f"/readyz was not 200 within {timeout} s")


def test_image_serves_good_and_bad_requests(iris_run):
    chosen = _backend()
    image, seconds = containerize(build_bento(iris_run.tag))
    assert image == iris_run.tag
    print(f"containerize with {chosen}: {seconds:.1f} s")

    # The image requires API keys (API_KEYS_REQUIRED=1): without one it must not serve.
    keyless = RunningImage(chosen, image, free_port())
    try:
        keyless.start()
        assert keyless.wait_exit(timeout=120) != 0
        assert "API_KEYS_REQUIRED=1 but no key is set" in keyless.output()
    finally:
        keyless.stop()

    running = RunningImage(chosen, image, free_port(), env={"API_KEYS": KEY})
    try:
        running.start()
        print(f"container start to /readyz: {running.wait_ready():.1f} s")
        assert requests.get(running.url + "/metrics", timeout=30).status_code == 401
        record = {
            "sepal_length_cm": 5.1,
            "sepal_width_cm": 3.5,
            "petal_length_cm": 1.4,
            "petal_width_cm": 0.2,
        }
        good = requests.post(
            running.url + "/predict", json={"records": [record]}, headers=AUTH, timeout=30
        )
        assert good.status_code == 200, good.text
        assert good.json()["model"] == iris_run.tag
        assert good.json()["predictions"] == ["setosa"]
        bad = requests.post(
            running.url + "/predict",
            json={"records": [{**record, "sepal_length_cm": 99}]},
            headers=AUTH,
            timeout=30,
        )
        assert bad.status_code == 400
        assert bad.json()["failures"][0]["column"] == "sepal_length_cm"
    finally:
        # The image stays: removing it would drop the cached layers it shares with the next
        # build (BentoML's system packages and Python dependencies), which then take a minute.
        running.stop()
