"""A classifier's probability calibrator: isotonic breakpoints per class, stored as JSON, applied
with numpy.

An isotonic regression is a monotone step function that scikit-learn interpolates linearly
between its breakpoints (`X_thresholds_`, `y_thresholds_`) and clips outside them; `np.interp`
does the same with the same breakpoints, so the calibrator travels as plain numbers, not as a
pickle, and applies without scikit-learn. The export fits it on the held-out split
(scripts/export/calibration.py); the performance estimate (service/observe/estimate.py) reads it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from service.errors import UserError

FORMAT = "isotonic-breakpoints/1"


class CalibrationError(UserError):
    """A stored calibrator that cannot be used: wrong shape, unsorted breakpoints, bad values."""


@dataclass(frozen=True)
class Calibrator:
    """Per-class breakpoints; a binary model stores one pair, for its second (positive) class.

    `heldout` records what the export saw on the held-out split: rows, the true accuracy, and
    the accuracy this calibrator estimates there (the two agree closely by construction).
    """

    classes: list[str]
    x: list[np.ndarray]
    y: list[np.ndarray]
    heldout: dict

    @property
    def binary(self) -> bool:
        return len(self.classes) == 2

    def calibrate(self, probabilities: np.ndarray) -> np.ndarray:
        """Return calibrated probabilities (rows x classes, float64), each row adding up to 1.

        One-vs-rest calibration leaves a multiclass row's probabilities adding up to anything;
        they are rescaled to 1, as NannyML's CBPE does. A row whose calibrated probabilities
        are all 0 keeps the model's own.
        """
        raw = np.asarray(probabilities, dtype=np.float64)
        if self.binary:
            positive = np.interp(raw[:, 1], self.x[0], self.y[0])
            return np.column_stack([1.0 - positive, positive])
        calibrated = np.empty_like(raw)
        for column, (x, y) in enumerate(zip(self.x, self.y, strict=True)):
            calibrated[:, column] = np.interp(raw[:, column], x, y)
        total = calibrated.sum(axis=1, keepdims=True)
        empty = total[:, 0] <= 0
        calibrated /= np.where(empty[:, None], 1.0, total)
        if empty.any():
            calibrated[empty] = raw[empty]
        return calibrated

    def to_dict(self) -> dict:
        return {
            "format": FORMAT,
            "method": "isotonic regression per class, fitted on the held-out split",
            "classes": list(self.classes),
            "breakpoints": [
                {"x": x.tolist(), "y": y.tolist()} for x, y in zip(self.x, self.y, strict=True)
            ],
            "heldout": self.heldout,
        }

    @classmethod
    def from_dict(cls, data: dict, classes: list[str], *, where: str) -> Calibrator:
        """Return the calibrator in `data`, or raise naming what is wrong with the file."""

        def fail(problem: str) -> CalibrationError:
            return CalibrationError(
                f"calibrator {where} {problem}; re-export the version with `make pipeline`"
            )

        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise fail(f"is not in the {FORMAT} format")
        if list(map(str, data.get("classes", []))) != list(map(str, classes)):
            raise fail(f"names classes {data.get('classes')}, the model {list(classes)}")
        pairs = data.get("breakpoints")
        expected = 1 if len(classes) == 2 else len(classes)
        if not isinstance(pairs, list) or len(pairs) != expected:
            raise fail(f"needs {expected} breakpoint list(s), one per calibrated class")
        xs, ys = [], []
        for number, pair in enumerate(pairs):
            try:
                x = np.asarray(pair["x"], dtype=np.float64)
                y = np.asarray(pair["y"], dtype=np.float64)
            except (KeyError, TypeError, ValueError):
                raise fail(f"has no numeric x and y in breakpoint list {number}")
            if x.ndim != 1 or x.shape != y.shape or not len(x):
                raise fail(f"has x and y of different or empty shapes in list {number}")
            if not (np.isfinite(x).all() and np.isfinite(y).all()):
                raise fail(f"has a value that is not finite in list {number}")
            if np.any(np.diff(x) < 0) or np.any(np.diff(y) < 0):
                raise fail(f"has breakpoints that are not sorted ascending in list {number}")
            if y.min() < 0 or y.max() > 1:
                raise fail(f"has calibrated values outside [0, 1] in list {number}")
            xs.append(x)
            ys.append(y)
        heldout = data.get("heldout") or {}
        return cls([str(c) for c in classes], xs, ys, dict(heldout))
