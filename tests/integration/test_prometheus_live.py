"""A real Prometheus scraping a real `bentoml serve` (two workers) with the project's rules.

Prometheus scrapes every second and evaluates every second; the rules are deploy/prometheus's
with every 15m and 1h window cut to WINDOW, so drift shows within seconds instead of an hour.
The test sends rows drawn from data/iris.csv, then the same with petal_length_cm taken from
the top of its range, and asks Prometheus' HTTP API what it saw.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import requests
import yaml

from scripts.monitor.metrics_text import total
from scripts.pipeline.params import PROJECT_ROOT
from scripts.tools.harness import prometheus_bin
from scripts.tools.harness.bento_process import BentoServer, free_port
from scripts.tools.harness.promql import EXPOSED, dashboard_exprs, regression_only
from scripts.tools.harness.promtool_case import promtool_agrees
from service.model.store import load_model_version
from service.observe.estimate import ExpectedCounts, estimate
from service.scoring.core import Scorer

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        prometheus_bin.find("prometheus") is None,
        reason="prometheus not found: .ci/run unpacks Debian's prometheus package into "
        "/opt/prometheus (or put it on PATH, or set PROMETHEUS_BIN to its folder)",
    ),
]

RULES = PROJECT_ROOT / "deploy" / "prometheus" / "rules.yml"
DASHBOARD = PROJECT_ROOT / "deploy" / "grafana" / "model-service.json"
WINDOW = "30s"  # stands in for the rules' 15m and 1h
KEY = "prometheus-live-test-key-0123456789"
JOB = "model-service"
SHIFTED = "petal_length_cm"
ROWS_PER_REQUEST = 50
REQUESTS_PER_PHASE = 40  # 2,000 rows: above the alert's floor of 1,000 rows in the window


def short_window_rules(window: str) -> dict:
    """Return rules.yml with every [15m] and [1h] range cut to `window`; names stay."""
    rules = yaml.safe_load(RULES.read_text())
    for group in rules["groups"]:
        for rule in group["rules"]:
            rule["expr"] = re.sub(r"\[(15m|1h)\]", f"[{window}]", rule["expr"])
    return rules


class Prometheus:
    """A Prometheus on a free loopback port, with its config, rules and data in `folder`."""

    def __init__(self, folder: Path, target: str, rules: dict):
        self.folder = folder
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        (folder / "rules.yml").write_text(yaml.safe_dump(rules, sort_keys=False))
        (folder / "key").write_text(KEY + "\n")
        config = {
            "global": {
                "scrape_interval": "1s",
                "scrape_timeout": "1s",
                "evaluation_interval": "1s",
            },
            "rule_files": ["rules.yml"],
            "scrape_configs": [
                {
                    "job_name": JOB,
                    "authorization": {"type": "Bearer", "credentials_file": str(folder / "key")},
                    "static_configs": [{"targets": [target]}],
                }
            ],
        }
        (folder / "prometheus.yml").write_text(yaml.safe_dump(config))
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> Prometheus:
        with open(self.folder / "prometheus.log", "wb") as log:
            self.process = subprocess.Popen(
                [
                    str(prometheus_bin.find("prometheus")),
                    f"--config.file={self.folder / 'prometheus.yml'}",
                    f"--storage.tsdb.path={self.folder / 'data'}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                ],
                cwd=self.folder,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            wait_for(lambda: self._ready(), 30, "Prometheus to be ready")
        except BaseException:
            self.stop()
            raise
        return self

    def _ready(self) -> bool:
        if self.process.poll() is not None:
            raise RuntimeError(f"prometheus exited:\n{self.log()}")
        try:
            return requests.get(f"{self.url}/-/ready", timeout=2).status_code == 200
        except requests.ConnectionError:
            return False

    def log(self) -> str:
        return (self.folder / "prometheus.log").read_text(errors="replace")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.kill(self.process.pid, signal.SIGTERM)  # only the one process this test started
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def __exit__(self, *exc) -> None:
        self.stop()

    def query(self, expr: str) -> dict[str, float]:
        """Return the instant vector of `expr` as {one label's value or '': value}."""
        answer = requests.get(f"{self.url}/api/v1/query", params={"query": expr}, timeout=10)
        body = answer.json()
        assert body["status"] == "success", f"{expr}: {body}"
        return {
            sample["metric"].get("feature", ""): float(sample["value"][1])
            for sample in body["data"]["result"]
        }

    def series(self, expr: str) -> list:
        answer = requests.get(f"{self.url}/api/v1/query", params={"query": expr}, timeout=10)
        body = answer.json()
        assert body["status"] == "success", f"{expr}: {body}"
        return body["data"]["result"]

    def alerts(self) -> list[dict]:
        return requests.get(f"{self.url}/api/v1/alerts", timeout=10).json()["data"]["alerts"]


def wait_for(condition: Callable[[], object], timeout: float, what: str):
    """Return the first truthy result of `condition`, polled until `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.5)
    raise AssertionError(f"gave up waiting {timeout} s for {what}")


def scraped_names(metrics: str) -> set[str]:
    return {
        re.split(r"[{ ]", line, maxsplit=1)[0]
        for line in metrics.splitlines()
        if line and not line.startswith("#")
    }


@pytest.fixture(scope="module")
def features() -> pd.DataFrame:
    return pd.read_csv(PROJECT_ROOT / "data" / "iris.csv").drop(columns=["species"])


@pytest.fixture(scope="module")
def stack(iris_run, tmp_path_factory):
    folder = tmp_path_factory.mktemp("prometheus")
    # The same version as its own shadow candidate, so every series of the dashboard exists.
    env = {
        "MODEL_TAG": iris_run.tag,
        "API_KEYS": KEY,
        "WORKERS": "2",
        "CANDIDATE_MODEL_TAG": iris_run.tag,
        "CANDIDATE_MODE": "shadow",
    }
    with BentoServer(env, folder / "server.log") as server:
        target = server.url.removeprefix("http://")
        with Prometheus(folder, target, short_window_rules(WINDOW)) as prometheus:
            # A scrape before any traffic, so increase() counts the first rows too.
            wait_for(
                lambda: prometheus.query(f'up{{job="{JOB}"}}').get("") == 1,
                30,
                "the first scrape of the service",
            )
            yield server, prometheus


def send(
    server: BentoServer, frame: pd.DataFrame, rng, shift: bool, batches: list[pd.DataFrame]
) -> int:
    """Send REQUESTS_PER_PHASE batches sampled from `frame` over about 10 s, adding each to
    `batches`; return the rows."""
    high = frame[SHIFTED].quantile(0.9), frame[SHIFTED].max()
    rows = 0
    for _ in range(REQUESTS_PER_PHASE):
        batch = frame.sample(ROWS_PER_REQUEST, replace=True, random_state=rng)
        if shift:
            batch = batch.assign(**{SHIFTED: rng.uniform(*high, size=len(batch)).round(1)})
        answer = requests.post(
            f"{server.url}/predict",
            json={"records": batch.to_dict("records")},
            headers={"Authorization": f"Bearer {KEY}"},
            timeout=30,
        )
        assert answer.status_code == 200, answer.text
        batches.append(batch)
        rows += len(batch)
        # Its own label as the truth: live accuracy series exist once labels are matched.
        label = requests.post(
            f"{server.url}/feedback",
            json={
                "request_id": answer.headers["X-Request-ID"],
                "label": answer.json()["predictions"][0],
            },
            headers={"Authorization": f"Bearer {KEY}"},
            timeout=30,
        )
        assert label.status_code == 200, label.text
        time.sleep(0.25)
    return rows


def drift_alerts(prometheus: Prometheus) -> list[dict]:
    return [a for a in prometheus.alerts() if a["labels"]["alertname"] == "FeatureDrift"]


@dataclass
class Observed:
    """What Prometheus said after each phase of traffic."""

    features: list[str]
    psi_like_training: dict[str, float]
    alerts_like_training: list[dict]
    psi_shifted: dict[str, float]
    alerts_shifted: list[dict]
    rows_sent: int
    rows_counted: float
    metrics: str  # the service's /metrics at the end
    batches: list[pd.DataFrame]  # every batch answered, in order
    estimated_shifted: dict[str, float]  # model_service:estimated_accuracy:1h, by model


@pytest.fixture(scope="module")
def observed(stack, features) -> Observed:
    server, prometheus = stack
    rng = np.random.default_rng(11)
    names = list(features.columns)
    psi = f'model_service:feature_psi:1h{{job="{JOB}"}}'
    rows_in_window = f'model_service:drift_feature_rows:increase1h{{job="{JOB}"}}'
    key = {"Authorization": f"Bearer {KEY}"}

    # One rejected request and one without a key, so every series of the service exists.
    bad = {"records": [{**features.iloc[0].to_dict(), "sepal_length_cm": 1000.0}]}
    assert (
        requests.post(f"{server.url}/predict", json=bad, headers=key, timeout=30).status_code == 400
    )
    assert requests.post(f"{server.url}/predict", json=bad, timeout=30).status_code == 401

    batches: list[pd.DataFrame] = []
    sent = send(server, features, rng, shift=False, batches=batches)
    like_training = wait_for(
        lambda: (
            (found := prometheus.query(psi)).keys() == set(names)
            and min(prometheus.query(rows_in_window).values()) >= 1000
            and found
        ),
        30,
        "PSI of every feature over at least 1,000 rows like the training data",
    )
    alerts_like_training = drift_alerts(prometheus)

    sent += send(server, features, rng, shift=True, batches=batches)
    shifted = wait_for(
        lambda: (found := prometheus.query(psi)).get(SHIFTED, 0) > 0.2 and found,
        30,
        f"PSI of {SHIFTED} above 0.2",
    )
    alerts_shifted = wait_for(lambda: drift_alerts(prometheus), 30, "the FeatureDrift alert")
    estimated = f'model_service:estimated_accuracy:1h{{job="{JOB}"}}'
    estimated_shifted = {
        sample["metric"]["model"]: float(sample["value"][1])
        for sample in wait_for(lambda: prometheus.series(estimated), 10, "the estimate rule")
    }

    total = f'sum(model_service_predictions_total{{job="{JOB}"}})'
    counted = wait_for(
        lambda: (found := prometheus.query(total).get("")) == sent and found,
        10,
        f"Prometheus to count {sent} predicted rows",
    )
    metrics = requests.get(f"{server.url}/metrics", headers=key, timeout=10).text
    return Observed(
        names,
        like_training,
        alerts_like_training,
        shifted,
        alerts_shifted,
        sent,
        counted,
        metrics,
        batches,
        estimated_shifted,
    )


def test_psi_stays_low_for_traffic_like_the_training_data(observed):
    assert max(observed.psi_like_training.values()) < 0.2, observed.psi_like_training
    assert observed.alerts_like_training == []


def test_psi_crosses_the_threshold_only_for_the_shifted_feature(observed):
    assert observed.psi_shifted.keys() == set(observed.features)
    assert observed.psi_shifted[SHIFTED] > 0.2
    others = {name: v for name, v in observed.psi_shifted.items() if name != SHIFTED}
    assert max(others.values()) < 0.2, observed.psi_shifted


def test_the_drift_alert_goes_pending_for_the_shifted_feature(observed):
    found = [(a["labels"]["feature"], a["state"]) for a in observed.alerts_shifted]
    assert found == [(SHIFTED, "pending")]  # `for: 15m` keeps it from firing in this test
    assert observed.alerts_shifted[0]["labels"]["severity"] == "warning"


def test_counts_equal_the_rows_sent_over_both_workers(observed):
    assert observed.rows_counted == observed.rows_sent
    predicted = sum(
        float(line.rsplit(" ", 1)[1])
        for line in observed.metrics.splitlines()
        if line.startswith("model_service_predictions_total{")
    )
    assert predicted == observed.rows_sent
    assert len(set(re.findall(r'pid="(\d+)"', observed.metrics))) == 2, "both workers answered"


def service_estimate(version, batches: list[pd.DataFrame]) -> ExpectedCounts:
    """Return the expected counts the service's own code gives for the rows sent."""
    frame = pd.concat(batches, ignore_index=True)
    scored = Scorer(version).score({name: frame[name].to_numpy() for name in version.schema.names})
    return estimate(version.calibrator, scored.probabilities)


def test_the_estimate_counters_hold_the_estimate_of_the_rows_sent(observed, iris_run):
    version = load_model_version(iris_run.tag)
    expected = service_estimate(version, observed.batches)
    for name, sums in (
        ("model_service_expected_true_positives_total", expected.true_positives),
        ("model_service_expected_actual_total", expected.actual),
    ):
        scraped = [
            total(observed.metrics, name, model=version.tag, **{"class": c})
            for c in version.calibrator.classes
        ]
        np.testing.assert_allclose(scraped, sums, rtol=1e-9, atol=1e-6)
    assert expected.rows == observed.rows_sent


def test_prometheus_holds_the_estimate_of_the_rows_sent(stack, observed, iris_run):
    _, prometheus = stack
    (estimated,) = observed.estimated_shifted.values()  # the rule, while rows came in
    assert 0 < estimated <= 1
    version = load_model_version(iris_run.tag)
    expected = service_estimate(version, observed.batches).metrics()
    whole = prometheus.query(
        f'sum(model_service_expected_true_positives_total{{job="{JOB}"}})'
        f' / sum(model_service_expected_actual_total{{job="{JOB}"}})'
    )[""]
    assert whole == pytest.approx(expected["accuracy"], abs=1e-9)


def test_the_recording_rules_turn_the_real_scrape_into_the_service_estimate(
    observed, iris_run, tmp_path
):
    # The scraped counters, as promtool series growing at a tenth of their total a minute:
    # every ratio the rules take is the ratio of the totals.
    version = load_model_version(iris_run.tag)
    series = []
    for name in (
        "model_service_expected_true_positives_total",
        "model_service_expected_actual_total",
        "model_service_predictions_total",
    ):
        for c in version.calibrator.classes:
            value = total(observed.metrics, name, model=version.tag, **{"class": c})
            series.append(
                {
                    "series": f'{name}{{job="j", model="{version.tag}", class="{c}"}}',
                    "values": f"0+{value / 10!r}x30",
                }
            )
    expected = service_estimate(version, observed.batches).metrics()
    rules = {
        "model_service:estimated_accuracy:1h": expected["accuracy"],
        "model_service:estimated_precision_macro:1h": expected["precision_macro"],
        "model_service:estimated_recall_macro:1h": expected["recall_macro"],
        "model_service:estimated_f1_macro:1h": expected["f1_macro"],
    }
    done = promtool_agrees(RULES, tmp_path, series, rules, f'{{job="j", model="{version.tag}"}}')
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_series_the_rules_and_dashboard_may_read_is_in_a_real_scrape(observed):
    missing = EXPOSED - scraped_names(observed.metrics)
    assert not missing, (
        f"scripts/tools/harness/promql.py lists series /metrics lacks: {sorted(missing)}"
    )


def test_every_dashboard_query_runs_and_finds_series(stack, observed):
    _, prometheus = stack
    empty = []
    for expr in dashboard_exprs(json.loads(DASHBOARD.read_text())):
        if regression_only(expr):
            continue  # this stack serves a classifier: tests/integration/test_regression.py
        plain = (
            expr.replace("$__rate_interval", "5m").replace("$job", JOB).replace("$feature", SHIFTED)
        )
        if not prometheus.series(plain):
            empty.append(plain)
    assert not empty, f"queries that found nothing: {empty}"


def test_the_service_metrics_pass_promtool_lint(observed):
    # `promtool check metrics` flags names and types Prometheus advises against (a counter
    # without _total, a unit in the wrong place). BentoML's own series are not ours to fix.
    done = subprocess.run(
        [str(prometheus_bin.find("promtool")), "check", "metrics"],
        input=observed.metrics,
        capture_output=True,
        text=True,
        check=False,
    )
    problems = [
        line for line in (done.stdout + done.stderr).splitlines() if "model_service_" in line
    ]
    assert not problems, done.stdout + done.stderr
