"""The feature schema: what the model takes, inferred from training data and stored with it."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

import pandas as pd

Kind = Literal["numeric", "categorical"]


@dataclass(frozen=True)
class Feature:
    name: str
    kind: Kind
    dtype: str
    nullable: bool
    categories: list[str] | None = None


@dataclass(frozen=True)
class FeatureSchema:
    features: list[Feature]
    target: str
    classes: list[str | int]
    label_kind: Literal["string", "integer"] = "string"

    @property
    def names(self) -> list[str]:
        return [feature.name for feature in self.features]

    def feature(self, name: str) -> Feature:
        return next(feature for feature in self.features if feature.name == name)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> FeatureSchema:
        features = [Feature(**feature) for feature in data["features"]]
        return cls(**{**data, "features": features})


def infer_schema(features: pd.DataFrame, labels: pd.Series) -> FeatureSchema:
    """Return the schema of a training table: kind, dtype, nullability and categories."""
    inferred = []
    for name in features.columns:
        column = features[name]
        if pd.api.types.is_bool_dtype(column) or not pd.api.types.is_numeric_dtype(column):
            categories = sorted(column.dropna().astype(str).unique().tolist())
            inferred.append(
                Feature(str(name), "categorical", "str", bool(column.isna().any()), categories)
            )
        else:
            inferred.append(
                Feature(str(name), "numeric", column.dtype.name, bool(column.isna().any()))
            )
    integer_labels = pd.api.types.is_integer_dtype(labels)
    classes = (
        sorted(labels.unique().tolist())
        if integer_labels
        else sorted(labels.astype(str).unique().tolist())
    )
    return FeatureSchema(
        features=inferred,
        target=str(labels.name),
        classes=[int(c) for c in classes] if integer_labels else classes,
        label_kind="integer" if integer_labels else "string",
    )
