"""Write deploy/k8s/monitoring/prometheusrule.yaml: the rules of deploy/prometheus/rules.yml as a
PrometheusRule for the Prometheus operator.

    python -m scripts.tools.harness.prometheus_rule           # rewrite it after changing rules.yml
    python -m scripts.tools.harness.prometheus_rule --check   # exit 1 if it differs from rules.yml

kustomize cannot build a custom resource from a file (configMapGenerator makes ConfigMaps
only), and it refuses files outside the kustomization's folder, so the rules are copied in
here; tests/deploy/test_k8s_monitoring.py fails when the copy and rules.yml differ.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

from scripts.pipeline.params import PROJECT_ROOT

RULES = PROJECT_ROOT / "deploy" / "prometheus" / "rules.yml"
OUTPUT = PROJECT_ROOT / "deploy" / "k8s" / "monitoring" / "prometheusrule.yaml"
HEADER = """\
# Generated from deploy/prometheus/rules.yml by scripts/tools/harness/prometheus_rule.py: edit
# rules.yml (and its tests in rules_test.yml), then run the script. Comments on the rules are
# in rules.yml.
"""


class _Dumper(yaml.SafeDumper):
    """Writes multi-line strings (the PromQL) as literal blocks, as rules.yml has them."""


def _string(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _string)


def prometheus_rule(rules: dict) -> dict:
    """Return the PrometheusRule object carrying the groups of a Prometheus rules file."""
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {
            "name": "model-service",
            "labels": {"app.kubernetes.io/name": "model-service"},
        },
        "spec": {"groups": rules["groups"]},
    }


def render(rules_path: Path = RULES) -> str:
    """Return the text of prometheusrule.yaml for the rules in `rules_path`."""
    rules = yaml.safe_load(rules_path.read_text())
    body = yaml.dump(prometheus_rule(rules), Dumper=_Dumper, sort_keys=False, width=100)
    return HEADER + body


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the file is stale")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        if not OUTPUT.exists() or OUTPUT.read_text() != text:
            print(
                f"{OUTPUT} differs from {RULES}; "
                "run python -m scripts.tools.harness.prometheus_rule"
            )
            return 1
        return 0
    OUTPUT.write_text(text)
    print(f"wrote {OUTPUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
