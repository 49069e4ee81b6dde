"""What each request tells operations: stage times, rows, classes, rejections, and live drift.

A `prometheus_client` increment costs about 1.4 µs; one per feature per row would cost more than
the model. Per-request counts (classes, drift bins) are added up in numpy and handed to the
Counters at most once a second (and by a timer, so a quiet service still publishes its last
counts); histograms are observed directly, a few per request.
"""

from __future__ import annotations

import asyncio
import time
from bisect import bisect_right
from collections.abc import Callable

import numpy as np

from service.model.version import ModelVersion
from service.observe.drift import (
    FeatureBins,
    feature_bins,
    numeric_bin_indices,
    padded_edges,
    prediction_bins,
)
from service.observe.estimate import EstimateCounter
from service.observe.metrics import ServiceMetrics, service_metrics
from service.scoring.core import Scored, Scorer
from service.scoring.predictor import Batch
from service.validation.results import Rejection

FLUSH_SECONDS = 1.0
OTHER_COLUMN = "_other"  # failures on a column the model does not have: a client's key


class DriftCounter:
    """Counts rows into every feature's reference bins: one numpy vector for all of them.

    A one-row request only copies its values into a buffer (binning one row costs as much as
    binning a thousand: numpy's per-call overhead); the buffer is binned in one call when it
    fills and before every flush. Batches are binned at once.
    """

    BUFFER_ROWS = 1024

    def __init__(self, bins: list[FeatureBins]) -> None:
        self.bins = bins
        sizes = [len(b.labels) for b in bins]
        offsets = np.cumsum([0, *sizes])[:-1]
        self._counts = np.zeros(sum(sizes), dtype=np.int64)
        numeric = [(b, o) for b, o in zip(bins, offsets, strict=True) if b.kind == "numeric"]
        self.numeric_names = [b.name for b, _ in numeric]
        self.numeric_edges = padded_edges([b for b, _ in numeric])
        self.numeric_offsets = np.asarray([o for _, o in numeric], dtype=np.intp)
        self.numeric_missing = np.asarray([o + b.missing_bin for b, o in numeric], dtype=np.intp)
        self.categorical = [
            (b, o) for b, o in zip(bins, offsets, strict=True) if b.kind != "numeric"
        ]
        self._numeric_buffer = np.empty((self.BUFFER_ROWS, len(numeric)), dtype=np.float64)
        self._categorical_buffer: list[list] = [[] for _ in self.categorical]
        self._buffered = 0

    @property
    def counts(self) -> np.ndarray:
        """Return the counts of every row seen so far, buffered rows included."""
        self.bin_buffered()
        return self._counts

    def count(self, columns: Batch) -> None:
        first = columns[self.bins[0].name] if self.bins else ()
        if isinstance(first, np.ndarray) and len(first) == 1:
            self._buffer_one(columns)
            return
        if self.numeric_names:
            values = np.column_stack(
                [np.asarray(columns[name], dtype=np.float64) for name in self.numeric_names]
            )
            self._count_numeric(values)
        for feature, offset in self.categorical:
            self._count_categorical(feature, offset, columns[feature.name])

    def _buffer_one(self, columns: Batch) -> None:
        row = self._buffered
        if self.numeric_names:
            self._numeric_buffer[row] = [columns[name][0] for name in self.numeric_names]
        for buffer, (feature, _) in zip(self._categorical_buffer, self.categorical, strict=True):
            buffer.append(columns[feature.name][0])
        self._buffered = row + 1
        if self._buffered == self.BUFFER_ROWS:
            self.bin_buffered()

    def bin_buffered(self) -> None:
        rows = self._buffered
        if not rows:
            return
        if self.numeric_names:
            self._count_numeric(self._numeric_buffer[:rows])
        for buffer, (feature, offset) in zip(
            self._categorical_buffer, self.categorical, strict=True
        ):
            self._count_categorical(feature, offset, np.asarray(buffer, dtype=object))
            buffer.clear()
        self._buffered = 0

    def _count_numeric(self, values: np.ndarray) -> None:
        found = numeric_bin_indices(values, self.numeric_edges)
        where = np.where(found < 0, self.numeric_missing, self.numeric_offsets + found)
        self._counts += np.bincount(where.ravel(), minlength=len(self._counts))

    def _count_categorical(self, feature: FeatureBins, offset: int, values) -> None:
        found = feature.bin_of(values)
        self._counts[offset : offset + len(feature.labels)] += np.bincount(
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
        self._published_drift = np.zeros(len(self.drift.labels()), dtype=np.int64)
        self._published_classes = np.zeros_like(self.class_counts)
        # Prediction drift: a classifier's answers are its class counts, re-indexed into the
        # reference's bins at each flush; a regressor's values are binned per request.
        self.answers = prediction_bins(version.metrics)
        self.regression = scorer.regression
        answer_bins = len(self.answers.labels) if self.answers is not None else 0
        self.answer_counts = np.zeros(answer_bins, dtype=np.int64)
        self._published_answers = np.zeros_like(self.answer_counts)
        if self.answers is not None and not self.regression:
            self._class_bins = np.asarray(
                [self.answers.codes[label] for label in scorer.classes], dtype=np.intp
            )
        if self.answers is not None and self.regression:
            self._answer_edges = self.answers.inner_edges.tolist()
        # The label-free estimate, for a classifier whose version carries a calibrator.
        calibrator = version.calibrator
        self.estimate = (
            EstimateCounter(calibrator)
            if calibrator is not None and calibrator.classes == scorer.classes
            else None
        )
        self._published_estimate = np.zeros(2 * len(scorer.classes))
        self._last_flush = time.monotonic()
        self._timer_started = False
        self.metrics: ServiceMetrics | None = None
        self._version = version

    def start(self) -> None:
        """Create this worker's series: model info, reference shares, one child per bin."""
        metrics = self.metrics = service_metrics()
        name, _, version = self._version.tag.partition(":")
        metrics.model_info.labels(model=self._version.tag, name=name, version=version).set(1)
        model = self.model = self._version.tag
        for feature in self.drift.bins:
            for label, share in zip(feature.labels, feature.reference, strict=True):
                metrics.drift_reference_share.labels(model, feature.name, label).set(share)
        self._drift_children = [
            metrics.drift_rows.labels(model, f, b) for f, b in self.drift.labels()
        ]
        self._class_children = [metrics.predictions.labels(model, c) for c in self.scorer.classes]
        self._answer_children = []
        if self.answers is not None:
            for label, share in zip(self.answers.labels, self.answers.reference, strict=True):
                metrics.prediction_reference_share.labels(model, label).set(share)
            self._answer_children = [
                metrics.prediction_bin_rows.labels(model, label) for label in self.answers.labels
            ]
        self._estimate_children = [
            counter.labels(model, c)
            for counter in (metrics.expected_true_positives, metrics.expected_actual)
            for c in self.scorer.classes
        ]
        self._stages = {
            stage: metrics.stage_seconds.labels(model, stage)
            for stage in ("parse", "validate", "predict")
        }
        self._request_rows = metrics.request_rows.labels(model)

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
        self._request_rows.observe(rows)
        if self.regression:
            self._count_values(scored.labels)
        else:
            winners = scored.probabilities.argmax(axis=1)
            if rows == 1:
                self.class_counts[winners[0]] += 1
            else:
                self.class_counts += np.bincount(winners, minlength=len(self.class_counts))
            if self.estimate is not None:
                self.estimate.count(scored.probabilities)
        self.drift.count(columns)
        self._maybe_flush()
        return scored

    def _count_values(self, values: np.ndarray) -> None:
        """Count a regressor's answers into the bins of its held-out predictions."""
        if self.answers is None:
            return
        if len(values) == 1:
            value = float(values[0])
            # bisect on a list costs a fraction of a numpy call for one value.
            found = (
                self.answers.missing_bin
                if value != value
                else bisect_right(self._answer_edges, value)
            )
            self.answer_counts[found] += 1
            return
        found = self.answers.bin_of(values)
        self.answer_counts += np.bincount(found, minlength=len(self.answer_counts))

    def rejected(self, rejection: Rejection) -> None:
        failed = self.metrics.failed_expectations
        for failure in rejection.failures:
            column = failure.column if failure.column in self.features else OTHER_COLUMN
            failed.labels(self.model, failure.expectation, column).inc()

    def flush(self) -> None:
        """Hand the counts gathered since the last flush to the Prometheus counters."""
        self._last_flush = time.monotonic()
        _publish(self.drift.counts, self._published_drift, self._drift_children)
        _publish(self.class_counts, self._published_classes, self._class_children)
        if self.answers is not None and not self.regression:
            self.answer_counts[:] = 0
            np.add.at(self.answer_counts, self._class_bins, self.class_counts)
        _publish(self.answer_counts, self._published_answers, self._answer_children)
        if self.estimate is not None:
            counts = self.estimate.counts
            sums = np.concatenate([counts.true_positives, counts.actual])
            _publish(sums, self._published_estimate, self._estimate_children)

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
        children[index].inc(counts[index].item() - published[index].item())
    published[changed] = counts[changed]
