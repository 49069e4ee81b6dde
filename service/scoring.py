"""The one scoring core: feature columns in, predictions or the Rejection naming what failed out.

The service calls it per request and batch scoring per chunk, so an online and a batch answer
never disagree. It imports neither BentoML nor the web stack: a Spark executor can run it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from service.model_version import ModelVersion
from service.predictor import Batch, OnnxPredictor, PipelinePredictor, Predictor
from service.validation.compiled import CompiledSuite, gx_failures
from service.validation.results import Failure, Rejection

ValidationEngine = Literal["compiled", "gx"]
PredictionEngine = Literal["onnx", "sklearn"]


@dataclass(frozen=True)
class Scored:
    """Predictions for a valid batch: one label per row, probabilities in `classes` order."""

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
        # Expectations the compiled checks hand to Great Expectations on every batch.
        self.delegated = compiled.delegated
        if validation_engine == "gx":
            suite = version.suite
            self._failures = lambda columns: gx_failures(columns, suite)
        else:
            self._failures = compiled.failures
        self.predictor: Predictor = (
            OnnxPredictor(version.onnx_path, version.schema)
            if prediction_engine == "onnx" and version.serves_onnx
            else PipelinePredictor(version.load_pipeline(), version.schema)
        )
        self.classes = [str(label) for label in self.predictor.classes]

    @property
    def prediction_engine(self) -> str:
        return "onnx" if isinstance(self.predictor, OnnxPredictor) else "sklearn"

    def failures(self, columns: Batch) -> list[Failure]:
        """Return the suite's failures on `columns`; empty when every row is valid."""
        return self._failures(columns)

    def score(self, columns: Batch) -> Scored | Rejection:
        """Return the predictions for `columns`, or the Rejection when any row breaks the suite."""
        failures = self._failures(columns)
        if failures:
            return Rejection.validation_failed(failures)
        labels, probabilities = self.predictor.predict(columns)
        return Scored(labels, probabilities)
