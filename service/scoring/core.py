"""The one scoring core: feature columns in, predictions or the Rejection naming what failed out.

The service calls it per request and batch scoring per chunk, so an online and a batch answer
never disagree. It imports neither BentoML nor the web stack: a Spark executor can run it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from service.model.version import ModelVersion
from service.scoring.predictor import Batch, OnnxPredictor, PipelinePredictor, Predictor
from service.validation.compiled import CompiledSuite, gx_failures
from service.validation.frame import Column, FrameView
from service.validation.messages import wrong_type_rows
from service.validation.results import Failure, Outcome, Rejection
from service.validation.spec import parse_spec

ValidationEngine = Literal["compiled", "gx"]
PredictionEngine = Literal["onnx", "sklearn"]


@dataclass(frozen=True)
class Scored:
    """Predictions for a valid batch: one label per row, probabilities in `classes` order; for a
    regressor, one float64 value per row and no probability columns."""

    labels: np.ndarray
    probabilities: np.ndarray


# The rule a value of the wrong type breaks, named as the service's CSV endpoint names it.
TYPE_RULE = "expect_column_values_to_be_in_type_list"


@dataclass(frozen=True)
class RowFailure:
    """One failed expectation of a batch and every row it rejects (row positions, ascending)."""

    expectation: str
    column: str | None
    rows: np.ndarray


@dataclass(frozen=True)
class RowScores:
    """Per-row verdicts for a batch: which rows are valid, why the others are not, and the
    predictions of the valid rows (in row order; probabilities in `classes` order)."""

    valid: np.ndarray
    failures: list[RowFailure]
    labels: np.ndarray
    probabilities: np.ndarray


class Scorer:
    """Validates a batch with the version's suite, then predicts it; built once per process."""

    def __init__(
        self,
        version: ModelVersion,
        *,
        validation_engine: ValidationEngine = "compiled",
        prediction_engine: PredictionEngine = "onnx",
    ) -> None:
        self.version = version
        compiled = CompiledSuite(version.suite)
        self._compiled = compiled
        # Expectations the compiled checks hand to Great Expectations on every batch.
        self.delegated = compiled.delegated
        if validation_engine == "gx":
            suite = version.suite
            self._failures = lambda columns: gx_failures(columns, suite)
            self._outcomes = lambda columns: _gx_outcomes(columns, suite)
        else:
            self._failures = compiled.failures
            self._outcomes = compiled.outcomes
        self._specs = [
            parse_spec(position, item)
            for position, item in enumerate(version.suite["expectations"])
        ]
        schema = version.schema
        self._numeric = [f.name for f in schema.features if f.kind == "numeric"]
        self._categorical = [f.name for f in schema.features if f.kind == "categorical"]
        self.predictor: Predictor = (
            OnnxPredictor(version.onnx_path, version.schema)
            if prediction_engine == "onnx" and version.serves_onnx
            else PipelinePredictor(version.load_pipeline(), version.schema)
        )
        self.classes = [str(label) for label in self.predictor.classes]
        self.regression = schema.is_regression

    @property
    def prediction_engine(self) -> str:
        return "onnx" if isinstance(self.predictor, OnnxPredictor) else "sklearn"

    def failures(
        self, columns: Batch, not_judged: Mapping[str, Sequence[int]] | None = None
    ) -> list[Failure]:
        """Return the suite's failures on `columns`; empty when every row is valid.

        `not_judged` maps a column to rows whose values were of the wrong type and were sent
        as gaps: the column's rules do not blame them for the gap, as `score_rows` does not
        for text in a number column. The type rule has named them already.
        """
        if not not_judged:
            return self._failures(columns)
        outcomes = []
        for outcome in self._outcomes(columns):
            skipped = set(not_judged.get(outcome.column, ()))
            if skipped and not outcome.success and outcome.unexpected_rows:
                rows = [row for row in outcome.unexpected_rows if row not in skipped]
                outcome = Outcome(outcome.expectation, outcome.column, not rows, rows)
            outcomes.append(outcome)
        return self._compiled.failures_from(columns, outcomes)

    def score(self, columns: Batch) -> Scored | Rejection:
        """Return the predictions for `columns`, or the Rejection when any row breaks the suite."""
        failures = self._failures(columns)
        if failures:
            return Rejection.validation_failed(failures)
        labels, probabilities = self.predictor.predict(columns)
        return Scored(labels, probabilities)

    def score_rows(self, frame: pd.DataFrame, *, predict: bool = True) -> RowScores:
        """Return each row's verdict on a batch read from a file, and the valid rows' predictions.

        `frame` holds at least the schema's feature columns; other columns are ignored. Each row
        is judged as if it had been sent alone: a row an expectation lists as unexpected is
        rejected (unless the expectation's `mostly` is 0). A failure that names no rows (a wrong
        column set, a column GX could not evaluate) rejects the rows whose values are of the
        wrong type when it can name them, else every row. Numeric features that arrive as text
        are parsed; a value that is not a number breaks TYPE_RULE on its column, as the
        service's CSV endpoint says, and only that rule. Expectations about the batch as a whole
        (uniqueness, row counts) see one batch at a time. With `predict=False` only the verdicts
        are worked out; labels and probabilities are empty.
        """
        rows = len(frame)
        if not rows:
            # A header-only file, or an empty Parquet row group: nothing to judge.
            return RowScores(
                np.ones(0, dtype=bool),
                [],
                self._no_labels(),
                np.empty((0, len(self.classes)), dtype=np.float64),
            )
        columns, failures = self._batch_columns(frame)
        not_numbers = {failure.column: failure.rows for failure in failures}
        view = FrameView(columns)
        outcomes = self._outcomes(columns)
        for spec, outcome in zip(self._specs, outcomes, strict=True):
            unexpected = np.asarray(outcome.unexpected_rows, dtype=np.intp)
            if outcome.success and (not len(unexpected) or spec.kwargs.get("mostly", 1) == 0):
                continue
            if not outcome.success and not len(unexpected):
                column = view.column(spec.column) if spec.column is not None else None
                if isinstance(column, Column):
                    unexpected = wrong_type_rows(spec, column)
                if not len(unexpected):
                    unexpected = np.arange(rows, dtype=np.intp)
            if spec.column in not_numbers:
                # Parsed to NaN, so the rules on that column would blame the gap, not the text.
                unexpected = np.setdiff1d(unexpected, not_numbers[spec.column])
            if len(unexpected):
                failures.append(RowFailure(outcome.expectation, outcome.column, unexpected))
        valid = np.ones(rows, dtype=bool)
        for failure in failures:
            valid[failure.rows] = False
        if not predict or not valid.any():
            labels = self._no_labels()
            probabilities = np.empty((0, len(self.classes)), dtype=np.float64)
            return RowScores(valid, failures, labels, probabilities)
        if not valid.all():
            columns = {name: values[valid] for name, values in columns.items()}
        labels, probabilities = self.predictor.predict(columns)
        return RowScores(valid, failures, labels, probabilities)

    def _no_labels(self) -> np.ndarray:
        return np.empty(0, dtype=np.float64 if self.regression else object)

    def _batch_columns(self, frame: pd.DataFrame) -> tuple[dict, list[RowFailure]]:
        """Return the features as the service's parser gives them, and the text that is no number.

        Numbers become float64 (as JSON numbers do in the service) and text columns the `str`
        dtype; a categorical column of other values is left for the suite's type rule to judge.
        """
        columns: dict = {}
        failures = []
        for name in self.version.schema.names:
            column = frame[name]
            if name in self._numeric:
                dtype = column.dtype
                if pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype):
                    columns[name] = column.to_numpy(dtype=np.float64, na_value=np.nan)
                    continue
                text = column if not pd.api.types.is_bool_dtype(dtype) else column.astype("str")
                parsed = pd.to_numeric(text, errors="coerce")
                bad = np.flatnonzero(parsed.isna().to_numpy() & text.notna().to_numpy())
                if len(bad):
                    failures.append(RowFailure(TYPE_RULE, name, bad))
                columns[name] = parsed.to_numpy(dtype=np.float64, na_value=np.nan)
            else:
                if isinstance(column.dtype, pd.CategoricalDtype):
                    column = column.astype(object)
                if not isinstance(column.dtype, pd.StringDtype) and pd.api.types.infer_dtype(
                    column, skipna=True
                ) in ("string", "empty"):
                    column = column.astype("str")
                columns[name] = column.array
        return columns, failures


def _gx_outcomes(columns: Batch, suite: dict) -> list[Outcome]:
    from service.validation import gx_engine

    return gx_engine.gx_outcomes(pd.DataFrame(dict(columns)), suite)
