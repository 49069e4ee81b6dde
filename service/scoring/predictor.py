"""Predictors behind one interface: ONNX Runtime for serving, the skops pipeline as fallback."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd

from service.model.schema import FeatureSchema
from service.scoring.features import MISSING_CATEGORY, model_inputs

# A DataFrame, or the {feature: array} mapping the service parses requests into.
Batch = pd.DataFrame | Mapping[str, Any]


class Predictor(Protocol):
    classes: list  # empty for a regressor

    def predict(self, frame: Batch) -> tuple[np.ndarray, np.ndarray]:
        """Return the labels and the class probabilities (columns in `classes` order); for a
        regressor, the predicted values (float64) and a rows x 0 array."""
        ...


def _values(predicted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    # A regressor's answer in the shape of a classifier's: values, and no probabilities.
    values = np.asarray(predicted, dtype=np.float64).reshape(-1)
    return values, np.empty((len(values), 0), dtype=np.float64)


class OnnxPredictor:
    """Runs the exported ONNX graph: one input per feature column, shape [rows, 1]."""

    def __init__(self, model: bytes | Path, schema: FeatureSchema):
        import onnxruntime

        options = onnxruntime.SessionOptions()
        # One request is small; more intra-op threads cost more in handoff than they win.
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        source = model if isinstance(model, bytes) else str(model)
        self.session = onnxruntime.InferenceSession(
            source, options, providers=["CPUExecutionProvider"]
        )
        self.classes = list(schema.classes)
        self.regression = schema.is_regression
        # skl2onnx renames inputs it finds unsafe ("sepal length (cm)" becomes
        # "sepal_length__cm_") but keeps their order, which is the schema's.
        graph_names = [graph_input.name for graph_input in self.session.get_inputs()]
        renamed = dict(zip(schema.names, graph_names, strict=True))
        self.numeric = [(f.name, renamed[f.name]) for f in schema.features if f.kind == "numeric"]
        self.categorical = [
            (f.name, renamed[f.name]) for f in schema.features if f.kind == "categorical"
        ]

    def inputs(self, frame: Batch) -> dict[str, np.ndarray]:
        """Return the ONNX feed straight from the columns, shaped as `model_inputs` would.

        Going through `model_inputs` builds a second DataFrame, which costs more than the
        model itself on a small batch.
        """
        feed = {}
        for name, graph_name in self.numeric:
            feed[graph_name] = np.asarray(frame[name], dtype=np.float32).reshape(-1, 1)
        for name, graph_name in self.categorical:
            column = frame[name].to_numpy(dtype=object, na_value=MISSING_CATEGORY)
            feed[graph_name] = column.reshape(-1, 1)
        return feed

    def predict(self, frame: Batch) -> tuple[np.ndarray, np.ndarray]:
        if self.regression:
            # A regressor's graph has one output, "variable", of shape [rows, 1], in float32.
            return _values(self.session.run(None, self.inputs(frame))[0])
        labels, probabilities = self.session.run(None, self.inputs(frame))
        return labels, probabilities


class PipelinePredictor:
    """Runs the fitted scikit-learn pipeline itself."""

    def __init__(self, pipeline, schema: FeatureSchema):
        self.pipeline = pipeline
        self.schema = schema
        self.classes = [] if schema.is_regression else list(pipeline.classes_)

    def predict(self, frame: Batch) -> tuple[np.ndarray, np.ndarray]:
        if not isinstance(frame, pd.DataFrame):
            frame = pd.DataFrame(dict(frame))
        shaped = model_inputs(frame, self.schema)
        if self.schema.is_regression:
            return _values(self.pipeline.predict(shaped))
        probabilities = self.pipeline.predict_proba(shaped)
        labels = self.pipeline.classes_[probabilities.argmax(axis=1)]
        return labels, probabilities
