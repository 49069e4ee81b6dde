"""A `bentoml serve` process on a free loopback port, for the tests and the benchmark."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import requests

from scripts.pipeline.params import PROJECT_ROOT

BENTOML = str(Path(sys.executable).parent / "bentoml")


def descendants(root_pid: int) -> list[int]:
    """Return `root_pid` and every process below it, read from /proc."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, stack = [], [root_pid]
    while stack:
        pid = stack.pop()
        found.append(pid)
        stack.extend(children.get(pid, []))
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class BentoServer:
    """Starts the service with the given environment; `url` is set once /readyz answers 200.

    `extra_args` go to `bentoml serve` as they are. With `https_ca` (the CA or self-signed
    certificate that signed the server's certificate, for `--ssl-certfile`), `url` is
    https and readiness is checked against that CA.
    """

    def __init__(
        self,
        env: dict[str, str],
        log_path: Path,
        target: str = "service.service:ModelService",
        extra_args: Sequence[str] = (),
        https_ca: Path | None = None,
        cwd: Path = PROJECT_ROOT,
    ):
        self.env = {**os.environ, **env}
        self.cwd = cwd
        self.log_path = log_path
        self.target = target
        self.extra_args = list(extra_args)
        self.verify: str | bool = str(https_ca) if https_ca else True
        self.port = free_port()
        self.url = f"{'https' if https_ca else 'http'}://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None
        # How often /readyz is asked; a start-time benchmark asks more often than tests need.
        self.poll_seconds = 0.2

    def command(self) -> list[str]:
        """Return the command that serves `target` on this server's port."""
        return [BENTOML, "serve", self.target, "--host", "127.0.0.1", "--port", str(self.port)]

    def start(self, timeout: float = 90) -> BentoServer:
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                [*self.command(), *self.extra_args],
                cwd=self.cwd,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            self._wait_ready(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"bentoml serve exited with {self.process.returncode}:\n{self.log()}"
                )
            try:
                ready = requests.get(f"{self.url}/readyz", timeout=5, verify=self.verify)
                if ready.status_code == 200:
                    return
            except (requests.ConnectionError, requests.Timeout):
                pass
            time.sleep(self.poll_seconds)
        raise RuntimeError(f"bentoml serve was not ready in {timeout} s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        # The server forks workers into its own session; stop the whole group we started.
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def __enter__(self) -> BentoServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def run_to_exit(env: dict[str, str], timeout: float = 90) -> subprocess.CompletedProcess:
    """Return a `bentoml serve` that is expected to refuse to start, once it has exited."""
    return subprocess.run(
        [
            BENTOML,
            "serve",
            "service.service:ModelService",
            "--host",
            "127.0.0.1",
            "--port",
            str(free_port()),
        ],
        cwd=PROJECT_ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
