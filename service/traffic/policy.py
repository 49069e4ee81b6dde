"""How traffic runs: the main version alone, or with a candidate in shadow or on a split.

One policy is chosen at start-up; per request the runtime asks it which version answers
(`route`) and hands it the scored answer (`after_scored`), so no request tests which mode is on.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from service.model.version import ModelVersion
from service.observe.prediction_log import Answer, PredictionLog
from service.scoring.core import Scored, Scorer
from service.scoring.predictor import Batch
from service.traffic.candidate import Served, Shadow, ShadowWork, TrafficSplit


class TrafficPolicy(ABC):
    """Which version answers a request, and what follows a scored answer."""

    mode: str | None = None  # CANDIDATE_MODE, or None with no candidate

    def __init__(self, main: Served, log: PredictionLog | None) -> None:
        self.main = main
        self.log = log
        # Every answer is written in the main model's classes: a candidate runs only when its
        # classes are the same (check_compatible).
        self.classes = main.scorer.classes
        # The versions that answer requests: each gets a served version's series (model_info,
        # classes, drift, live accuracy).
        self.answering: tuple[Served, ...] = (main,)
        self.candidate: ModelVersion | None = None  # the second version, if any

    @abstractmethod
    def route(self, client_id: str | None) -> Served:
        """Return the version that answers a request from `client_id` (None: anonymous)."""

    def after_scored(
        self, request_id: str, endpoint: str, columns: Batch, served: Served, scored: Scored
    ) -> None:
        """Log the answer `served` gave, when the prediction log is on."""
        if self.log is not None:
            answer = Answer(served.tag, scored.labels, scored.probabilities, self.classes)
            self.log.scored(request_id, endpoint, columns, answer)

    # Hooks, not abstract: only a shadow has a thread to start and work to finish.
    def start(self) -> None:  # noqa: B027
        """Start the policy's threads; called in the worker."""

    def close(self) -> None:  # noqa: B027
        """Finish the policy's queued work; called at shutdown, before the log closes."""

    def candidate_metadata(self) -> dict | None:
        """Return what /metadata says about the candidate: None when there is none."""
        version = self.candidate
        if version is None:
            return None
        return {"model": version.tag, "mode": self.mode, "share": None, "metrics": version.metrics}


class MainOnly(TrafficPolicy):
    """The main version answers every request; nothing runs beside it."""

    def route(self, client_id: str | None) -> Served:
        return self.main


class ShadowPolicy(TrafficPolicy):
    """The main version answers; the candidate scores the same rows off the response path and
    is logged beside it. A shadow has only the shadow_* series: it never answers."""

    mode = "shadow"

    def __init__(
        self,
        main: Served,
        candidate: ModelVersion,
        scorer: Scorer,
        max_queued_rows: int,
        log: PredictionLog | None,
    ) -> None:
        super().__init__(main, log)
        self.candidate = candidate
        self.shadow = Shadow(scorer, candidate.tag, max_queued_rows, self._log_with_shadow)

    def route(self, client_id: str | None) -> Served:
        return self.main

    def after_scored(
        self, request_id: str, endpoint: str, columns: Batch, served: Served, scored: Scored
    ) -> None:
        """Hand the answer to the shadow, which logs it once the candidate scored it too."""
        # Submitted with the log off too: agreement and probability differences go to /metrics.
        self.shadow.submit(ShadowWork(request_id, endpoint, columns, scored))

    def start(self) -> None:
        self.shadow.start()

    def close(self) -> None:
        self.shadow.close()

    def _log_with_shadow(self, work: ShadowWork, candidate: Scored | None) -> None:
        """Log the main answer with the candidate's beside it (None: dropped, failed, rejected)."""
        if self.log is None:
            return
        main = Answer(self.main.tag, work.main.labels, work.main.probabilities, self.classes)
        beside = None
        if candidate is not None:
            beside = Answer(
                self.candidate.tag, candidate.labels, candidate.probabilities, self.classes
            )
        self.log.scored(work.request_id, work.endpoint, work.columns, main, beside)


class SplitPolicy(TrafficPolicy):
    """A share of requests (sticky per X-Client-ID) is answered by the candidate, which so gets
    the series of a served version."""

    mode = "split"

    def __init__(
        self, main: Served, candidate: Served, share: float, log: PredictionLog | None
    ) -> None:
        super().__init__(main, log)
        self.candidate = candidate.version
        self.candidate_served = candidate
        self.split = TrafficSplit(share)
        self.answering = (main, candidate)

    def route(self, client_id: str | None) -> Served:
        return self.candidate_served if self.split.to_candidate(client_id) else self.main

    def candidate_metadata(self) -> dict:
        return {**super().candidate_metadata(), "share": self.split.share}
