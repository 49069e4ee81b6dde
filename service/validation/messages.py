"""Explaining a failed expectation to a person: the rule, the rows, and what was wrong."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from service.validation.checks import EMPTY, Between, TypeCheck
from service.validation.frame import DUPLICATE, Column, FrameView
from service.validation.results import rows_phrase
from service.validation.spec import Spec, compile_check
from service.validation.values import is_number


def wrong_type_rows(spec: Spec, column: Column) -> np.ndarray:
    """Rows whose values are of a type the expectation cannot accept, for a whole-column fail."""
    notnull = np.flatnonzero(column.notnull).tolist()
    values = column.objects
    if spec.type == "expect_column_values_to_be_between":
        check = compile_check(spec)
        if not isinstance(check, Between) or check.impossible:
            return EMPTY
        bad = []
        for position in notnull:
            try:
                check.contains(values[position])
            except Exception:  # noqa: BLE001 - exactly the values that could not be compared
                bad.append(position)
        return np.asarray(bad, dtype=np.intp)
    if spec.type in (
        "expect_column_values_to_be_of_type",
        "expect_column_values_to_be_in_type_list",
    ):
        check = compile_check(spec)
        if not isinstance(check, TypeCheck) or not check.value_types:
            return EMPTY
        kinds = check.value_types
        return np.asarray([p for p in notnull if not isinstance(values[p], kinds)], dtype=np.intp)
    return EMPTY


def failure_message(
    spec: Spec, view: FrameView, column: Any, rows: np.ndarray, wrong_type: bool
) -> str:
    kwargs = spec.kwargs
    name = spec.column
    if spec.type == "expect_table_columns_to_match_set":
        expected = list(dict.fromkeys(map(str, kwargs.get("column_set") or ())))
        actual = {str(c) for c in view.columns}
        exact = kwargs.get("exact_match", True)
        missing = [c for c in expected if c not in actual]
        extra = [str(c) for c in view.columns if str(c) not in set(expected)]
        parts = [f"the columns must be {'exactly' if exact else 'at least'} {_listing(expected)}"]
        if missing:
            parts.append(f"missing: {', '.join(missing)}")
        if extra and exact:
            parts.append(f"not expected: {', '.join(extra)}")
        return "; ".join(parts)
    if spec.type == "expect_table_columns_to_match_ordered_list":
        expected = list(kwargs.get("column_list") or ())
        return (
            f"the columns must be, in this order, {_listing(expected)}; "
            f"got {_listing(list(map(str, view.columns)))}"
        )
    if spec.type == "expect_column_to_exist":
        if column is not None and kwargs.get("column_index"):
            return f"column {name} must be at position {kwargs['column_index']}"
        return f"column {name} is missing; send it in every record"
    rule, one, many = _rule(spec, wrong_type)
    if column is None and name is not None:
        return f"{rule}, but the column is missing; send it in every record"
    if spec.type in (
        "expect_column_values_to_be_of_type",
        "expect_column_values_to_be_in_type_list",
    ):
        if (
            column is not None
            and column is not DUPLICATE
            and column.dtype.type.__name__ != "object_"
        ):
            held = f"{rule}, but the column holds {_dtype_name(column.dtype)} values"
            return held + (f" ({rows_phrase(rows)})" if len(rows) else "")
    if not len(rows):
        if spec.type == "expect_column_values_to_be_between" and _bounds_impossible(kwargs):
            return f"{rule}, which no value can be: the suite's min_value is above max_value"
        return f"{rule}; Great Expectations could not evaluate it on these values"
    text = f"{rule}; {rows_phrase(rows)} {one if len(rows) == 1 else many}"
    mostly = kwargs.get("mostly", 1)
    if is_number(mostly) and mostly < 1:
        text += f" (at least {_percent(mostly)} of the values must pass)"
    return text


def _rule(spec: Spec, wrong_type: bool) -> tuple[str, str, str]:
    """Return (what the column must satisfy, verb for one row, verb for several)."""
    kwargs = spec.kwargs
    name = spec.column or "the table"
    if spec.type == "expect_column_values_to_not_be_null":
        return f"{name} must have a value", "is empty", "are empty"
    if spec.type == "expect_column_values_to_be_null":
        return f"{name} must be empty", "is not", "are not"
    if spec.type == "expect_column_values_to_be_between":
        low, high = kwargs.get("min_value"), kwargs.get("max_value")
        lower = "greater than" if kwargs.get("strict_min") else "at least"
        upper = "less than" if kwargs.get("strict_max") else "at most"
        if low is not None and high is not None:
            if kwargs.get("strict_min") or kwargs.get("strict_max"):
                span = f"{lower} {_number(low)} and {upper} {_number(high)}"
            else:
                span = f"between {_number(low)} and {_number(high)}"
        elif low is not None:
            span = f"{lower} {_number(low)}"
        else:
            span = f"{upper} {_number(high)}"
        if wrong_type:
            return f"{name} must be a number {span}", "is not a number", "are not numbers"
        return f"{name} must be {span}", "is not", "are not"
    if spec.type == "expect_column_values_to_be_in_set":
        value_set = list(kwargs.get("value_set") or [])
        allowed = f"one of {_listing(value_set)}" if value_set else "in an empty value set"
        return f"{name} must be {allowed}", "is not", "are not"
    if spec.type == "expect_column_values_to_be_of_type":
        return f"{name} must be {_type_words([kwargs.get('type_')])}", "is not", "are not"
    if spec.type == "expect_column_values_to_be_in_type_list":
        return f"{name} must be {_type_words(kwargs.get('type_list') or [])}", "is not", "are not"
    arguments = ", ".join(f"{k}={v!r}" for k, v in kwargs.items() if k != "column")
    return f"{name} must meet {spec.type}({arguments})", "does not", "do not"


def _type_words(type_names: list) -> str:
    names = {str(t) for t in type_names if t is not None}
    if names and names <= {"float", "int", "float64", "int64", "long"}:
        return f"a number ({' or '.join(sorted(names))})"
    if names in ({"str"}, {"string_types"}):
        return "text (str)"
    if names == {"bool"}:
        return "true or false (bool)"
    if len(names) == 1:
        return f"of type {next(iter(names))}"
    return f"one of the types {', '.join(sorted(names))}"


def _dtype_name(dtype: Any) -> str:
    return "str" if isinstance(dtype, pd.StringDtype) else str(dtype)


def _bounds_impossible(kwargs: dict) -> bool:
    low, high = kwargs.get("min_value"), kwargs.get("max_value")
    return is_number(low) and is_number(high) and low > high


def _listing(values: list, limit: int = 10) -> str:
    shown = ", ".join(str(v) for v in values[:limit])
    return shown + (f" and {len(values) - limit} more" if len(values) > limit else "")


def _number(value: Any) -> str:
    return f"{value:.10g}" if is_number(value) else str(value)


def _percent(fraction: float) -> str:
    return f"{fraction * 100:.10g}%"
