"""The expectation suite: built from training data, stored as GX 1.x JSON, read back, shown.

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


SUITE_TABLE_COLUMNS = ("rule", "column", "check", "training data")
# A longer value set or column set is shown by its first members and its size.
SHOWN_VALUES = 12


def suite_table(suite: dict) -> pd.DataFrame:
    """Return one row per expectation of `suite`, indexed by its position in the suite: the rule
    (the GX expectation type), its column, what it checks in words, and what the training data
    showed (from the expectation's meta, blank where a reviewed suite has none)."""
    rows = []
    for item in suite["expectations"]:
        kwargs = item.get("kwargs") or {}
        rows.append(
            {
                "rule": item["type"],
                "column": kwargs.get("column", "(table)"),
                "check": _check(item["type"], kwargs),
                "training data": _training(item.get("meta") or {}),
            }
        )
    table = pd.DataFrame(rows, columns=list(SUITE_TABLE_COLUMNS))
    # The position is what validation_parity's mismatches and a rejection's rule order refer to.
    table.index.name = "position"
    return table


def _check(kind: str, kwargs: dict) -> str:
    if kind == "expect_table_columns_to_match_set":
        which = "exactly" if kwargs.get("exact_match", True) else "at least"
        text = f"{which} the columns {_listed(kwargs.get('column_set') or [])}"
    elif kind == "expect_column_to_exist":
        text = "the column is present"
    elif kind == "expect_column_values_to_be_in_type_list":
        text = f"type is one of {_listed(kwargs.get('type_list') or [])}"
    elif kind == "expect_column_values_to_be_of_type":
        text = f"type is {kwargs.get('type_')}"
    elif kind == "expect_column_values_to_not_be_null":
        text = "no missing values"
    elif kind == "expect_column_values_to_be_between":
        text = _bounds(kwargs)
    elif kind == "expect_column_values_to_be_in_set":
        text = f"one of {_listed(kwargs.get('value_set') or [])}"
    else:  # a type a reviewed suite may add: its arguments as they are
        shown = {k: v for k, v in kwargs.items() if k not in ("column", "mostly")}
        text = ", ".join(f"{key}={value!r}" for key, value in shown.items())
    mostly = kwargs.get("mostly")
    if isinstance(mostly, int | float) and mostly < 1:
        text += f", in at least {mostly:.0%} of the rows"
    return text


def _bounds(kwargs: dict) -> str:
    low, high = kwargs.get("min_value"), kwargs.get("max_value")
    strict_low, strict_high = kwargs.get("strict_min", False), kwargs.get("strict_max", False)
    if low is not None and high is not None and not (strict_low or strict_high):
        return f"between {_number(low)} and {_number(high)}"
    parts = []
    if low is not None:
        parts.append(f"{'above' if strict_low else 'at least'} {_number(low)}")
    if high is not None:
        parts.append(f"{'below' if strict_high else 'at most'} {_number(high)}")
    return " and ".join(parts) or "any value"


def _training(meta: dict) -> str:
    parts = []
    if "training_min" in meta and "training_max" in meta:
        parts.append(f"range {_number(meta['training_min'])} to {_number(meta['training_max'])}")
    if "training_category_count" in meta:
        parts.append(f"{meta['training_category_count']} categories")
    if "training_dtype" in meta:
        parts.append(f"dtype {meta['training_dtype']}")
    if meta.get("training_null_count") == 0:
        parts.append("0 missing")
    return "; ".join(parts)


def _listed(values: list) -> str:
    if not values:
        return "(none)"
    text = ", ".join(str(value) for value in values[:SHOWN_VALUES])
    return text + (f", … ({len(values)} in all)" if len(values) > SHOWN_VALUES else "")


def _number(value: object) -> str:
    # Bounds widened by a margin carry float noise (8.620000000000001); six digits read true.
    return f"{value:.6g}" if isinstance(value, float) else str(value)


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
