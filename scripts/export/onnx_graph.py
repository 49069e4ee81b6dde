"""Converting the fitted pipeline to ONNX and checking that it answers as scikit-learn does."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from service.model.schema import FeatureSchema
from service.scoring.predictor import OnnxPredictor, PipelinePredictor

PROBABILITY_TOLERANCE = 1e-5
# A regressor's graph answers float32: its values are compared relative to their size.
# skl2onnx 1.20 matched forests, extra trees, HGB and ridge within 1.2e-6 on 1,000 rows.
VALUE_RELATIVE_TOLERANCE = 1e-5


def convert_to_onnx(pipeline: Pipeline, schema: FeatureSchema) -> bytes:
    """Return the serialized ONNX model: one [None, 1] input per feature, no ZipMap."""
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType, StringTensorType

    if holds_booster(pipeline):
        from scripts.pipeline.boosters import register_converters

        register_converters()

    initial_types = [
        (f.name, FloatTensorType([None, 1]) if f.kind == "numeric" else StringTensorType([None, 1]))
        for f in schema.features
    ]
    # ZipMap (probabilities as a list of maps) is a classifier's option only.
    options = {} if schema.is_regression else {id(pipeline): {"zipmap": False}}
    model = convert_sklearn(
        pipeline,
        initial_types=initial_types,
        options=options,
        target_opset={"": 17, "ai.onnx.ml": 3},
    )
    return model.SerializeToString()


def holds_booster(pipeline: Pipeline) -> bool:
    """Return whether the pipeline's estimator comes from LightGBM or XGBoost, libraries only
    training installs."""
    module = type(pipeline.steps[-1][1]).__module__
    return module.startswith(("lightgbm", "xgboost", "scripts.pipeline.boosters"))


def onnx_parity(
    onnx_model: bytes, pipeline: Pipeline, schema: FeatureSchema, features: pd.DataFrame
) -> dict:
    """Return how ONNX and scikit-learn compare on `features`: labels and probabilities, or a
    regressor's values."""
    onnx_labels, onnx_probabilities = OnnxPredictor(onnx_model, schema).predict(features)
    sk_labels, sk_probabilities = PipelinePredictor(pipeline, schema).predict(features)
    if schema.is_regression:
        return value_parity(onnx_labels, sk_labels)
    differing = int(np.sum(onnx_labels.astype(str) != sk_labels.astype(str)))
    max_difference = float(np.max(np.abs(onnx_probabilities - sk_probabilities), initial=0.0))
    return {
        "rows": len(features),
        "labels_differing": differing,
        "max_probability_difference": max_difference,
        "tolerance": PROBABILITY_TOLERANCE,
        "passed": differing == 0 and max_difference <= PROBABILITY_TOLERANCE,
    }


def relative_differences(onnx_values: np.ndarray, sk_values: np.ndarray) -> np.ndarray:
    """Return each value's difference relative to its size, or to the answers' spread (value_parity
    says why) when it is nearer zero than that."""
    difference = np.abs(onnx_values - sk_values)
    spread = float(np.std(sk_values)) if len(sk_values) else 0.0
    floor = max(spread, 1e-3 * float(np.max(np.abs(sk_values), initial=0.0)))
    scale = np.maximum(np.abs(sk_values), floor)
    return np.divide(difference, scale, out=np.zeros_like(difference), where=scale > 0)


def value_parity(onnx_values: np.ndarray, sk_values: np.ndarray) -> dict:
    """Return how a regressor's graph and pipeline compare: the largest relative difference.

    A value is compared relative to its own size, or to the spread of the answers (their
    standard deviation) when it is nearer zero than that. A float32 graph sums its trees in
    float32, so a value near zero carries the rounding of the larger sums it came from:
    boosters on a target centred on zero missed 1e-5 of their own size by up to 1.7e-4 while
    missing by 2.4e-6 of the spread. A graph that answers another quantity
    (HistGradientBoostingRegressor with a poisson loss converts to one that answers the log of
    the prediction) misses it by far.
    """
    difference = np.abs(onnx_values - sk_values)
    worst = float(np.max(relative_differences(onnx_values, sk_values), initial=0.0))
    finite = bool(np.isfinite(onnx_values).all())
    return {
        "rows": len(sk_values),
        "max_absolute_difference": float(np.max(difference, initial=0.0)),
        "max_relative_difference": worst,
        "relative_tolerance": VALUE_RELATIVE_TOLERANCE,
        "passed": finite and worst <= VALUE_RELATIVE_TOLERANCE,
    }


# Unlike any category a user's column holds: it must reach the encoder as unseen.
UNSEEN_CATEGORY = "\x00unseen category"
EDGE_ROWS = 200


def edge_rows(features: pd.DataFrame, schema: FeatureSchema, rows: int = EDGE_ROWS) -> pd.DataFrame:
    """Return up to `rows` rows of `features`, each with a gap in one column in turn, and every
    other one with categories training never saw: the inputs a graph is likeliest to route
    differently, which held-out rows may hold too few of."""
    edges = features.head(rows).copy().reset_index(drop=True)
    for position in range(len(edges)):
        feature = schema.features[position % len(schema.features)]
        edges.loc[position, feature.name] = None if feature.kind == "categorical" else np.nan
    categorical = [f.name for f in schema.features if f.kind == "categorical"]
    if categorical:
        edges.loc[edges.index % 2 == 1, categorical] = UNSEEN_CATEGORY
    return edges


def export_onnx(pipeline: Pipeline, schema: FeatureSchema, holdout: pd.DataFrame) -> dict:
    """Return {"model": bytes or None, "report": dict}: conversion, and parity on the held-out
    rows and on `edge_rows` of them, never raising."""
    try:
        onnx_model = convert_to_onnx(pipeline, schema)
    except Exception as error:  # noqa: BLE001 - any converter failure means: fall back to skops
        return {"model": None, "report": {"converted": False, "error": _describe(error)}}
    try:
        edges = edge_rows(holdout, schema)
        compared = pd.concat([holdout.reset_index(drop=True), edges], ignore_index=True)
        parity = {**onnx_parity(onnx_model, pipeline, schema, compared), "edge_rows": len(edges)}
    except Exception as error:  # noqa: BLE001 - a graph onnxruntime cannot run: fall back too
        return {
            "model": None,
            "report": {"converted": True, "error": f"onnxruntime failed: {_describe(error)}"},
        }
    return {"model": onnx_model, "report": {"converted": True, "parity": parity}}


def _describe(error: Exception) -> str:
    return f"{type(error).__name__}: {str(error)[:500]}"
