"""deploy/prometheus: the rules pass promtool, every alert is unit-tested both ways, and every
metric they read is one the service exposes or a rule records.

promtool comes from Debian's `prometheus` package, unpacked by .ci/run into
/opt/prometheus/usr/bin (or found on PATH or in $PROMETHEUS_BIN); without it the promtool tests
skip and say so, the others still run.
"""

from __future__ import annotations

import math
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import yaml

from scripts.pipeline.params import PROJECT_ROOT
from scripts.tools.harness import prometheus_bin
from scripts.tools.harness.promql import (
    EXPOSED,
    REGRESSION_EXPOSED,
    metric_names,
    recorded_names,
    rule_exprs,
)
from scripts.tools.harness.promtool_case import promtool_agrees

PROMETHEUS_DIR = PROJECT_ROOT / "deploy" / "prometheus"
RULES = PROMETHEUS_DIR / "rules.yml"
RULES_TEST = PROMETHEUS_DIR / "rules_test.yml"
EXAMPLE_CONFIG = PROMETHEUS_DIR / "prometheus.yml"
PROMTOOL = prometheus_bin.find("promtool")
ALERTS = {
    "FeatureDrift",
    "RejectionShareRising",
    "ServerErrors",
    "HighLatencyP99",
    "NoTraffic",
    "ModelVersionChanged",
    "LiveAccuracyLow",
    "LiveErrorHigh",
    "PredictionDrift",
    "EstimatedAccuracyLow",
}
# Groups whose every recording rule the unit tests read directly.
CHECKED_GROUPS = (
    "model_service_prediction_drift",
    "model_service_regression_error",
    "model_service_estimate",
)

needs_promtool = pytest.mark.skipif(
    PROMTOOL is None,
    reason="promtool not found: .ci/run unpacks Debian's prometheus package into "
    "/opt/prometheus (or put it on PATH, or set PROMETHEUS_BIN to its folder)",
)


def promtool(*args: str, cwd: Path = PROMETHEUS_DIR) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(PROMTOOL), *args], capture_output=True, text=True, cwd=cwd, check=False, timeout=120
    )


