"""The service's own Prometheus metrics, made inside each worker on first use.

BentoML points PROMETHEUS_MULTIPROC_DIR at a fresh folder for its workers and builds /metrics
from that folder alone, so a metric created before the worker is set up is silently missing
(DESIGN.md). Making them on first use, in the worker, avoids that whatever imports this module.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from prometheus_client import Counter

PREFIX = "model_service"


@dataclass(frozen=True)
class ServiceMetrics:
    auth_failures: Counter
    rejections: Counter


@cache
def service_metrics() -> ServiceMetrics:
    """Return the metrics of this worker, created on the first call."""
    return ServiceMetrics(
        auth_failures=Counter(
            f"{PREFIX}_auth_failures",
            "Requests refused for a missing or wrong API key, by reason",
            ["reason"],
        ),
        rejections=Counter(
            f"{PREFIX}_rejected_requests",
            "Requests answered with a 4xx of the project's error body, by error and endpoint",
            ["error", "endpoint"],
        ),
    )
