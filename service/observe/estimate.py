"""The label-free performance estimate (CBPE): expected accuracy, precision, recall and F1 from
calibrated probabilities.

Confidence-based performance estimation, as NannyML describes it: once the probabilities are
calibrated on the held-out split (service/model/calibration.py), the chance that a row's answer
is right is the calibrated probability of the class it predicted, so the expected accuracy of a
window is their mean. Per class, the expected confusion matrix needs only three sums, each
linear in rows, so they add up across workers, replicas and time as counters do:

- true positives of class k: the calibrated probability of k over the rows predicted k;
- rows predicted k: counted (model_service_predictions_total already does);
- rows truly of class k: the calibrated probability of k over all rows.

Precision is TP / predicted, recall TP / actual, F1 2 TP / (predicted + actual): 2 series per
class beside the existing count, never classes² (the full matrix is not needed for these).

It cannot see concept drift: when the relation between the inputs and the label changes while
the inputs look the same, the calibrated probabilities stay where they were and so does the
estimate (on NannyML's own shifted multiclass data it stayed 0.075 above the true accuracy).
A regressor has no estimate here: without labels its signal is prediction drift.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from service.model.calibration import Calibrator
from service.model.version import ModelVersion

ESTIMATED_METRICS = ("accuracy", "precision_macro", "recall_macro", "f1_macro")
METHOD = "CBPE: mean calibrated probability of the predicted class"
CONCEPT_DRIFT = (
    "blind to concept drift: if the same inputs come to mean another label, the estimate does "
    "not move; only labels (live accuracy) show it"
)


def availability(version: ModelVersion) -> dict:
    """Return whether `version` has an estimate: the method, its calibrator's held-out rows,
    accuracy and estimate, and the caveat; or `available: false` and why not."""
    if version.schema.is_regression:
        return {
            "available": False,
            "why": "a regressor: nothing estimates its error without labels; prediction drift "
            "is its label-free signal",
        }
    if version.calibrator is None:
        return {
            "available": False,
            "why": f"{version.tag} carries no calibrator (exported before it existed); "
            "re-export it with `make pipeline`",
        }
    return {
        "available": True,
        "method": METHOD,
        "heldout": version.calibrator.heldout,
        "caveat": CONCEPT_DRIFT,
    }


@dataclass
class ExpectedCounts:
    """The three per-class sums of the expected confusion matrix (float64, `classes` order)."""

    true_positives: np.ndarray
    predicted: np.ndarray
    actual: np.ndarray

    @classmethod
    def zeros(cls, classes: int) -> ExpectedCounts:
        return cls(np.zeros(classes), np.zeros(classes), np.zeros(classes))

    @classmethod
    def of(cls, calibrated: np.ndarray, winners: np.ndarray) -> ExpectedCounts:
        """Return the sums for rows whose calibrated probabilities and predicted class indices
        are given."""
        classes = calibrated.shape[1]
        chosen = calibrated[np.arange(len(winners)), winners]
        return cls(
            np.bincount(winners, weights=chosen, minlength=classes),
            np.bincount(winners, minlength=classes).astype(np.float64),
            calibrated.sum(axis=0),
        )

    def add(self, other: ExpectedCounts) -> None:
        self.true_positives += other.true_positives
        self.predicted += other.predicted
        self.actual += other.actual

    @property
    def rows(self) -> float:
        return float(self.predicted.sum())

    def metrics(self) -> dict[str, float | None]:
        """Return expected accuracy and macro precision, recall and F1 (None without rows).

        Macro over the classes where each is defined (predicted, actual, or either, above
        zero), as the recording rules average the per-class series that exist.
        """
        if self.rows <= 0:
            return {name: None for name in ESTIMATED_METRICS}
        tp, predicted, actual = self.true_positives, self.predicted, self.actual
        return {
            "accuracy": float(tp.sum() / self.rows),
            "precision_macro": _mean_ratio(tp, predicted),
            "recall_macro": _mean_ratio(tp, actual),
            "f1_macro": _mean_ratio(2 * tp, predicted + actual),
        }


def _mean_ratio(numerator: np.ndarray, denominator: np.ndarray) -> float | None:
    defined = denominator > 0
    if not defined.any():
        return None
    return float(np.mean(numerator[defined] / denominator[defined]))


def estimate(calibrator: Calibrator, probabilities: np.ndarray) -> ExpectedCounts:
    """Return the expected counts of rows the model answered with these (raw) probabilities.

    The predicted class is the model's own: the largest raw probability, as the service counts
    its answers; calibration may reorder probabilities, never the answer.
    """
    raw = np.asarray(probabilities, dtype=np.float64)
    return ExpectedCounts.of(calibrator.calibrate(raw), raw.argmax(axis=1))


class EstimateCounter:
    """Adds up the expected counts of one worker's answers, at almost no cost per request.

    A one-row request only copies its probabilities into a buffer (a copy costs well under a
    microsecond; `np.interp` per class and the sums cost tens, whatever the row count); the
    buffer is calibrated in one call when it fills and before the counts are read. Batches are
    calibrated at once.
    """

    BUFFER_ROWS = 1024

    def __init__(self, calibrator: Calibrator) -> None:
        self.calibrator = calibrator
        classes = len(calibrator.classes)
        self._counts = ExpectedCounts.zeros(classes)
        self._buffer = np.empty((self.BUFFER_ROWS, classes), dtype=np.float64)
        self._buffered = 0

    @property
    def counts(self) -> ExpectedCounts:
        """Return the counts of every row seen so far, buffered rows included."""
        self._calibrate_buffered()
        return self._counts

    def count(self, probabilities: np.ndarray) -> None:
        if len(probabilities) == 1:
            self._buffer[self._buffered] = probabilities[0]
            self._buffered += 1
            if self._buffered == self.BUFFER_ROWS:
                self._calibrate_buffered()
            return
        self._counts.add(estimate(self.calibrator, probabilities))

    def _calibrate_buffered(self) -> None:
        if self._buffered:
            self._counts.add(estimate(self.calibrator, self._buffer[: self._buffered]))
            self._buffered = 0
