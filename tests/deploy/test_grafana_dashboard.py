"""deploy/grafana: the committed dashboard is what dashboard.py builds, its queries parse, and
every metric they read is exposed by the service or recorded by the rules."""

from __future__ import annotations

import importlib.util
import json
import subprocess

import pytest
import yaml

from scripts.pipeline.params import PROJECT_ROOT
from scripts.tools.harness import prometheus_bin
from scripts.tools.harness.promql import (
    EXPOSED,
    REGRESSION_EXPOSED,
    dashboard_exprs,
    metric_names,
    recorded_names,
    without_grafana_variables,
)

GRAFANA = PROJECT_ROOT / "deploy" / "grafana"
RULES = PROJECT_ROOT / "deploy" / "prometheus" / "rules.yml"
PROMTOOL = prometheus_bin.find("promtool")


def dashboard_module():
    spec = importlib.util.spec_from_file_location("dashboard", GRAFANA / "dashboard.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def dashboard() -> dict:
    return json.loads((GRAFANA / "model-service.json").read_text())


def panels(dashboard: dict) -> list[dict]:
    return [p for p in dashboard["panels"] if p["type"] != "row"]


def test_the_committed_json_is_what_dashboard_py_builds():
    built = dashboard_module().to_json()
    committed = (GRAFANA / "model-service.json").read_text()
    assert built == committed, "run .venv/bin/python deploy/grafana/dashboard.py and commit"


@pytest.mark.skipif(PROMTOOL is None, reason="promtool not found (see test_prometheus_rules.py)")
def test_every_query_parses(dashboard, tmp_path):
    # promtool has no query parser of its own, but `check rules` parses each rule's expr.
    exprs = [without_grafana_variables(expr) for expr in dashboard_exprs(dashboard)]
    rules = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [
                    {"record": f"dashboard:query_{i}", "expr": e} for i, e in enumerate(exprs)
                ],
            }
        ]
    }
    (tmp_path / "queries.yml").write_text(yaml.safe_dump(rules))
    done = subprocess.run(
        [str(PROMTOOL), "check", "rules", "queries.yml"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(exprs)} rules found" in done.stdout


def test_every_metric_a_query_reads_is_exposed_or_recorded(dashboard):
    recorded = recorded_names(yaml.safe_load(RULES.read_text()))
    read = set().union(*(metric_names(expr) for expr in dashboard_exprs(dashboard)))
    unknown = read - EXPOSED - REGRESSION_EXPOSED - recorded
    assert not unknown, f"the dashboard reads metrics nobody exposes or records: {sorted(unknown)}"
    assert {
        "model_service:feature_psi:15m",
        "model_service:prediction_psi:1h",
        "model_service:live_rmse:6h",
        "model_service_predictions_total",
    } <= read


def test_the_dashboard_shows_what_operations_asked_for(dashboard):
    titles = [p["title"].lower() for p in panels(dashboard)]
    for words in (
        ("requests",),
        ("latency", "p50", "p99"),
        ("rejections by error",),
        ("failed expectations", "rule", "column"),
        ("predictions by class",),
        ("psi per feature",),
        ("prediction drift", "psi"),
        ("live accuracy", "estimated accuracy"),
        ("estimated precision", "recall", "f1"),
        ("live regression error", "rmse", "mae"),
        ("model version",),
    ):
        assert any(all(w in t for w in words) for t in titles), f"no panel for {words}"


def test_every_panel_has_a_description_a_query_and_the_chosen_datasource(dashboard):
    for panel in panels(dashboard):
        assert panel["description"], panel["title"]
        assert panel["targets"] and all(t["expr"] for t in panel["targets"]), panel["title"]
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        assert all('job="$job"' in t["expr"] for t in panel["targets"]), panel["title"]


def test_panels_do_not_overlap(dashboard):
    taken = set()
    for panel in dashboard["panels"]:
        grid = panel["gridPos"]
        cells = {
            (x, y)
            for x in range(grid["x"], grid["x"] + grid["w"])
            for y in range(grid["y"], grid["y"] + grid["h"])
        }
        assert not cells & taken, panel["title"]
        assert grid["x"] + grid["w"] <= 24
        taken |= cells
