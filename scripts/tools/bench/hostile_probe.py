"""Replay issue 11's hostile-input findings against a real `bentoml serve`, and print a table.

    python -m scripts.tools.bench.hostile_probe [--model TAG]

Every request goes to 127.0.0.1 and every loop is bounded. For each finding it prints the
answer's status, how long the answer took, the worker's resident memory against its idle size,
and the size of /metrics. A measurement, not a test: tests/integration/test_hostile_input.py
asserts the same properties.
"""

from __future__ import annotations

import argparse
import json
import select
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import requests

from scripts.tools.bench.service import sample_records, worker_rss_mib
from scripts.tools.harness.bento_process import BentoServer

KEY = "probe-key-5e1f0c"
AUTH = {"Authorization": f"Bearer {KEY}"}


def raw_request(
    port: int, head: bytes, body_chunks: Iterable[bytes], timeout: float = 10.0
) -> tuple[int, float]:
    """Send `head`, then body chunks until the server answers; return (status, seconds).

    Chunks go out whole (partial sends are resumed), so the server sees a well-formed body
    for as long as it reads. A status of 0 means it closed the connection without an answer.
    """
    started = time.monotonic()
    chunks = iter(body_chunks)
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(head)
        sock.setblocking(False)
        pending = next(chunks, b"")
        while time.monotonic() - started < timeout:
            writers = [sock] if pending else []
            readable, writable, _ = select.select([sock], writers, [], timeout)
            if readable:
                break
            if writable:
                try:
                    pending = pending[sock.send(pending) :] or next(chunks, b"")
                except (BrokenPipeError, ConnectionResetError):
                    break
        sock.setblocking(True)
        sock.settimeout(timeout)
        answer = b""
        try:
            while b"\r\n" not in answer:
                received = sock.recv(65536)
                if not received:
                    break
                answer += received
        except (ConnectionResetError, TimeoutError):
            pass
    status = int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/") else 0
    return status, time.monotonic() - started


def post_head(path: str, extra: str) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {KEY}\r\n{extra}\r\n"
    ).encode()


def timed(call: Callable[[], requests.Response]) -> tuple[int, float, int]:
    started = time.monotonic()
    answer = call()
    return answer.status_code, time.monotonic() - started, len(answer.content)


def probes(server: BentoServer, record: dict) -> dict[str, Callable[[], tuple]]:
    url = server.url

    def post(body, path="/predict", headers=AUTH):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        return requests.post(
            url + path,
            data=data,
            timeout=30,
            headers={"Content-Type": "application/json", **headers},
        )

    def unknown_paths():
        started = time.monotonic()
        with requests.Session() as session:
            statuses = {
                session.get(f"{url}/random-{n}", headers=AUTH, timeout=30).status_code
                for n in range(2000)
            }
        return "/".join(map(str, sorted(statuses))), (time.monotonic() - started) / 2000, 0

    def four_bodies():
        results = []
        head = post_head("/predict", "Content-Length: 50000000\r\n")
        threads = [
            threading.Thread(
                target=lambda: results.append(raw_request(server.port, head, [b"x" * 10**6] * 50))
            )
            for _ in range(4)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        return "/".join(str(status) for status, _ in results), max(s for _, s in results), 0

    def header_100_mb():
        head = b"GET /livez HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: "
        status, seconds = raw_request(server.port, head, [b"h" * 10**6] * 100)
        return status, seconds, 0

    def forged_line():
        forged = "2026-01-01T00:00:00+0000 [INFO] FORGED"
        status, seconds, size = timed(lambda: post({"records": [{**record, f"x\n{forged}": 1}]}))
        time.sleep(0.3)
        forged_lines = sum(line.startswith(forged) for line in server.log().splitlines())
        return f"{status}, {forged_lines} forged line(s)", seconds, size

    return {
        "1 unknown paths (2,000 GETs, s per request)": unknown_paths,
        "2 150 MB body, Content-Length": lambda: (
            *raw_request(
                server.port,
                post_head("/predict", "Content-Length: 150000000\r\n"),
                [b"x" * 10**6] * 150,
            ),
            0,
        ),
        "2 150 MB body, chunked": lambda: (
            *raw_request(
                server.port,
                post_head("/predict", "Transfer-Encoding: chunked\r\n"),
                [b"%x\r\n%s\r\n" % (10**6, b"x" * 10**6)] * 150,
            ),
            0,
        ),
        "2 four 50 MB bodies at once": four_bodies,
        "3 100,000 unknown keys in 1 MB": lambda: timed(
            lambda: post({"records": [{**record, **{f"k{i:06d}": 1 for i in range(100_000)}}]})
        ),
        "3 a 1 MB value": lambda: timed(
            lambda: post({"records": [{**record, next(iter(record)): "v" * 10**6}]})
        ),
        "3 a 1 MB key": lambda: timed(lambda: post({"records": [{**record, "k" * 10**6: 1}]})),
        "4 a newline in a field name": forged_line,
        "5 multipart without a boundary": lambda: timed(
            lambda: post(b"x", "/predict_csv", {**AUTH, "Content-Type": "multipart/form-data"})
        ),
        "6 a 100 MB header": header_100_mb,
        "9 no API key": lambda: timed(lambda: post({"records": [record]}, headers={})),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="model tag (default: <model_name>:latest from params.yaml)")
    args = parser.parse_args()
    from service.model.store import find_model
    from service.settings import default_model_name

    tag = str(find_model(args.model or f"{default_model_name()}:latest").tag)
    record = sample_records(tag, 1)[0]
    log = Path(tempfile.mkdtemp()) / "server.log"
    env = {"MODEL_TAG": tag, "API_KEYS": KEY, "REJECTION_LOG_SECONDS": "0"}
    with BentoServer(env, log) as server:
        for _ in range(50):
            requests.post(
                server.url + "/predict", json={"records": [record]}, headers=AUTH, timeout=30
            )
        idle = worker_rss_mib(server.process.pid)
        before = len(requests.get(server.url + "/metrics", headers=AUTH, timeout=30).content)
        print(f"model {tag}, one worker, idle worker RSS {idle:.0f} MiB, /metrics {before} bytes\n")
        print("| finding | answer | seconds | worker RSS MiB after | /metrics bytes | body bytes |")
        print("| --- | --- | --- | --- | --- | --- |")
        for label, probe in probes(server, record).items():
            status, seconds, size = probe()
            metrics = len(requests.get(server.url + "/metrics", headers=AUTH, timeout=30).content)
            rss = worker_rss_mib(server.process.pid)
            print(
                f"| {label} | {status} | {seconds:.3f} | {rss:.0f} ({rss / idle:.2f}x) "
                f"| {metrics} | {size} |"
            )
        lines = server.log().splitlines()
        print(f"\nserver log: {len(lines)} lines, the longest {max(map(len, lines))} characters")
    return 0


if __name__ == "__main__":
    sys.exit(main())
