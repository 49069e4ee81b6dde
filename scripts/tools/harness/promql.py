"""What the Prometheus rules and the Grafana dashboard read: their PromQL and its metric names.

The tests use it to check that every metric a rule or a panel queries is one the service
exposes (EXPOSED, checked against a real scrape in tests/integration/test_prometheus_live.py)
or one the rules record. Prometheus 2.42 has no query parser on the command line, so the
names are read with a small lexer: strings, label matchers, ranges and grouping labels are
removed first, then what is left that is neither a keyword nor a function is a metric.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

# The series /metrics exposes: the service's own (service/observe/metrics.py) and BentoML's.
EXPOSED = frozenset(
    {
        "model_service_rejected_requests_total",
        "model_service_failed_expectations_total",
        "model_service_auth_failures_total",
        "model_service_predictions_total",
        "model_service_request_rows_bucket",
        "model_service_request_rows_sum",
        "model_service_request_rows_count",
        "model_service_stage_seconds_bucket",
        "model_service_stage_seconds_sum",
        "model_service_stage_seconds_count",
        "model_service_model_info",
        "model_service_drift_rows_total",
        "model_service_drift_reference_share",
        "model_service_prediction_bin_rows_total",
        "model_service_prediction_reference_share",
        "model_service_live_labelled_total",
        "model_service_live_correct_total",
        "model_service_heldout_accuracy",
        "model_service_expected_true_positives_total",
        "model_service_expected_actual_total",
        "model_service_shadow_requests_total",
        "model_service_shadow_agreement_total",
        "model_service_shadow_probability_difference_bucket",
        "model_service_shadow_seconds_bucket",
        "bentoml_service_request_total",
        "bentoml_service_request_duration_seconds_bucket",
        "bentoml_service_request_duration_seconds_sum",
        "bentoml_service_request_duration_seconds_count",
        "bentoml_service_request_in_progress",
    }
)
# What only a regressor's /metrics has: a classifier's scrape lacks these, and so do the
# recorded series and the dashboard queries built on them (REGRESSION_RECORDED).
REGRESSION_EXPOSED = frozenset(
    {
        "model_service_live_error_rows_total",
        "model_service_live_absolute_error_total",
        "model_service_live_squared_error_total",
        "model_service_heldout_rmse",
        "model_service_heldout_mae",
    }
)
REGRESSION_RECORDED_PREFIXES = (
    "model_service:live_error",
    "model_service:live_absolute_error",
    "model_service:live_squared_error",
    "model_service:live_mae",
    "model_service:live_rmse",
    "model_service:heldout_rmse",
    "model_service:heldout_mae",
)


def regression_only(expr: str) -> bool:
    """Return whether a query reads series only a regressor's service has."""
    return any(name in expr for name in (*REGRESSION_EXPOSED, *REGRESSION_RECORDED_PREFIXES))


_KEYWORDS = frozenset(
    {
        # aggregations, which may be followed by `by (...)` before their parenthesis
        "sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values",
        "bottomk", "topk", "quantile",
        # binary operators, modifiers and literals
        "and", "or", "unless", "atan2", "by", "without", "on", "ignoring", "group_left",
        "group_right", "bool", "offset", "inf", "nan",
    }
)  # fmt: skip
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_MATCHERS = re.compile(r"\{[^{}]*\}")
_RANGE = re.compile(r"\[[^\[\]]*\]")
_GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
_OFFSET = re.compile(r"\boffset\s+-?[0-9a-z]+")
_NUMBER = re.compile(r"(?<![\w:])(?:0x[0-9a-fA-F]+|\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|\.\d+)")
_IDENTIFIER = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")
# Grafana's template variables: intervals become a duration, the rest a plain value.
_GRAFANA_INTERVAL = re.compile(r"\$(?:__rate_interval|__interval|__range)\b|\$\{__\w+\}")
_GRAFANA_VARIABLE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)")
_LABEL_VALUES = re.compile(r"^\s*label_values\((.*),\s*\w+\s*\)\s*$", re.DOTALL)


def metric_names(expr: str) -> set[str]:
    """Return the metric names a PromQL expression reads."""
    text = _STRING.sub('""', expr)
    text = _MATCHERS.sub(" ", text)
    text = _RANGE.sub(" ", text)
    text = _GROUPING.sub(r"\1", text)
    text = _OFFSET.sub(" ", text)
    text = _NUMBER.sub(" ", text)
    names = set()
    for match in _IDENTIFIER.finditer(text):
        name = match.group()
        is_call = text[match.end() :].lstrip().startswith("(")
        if name.lower() not in _KEYWORDS and not is_call:
            names.add(name)
    return names


def without_grafana_variables(expr: str) -> str:
    """Return a Grafana query as plain PromQL: $__rate_interval as 5m, $job as a value."""
    expr = _GRAFANA_INTERVAL.sub("5m", expr)
    return _GRAFANA_VARIABLE.sub("x", expr)


def rule_exprs(rules: dict) -> list[str]:
    """Return the expression of every rule in a Prometheus rules file."""
    return [rule["expr"] for group in rules["groups"] for rule in group["rules"]]


def recorded_names(rules: dict) -> set[str]:
    """Return the names the recording rules of a rules file write."""
    return {
        rule["record"] for group in rules["groups"] for rule in group["rules"] if "record" in rule
    }


def dashboard_exprs(dashboard: dict) -> list[str]:
    """Return every PromQL query of a Grafana dashboard: its panels' and its variables'.

    A variable's `label_values(SELECTOR, label)` gives SELECTOR. Grafana variables are left in.
    """
    exprs = [
        target["expr"]
        for panel in _panels(dashboard.get("panels", []))
        for target in panel.get("targets", [])
        if "expr" in target
    ]
    for variable in dashboard.get("templating", {}).get("list", []):
        if variable.get("type") != "query":
            continue
        query = variable["query"]
        query = query["query"] if isinstance(query, dict) else query
        found = _LABEL_VALUES.match(query)
        exprs.append(found.group(1) if found else query)
    return exprs


def _panels(panels: Iterable[dict]) -> Iterable[dict]:
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels", []))  # the panels of a collapsed row
