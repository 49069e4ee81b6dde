"""Rejected requests: every one counted in /metrics, a sample of them in the log.

An INFO line per bad request filled about 24 MB of log a minute at full load, and a field name
with a newline in it forged log lines. Counts go to Prometheus; the log gets at most one line
per interval per worker, naming what was refused with client text escaped and cut short.
"""

from __future__ import annotations

import logging
import time

from service.observe.metrics import service_metrics
from service.validation.results import Rejection
from service.validation.values import excerpt

logger = logging.getLogger("bentoml.model_service")


class RejectionLog:
    def __init__(self, max_echo_chars: int, interval: float) -> None:
        self.max_echo_chars = max_echo_chars
        self.interval = interval
        self._last = float("-inf")
        self._suppressed = 0

    def record(self, rejection: Rejection, endpoint: str, request_id: str, model: str) -> None:
        service_metrics().rejections.labels(model, rejection.error, endpoint).inc()
        now = time.monotonic()
        if now - self._last < self.interval:
            self._suppressed += 1
            return
        rules = ", ".join(
            f"{self.escaped(failure.column or '-')}:{failure.expectation}"
            for failure in rejection.failures[:5]
        )
        more = len(rejection.failures) - 5
        logger.info(
            "%s rejected %d %s %s%s (request %s; %d more rejection(s) since the last line; "
            "see /metrics)",
            endpoint,
            rejection.status,
            rejection.error,
            rules,
            f" and {more} more" if more > 0 else "",
            request_id,
            self._suppressed,
        )
        self._last, self._suppressed = now, 0

    def escaped(self, text: str) -> str:
        """Return client text safe for one log line: control characters escaped, cut short."""
        return excerpt(text, self.max_echo_chars).encode("unicode_escape").decode("ascii")
