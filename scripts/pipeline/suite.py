"""The expectation suite: built from training data, stored as GX 1.x JSON, read back.

The suite is plain data in the shape `gx.ExpectationSuite.to_json_dict()` gives, so this module
never imports Great Expectations; tests check that GX accepts what it writes.
"""

from __future__ import annotations

import json
import math
from importlib import metadata
from pathlib import Path

import pandas as pd

from service.errors import UserError
from service.model.schema import FeatureSchema

SOURCE = "built from training data"

# What the builder writes as the type expectation of each column kind. GX 1.24 on pandas 3:
# - text columns read by pd.read_csv or built by DataFrame.from_records have the `str` dtype
#   (StringDtype(na_value=nan), whose `.type` is `str`). `expect_column_values_to_be_of_type`
#   compares `dtype.type` and passes with "str"; `expect_column_values_to_be_in_type_list`
#   compares the dtype object itself (`StringDtype in [np.str_, dtype('<U'), str]`) and always
#   fails, even with "StringDtype" in the list (pd.StringDtype() has na_value=pd.NA, so it is not
#   equal either). A column of only None is `object`, checked value by value, nulls ignored.
# - numeric columns: JSON clients send 5 as well as 5.0, which makes an int64 column where the
#   training data had float64, so one `of_type` cannot pass both. `in_type_list` with
#   ["float", "int"] passes float64 and int64 columns (np.dtype("float") is float64 and
#   np.dtype("int") int64) and, in an `object` column, Python and numpy ints and floats.
NUMERIC_TYPE_LIST = ["float", "int"]
TEXT_TYPE = "str"
BOOL_TYPE = "bool"


def build_suite(
    features: pd.DataFrame,
    schema: FeatureSchema,
    *,
    name: str,
    range_margin: float = 0.1,
) -> dict:
    """Return a GX 1.x expectation suite (JSON dict) that the training `features` pass.

    Expectations, in order: the exact feature column set, then per feature the column exists,
    its type, not null (only where training has no nulls), and its range (numeric, widened by
    `range_margin * (max - min)` on each side) or its set of training categories (categorical).
    The target column is not part of the suite: it validates model inputs only.
    """
    if not math.isfinite(range_margin) or range_margin < 0:
        raise UserError(
            f"range_margin must be a number >= 0, got {range_margin!r}; "
            "pass e.g. -p range_margin=0.1"
        )
    missing = [column for column in schema.names if column not in features.columns]
    if missing:
        raise UserError(
            f"the training features lack the schema columns {', '.join(missing)}; "
            f"they have {', '.join(map(str, features.columns))}"
        )
    expectations = [
        _expectation(
            "expect_table_columns_to_match_set",
            {"column_set": list(schema.names), "exact_match": True},
        )
    ]
    for feature in schema.features:
        column = features[feature.name]
        null_count = int(column.isna().sum())
        expectations.append(_expectation("expect_column_to_exist", {"column": feature.name}))
        expectations.append(_type_expectation(feature.name, feature.kind, column))
        if null_count == 0:
            expectations.append(
                _expectation(
                    "expect_column_values_to_not_be_null",
                    {"column": feature.name},
                    training_null_count=0,
                )
            )
        if feature.kind == "numeric":
            between = _between_expectation(feature.name, column, range_margin)
            if between is not None:
                expectations.append(between)
        else:
            categories = _categories(column)
            expectations.append(
                _expectation(
                    "expect_column_values_to_be_in_set",
                    {"column": feature.name, "value_set": categories},
                    training_category_count=len(categories),
                )
            )
    meta = {
        "great_expectations_version": _gx_version(),
        "source": SOURCE,
        "range_margin": range_margin,
        "training_rows": len(features),
        "target": schema.target,
    }
    return {"name": name, "id": None, "expectations": expectations, "meta": meta, "notes": None}


def save_suite(suite: dict, path: str | Path) -> Path:
    """Write `suite` as indented JSON to `path` (parent folders made) and return the path."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(suite, indent=2, allow_nan=False) + "\n", encoding="utf-8")
    except (OSError, TypeError, ValueError) as error:
        raise UserError(f"could not write expectation suite to {path}: {error}") from error
    return path


def load_suite(path: str | Path) -> dict:
    """Return the expectation suite stored as JSON at `path`, checked for the GX 1.x shape."""
    path = Path(path)
    if not path.is_file():
        raise UserError(
            f"expectation suite {path} does not exist; build it with the validate notebook "
            "(notebooks/01_validate_data.ipynb) or pass the path of a suite JSON file"
        )
    try:
        suite = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise UserError(f"expectation suite {path} is not valid JSON: {error}") from error
    if not isinstance(suite, dict) or not isinstance(suite.get("expectations"), list):
        raise UserError(
            f"expectation suite {path} is not a GX suite: it needs an object with an "
            '"expectations" list, as ExpectationSuite.to_json_dict() writes'
        )
    for position, expectation in enumerate(suite["expectations"]):
        if (
            not isinstance(expectation, dict)
            or not isinstance(expectation.get("type"), str)
            or not isinstance(expectation.get("kwargs", {}), dict)
        ):
            raise UserError(
                f"expectation {position} in {path} needs a string 'type' and a 'kwargs' object; "
                f"got {str(expectation)[:120]}"
            )
    return suite


def _expectation(kind: str, kwargs: dict, **meta: object) -> dict:
    return {
        "type": kind,
        "kwargs": kwargs,
        "meta": {"source": SOURCE, **meta},
        "severity": "critical",
    }


def _type_expectation(name: str, kind: str, column: pd.Series) -> dict:
    if kind == "numeric":
        return _expectation(
            "expect_column_values_to_be_in_type_list",
            {"column": name, "type_list": list(NUMERIC_TYPE_LIST)},
            training_dtype=str(column.dtype),
        )
    type_ = BOOL_TYPE if pd.api.types.is_bool_dtype(column) else TEXT_TYPE
    return _expectation(
        "expect_column_values_to_be_of_type",
        {"column": name, "type_": type_},
        training_dtype=str(column.dtype),
    )


def _between_expectation(name: str, column: pd.Series, range_margin: float) -> dict | None:
    values = pd.to_numeric(column, errors="coerce").dropna()
    if values.empty:
        return None  # an all-empty training column says nothing about the range
    low, high = float(values.min()), float(values.max())
    margin = range_margin * (high - low)
    return _expectation(
        "expect_column_values_to_be_between",
        {
            "column": name,
            "min_value": low - margin,
            "max_value": high + margin,
            "strict_min": False,
            "strict_max": False,
        },
        training_min=low,
        training_max=high,
    )


def _categories(column: pd.Series) -> list:
    values = column.dropna().unique().tolist()
    if pd.api.types.is_bool_dtype(column):
        return sorted(bool(value) for value in values)
    return sorted(str(value) for value in values)


def _gx_version() -> str | None:
    # Recorded like GX records it, read from the installed metadata so GX is not imported.
    try:
        return metadata.version("great-expectations")
    except metadata.PackageNotFoundError:
        return None
