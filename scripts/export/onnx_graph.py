"""Converting the fitted pipeline to ONNX and checking that it answers as scikit-learn does."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from service.model.schema import FeatureSchema
from service.scoring.predictor import OnnxPredictor, PipelinePredictor

PROBABILITY_TOLERANCE = 1e-5


def convert_to_onnx(pipeline: Pipeline, schema: FeatureSchema) -> bytes:
    """Return the serialized ONNX model: one [None, 1] input per feature, no ZipMap."""
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType, StringTensorType

    initial_types = [
        (f.name, FloatTensorType([None, 1]) if f.kind == "numeric" else StringTensorType([None, 1]))
        for f in schema.features
    ]
    model = convert_sklearn(
        pipeline,
        initial_types=initial_types,
        options={id(pipeline): {"zipmap": False}},
        target_opset={"": 17, "ai.onnx.ml": 3},
    )
    return model.SerializeToString()


def onnx_parity(
    onnx_model: bytes, pipeline: Pipeline, schema: FeatureSchema, features: pd.DataFrame
) -> dict:
    """Return how ONNX and scikit-learn compare on `features`: labels and probabilities."""
    onnx_labels, onnx_probabilities = OnnxPredictor(onnx_model, schema).predict(features)
    sk_labels, sk_probabilities = PipelinePredictor(pipeline, schema).predict(features)
    differing = int(np.sum(onnx_labels.astype(str) != sk_labels.astype(str)))
    max_difference = float(np.max(np.abs(onnx_probabilities - sk_probabilities), initial=0.0))
    return {
        "rows": len(features),
        "labels_differing": differing,
        "max_probability_difference": max_difference,
        "tolerance": PROBABILITY_TOLERANCE,
        "passed": differing == 0 and max_difference <= PROBABILITY_TOLERANCE,
    }


def export_onnx(pipeline: Pipeline, schema: FeatureSchema, holdout: pd.DataFrame) -> dict:
    """Return {"model": bytes or None, "report": dict}: conversion and parity, never raising."""
    try:
        onnx_model = convert_to_onnx(pipeline, schema)
    except Exception as error:  # noqa: BLE001 - any converter failure means: fall back to skops
        return {"model": None, "report": {"converted": False, "error": _describe(error)}}
    try:
        parity = onnx_parity(onnx_model, pipeline, schema, holdout)
    except Exception as error:  # noqa: BLE001 - a graph onnxruntime cannot run: fall back too
        return {
            "model": None,
            "report": {"converted": True, "error": f"onnxruntime failed: {_describe(error)}"},
        }
    return {"model": onnx_model, "report": {"converted": True, "parity": parity}}


def _describe(error: Exception) -> str:
    return f"{type(error).__name__}: {str(error)[:500]}"
