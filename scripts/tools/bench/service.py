"""Benchmark the model service against a constant BentoML endpoint, and print a table.

    python -m scripts.tools.bench.service [--model TAG] [--duration 5] [--rounds 3] [--soak 60]

Starts, one after another and with the same worker settings, every server of SERVERS: the
service as shipped (compiled validation, ONNX) and with each switch turned, the same service on
GX's engine and scikit-learn, a BentoML endpoint that takes the same payload and returns a
constant, and the floor. wrk drives them on loopback in turns, round after round, and the
medians are printed; then each is soaked alone for its memory figure. Figures are printed,
never asserted: this is a measurement, not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import requests

from scripts.monitor.metrics_text import total
from scripts.pipeline.params import PROJECT_ROOT
from scripts.tools.harness.bento_process import BentoServer, descendants
from service.observe.prediction_log import LOG_GLOB

BENCH_KEY = "bench-key-0123456789abcdef"
# label: (serve target, environment, request headers)
SERVERS = {
    "service (compiled + ONNX)": ("service.service:ModelService", {}, {}),
    "service, API key on": (
        "service.service:ModelService",
        {"API_KEYS": BENCH_KEY},
        {"Authorization": f"Bearer {BENCH_KEY}"},
    ),
    "service (GX + scikit-learn)": (
        "service.service:ModelService",
        {"VALIDATION_ENGINE": "gx", "PREDICTION_ENGINE": "sklearn"},
        {},
    ),
    "service, monitoring off": ("service.service:ModelService", {"MONITORING": "0"}, {}),
    # The folder is made per run (an empty value here); after the soak the log is checked.
    "service, prediction log on": (
        "service.service:ModelService",
        {"PREDICTION_LOG_DIR": "", "PUBLIC_METRICS": "1"},
        {},
    ),
    # The served version as its own shadow (an empty tag here is filled in): the cost of the
    # shadow path whatever the candidate's model costs.
    "service, shadow candidate": (
        "service.service:ModelService",
        {"CANDIDATE_MODEL_TAG": "", "CANDIDATE_MODE": "shadow"},
        {},
    ),
    "constant BentoML endpoint": ("scripts.tools.bench.baseline:ConstantService", {}, {}),
    "floor: uvicorn + starlette + ONNX": ("scripts.tools.bench.floor:app", {}, {}),
}
# The same records asked of the shipped service's own process over the Open Inference Protocol:
# label: how the tensors are sent (tritonclient sends binary by default).
PROTOCOL = {
    "service, /v2 infer, JSON tensors": "json",
    "service, /v2 infer, binary tensors": "binary",
}
FLOOR = "floor: uvicorn + starlette + ONNX"
BASE = "constant BentoML endpoint"
SERVICE = "service (compiled + ONNX)"
# What each switch costs at p50, 1 connection: (label, the server it is compared with).
OVERHEADS = (
    ("service, API key on", SERVICE),
    (SERVICE, "service, monitoring off"),
    ("service, prediction log on", SERVICE),
    ("service, shadow candidate", SERVICE),
    *((label, SERVICE) for label in PROTOCOL),
)


class FloorServer(BentoServer):
    """The floor app under uvicorn alone: one worker, uvloop and httptools, no access log."""

    def command(self) -> list[str]:
        uvicorn = str(Path(sys.executable).parent / "uvicorn")
        return [
            uvicorn,
            self.target,
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--no-access-log",
        ]


ROW_COUNTS = (1, 100, 10_000)


def sample_records(tag: str, rows: int, seed: int = 0) -> list[dict]:
    """Return `rows` records drawn from the model's training data, as a client would send them."""
    from service.model.store import load_model_version

    version = load_model_version(tag)
    schema = version.schema
    categorical = {f.name: "str" for f in schema.features if f.kind == "categorical"}
    frame = pd.read_csv(PROJECT_ROOT / version.lineage["data_path"], dtype=categorical)
    sample = frame[schema.names].sample(rows, replace=True, random_state=seed)
    return json.loads(sample.to_json(orient="records"))


