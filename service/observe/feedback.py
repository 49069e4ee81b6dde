"""Ground truth: the /feedback body, and live accuracy from predictions still held in memory.

Each worker holds the labels it predicted for its most recent requests (a bounded number; the
oldest go first). A label that arrives for a held prediction is counted at once as correct or
not, by true class, so an alert can compare live accuracy with the held-out figure. For a
regressor the label is the true value: its absolute and squared errors are added up, so a rule
computes live MAE and RMSE over any window. A label for
a prediction no longer held, or made by another worker or replica, is counted as unmatched:
the prediction log has both, and the monitoring notebook joins them.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import orjson

from service.http.request_context import well_formed
from service.observe.metrics import service_metrics
from service.validation.results import Rejection
from service.validation.values import excerpt

_EXAMPLE = '{"request_id": "<X-Request-ID of the prediction>", "label": "<true class>"}'


@dataclass(frozen=True)
class Feedback:
    request_id: str
    row: int
    label: object  # the class as the model names it (a str or an int), or a regressor's value


def parse_feedback(
    body: bytes, classes: list, max_items: int, max_echo_chars: int
) -> list[Feedback] | Rejection:
    """Return the labels in a body of one object or a list of them, or the 400 for any bad one.

    With no `classes` (a regressor) a label is the true value: a finite number."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        return Rejection(
            400, "invalid_json", f"the body is not valid JSON ({error}); send {_EXAMPLE}"
        )
    items = document if isinstance(document, list) else [document]
    if not items or len(items) > max_items:
        return Rejection(
            400,
            "invalid_feedback",
            f"send between 1 and {max_items} feedback objects like {_EXAMPLE}",
        )
    by_name = {str(label): label for label in classes}
    parsed = []
    for index, item in enumerate(items):
        where = f"feedback item {index}"
        if not isinstance(item, dict) or set(item) - {"request_id", "label", "row"}:
            return Rejection(
                400, "invalid_feedback", f"{where} must be an object like {_EXAMPLE} (row optional)"
            )
        request_id, label, row = item.get("request_id"), item.get("label"), item.get("row", 0)
        if not isinstance(request_id, str) or not well_formed(request_id):
            return Rejection(
                400,
                "invalid_feedback",
                f"{where}: request_id must be the X-Request-ID the prediction was answered with",
            )
        if not isinstance(row, int) or isinstance(row, bool) or row < 0:
            return Rejection(400, "invalid_feedback", f"{where}: row must be a whole number >= 0")
        if not classes:
            if isinstance(label, bool) or not isinstance(label, int | float) or label != label:
                shown = excerpt(repr(label), max_echo_chars)
                return Rejection(
                    400,
                    "invalid_label",
                    f"{where}: label {shown} is not a number; a regressor's label is the true "
                    "value, e.g. 12.5",
                )
            # Squared, a value near the float limit would make the error sums inf for good.
            if abs(label) > 1e300:
                return Rejection(
                    400, "invalid_label", f"{where}: label must be a number of size at most 1e300"
                )
            parsed.append(Feedback(request_id, row, float(label)))
            continue
        if isinstance(label, bool) or not isinstance(label, str | int) or str(label) not in by_name:
            shown = excerpt(repr(label), max_echo_chars)
            return Rejection(
                400,
                "unknown_label",
                f"{where}: label {shown} is not one of the model's classes: "
                f"{', '.join(map(str, classes))}",
            )
        parsed.append(Feedback(request_id, row, by_name[str(label)]))
    return parsed


class LiveAccuracy:
    """Predictions held per request id, matched against feedback as it arrives."""

    def __init__(self, classes: list, hold_requests: int) -> None:
        self.classes = classes
        # A regressor has no classes: its labels are values, and its errors are counted.
        self.regression = not classes
        self.hold_requests = hold_requests
        self._held: OrderedDict[str, tuple[str, list]] = OrderedDict()

    def start(self, model: str, heldout: dict) -> None:
        """Create this worker's series, so a ratio over them exists before the first label;
        `heldout` is the version's held-out metrics."""
        metrics = service_metrics()
        for label in self.classes:
            metrics.live_labelled.labels(model, str(label))
            metrics.live_correct.labels(model, str(label))
        for match in ("matched", "unmatched"):
            metrics.feedback.labels(match)
        if self.regression:
            for counter in (
                metrics.live_error_rows,
                metrics.live_absolute_error,
                metrics.live_squared_error,
            ):
                counter.labels(model)
            for gauge, name in ((metrics.heldout_rmse, "rmse"), (metrics.heldout_mae, "mae")):
                if heldout.get(name) is not None:
                    gauge.labels(model).set(heldout[name])
        elif heldout.get("accuracy") is not None:
            metrics.heldout_accuracy.labels(model).set(heldout["accuracy"])

    def remember(self, request_id: str, model: str, labels: list) -> None:
        if self.hold_requests <= 0:
            return
        self._held[request_id] = (model, labels)
        if len(self._held) > self.hold_requests:
            self._held.popitem(last=False)

    def match(self, feedback: Feedback) -> str | None:
        """Count `feedback` against its held prediction; return the model that made it, if held."""
        metrics = service_metrics()
        held = self._held.get(feedback.request_id)
        if held is None or feedback.row >= len(held[1]) or held[1][feedback.row] is _COUNTED:
            metrics.feedback.labels("unmatched").inc()
            return None
        model, labels = held
        predicted, labels[feedback.row] = labels[feedback.row], _COUNTED
        metrics.feedback.labels("matched").inc()
        if self.regression:
            error = float(feedback.label) - float(predicted)
            metrics.live_error_rows.labels(model).inc()
            metrics.live_absolute_error.labels(model).inc(abs(error))
            metrics.live_squared_error.labels(model).inc(error * error)
            return model
        true_class = str(feedback.label)
        metrics.live_labelled.labels(model, true_class).inc()
        if predicted == feedback.label:
            metrics.live_correct.labels(model, true_class).inc()
        return model


# A row whose label was counted: a second label for it goes to the log, not to the counters.
_COUNTED = object()
