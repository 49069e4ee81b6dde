"""/feedback bodies and live accuracy from held predictions."""

from __future__ import annotations

import orjson
import pytest

from service.observe.feedback import Feedback, LiveAccuracy, parse_feedback
from service.observe.metrics import service_metrics
from service.validation.results import Rejection

CLASSES = ["setosa", "versicolor"]


def _parse(document, classes=CLASSES, max_items=10):
    return parse_feedback(orjson.dumps(document), classes, max_items, 64)


def test_one_object_or_a_list_is_accepted():
    assert _parse({"request_id": "abc", "label": "setosa"}) == [Feedback("abc", 0, "setosa")]
    assert _parse([{"request_id": "abc", "label": "versicolor", "row": 3}]) == [
        Feedback("abc", 3, "versicolor")
    ]


def test_integer_classes_take_the_label_as_a_number_or_its_text():
    assert _parse({"request_id": "r", "label": "1"}, classes=[0, 1]) == [Feedback("r", 0, 1)]
    assert _parse({"request_id": "r", "label": 0}, classes=[0, 1]) == [Feedback("r", 0, 0)]


@pytest.mark.parametrize(
    ("document", "error", "phrase"),
    [
        ({"request_id": "abc", "label": "rose"}, "unknown_label", "setosa, versicolor"),
        ({"request_id": "abc", "label": True}, "unknown_label", "not one of"),
        ({"request_id": "a\nb", "label": "setosa"}, "invalid_feedback", "X-Request-ID"),
        ({"request_id": 7, "label": "setosa"}, "invalid_feedback", "request_id"),
        ({"request_id": "abc", "label": "setosa", "row": -1}, "invalid_feedback", "row"),
        ({"request_id": "abc", "label": "setosa", "extra": 1}, "invalid_feedback", "object"),
        ([], "invalid_feedback", "between 1 and 10"),
        ([{"request_id": "a", "label": "setosa"}] * 11, "invalid_feedback", "between 1 and 10"),
        ("text", "invalid_feedback", "object"),
    ],
)
def test_bad_feedback_gets_a_400_that_says_what_is_wrong(document, error, phrase):
    rejection = _parse(document)
    assert isinstance(rejection, Rejection)
    assert rejection.status == 400
    assert rejection.error == error
    assert phrase in rejection.message


def test_a_body_that_is_not_json_is_refused():
    rejection = parse_feedback(b"{nope", CLASSES, 10, 64)
    assert isinstance(rejection, Rejection) and rejection.error == "invalid_json"


def _count(counter, *labels: str) -> float:
    return counter.labels(*labels)._value.get()


def test_held_predictions_count_correct_and_total_by_true_class():
    metrics = service_metrics()
    live = LiveAccuracy(CLASSES, hold_requests=2)
    live.start("m:1", {"accuracy": 0.9})
    labelled, correct = (
        _count(metrics.live_labelled, "m:1", "setosa"),
        _count(metrics.live_correct, "m:1", "setosa"),
    )
    unmatched = _count(metrics.feedback, "unmatched")
    live.remember("r1", "m:1", ["setosa", "versicolor"])
    assert live.match(Feedback("r1", 0, "setosa")) == "m:1"
    assert live.match(Feedback("r1", 1, "setosa")) == "m:1"  # predicted versicolor: wrong
    assert _count(metrics.live_labelled, "m:1", "setosa") - labelled == 2
    assert _count(metrics.live_correct, "m:1", "setosa") - correct == 1
    # A second label for the same row, a row out of range and an unknown id are not matched.
    assert live.match(Feedback("r1", 0, "setosa")) is None
    assert live.match(Feedback("r1", 5, "setosa")) is None
    assert live.match(Feedback("nobody", 0, "setosa")) is None
    assert _count(metrics.feedback, "unmatched") - unmatched == 3
    assert metrics.heldout_accuracy.labels("m:1")._value.get() == 0.9


def test_only_the_newest_requests_are_held():
    live = LiveAccuracy(CLASSES, hold_requests=2)
    for name in ("r1", "r2", "r3"):
        live.remember(name, "m:1", ["setosa"])
    assert live.match(Feedback("r1", 0, "setosa")) is None
    assert live.match(Feedback("r3", 0, "setosa")) == "m:1"
    off = LiveAccuracy(CLASSES, hold_requests=0)
    off.remember("r1", "m:1", ["setosa"])
    assert off.match(Feedback("r1", 0, "setosa")) is None


def test_a_regressor_takes_a_finite_number_and_refuses_anything_else():
    assert _parse({"request_id": "r", "label": 12}, classes=[]) == [Feedback("r", 0, 12.0)]
    assert _parse({"request_id": "r", "label": 2.5, "row": 1}, classes=[]) == [
        Feedback("r", 1, 2.5)
    ]
    for label in ("12.5", True, None, [1.0]):
        rejection = _parse({"request_id": "r", "label": label}, classes=[])
        assert isinstance(rejection, Rejection) and rejection.error == "invalid_label", label
        assert "is not a number" in rejection.message
    # Squared, an error near the float limit would turn the live error sums into inf for good.
    rejection = _parse({"request_id": "r", "label": 1e301}, classes=[])
    assert isinstance(rejection, Rejection) and "at most 1e300" in rejection.message
    rejection = parse_feedback(b'{"request_id": "r", "label": 1e999}', [], 10, 64)
    assert isinstance(rejection, Rejection) and rejection.error == "invalid_json"


def test_a_regressors_held_predictions_add_up_absolute_and_squared_errors():
    metrics = service_metrics()
    live = LiveAccuracy([], hold_requests=2)
    live.start("reg:1", {"rmse": 3.0, "mae": 2.0})
    before = [
        _count(counter, "reg:1")
        for counter in (
            metrics.live_error_rows,
            metrics.live_absolute_error,
            metrics.live_squared_error,
        )
    ]
    live.remember("r1", "reg:1", [10.0, 20.0])
    assert live.match(Feedback("r1", 0, 13.0)) == "reg:1"
    assert live.match(Feedback("r1", 1, 19.0)) == "reg:1"
    assert live.match(Feedback("r1", 1, 0.0)) is None  # a second label for the row
    after = [
        _count(counter, "reg:1")
        for counter in (
            metrics.live_error_rows,
            metrics.live_absolute_error,
            metrics.live_squared_error,
        )
    ]
    assert [a - b for a, b in zip(after, before, strict=True)] == [2, 4.0, 10.0]
    assert metrics.heldout_rmse.labels("reg:1")._value.get() == 3.0
    assert metrics.heldout_mae.labels("reg:1")._value.get() == 2.0
