"""What each request tells operations: stage times, rows, classes, rejections, and live drift.

A `prometheus_client` increment costs about 1.4 µs; one per feature per row would cost more than
the model. Per-request counts (classes, drift bins) are added up in numpy and handed to the
Counters at most once a second (and by a timer, so a quiet service still publishes its last
counts); histograms are observed directly, a few per request.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import numpy as np

from service.drift import FeatureBins, feature_bins
from service.metrics import ServiceMetrics, service_metrics
from service.model_version import ModelVersion
from service.predictor import Batch
from service.scoring import Scored, Scorer
from service.validation.results import Rejection

FLUSH_SECONDS = 1.0
OTHER_COLUMN = "_other"  # failures on a column the model does not have: a client's key


class DriftCounter:
    """Counts rows into every feature's reference bins: one numpy vector for all of them."""

    def __init__(self, bins: list[FeatureBins]) -> None:
        self.bins = bins
        self.offsets = np.cumsum([0] + [len(b.labels) for b in bins])[:-1]
        self.counts = np.zeros(sum(len(b.labels) for b in bins), dtype=np.int64)

    def count(self, columns: Batch) -> None:
        for feature, offset in zip(self.bins, self.offsets, strict=True):
            found = feature.bin_of(columns[feature.name])
            if len(found) == 1:
                self.counts[offset + found[0]] += 1
            else:
                self.counts[offset : offset + len(feature.labels)] += np.bincount(
                    found, minlength=len(feature.labels)
                )

    def labels(self) -> list[tuple[str, str]]:
        return [(b.name, label) for b in self.bins for label in b.labels]


class Monitor:
    """Scores through `scorer` and records what happened; one per worker."""

    def __init__(self, version: ModelVersion, scorer: Scorer) -> None:
        self.scorer = scorer
        self.features = set(version.schema.names)
        self.drift = DriftCounter(feature_bins(version.reference))
        self.class_counts = np.zeros(len(scorer.classes), dtype=np.int64)
        self._published_drift = np.zeros_like(self.drift.counts)
        self._published_classes = np.zeros_like(self.class_counts)
        self._last_flush = time.monotonic()
        self._timer_started = False
        self.metrics: ServiceMetrics | None = None
        self._version = version

    def start(self) -> None:
        """Create this worker's series: model info, reference shares, one child per bin."""
        metrics = self.metrics = service_metrics()
        name, _, version = self._version.tag.partition(":")
        metrics.model_info.labels(model=self._version.tag, name=name, version=version).set(1)
        for feature in self.drift.bins:
            for label, share in zip(feature.labels, feature.reference, strict=True):
                metrics.drift_reference_share.labels(feature=feature.name, bin=label).set(share)
        self._drift_children = [
            metrics.drift_rows.labels(feature=f, bin=b) for f, b in self.drift.labels()
        ]
        self._class_children = [metrics.predictions.labels(c) for c in self.scorer.classes]
        self._stages = {
            stage: metrics.stage_seconds.labels(stage) for stage in ("parse", "validate", "predict")
        }

    def observe_parse(self, seconds: float) -> None:
        if self.metrics is not None:
            self._stages["parse"].observe(seconds)

    def score(self, columns: Batch) -> Scored | Rejection:
        """Return the scorer's answer, after recording its stage times, classes and drift."""
        started = time.perf_counter()
        failures = self.scorer.failures(columns)
        validated = time.perf_counter()
        self._stages["validate"].observe(validated - started)
        if failures:
            return Rejection.validation_failed(failures)
        scored = Scored(*self.scorer.predictor.predict(columns))
        self._stages["predict"].observe(time.perf_counter() - validated)
        rows = len(scored.labels)
        self.metrics.request_rows.observe(rows)
        winners = scored.probabilities.argmax(axis=1)
        if rows == 1:
            self.class_counts[winners[0]] += 1
        else:
            self.class_counts += np.bincount(winners, minlength=len(self.class_counts))
        self.drift.count(columns)
        self._maybe_flush()
        return scored

    def rejected(self, rejection: Rejection) -> None:
        failed = self.metrics.failed_expectations
        for failure in rejection.failures:
            column = failure.column if failure.column in self.features else OTHER_COLUMN
            failed.labels(expectation=failure.expectation, column=column).inc()

    def flush(self) -> None:
        """Hand the counts gathered since the last flush to the Prometheus counters."""
        self._last_flush = time.monotonic()
        _publish(self.drift.counts, self._published_drift, self._drift_children)
        _publish(self.class_counts, self._published_classes, self._class_children)

    def _maybe_flush(self) -> None:
        if not self._timer_started:
            self._start_timer()
        if time.monotonic() - self._last_flush >= FLUSH_SECONDS:
            self.flush()

    def _start_timer(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # called outside a server (a benchmark): flushes ride on requests only
        self._timer_started = True

        def tick() -> None:
            self.flush()
            loop.call_later(FLUSH_SECONDS, tick)

        loop.call_later(FLUSH_SECONDS, tick)


def _publish(counts: np.ndarray, published: np.ndarray, children: list[Callable]) -> None:
    changed = np.flatnonzero(counts != published)
    for index in changed.tolist():
        children[index].inc(int(counts[index] - published[index]))
    published[changed] = counts[changed]
