"""The feature schema: what the model takes, stored with it (inferred by scripts.pipeline.data)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

Kind = Literal["numeric", "categorical"]
Task = Literal["classification", "regression"]
TASKS = ("classification", "regression")


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
    classes: list[str | int]  # empty for a regressor
    # "number" for a regressor's target; versions exported before regression lack `task`.
    label_kind: Literal["string", "integer", "number"] = "string"
    task: Task = "classification"

    @property
    def is_regression(self) -> bool:
        return self.task == "regression"

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
