"""Reading a training table: load and check it, split off the target, infer its schema."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from service.errors import UserError
from service.model.schema import Feature, FeatureSchema


def load_table(path: str | Path, target: str) -> pd.DataFrame:
    """Return the CSV at `path` after checking it can train a classifier on `target`."""
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
    if len(labels) < len(frame):
        raise UserError(
            f"target column {target!r} in {path.name} is empty in "
            f"{len(frame) - len(labels)} rows; drop or label them first"
        )
    if labels.nunique() < 2:
        raise UserError(
            f"target column {target!r} in {path.name} has one class "
            f"({labels.iloc[0]!r}); a classifier needs at least two"
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
    """Return the feature columns and the label column of a loaded table."""
    return frame.drop(columns=[target]), frame[target]


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
