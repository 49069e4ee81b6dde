"""The scikit-learn pipeline: preprocessing chosen from the feature schema, then the estimator."""

from __future__ import annotations

import importlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import skops.io
from sklearn.base import BaseEstimator
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import (
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from scripts.pipeline.data import infer_schema, load_table, resolve_task, split_target
from scripts.pipeline.reference import BINS, CDF_POINTS, reference_statistics
from scripts.pipeline.rundir import RunDir
from service.errors import UserError
from service.model.schema import FeatureSchema, Task
from service.observe.drift import MAX_CATEGORY_BINS
from service.scoring.features import model_inputs


@dataclass(frozen=True)
class EstimatorChoice:
    """One value of -p estimator: its class per task, our defaults, and what it needs in front."""

    # None where the estimator has no form for the task (there is no logistic regressor); a
    # "module:Class" string is imported on first use, so a library only one estimator needs
    # is not loaded for the others.
    classifier: type[BaseEstimator] | str | None
    regressor: type[BaseEstimator] | str | None
    # params.yaml's `hyperparameters` override these, key by key.
    defaults: dict[str, object] = field(default_factory=dict)
    # Per task, on top of `defaults`.
    regressor_defaults: dict[str, object] = field(default_factory=dict)
    # Shown in the error for a hyperparameter the estimator does not take.
    example: str = "max_depth: 5"
    # Linear models need comparable feature scales; trees do not care.
    scale: bool = False
    # HGB routes NaN itself; a median imputer in front of it flipped float32 branches in ONNX.
    impute: bool = True
    # The types its fitted form holds that skops does not trust by default: trusted by name
    # when a pipeline is loaded (SKOPS_TRUSTED_TYPES), and nothing else.
    skops_types: tuple[str, ...] = ()

    def does(self, task: Task) -> bool:
        return (self.regressor if task == "regression" else self.classifier) is not None

    def cls(self, task: Task) -> type[BaseEstimator] | None:
        found = self.regressor if task == "regression" else self.classifier
        if isinstance(found, str):
            module, _, name = found.partition(":")
            found = getattr(importlib.import_module(module), name)
        return found

    def defaults_for(self, task: Task) -> dict[str, object]:
        return {**self.defaults, **(self.regressor_defaults if task == "regression" else {})}


_TREE = ("sklearn.tree._tree.Tree",)
ESTIMATORS = {
    "random_forest": EstimatorChoice(
        RandomForestClassifier, RandomForestRegressor, {"n_estimators": 100}, skops_types=_TREE
    ),
    "extra_trees": EstimatorChoice(
        ExtraTreesClassifier, ExtraTreesRegressor, {"n_estimators": 100}, skops_types=_TREE
    ),
    # Scaled, iris and data/churn.csv converge in 16 and 14 lbfgs iterations; 1000 instead of
    # sklearn's 100 leaves room for wider tables before a ConvergenceWarning.
    "logistic_regression": EstimatorChoice(
        LogisticRegression, None, {"max_iter": 1000}, example="C: 0.5", scale=True
    ),
    "hist_gradient_boosting": EstimatorChoice(
        HistGradientBoostingClassifier,
        HistGradientBoostingRegressor,
        impute=False,
        skops_types=("sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",),
    ),
    "ridge": EstimatorChoice(None, Ridge, {"alpha": 1.0}, example="alpha: 0.5", scale=True),
    # Gradient-boosted trees route NaN themselves, like HGB. One thread each: the defaults of
    # both take every core, which on a small table costs more in handoff than it wins (on two
    # busy cores, house_prices fitted in 0.07 to 0.2 s on one thread and 0.9 to 1.1 s on two;
    # python -m scripts.tools.bench.booster_parity prints it).
    # LightGBM's importances count splits unless told to sum gain, as XGBoost's and the
    # forests' do; verbose -1 keeps its "no further splits" warnings out of the report.
    # LightGBM's own classes split in float64, which a float32 graph cannot follow: the
    # project's form fits in float32 (scripts/pipeline/boosters.py says why and how).
    "lightgbm": EstimatorChoice(
        "scripts.pipeline.boosters:Float32LGBMClassifier",
        "scripts.pipeline.boosters:Float32LGBMRegressor",
        {"n_estimators": 100, "n_jobs": 1, "verbose": -1, "importance_type": "gain"},
        example="num_leaves: 15",
        impute=False,
        skops_types=(
            "scripts.pipeline.boosters.Float32LGBMClassifier",
            "scripts.pipeline.boosters.Float32LGBMRegressor",
            "lightgbm.basic.Booster",
            "collections.OrderedDict",
        ),
    ),
    "xgboost": EstimatorChoice(
        "scripts.pipeline.boosters:EncodedXGBClassifier",
        "xgboost:XGBRegressor",
        {"n_estimators": 100, "n_jobs": 1},
        example="max_depth: 4",
        impute=False,
        skops_types=(
            "scripts.pipeline.boosters.EncodedXGBClassifier",
            "xgboost.sklearn.XGBRegressor",
            "xgboost.core.Booster",
        ),
    ),
}
# What skops.io may load: numpy's dtypes, and what each estimator's fitted form holds. A
# pipeline holding any other type (a step a notebook added) is refused by name.
SKOPS_TRUSTED_TYPES = frozenset(
    {"numpy.dtype"}.union(*(choice.skops_types for choice in ESTIMATORS.values()))
)


def estimators_for(task: Task) -> list[str]:
    """Return the names of the estimators that have a form for `task`."""
    return [name for name, choice in ESTIMATORS.items() if choice.does(task)]


def estimator_choice(name: str, task: Task | None = None) -> EstimatorChoice:
    """Return the registry entry for `name`, which must have a form for `task` (if given)."""
    if name not in ESTIMATORS:
        raise UserError(
            f"unknown estimator {name!r}; choose one of {', '.join(ESTIMATORS)} "
            "with -p estimator=NAME"
        )
    choice = ESTIMATORS[name]
    if task is not None and not choice.does(task):
        raise UserError(
            f"estimator {name!r} does not do {task}; for {task} choose one of "
            f"{', '.join(estimators_for(task))} with -p estimator=NAME"
        )
    return choice


def effective_hyperparameters(
    name: str, overrides: dict | None, task: Task = "classification"
) -> dict:
    """Return the estimator's default hyperparameters updated by `overrides`, each one checked."""
    choice = estimator_choice(name, task)
    overrides = overrides or {}
    if not isinstance(overrides, dict):
        raise UserError(
            f"hyperparameters must be a mapping like {{{choice.example}}}, not {overrides!r}"
        )
    if "random_state" in overrides:
        raise UserError(
            "random_state is a parameter of its own, not a hyperparameter; "
            "pass -p random_state=N instead"
        )
    takes = sorted(set(choice.cls(task)().get_params()) - {"random_state"})
    unknown = sorted(set(overrides) - set(takes), key=str)
    if unknown:
        raise UserError(
            f"{name} does not take hyperparameter(s) {', '.join(map(str, unknown))}; "
            f"it takes {', '.join(takes)}. Override only those, e.g. "
            f'-p hyperparameters="{{{choice.example}}}", or pick another -p estimator=NAME'
        )
    return {**choice.defaults_for(task), **overrides}


def make_estimator(
    name: str, hyperparameters: dict | None, random_state: int, task: Task = "classification"
) -> BaseEstimator:
    """Return the estimator called `name` for `task`, its defaults overridden by
    `hyperparameters`."""
    effective = effective_hyperparameters(name, hyperparameters, task)
    return estimator_choice(name, task).cls(task)(random_state=random_state, **effective)


def numeric_preprocessing(estimator: str) -> Pipeline | str:
    """Return the step for numeric columns: median imputation unless the estimator routes NaN
    itself, then scaling if it is linear; "passthrough" when it needs neither."""
    choice = estimator_choice(estimator)
    steps = []
    if choice.impute:
        steps.append(("impute", SimpleImputer(strategy="median")))
    if choice.scale:
        steps.append(("scale", StandardScaler()))
    # A bare "passthrough" converts to ONNX; a Pipeline holding only "passthrough" does not.
    return Pipeline(steps) if steps else "passthrough"


def categorical_encoder() -> OneHotEncoder:
    """Return the one-hot encoder for categorical columns."""
    # A missing category arrives as "" (service.scoring.features.MISSING_CATEGORY) and is a category
    # of its own; a category never seen in training encodes as all zeros.
    return OneHotEncoder(handle_unknown="ignore", sparse_output=False)


def column_transformer(
    schema: FeatureSchema, numeric_step: object, categorical_step: object
) -> ColumnTransformer:
    """Return a ColumnTransformer sending the schema's numeric columns through `numeric_step`
    and its categorical ones through `categorical_step`; a kind with no column is left out."""
    numeric = [f.name for f in schema.features if f.kind == "numeric"]
    categorical = [f.name for f in schema.features if f.kind == "categorical"]
    transformers = []
    if numeric:
        transformers.append(("numeric", numeric_step, numeric))
    if categorical:
        transformers.append(("categorical", categorical_step, categorical))
    return ColumnTransformer(transformers, remainder="drop")


def build_pipeline(
    schema: FeatureSchema,
    estimator: str,
    hyperparameters: dict | None,
    random_state: int,
    *,
    numeric_step: object | None = None,
    categorical_step: object | None = None,
) -> Pipeline:
    """Return the unfitted Pipeline: a "preprocess" ColumnTransformer, then the "model".

    The one composition of the project: 02_train builds the two preprocessing steps in cells of
    their own, shows them and passes them here; everything else (03_evaluate run on its own, the
    tests) takes the defaults, `numeric_preprocessing(estimator)` and `categorical_encoder()`.
    """
    if numeric_step is None:
        numeric_step = numeric_preprocessing(estimator)
    if categorical_step is None:
        categorical_step = categorical_encoder()
    return Pipeline(
        [
            ("preprocess", column_transformer(schema, numeric_step, categorical_step)),
            ("model", make_estimator(estimator, hyperparameters, random_state, schema.task)),
        ]
    )


def holdout_split(
    features: pd.DataFrame,
    labels: pd.Series,
    test_size: float,
    random_state: int,
    task: Task = "classification",
) -> tuple[pd.DataFrame, pd.DataFrame, pd.Series, pd.Series]:
    """Return train and held-out features and labels; a classifier's are stratified when every
    class allows it."""
    if not 0 < test_size < 1:
        raise UserError(f"test_size must be between 0 and 1, not {test_size}")
    stratify = None
    if task == "classification" and labels.value_counts().min() >= 2:
        stratify = labels
    try:
        return train_test_split(
            features, labels, test_size=test_size, random_state=random_state, stratify=stratify
        )
    except ValueError as error:
        raise UserError(f"cannot hold out test_size={test_size} of {len(labels)} rows: {error}")


@dataclass(frozen=True)
class Split:
    """A training table's feature schema, and its rows split into train and held out."""

    schema: FeatureSchema
    train_features: pd.DataFrame
    train_labels: pd.Series
    holdout_features: pd.DataFrame
    holdout_labels: pd.Series
    # Why the schema's task was picked, and the rows left out for having no target.
    task_reason: str = ""
    unlabelled_rows: int = 0


def load_split(
    data_path: str | Path, target: str, test_size: float, random_state: int, task: str = "auto"
) -> Split:
    """Return the checked table at `data_path`, its schema, and its train and held-out rows.

    Rows without a target are left out and counted; `task` (auto, classification or
    regression) is resolved on the target that remains."""
    table = load_table(data_path, target)
    features, labels = split_target(table, target)
    resolved, reason = resolve_task(labels, task)
    train_x, holdout_x, train_y, holdout_y = holdout_split(
        features, labels, test_size, random_state, resolved
    )
    schema = infer_schema(features, labels, resolved)
    return Split(schema, train_x, train_y, holdout_x, holdout_y, reason, len(table) - len(labels))


def save_trained(
    run: RunDir,
    pipeline: Pipeline,
    split: Split,
    *,
    drift_bins: int = BINS,
    drift_cdf_points: int = CDF_POINTS,
    drift_max_category_bins: int = MAX_CATEGORY_BINS,
) -> None:
    """Write what 03_evaluate and the export read: the fitted pipeline (skops, no pickle), the
    schema, the training features' reference statistics (binned by the drift settings), and the
    training and held-out rows."""
    skops.io.dump(pipeline, run.pipeline)
    run.schema.write_text(json.dumps(split.schema.to_dict(), indent=2))
    reference = reference_statistics(
        split.train_features,
        split.schema,
        bins=drift_bins,
        cdf_points=drift_cdf_points,
        max_category_bins=drift_max_category_bins,
    )
    run.reference.write_text(json.dumps(reference, indent=2))
    split.train_features.to_csv(run.train_features, index=False)
    holdout = split.holdout_features.assign(**{split.schema.target: split.holdout_labels})
    holdout.to_csv(run.holdout, index=False)


@dataclass(frozen=True)
class TrainedRun:
    pipeline: Pipeline
    split: Split


def train_run(
    run: RunDir,
    *,
    data_path: str | Path,
    target: str,
    estimator: str,
    hyperparameters: dict,
    test_size: float,
    random_state: int,
    task: str = "auto",
) -> TrainedRun:
    """Return the fitted pipeline and its split, after writing them into the run directory.

    02_train takes the same steps one cell at a time, with the steps it shows; this is them in
    one call, with the defaults."""
    split = load_split(data_path, target, test_size, random_state, task)
    pipeline = build_pipeline(split.schema, estimator, hyperparameters, random_state)
    pipeline.fit(model_inputs(split.train_features, split.schema), split.train_labels)
    save_trained(run, pipeline, split)
    return TrainedRun(pipeline, split)


def read_schema(run: RunDir) -> FeatureSchema:
    """Return the feature schema that 02_train wrote into the run directory."""
    return FeatureSchema.from_dict(json.loads(run.schema.read_text()))


def read_features(path: Path, schema: FeatureSchema) -> pd.DataFrame:
    """Return a CSV written by this run, with categorical columns kept as text."""
    categorical = {f.name: "str" for f in schema.features if f.kind == "categorical"}
    return pd.read_csv(path, dtype=categorical)


def trusted_skops_types(path: Path) -> list[str]:
    """Return the types the skops file at `path` holds beyond skops' defaults, each one checked
    against SKOPS_TRUSTED_TYPES."""
    found = skops.io.get_untrusted_types(file=path)
    unknown = sorted(set(found) - SKOPS_TRUSTED_TYPES)
    if unknown:
        raise UserError(
            f"{path} holds type(s) {', '.join(unknown)} that the project does not trust; if a "
            "step you added to the pipeline is made of them and you trust them, add their names "
            "to an estimator's skops_types in scripts/pipeline/training.py"
        )
    return found


def load_pipeline(run: RunDir) -> Pipeline:
    """Return the pipeline 02_train wrote, loading only the types SKOPS_TRUSTED_TYPES names."""
    return skops.io.load(run.pipeline, trusted=trusted_skops_types(run.pipeline))


def train_with_defaults(run: RunDir) -> TrainedRun:
    """Return a run trained with params.yaml's defaults, so a later notebook can run on its own."""
    from scripts.pipeline.params import PROJECT_ROOT, load_params

    params = load_params()
    return train_run(
        run,
        data_path=PROJECT_ROOT / params["data_path"],
        target=params["target"],
        estimator=params["estimator"],
        hyperparameters=params["hyperparameters"],
        test_size=params["test_size"],
        random_state=params["random_state"],
        task=params.get("task", "auto"),
    )
