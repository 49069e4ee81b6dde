"""A second model version beside the main one: shadow (scored, never answered) or split traffic.

Seldon's mirrors and KServe's canaryTrafficPercent, inside one BentoML service with no
gateway: `CANDIDATE_MODEL_TAG` names the version, `CANDIDATE_MODE` picks how it runs.

- shadow: the candidate scores the rows the main model answered, on a thread off the response
  path (drained_queue.py); work that finds the queue full is dropped and counted, and a
  candidate that raises is counted, never answered.
- split: a share of requests is answered by the candidate; a request with X-Client-ID goes
  where that client always goes (a hash of the id), so a client does not flip between models.
"""

from __future__ import annotations

import hashlib
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from service.model.version import ModelVersion
from service.observe.drained_queue import DrainedQueue
from service.observe.metrics import service_metrics
from service.scoring.core import Scored, Scorer
from service.scoring.predictor import Batch
from service.validation.results import Rejection

logger = logging.getLogger("bentoml.model_service")

DRAIN_SECONDS = 0.1
# Probability differences observed per request, at most: a 10,000-row batch would otherwise
# spend its time in 10,000 histogram calls.
MAX_OBSERVED_ROWS = 1_000


def client_share(client_id: str) -> float:
    """Return where a client falls in [0, 1): the same for the same id, in every worker."""
    # crc32 is linear: ids that differ in one digit (client-1, client-2...) bunch together.
    digest = hashlib.blake2b(client_id.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


class TrafficSplit:
    """Chooses, per request, whether the candidate answers."""

    def __init__(self, share: float) -> None:
        self.share = share

    def to_candidate(self, client_id: str | None) -> bool:
        position = client_share(client_id) if client_id is not None else random.random()
        return position < self.share


@dataclass(frozen=True)
class ShadowWork:
    request_id: str
    endpoint: str
    columns: Batch
    main: Scored


class Shadow:
    """Scores the candidate on the rows the main model answered, off the response path."""

    def __init__(
        self,
        scorer: Scorer,
        tag: str,
        max_queued_rows: int,
        on_scored: Callable[[ShadowWork, Scored | None], None],
    ) -> None:
        self.scorer = scorer
        self.tag = tag
        self.on_scored = on_scored  # gets every piece of work, with None when not scored
        self._queue = DrainedQueue("shadow", max_queued_rows, DRAIN_SECONDS, self._score_batch)

    def start(self) -> None:
        metrics = service_metrics()
        self._requests = {
            result: metrics.shadow_requests.labels(candidate=self.tag, result=result)
            for result in ("scored", "dropped", "failed", "rejected")
        }
        self._agreement = {
            agree: metrics.shadow_agreement.labels(candidate=self.tag, agree=agree)
            for agree in ("true", "false")
        }
        self._difference = metrics.shadow_probability_difference.labels(candidate=self.tag)
        self._seconds = metrics.shadow_seconds.labels(candidate=self.tag)
        self._queue.start()

    def submit(self, work: ShadowWork) -> None:
        if not self._queue.put(len(work.main.labels), work):
            self._requests["dropped"].inc()
            self.on_scored(work, None)

    def close(self, timeout: float = 10.0) -> None:
        self._queue.close(timeout)

    def _score_batch(self, batch: list[tuple[int, ShadowWork]]) -> None:
        """Score the first request alone, timed (the latency a client of the candidate would
        see), and the rest as one batch: one call instead of hundreds keeps the thread's hold
        on the GIL, and so the delay it adds to requests, short."""
        first, rest = batch[0][1], batch[1:]
        started = time.perf_counter()
        scored = self._score(first.columns)
        if isinstance(scored, Scored):
            self._seconds.observe(time.perf_counter() - started)
        self._compare(first, scored)
        if not rest:
            return
        joined = self._score(_joined_columns([work.columns for _, work in rest]))
        if not isinstance(joined, Scored):  # find which request it was, one by one
            for _, work in rest:
                self._compare(work, self._score(work.columns))
            return
        end = 0
        for rows, work in rest:
            start, end = end, end + rows
            self._compare(work, Scored(joined.labels[start:end], joined.probabilities[start:end]))

    def _score(self, columns: Batch) -> Scored | str:
        """Return the candidate's answer, or why there is none: "rejected" by its suite, or
        "failed" (it raised)."""
        try:
            scored = self.scorer.score(columns)
        except Exception as error:  # noqa: BLE001 - a broken candidate must not stop the service
            logger.warning("shadow candidate %s failed: %s", self.tag, str(error)[:500])
            return "failed"
        return "rejected" if isinstance(scored, Rejection) else scored

    def _compare(self, work: ShadowWork, scored: Scored | str) -> None:
        if not isinstance(scored, Scored):
            self._requests[scored].inc()
            self.on_scored(work, None)
            return
        self._requests["scored"].inc()
        main = work.main
        if main.probabilities.shape[1]:
            agreeing = main.labels == scored.labels
            difference = np.abs(main.probabilities - scored.probabilities).max(axis=1)
        else:
            # A regressor's values never match exactly: they agree within a relative margin,
            # and the histogram takes the relative difference in place of a probability's.
            scale = np.maximum(np.abs(main.labels), 1e-12)
            difference = np.minimum(np.abs(scored.labels - main.labels) / scale, 1.0)
            agreeing = difference <= VALUE_AGREEMENT
        agree = int(np.count_nonzero(agreeing))
        self._agreement["true"].inc(agree)
        if agree < len(main.labels):
            self._agreement["false"].inc(len(main.labels) - agree)
        for value in difference[:MAX_OBSERVED_ROWS].tolist():
            self._difference.observe(value)
        self.on_scored(work, scored)


# Two regressors' answers within 5% of the main model's count as agreeing.
VALUE_AGREEMENT = 0.05


def _joined_columns(batches: list[Batch]) -> dict[str, np.ndarray]:
    names = list(batches[0].keys()) if isinstance(batches[0], dict) else list(batches[0].columns)
    return {name: np.concatenate([np.asarray(b[name]) for b in batches]) for name in names}


class Served:
    """One model version the service can answer with: its scorer, and its monitor if on."""

    def __init__(self, version: ModelVersion, scorer: Scorer, monitoring: bool) -> None:
        from service.observe.monitoring import Monitor

        self.version = version
        self.tag = version.tag
        self.scorer = scorer
        self.monitor = Monitor(version, scorer) if monitoring else None

    def score(self, columns: Batch) -> Scored | Rejection:
        if self.monitor is not None:
            return self.monitor.score(columns)
        return self.scorer.score(columns)

    def rejected(self, rejection: Rejection) -> None:
        if self.monitor is not None:
            self.monitor.rejected(rejection)

    def start(self) -> None:
        if self.monitor is not None:
            self.monitor.start()
