"""Reading a training table: load and check it, split off the target, infer its schema."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from service.errors import UserError
from service.model.schema import TASKS, Feature, FeatureSchema, Task


def load_table(path: str | Path, target: str) -> pd.DataFrame:
    """Return the CSV at `path` after checking it can train a model on `target`.

    Rows whose target is empty stay in; `split_target` leaves them out and says how many.
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"data file {path} does not exist; pass -p data_path=PATH")
    try:
        frame = pd.read_csv(path)
    except pd.errors.EmptyDataError:
        raise UserError(f"data file {path} is empty; it needs a header row and data rows")
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as error:
        first_line = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise UserError(f"data file {path} is not a readable CSV: {first_line}")
    if frame.empty:
        raise UserError(f"data file {path} has a header but no data rows")
    if target not in frame.columns:
        raise UserError(
            f"target column {target!r} is not in {path.name}; "
            f"its columns are {', '.join(map(str, frame.columns))}; pass -p target=COLUMN"
        )
    if len(frame.columns) < 2:
        raise UserError(f"data file {path} has only the target column; it needs features")
    empty = [str(name) for name in frame.columns if name != target and frame[name].isna().all()]
    if empty:
        raise UserError(
            f"column(s) {', '.join(map(repr, empty))} in {path.name} are empty in every row, so "
            "nothing can be learned or checked from them; drop them from the CSV"
        )
    frame = _text_for_non_numeric(frame, target)
    labels = frame[target].dropna()
    if labels.empty:
        raise UserError(
            f"target column {target!r} in {path.name} is empty in every row; "
            "label the rows or pass -p target=COLUMN"
        )
    if labels.nunique() < 2:
        raise UserError(
            f"target column {target!r} in {path.name} has one value "
            f"({labels.iloc[0]!r}) in every labelled row; a model needs at least two"
        )
    return frame


def _text_for_non_numeric(frame: pd.DataFrame, target: str) -> pd.DataFrame:
    """Return `frame` with every non-numeric feature as text, booleans included.

    A request sends a categorical value as a JSON string; training on "True" rather than
    True keeps the suite, the schema and the request model in one vocabulary.
    """
    for name in frame.columns:
        column = frame[name]
        if name == target or pd.api.types.is_string_dtype(column):
            continue
        if pd.api.types.is_bool_dtype(column) or not pd.api.types.is_numeric_dtype(column):
            frame[name] = (
                column.astype(object).where(column.isna(), column.astype(str)).astype("str")
            )
    return frame


def split_target(frame: pd.DataFrame, target: str) -> tuple[pd.DataFrame, pd.Series]:
    """Return the feature columns and the target of the rows that have one.

    `len(frame) - len(labels)` rows had no target: nothing is filled in for them. A target
    pandas read as floats only because of those gaps (0.0, 1.0) is whole numbers again.
    """
    labelled = frame[frame[target].notna()]
    labels = labelled[target]
    if pd.api.types.is_float_dtype(labels) and bool((labels % 1 == 0).all()):
        labels = labels.astype("int64")
    return labelled.drop(columns=[target]), labels


# Under `task: auto`, a numeric target with more distinct values than this is regression.
AUTO_REGRESSION_DISTINCT = 20


def resolve_task(labels: pd.Series, task: str) -> tuple[Task, str]:
    """Return the task for `labels` (the `task` parameter decided, or `auto`) and why.

    Raise when the target cannot be learned that way: fractions are no classes, and a
    regressor cannot learn text.
    """
    target = str(labels.name)
    numeric = pd.api.types.is_numeric_dtype(labels) and not pd.api.types.is_bool_dtype(labels)
    distinct = int(labels.nunique())
    if task == "auto":
        if numeric and not pd.api.types.is_integer_dtype(labels):
            return "regression", (
                f"target {target!r} holds fractional numbers ({distinct} distinct values); "
                "-p task=classification overrides"
            )
        if numeric and distinct > AUTO_REGRESSION_DISTINCT:
            return "regression", (
                f"target {target!r} holds {distinct} distinct whole numbers, more than "
                f"{AUTO_REGRESSION_DISTINCT}; -p task=classification overrides"
            )
        return "classification", (
            f"target {target!r} has {distinct} distinct "
            f"{'whole numbers' if numeric else 'values'}; -p task=regression overrides"
        )
    if task == "classification" and numeric and not pd.api.types.is_integer_dtype(labels):
        example = labels[labels % 1 != 0].iloc[0]
        raise UserError(
            f"target column {target!r} holds fractional numbers (e.g. {example}), which are no "
            "classes; pass -p task=regression, or bin the target into classes first"
        )
    if task == "regression" and not numeric:
        raise UserError(
            f"target column {target!r} holds text (e.g. {labels.iloc[0]!r}), which a regressor "
            "cannot learn; pass -p task=classification, or pick a numeric -p target=COLUMN"
        )
    if task not in TASKS:
        raise UserError(f"task must be auto, {' or '.join(TASKS)}, not {task!r}; pass -p task=auto")
    return task, f"-p task={task} chose it"


def infer_schema(
    features: pd.DataFrame, labels: pd.Series, task: Task = "classification"
) -> FeatureSchema:
    """Return the schema of a training table: kind, dtype, nullability and categories, and
    the task with its classes (none for a regressor)."""
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
    if task == "regression":
        return FeatureSchema(inferred, str(labels.name), [], label_kind="number", task=task)
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
