"""Where each artefact of a run lives inside its run directory.

What the model version keeps has the same file name here as there (service/model/version.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from service.model.version import (
    METRICS_FILE,
    PARAMS_FILE,
    PIPELINE_FILE,
    REFERENCE_FILE,
    SCHEMA_FILE,
    SUITE_FILE,
)


@dataclass(frozen=True)
class RunDir:
    root: Path

    def __init__(self, root: str | Path):
        object.__setattr__(self, "root", Path(root).resolve())
        self.root.mkdir(parents=True, exist_ok=True)

    # 01 validate data
    @property
    def suite(self) -> Path:
        return self.root / SUITE_FILE

    @property
    def validation_html(self) -> Path:
        return self.root / "data_validation.html"

    # 02 train
    @property
    def pipeline(self) -> Path:
        return self.root / PIPELINE_FILE

    @property
    def schema(self) -> Path:
        return self.root / SCHEMA_FILE

    @property
    def reference(self) -> Path:
        return self.root / REFERENCE_FILE

    @property
    def holdout(self) -> Path:
        return self.root / "holdout.csv"

    @property
    def train_features(self) -> Path:
        return self.root / "train_features.csv"

    # 03 evaluate
    @property
    def metrics(self) -> Path:
        return self.root / METRICS_FILE

    @property
    def holdout_predictions(self) -> Path:
        return self.root / "holdout_predictions.csv"

    @property
    def confusion_plot(self) -> Path:
        return self.root / "confusion_matrix.png"

    @property
    def roc_plot(self) -> Path:
        return self.root / "roc_curves.png"

    # 03 evaluate, a regressor
    @property
    def predicted_actual_plot(self) -> Path:
        return self.root / "predicted_vs_actual.png"

    @property
    def residuals_plot(self) -> Path:
        return self.root / "residuals.png"

    # 04 monitor
    @property
    def drift(self) -> Path:
        return self.root / "drift.json"

    # the runner
    @property
    def params(self) -> Path:
        return self.root / PARAMS_FILE

    @property
    def model_staging(self) -> Path:
        return self.root / "model"

    @property
    def comparison(self) -> Path:
        return self.root / "comparison.json"

    # the runner, for 05 export: the exported version's tag, labels and store metadata
    @property
    def export(self) -> Path:
        return self.root / "export.json"