def load(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def alerting_rules() -> list[dict]:
    return [rule for group in load(RULES)["groups"] for rule in group["rules"] if "alert" in rule]


@needs_promtool
def test_rules_pass_promtool_check():
    done = promtool("check", "rules", str(RULES))
    assert done.returncode == 0, done.stdout + done.stderr
    count = sum(len(group["rules"]) for group in load(RULES)["groups"])
    assert f"SUCCESS: {count} rules found" in done.stdout


@needs_promtool
def test_rules_pass_their_promtool_unit_tests():
    done = promtool("test", "rules", RULES_TEST.name)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout + done.stderr


def test_the_rules_hold_the_alerts_this_file_knows():
    assert {rule["alert"] for rule in alerting_rules()} == ALERTS


def test_the_monitoring_page_explains_every_alert():
    page = (PROJECT_ROOT / "docs" / "monitoring.md").read_text()
    alerts = page.split("\n## Alerts\n", 1)[1].split("\n## ", 1)[0]
    assert all(f"`{alert}`" in alerts for alert in ALERTS)


@pytest.mark.parametrize("rule", alerting_rules(), ids=lambda rule: rule["alert"])
def test_every_alert_waits_has_a_severity_and_says_what_to_do(rule):
    assert rule["for"], "an alert without `for` fires on one bad evaluation"
    assert rule["labels"]["severity"] in {"critical", "warning", "info"}
    assert set(rule["annotations"]) >= {"summary", "description"}
    assert len(rule["annotations"]["description"].split()) >= 30, "say what it means and what to do"


def test_every_alert_has_a_firing_case_and_a_quiet_case_in_the_unit_tests():
    firing, quiet = set(), set()
    for case in load(RULES_TEST)["tests"]:
        for check in case.get("alert_rule_test", []):
            (firing if check.get("exp_alerts") else quiet).add(check["alertname"])
    assert firing == ALERTS, f"no firing case for {ALERTS - firing}"
    assert quiet == ALERTS, f"no case where it must stay quiet for {ALERTS - quiet}"


def unit_tested_names() -> set[str]:
    """Return the metric names the promql_expr_test checks of rules_test.yml read."""
    return {
        name
        for case in load(RULES_TEST)["tests"]
        for check in case.get("promql_expr_test", [])
        for name in metric_names(check["expr"])
    }


def test_the_unit_tests_check_psi_recording_rules():
    psi_rules = {name for name in recorded_names(load(RULES)) if "psi" in name}
    assert psi_rules == {
        "model_service:feature_psi:15m",
        "model_service:feature_psi:1h",
        "model_service:prediction_psi:15m",
        "model_service:prediction_psi:1h",
    }
    assert psi_rules <= unit_tested_names()


@pytest.mark.parametrize("group", CHECKED_GROUPS)
def test_the_unit_tests_check_every_recording_rule_of(group):
    (rules,) = [g["rules"] for g in load(RULES)["groups"] if g["name"] == group]
    recorded = {rule["record"] for rule in rules if "record" in rule}
    assert recorded, f"group {group} records nothing"
    untested = recorded - unit_tested_names()
    assert not untested, f"no promql_expr_test reads {sorted(untested)}"


def test_every_metric_the_rules_read_is_exposed_or_recorded():
    rules = load(RULES)
    read = set().union(*(metric_names(expr) for expr in rule_exprs(rules)))
    unknown = read - EXPOSED - REGRESSION_EXPOSED - recorded_names(rules)
    assert not unknown, f"rules read metrics nobody exposes or records: {sorted(unknown)}"
    # The lexer found the inputs, not nothing.
    assert {"model_service_drift_rows_total", "bentoml_service_request_total"} <= read


def test_metric_names_reads_selectors_but_not_labels_functions_or_durations():
    expr = (
        'histogram_quantile(0.99, sum by (le, endpoint) (rate(a_bucket{job="x", b=~"c|d"}[5m] '
        "offset 1h))) > 1e-4 and on (job) b:recorded:1h unless ignoring (le) c_total"
    )
    assert metric_names(expr) == {"a_bucket", "b:recorded:1h", "c_total"}


@needs_promtool
@pytest.mark.parametrize(
    ("counter", "gauge", "rule", "by"),
    [
        (
            "model_service_drift_rows_total",
            "model_service_drift_reference_share",
            "model_service:feature_psi:15m",
            'feature="f"',
        ),
        (
            "model_service_prediction_bin_rows_total",
            "model_service_prediction_reference_share",
            "model_service:prediction_psi:15m",
            'model="m:1"',
        ),
    ],
    ids=["feature", "prediction"],
)
def test_the_psi_rule_matches_the_service_psi_on_random_shares(tmp_path, counter, gauge, rule, by):
    """The recording rule and service.observe.drift.psi give one PSI for the same counts."""
    drift = pytest.importorskip("service.observe.drift")
    rng = np.random.default_rng(7)
    reference = rng.dirichlet(np.ones(6))
    reference[-1] = 0.0  # an empty bin (unseen), floored on both sides
    reference /= reference.sum()
    per_minute = rng.integers(0, 40, size=6)
    per_minute[2] = 0  # a bin no live row reached
    series = [
        {
            "series": f'{counter}{{job="j", {by}, bin="b{i}"}}',
            "values": f"0+{count}x30",
        }
        for i, count in enumerate(per_minute)
        if count or i != 2  # bin b2 has no series at all, as before its first row
    ]
    series += [
        {
            "series": f'{gauge}{{job="j", {by}, bin="b{i}"}}',
            "values": f"{float(share)!r}x30",
        }
        for i, share in enumerate(reference)
    ]
    expected = drift.psi(per_minute / per_minute.sum(), reference)
    assert math.isfinite(expected) and expected > 0.01
    done = promtool_agrees(RULES, tmp_path, series, {rule: expected}, f'{{job="j", {by}}}')
    assert done.returncode == 0, done.stdout + done.stderr


@needs_promtool
def test_the_estimate_rules_match_the_service_estimate_on_random_counts(tmp_path):
    """The recording rules and service.observe.estimate give the same figures for the same
    calibrated probabilities, summed over two pods."""
    from service.model.calibration import Calibrator
    from service.observe.estimate import ExpectedCounts, estimate

    rng = np.random.default_rng(11)
    classes = ["a", "b", "c", "d"]
    line = np.asarray([0.0, 1.0])
    identity = Calibrator(classes, [line] * 4, [line] * 4, {})
    pods = [rng.dirichlet([2, 1, 1, 0.5], 40) for _ in range(2)]
    pods[1][:, 3] = 0  # one pod never predicts d
    pods[1] /= pods[1].sum(axis=1, keepdims=True)
    total = ExpectedCounts.zeros(4)
    series = []
    for pod, probabilities in enumerate(pods):
        counts = estimate(identity, probabilities)
        total.add(counts)
        for name, values in (
            ("model_service_expected_true_positives_total", counts.true_positives),
            ("model_service_expected_actual_total", counts.actual),
            ("model_service_predictions_total", counts.predicted),
        ):
            series += [
                {
                    "series": f'{name}{{job="j", instance="p{pod}", model="m:1", class="{c}"}}',
                    "values": f"0+{float(value)!r}x30",
                }
                for c, value in zip(classes, values, strict=True)
            ]
    expected = total.metrics()
    rules = {
        "accuracy": "model_service:estimated_accuracy:1h",
        "precision_macro": "model_service:estimated_precision_macro:1h",
        "recall_macro": "model_service:estimated_recall_macro:1h",
        "f1_macro": "model_service:estimated_f1_macro:1h",
    }
    assert 0.3 < expected["accuracy"] < 0.9
    figures = {rule: expected[name] for name, rule in rules.items()}
    done = promtool_agrees(RULES, tmp_path, series, figures, '{job="j", model="m:1"}')
    assert done.returncode == 0, done.stdout + done.stderr


@needs_promtool
def test_the_example_config_passes_promtool_check(tmp_path):
    config = load(EXAMPLE_CONFIG)
    # The key file it names lives on the Prometheus host; point it at a stand-in.
    key = tmp_path / "model-service.key"
    key.write_text("a-key\n")
    (job,) = config["scrape_configs"]
    assert job["authorization"]["credentials_file"]
    job["authorization"]["credentials_file"] = str(key)
    shutil.copy(RULES, tmp_path / "rules.yml")
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    done = promtool("check", "config", "prometheus.yml", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert config["rule_files"] == ["rules.yml"]
