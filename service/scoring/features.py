"""Shaping feature columns the way the fitted pipeline and its ONNX graph take them."""

from __future__ import annotations

import pandas as pd

from service.model.schema import FeatureSchema

# skl2onnx cannot convert a SimpleImputer on string columns whose missing value is NaN, so
# every categorical gap becomes this value, in training and in serving alike.
MISSING_CATEGORY = ""


def model_inputs(features: pd.DataFrame, schema: FeatureSchema) -> pd.DataFrame:
    """Return the features in schema order with the dtypes the pipeline and ONNX expect."""
    shaped = {}
    for feature in schema.features:
        column = features[feature.name]
        if feature.kind == "categorical":
            shaped[feature.name] = (
                column.astype("object").where(column.notna(), MISSING_CATEGORY).astype(str)
            )
        else:
            shaped[feature.name] = pd.to_numeric(column, errors="raise").astype("float64")
    return pd.DataFrame(shaped, index=features.index)