def wrk(
    url: str,
    body_file: Path,
    connections: int,
    seconds: int,
    headers: dict | None = None,
    path: str = "/predict",
) -> dict:
    """Return p50, p99 (ms) and requests/s from one wrk run."""
    script = body_file.with_suffix(".lua")
    extra = "".join(
        f"wrk.headers[{json.dumps(name)}] = {json.dumps(value)}\n"
        for name, value in (headers or {}).items()
    )
    script.write_text(
        'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
        + extra
        + f"local f = io.open({json.dumps(str(body_file))}, 'rb')\n"
        "wrk.body = f:read('*a')\nf:close()\n"
    )
    done = subprocess.run(
        [
            "wrk",
            "-t",
            str(min(connections, 2)),
            "-c",
            str(connections),
            "-d",
            f"{seconds}s",
            "--latency",
            "-s",
            str(script),
            url + path,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return {
        "p50_ms": _latency(done.stdout, "50%"),
        "p99_ms": _latency(done.stdout, "99%"),
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", done.stdout).group(1)),
        "non_2xx": int(m.group(1)) if (m := re.search(r"Non-2xx.*?:\s+(\d+)", done.stdout)) else 0,
    }


def _latency(output: str, percentile: str) -> float:
    value, unit = re.search(rf"{re.escape(percentile)}\s+([\d.]+)(us|ms|s)", output).groups()
    return float(value) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]


def worker_rss_mib(root_pid: int) -> float:
    """Return the resident memory of the largest process under `root_pid` (the worker)."""
    largest = 0
    for pid in descendants(root_pid):
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        if match := re.search(r"VmRSS:\s+(\d+) kB", status):
            largest = max(largest, int(match.group(1)))
    return largest / 1024


def server_side_ms(env: dict[str, str], tag: str) -> dict[int, float]:
    """Return the median in-process time to parse, validate and predict each row count."""
    done = subprocess.run(
        [sys.executable, "-m", "scripts.tools.bench.service", "--inprocess", "--model", tag],
        env={**os.environ, **env, "MODEL_TAG": tag},
        capture_output=True,
        text=True,
        check=True,
        cwd=PROJECT_ROOT,
    )
    return {int(k): v for k, v in json.loads(done.stdout.splitlines()[-1]).items()}


def inprocess(tag: str) -> None:
    """Print, as JSON, the median ms to parse, validate and predict 1, 100 and 10,000 rows."""
    from service.declaration import Declaration
    from service.runtime import Runtime
    from service.scoring.core import Scored

    # The runtime each worker builds at start-up, from the same environment (MODEL_TAG is the
    # tag); its threads stay unstarted, so only the scoring path runs.
    runtime = Runtime(Declaration.from_env())
    timings = {}
    for rows in ROW_COUNTS:
        body = json.dumps({"records": sample_records(tag, rows)}).encode()
        repeats = 200 if rows == 1 else 50 if rows == 100 else 10
        samples = []
        for _ in range(repeats + 2):
            started = time.perf_counter()
            answer = runtime.scorer.score(runtime.parser.parse(body))
            samples.append((time.perf_counter() - started) * 1e3)
            assert isinstance(answer, Scored), answer
        timings[rows] = statistics.median(samples[2:])
    print(json.dumps(timings))


def drift_counting_us(features: int = 20) -> dict[int, float]:
    """Return the µs per row of counting batches into 10 quantile bins per feature."""
    from service.observe.drift import feature_bins, quantile_edges
    from service.observe.monitoring import DriftCounter

    rng = np.random.default_rng(0)
    training = rng.normal(size=(10_000, features))
    reference = {}
    for column in range(features):
        edges = quantile_edges(training[:, column], 10)
        reference[f"f{column}"] = {
            "kind": "numeric",
            "bin_edges": edges.tolist(),
            "bin_shares": [0.1] * (len(edges) - 1),
            "null_share": 0.0,
        }
    counter = DriftCounter(feature_bins(reference))
    timings = {}
    for rows in (1, 100, 1_000):
        batch = {f"f{c}": rng.normal(size=rows) for c in range(features)}
        repeats = max(20, 20_000 // rows)
        started = time.perf_counter()
        for _ in range(repeats):
            counter.count(batch)
        timings[rows] = (time.perf_counter() - started) / repeats / rows * 1e6
    return timings


def estimate_counting_us(classes: int = 3) -> dict[int, float]:
    """Return the µs per row of the label-free estimate: probabilities counted, calibrated and
    summed (buffered one-row requests included, so the flush's calibration is in the figure)."""
    from service.model.calibration import Calibrator
    from service.observe.estimate import EstimateCounter

    rng = np.random.default_rng(0)
    # Isotonic breakpoints of the size a few thousand held-out rows give.
    x = [np.sort(rng.uniform(size=200)) for _ in range(classes)]
    y = [np.sort(rng.uniform(size=200)) for _ in range(classes)]
    calibrator = Calibrator([f"c{c}" for c in range(classes)], x, y, {})
    timings = {}
    for rows in (1, 100, 1_000):
        counter = EstimateCounter(calibrator)
        batch = rng.dirichlet(np.ones(classes), rows)
        repeats = max(20, 20_000 // rows)
        started = time.perf_counter()
        for _ in range(repeats):
            counter.count(batch)
        counter.counts  # noqa: B018 - the flush calibrates what is still buffered
        timings[rows] = (time.perf_counter() - started) / repeats / rows * 1e6
    return timings


@dataclass
class Bench:
    """One server under test and the figures gathered for it."""

    label: str
    server: BentoServer
    headers: dict
    log_dir: Path | None
    row: dict = field(default_factory=dict)
    runs: dict[str, list[dict]] = field(default_factory=lambda: {"c1": [], "c8": []})
    path: str = "/predict"
    body_file: Path | None = None  # None: the one-row /predict body every server gets
    shares_server: bool = False  # another Bench started it, soaks and stops it


def protocol_bench(service: Bench, label: str, tag: str, folder: Path) -> Bench:
    """Return a Bench that asks the running `service` the same record over /v2 infer."""
    import tritonclient.http as triton

    from service.model.store import load_model_version

    schema = load_model_version(tag).schema
    (record,) = sample_records(tag, 1)
    name = tag.partition(":")[0]
    headers = dict(service.headers)
    body_file = folder / f"{PROTOCOL[label]}_tensors.body"
    if PROTOCOL[label] == "json":
        inputs = [
            {
                "name": f.name,
                "datatype": "FP64" if f.kind == "numeric" else "BYTES",
                "shape": [1],
                "data": [record[f.name]],
            }
            for f in schema.features
        ]
        body_file.write_text(json.dumps({"inputs": inputs}))
    else:
        tensors = []
        for f in schema.features:
            numeric = f.kind == "numeric"
            tensor = triton.InferInput(f.name, [1], "FP64" if numeric else "BYTES")
            value = record[f.name]
            tensor.set_data_from_numpy(
                np.array([np.nan if value is None else value], dtype=np.float64)
                if numeric
                else np.array([value], dtype=object)
            )
            tensors.append(tensor)
        body, header_length = triton.InferenceServerClient.generate_request_body(tensors)
        body_file.write_bytes(body)
        headers["Inference-Header-Content-Length"] = str(header_length)
    bench = Bench(label, service.server, headers, None, dict(service.row), shares_server=True)
    bench.path, bench.body_file = f"/v2/models/{name}/infer", body_file
    answer = requests.post(
        service.server.url + bench.path, data=body_file.read_bytes(), headers=headers, timeout=30
    )
    answer.raise_for_status()
    return bench


def own_home() -> str:
    """Return a BENTOML_HOME of its own for one server, sharing the store's models.

    BentoML wipes $BENTOML_HOME/prometheus_multiproc_dir when a server starts: servers up at
    once in one home would delete each other's metric files.
    """
    from service.model.store import _store_path

    home = Path(tempfile.mkdtemp(prefix="bench-home-"))
    (home / "models").symlink_to(_store_path(), target_is_directory=True)
    return str(home)


def start_one(label: str, target: str, env: dict, headers: dict, tag: str, body_file: Path):
    log = Path(tempfile.mkdtemp()) / "server.log"
    log_dir = None
    if "PREDICTION_LOG_DIR" in env:
        log_dir = Path(tempfile.mkdtemp()) / "predictions"
        env = {**env, "PREDICTION_LOG_DIR": str(log_dir)}
    if env.get("CANDIDATE_MODEL_TAG") == "":
        env = {**env, "CANDIDATE_MODEL_TAG": tag}
    kind = FloorServer if label == FLOOR else BentoServer
    server = kind({**env, "MODEL_TAG": tag, "BENTOML_HOME": own_home()}, log, target=target)
    started = time.perf_counter()
    server.start()
    bench = Bench(label, server, headers, log_dir, {"start_s": time.perf_counter() - started})
    try:
        response = requests.post(
            server.url + "/predict",
            data=body_file.read_bytes(),
            timeout=30,
            headers={"Content-Type": "application/json", **headers},
        )
        response.raise_for_status()
        wrk(server.url, body_file, 8, 3, headers)  # warm-up
        bench.row["rss_warm_mib"] = worker_rss_mib(server.process.pid)
    except BaseException:
        server.stop()  # a server that cannot answer is not left running behind the error
        raise
    return bench


def start_times(tag: str, starts: int) -> dict[str, list[float]]:
    """Return the seconds from `bentoml serve` to /readyz 200 of the shipped service and of the
    constant endpoint, started in turns `starts` times each, one server up at a time."""
    import compileall

    # Bytecode first, as the image has it and as any machine writes it on the first import:
    # where PYTHONDONTWRITEBYTECODE is set, both processes would compile the service's modules
    # again at every start.
    for package in ("service", "scripts"):
        compileall.compile_dir(PROJECT_ROOT / package, quiet=1)
    seconds: dict[str, list[float]] = {SERVICE: [], BASE: []}
    for _ in range(starts):
        for label in seconds:
            target, env, _headers = SERVERS[label]
            env = {**env, "MODEL_TAG": tag, "BENTOML_HOME": own_home()}
            server = BentoServer(env, Path(tempfile.mkdtemp()) / "server.log", target=target)
            server.poll_seconds = 0.02
            started = time.perf_counter()
            server.start()
            seconds[label].append(time.perf_counter() - started)
            server.stop()
    return seconds


def start_table(seconds: dict[str, list[float]]) -> str:
    """Return the start-time figures as a markdown table, with the ratio to the constant one."""
    base = statistics.median(seconds[BASE])
    lines = [
        "| server | start to ready s, median (vs BentoML) | min | max |",
        "| --- | --- | --- | --- |",
    ]
    for label, values in seconds.items():
        median = statistics.median(values)
        lines.append(
            f"| {label} | {median:.2f} ({median / base:.2f}x) | {min(values):.2f} | "
            f"{max(values):.2f} |"
        )
    return "\n".join(lines)


def measure(benches: list[Bench], body_file: Path, args) -> None:
    """Run every figure `args.rounds` times, the servers taking turns, and keep the medians:
    a machine that slows down for a while then slows every server alike."""
    for number in range(args.rounds):
        for connections in (1, 8):
            for bench in benches:
                figures = wrk(
                    bench.server.url,
                    bench.body_file or body_file,
                    connections,
                    args.duration,
                    bench.headers,
                    bench.path,
                )
                bench.runs[f"c{connections}"].append(figures)
        print(f"  round {number + 1} of {args.rounds}: done", file=sys.stderr)
    for bench in benches:
        for name, runs in bench.runs.items():
            for key in ("p50_ms", "p99_ms", "rps"):
                bench.row[f"{name}_{key}"] = statistics.median(run[key] for run in runs)
            bench.row[f"{name}_non_2xx"] = sum(run["non_2xx"] for run in runs)


def soak(bench: Bench, body_file: Path, args) -> None:
    if args.soak:
        bench.row["soak"] = wrk(bench.server.url, body_file, 8, args.soak, bench.headers)
    bench.row["rss_after_soak_mib"] = worker_rss_mib(bench.server.process.pid)
    if bench.log_dir is not None:
        bench.row["prediction_log"] = prediction_log_check(bench.server.url, bench.log_dir)
    print(f"  {bench.label}: soaked", file=sys.stderr)


def bench_all(chosen: dict, tag: str, body_file: Path, args) -> dict[str, dict]:
    """Start every server (one after another, for the start-up figure), measure them in turns,
    then soak each alone for its memory figure, and stop them."""
    benches: list[Bench] = []
    try:
        for label, (target, env, headers) in chosen.items():
            benches.append(start_one(label, target, env, headers, tag, body_file))
            if label == SERVICE:
                benches += [
                    protocol_bench(benches[-1], name, tag, body_file.parent) for name in PROTOCOL
                ]
        measure(benches, body_file, args)
        for bench in benches:
            if not bench.shares_server:
                soak(bench, body_file, args)
    finally:
        for bench in benches:
            if not bench.shares_server:
                bench.server.stop()
    for bench in benches:
        if bench.shares_server:
            bench.row["rss_after_soak_mib"] = results_of(benches, SERVICE)["rss_after_soak_mib"]
            continue
        target, env, _ = chosen[bench.label]
        if target.startswith("service.") and not env:
            bench.row["server_side_ms"] = server_side_ms(env, tag)
    return {bench.label: bench.row for bench in benches}


def results_of(benches: list[Bench], label: str) -> dict:
    return next(bench.row for bench in benches if bench.label == label)


def prediction_log_check(url: str, log_dir: Path, settle_s: float = 10.0) -> dict:
    """Return the records answered, the log's lines and the records dropped, once it settled."""
    lines, deadline = -1, time.monotonic() + settle_s
    while time.monotonic() < deadline:
        counted = sum(path.read_bytes().count(b"\n") for path in log_dir.glob(LOG_GLOB))
        if counted == lines:
            break
        lines = counted
        time.sleep(0.5)
    metrics = requests.get(url + "/metrics", timeout=30).text
    return {
        "answered": int(
            total(
                metrics,
                "bentoml_service_request_total",
                endpoint="/predict",
                http_response_code="200",
            )
        ),
        "lines": lines,
        "dropped": int(
            total(metrics, "model_service_prediction_log_records_total", result="dropped")
        ),
    }


def overheads(results: dict[str, dict]) -> list[str]:
    lines = []
    for label, against in OVERHEADS:
        if label in results and against in results:
            with_it, without = results[label]["c1_p50_ms"], results[against]["c1_p50_ms"]
            rps, rps_without = results[label]["c8_rps"], results[against]["c8_rps"]
            lines.append(
                f"  {label} against {against}: p50 {with_it:.3f} against {without:.3f} ms "
                f"({(with_it / without - 1) * 100:+.1f}%), {rps:.0f} against "
                f"{rps_without:.0f} req/s at 8 connections ({(rps / rps_without - 1) * 100:+.1f}%)"
            )
    return lines


def table(results: dict[str, dict], args) -> str:
    base, floor = results[BASE], results[FLOOR]
    lines = [
        f"| server | p50 ms, 1 conn (vs BentoML, vs floor) | p99 ms, 1 conn "
        f"| req/s, 8 conn (vs BentoML, vs floor) | start to ready s | "
        f"RSS warm MiB | RSS after {args.soak} s MiB | 1 / 100 / 10,000 rows, ms in-process |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for label, r in results.items():
        side = r.get("server_side_ms")
        rows = " / ".join(f"{side[n]:.2f}" for n in ROW_COUNTS) if side else "n/a"
        p50, rps = r["c1_p50_ms"], r["c8_rps"]
        lines.append(
            f"| {label} | {p50:.2f} ({p50 / base['c1_p50_ms']:.2f}x, "
            f"{p50 / floor['c1_p50_ms']:.2f}x) | {r['c1_p99_ms']:.2f} "
            f"| {rps:.0f} ({rps / base['c8_rps']:.2f}x, {rps / floor['c8_rps']:.2f}x) "
            f"| {r['start_s']:.2f} ({r['start_s'] / base['start_s']:.2f}x) "
            f"| {r['rss_warm_mib']:.0f} | {r['rss_after_soak_mib']:.0f} "
            f"({(r['rss_after_soak_mib'] / r['rss_warm_mib'] - 1) * 100:+.1f}%) | {rows} |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="model tag (default: <model_name>:latest from params.yaml)")
    parser.add_argument("--duration", type=int, default=5, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=3, help="runs per figure; medians shown")
    parser.add_argument("--soak", type=int, default=60, help="seconds of load for the RSS figure")
    parser.add_argument(
        "--only",
        action="append",
        choices=list(SERVERS),
        help="bench only this server (repeatable); the constant endpoint and the floor always run",
    )
    parser.add_argument(
        "--starts", type=int, default=5, help="cold starts of the service and the constant one"
    )
    parser.add_argument(
        "--starts-only", action="store_true", help="measure only the start times, then stop"
    )
    parser.add_argument("--inprocess", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    from service.settings import default_model_name

    tag = args.model or f"{default_model_name()}:latest"
    if args.inprocess:
        inprocess(tag)
        return 0
    from service.model.store import find_model

    tag = str(find_model(tag).tag)
    # Cold starts first, one server up at a time: what a new pod pays before it takes traffic.
    seconds = start_times(tag, args.starts)
    print(f"model {tag}, {args.starts} cold starts each, in turns, one server up at a time\n")
    print(start_table(seconds) + "\n")
    if args.starts_only:
        return 0
    if shutil.which("wrk") is None:
        print("wrk is not installed: apt-get install wrk", file=sys.stderr)
        return 2
    body_file = Path(tempfile.mkdtemp()) / "one_row.json"
    body_file.write_text(json.dumps({"records": sample_records(tag, 1)}))
    chosen = {
        label: spec
        for label, spec in SERVERS.items()
        if not args.only or label in args.only or label in (BASE, FLOOR)
    }
    results = bench_all(chosen, tag, body_file, args)
    print(
        f"model {tag}, one worker each, wrk on 127.0.0.1, medians of {args.rounds} rounds of "
        f"{args.duration} s per figure, the servers taking turns\n"
    )
    print(table(results, args))
    print("\nwhat each switch costs, p50 at 1 connection, this run:")
    print("\n".join(overheads(results)))
    for label, r in results.items():
        if check := r.get("prediction_log"):
            print(
                f"\n{label}: {check['answered']} records answered, {check['lines']} log lines, "
                f"{check['dropped']} dropped (8 connections, {args.soak} s soak included)"
            )
    print("\nlive drift counting, in-process, 20 numeric features:")
    for rows, micros in drift_counting_us().items():
        print(f"  {rows:>6} row(s) a batch: {micros:.2f} µs a row")
    for classes in (3, 10):
        print(f"\nlabel-free estimate (CBPE), in-process, {classes} classes:")
        for rows, micros in estimate_counting_us(classes).items():
            print(f"  {rows:>6} row(s) a batch: {micros:.2f} µs a row")
    non_2xx = {label: r["c1_non_2xx"] + r["c8_non_2xx"] for label, r in results.items()}
    if any(non_2xx.values()):
        print(f"\nWARNING: non-2xx answers during load: {non_2xx}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
