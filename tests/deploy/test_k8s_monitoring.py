"""deploy/k8s/monitoring: a ServiceMonitor and a PrometheusRule for the Prometheus operator.

They are custom resources (monitoring.coreos.com), for which kubernetes-validate has no schema:
it only prints a WARN and passes them. So they stay out of test_k8s_manifests.py's strict run
and are checked here instead: by structure, against the rendered tracks they must scrape, and
the rules by promtool.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from support.manifests import KUBECTL, one, render

from scripts.pipeline.params import PROJECT_ROOT
from scripts.tools.harness import prometheus_bin, prometheus_rule

K8S = PROJECT_ROOT / "deploy" / "k8s"
MONITORING = K8S / "monitoring"
VALIDATE = Path(sys.executable).with_name("kubernetes-validate")
PROMTOOL = prometheus_bin.find("promtool")
TRACKS = ("blue", "green")

pytestmark = pytest.mark.skipif(
    KUBECTL is None, reason="kubectl is not installed, so kustomize cannot render the manifests"
)


@pytest.fixture(scope="module")
def monitoring() -> list[dict]:
    return render(MONITORING)


def selects(selector: dict, labels: dict) -> bool:
    """Return whether a Kubernetes label selector (matchLabels, matchExpressions) matches."""
    if not selector.get("matchLabels", {}).items() <= labels.items():
        return False
    for expression in selector.get("matchExpressions", []):
        key, operator = expression["key"], expression["operator"]
        values = expression.get("values", [])
        present = key in labels
        ok = {
            "Exists": present,
            "DoesNotExist": not present,
            "In": present and labels[key] in values,
            "NotIn": not present or labels[key] not in values,
        }[operator]
        if not ok:
            return False
    return True


def test_monitoring_renders_a_service_monitor_and_a_prometheus_rule(monitoring):
    assert sorted(o["kind"] for o in monitoring) == ["PrometheusRule", "ServiceMonitor"]
    for resource in monitoring:
        assert resource["apiVersion"] == "monitoring.coreos.com/v1"
        assert resource["metadata"]["name"] == "model-service"
        assert resource["metadata"]["labels"]["app.kubernetes.io/part-of"] == "notebook-to-service"


def test_the_prometheus_rule_is_generated_from_rules_yml(monitoring):
    committed = (MONITORING / "prometheusrule.yaml").read_text()
    assert committed == prometheus_rule.render(), (
        "run python -m scripts.tools.harness.prometheus_rule"
    )
    rules = yaml.safe_load(prometheus_rule.RULES.read_text())
    assert one(monitoring, "PrometheusRule")["spec"]["groups"] == rules["groups"]


@pytest.mark.skipif(PROMTOOL is None, reason="promtool not found (see test_prometheus_rules.py)")
def test_the_rendered_prometheus_rule_passes_promtool(monitoring, tmp_path):
    spec = one(monitoring, "PrometheusRule")["spec"]
    (tmp_path / "rules.yml").write_text(yaml.safe_dump(spec))
    done = subprocess.run(
        [str(PROMTOOL), "check", "rules", str(tmp_path / "rules.yml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_service_monitor_scrapes_each_track_once_and_not_the_live_service(monitoring):
    spec = one(monitoring, "ServiceMonitor")["spec"]
    for track in TRACKS:
        service = one(render(K8S / "overlays" / track), "Service")
        assert selects(spec["selector"], service["metadata"]["labels"]), track
    live = one(render(K8S / "live"), "Service")
    assert not selects(spec["selector"], live["metadata"]["labels"]), "pods scraped twice"
    assert spec["targetLabels"] == ["track"]


def test_the_service_monitor_reads_metrics_where_the_pods_serve_them_with_a_key(monitoring):
    (endpoint,) = one(monitoring, "ServiceMonitor")["spec"]["endpoints"]
    service = one(render(K8S / "overlays" / "blue"), "Service")
    template = one(render(K8S / "overlays" / "blue"), "Deployment")["spec"]["template"]
    assert endpoint["port"] in {port["name"] for port in service["spec"]["ports"]}
    assert endpoint["path"] == template["metadata"]["annotations"]["prometheus.io/path"]
    # /metrics needs an API key (PUBLIC_METRICS is not set in the Deployment).
    env = {e["name"] for e in template["spec"]["containers"][0]["env"]}
    assert "PUBLIC_METRICS" not in env
    assert endpoint["authorization"]["type"] == "Bearer"
    assert set(endpoint["authorization"]["credentials"]) == {"name", "key"}


def test_kubernetes_validate_has_no_schema_for_the_operator_resources(monitoring, tmp_path):
    # Why these are checked here and not in the strict run: it can only warn about them.
    manifest = tmp_path / "monitoring.yaml"
    manifest.write_text(yaml.safe_dump_all(monitoring))
    done = subprocess.run(
        [str(VALIDATE), "--strict", "-k", "1.33", str(manifest)],
        capture_output=True,
        text=True,
        check=False,
    )
    warnings = [line for line in (done.stdout + done.stderr).splitlines() if "WARN" in line]
    assert len(warnings) == 2, done.stdout + done.stderr
