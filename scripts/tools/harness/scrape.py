"""Reading figures out of a /metrics scrape (Prometheus text), for the tests and the benchmark."""

from __future__ import annotations


def total(metrics: str, name: str, **labels: str) -> float:
    """Return the sum of every sample of `name` whose labels include `labels`."""
    found = 0.0
    for line in metrics.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        if all(f'{key}="{value}"' in line for key, value in labels.items()):
            found += float(line.rsplit(" ", 1)[1])
    return found
