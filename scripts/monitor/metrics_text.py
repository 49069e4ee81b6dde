"""Reading figures out of a running service's /metrics (Prometheus text): the promotion gate's
shadow evidence, and the tests' and benchmarks' counts."""

from __future__ import annotations

import urllib.error
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from service.errors import UserError


def fetch(url: str, timeout: float = 10) -> str:
    """Return the /metrics text of the service at `url`, or raise saying why it could not."""
    target = url.rstrip("/") + "/metrics"
    try:
        with urllib.request.urlopen(target, timeout=timeout) as response:  # noqa: S310 - a URL the user names
            return response.read().decode()
    except (urllib.error.URLError, OSError) as error:
        raise UserError(
            f"cannot read {target} ({error}); pass SHADOW_URL=the running service's address "
            "(with PUBLIC_METRICS=1 or the metrics port open to you)"
        )


def totals(metrics: str, name: str, by: str, **labels: str) -> dict[str, float]:
    """Return the sum of the samples named `name` (with `_total`, `_count`... as exposed) whose
    labels include `labels`, for each value of the label `by`."""
    found: dict[str, float] = {}
    for family in text_string_to_metric_families(metrics):
        for sample in family.samples:
            if sample.name != name or any(sample.labels.get(k) != v for k, v in labels.items()):
                continue
            key = sample.labels.get(by, "")
            found[key] = found.get(key, 0.0) + sample.value
    return found


def total(metrics: str, name: str, **labels: str) -> float:
    """Return the sum of the samples named `name` whose labels include `labels`."""
    return sum(totals(metrics, name, "", **labels).values())
