"""The suite's expectations parsed, and compiled into checks where GX's semantics allow."""

from __future__ import annotations

from dataclasses import dataclass

from service.errors import UserError
from service.validation.checks import (
    Between,
    Check,
    Exists,
    InSet,
    InTypeList,
    MatchSet,
    Nulls,
    OfType,
    OrderedList,
)
from service.validation.values import is_number

# Keyword arguments that change how GX reports, never what it decides.
_REPORTING_KWARGS = frozenset(
    {"catch_exceptions", "result_format", "include_config", "meta", "notes", "description"}
)
_ALLOWED_KWARGS = {
    "expect_table_columns_to_match_set": {"column_set", "exact_match"},
    "expect_table_columns_to_match_ordered_list": {"column_list"},
    "expect_column_to_exist": {"column", "column_index"},
    "expect_column_values_to_not_be_null": {"column", "mostly"},
    "expect_column_values_to_be_null": {"column", "mostly"},
    "expect_column_values_to_be_between": {
        "column",
        "min_value",
        "max_value",
        "strict_min",
        "strict_max",
        "mostly",
    },
    "expect_column_values_to_be_in_set": {"column", "value_set", "mostly"},
    "expect_column_values_to_be_of_type": {"column", "type_", "mostly"},
    "expect_column_values_to_be_in_type_list": {"column", "type_list", "mostly"},
}
COMPILED_TYPES = tuple(_ALLOWED_KWARGS)  # every other expectation type is handed to GX


@dataclass(frozen=True)
class Spec:
    position: int
    type: str
    column: str | None
    kwargs: dict


def parse_spec(position: int, item: object) -> Spec:
    if not isinstance(item, dict) or not isinstance(item.get("type"), str):
        raise UserError(f"expectation {position} of the suite has no 'type': {item!r:.120}")
    kwargs = item.get("kwargs") or {}
    if not isinstance(kwargs, dict):
        raise UserError(f"expectation {position} ({item['type']}) has non-dict kwargs")
    column = kwargs.get("column")
    return Spec(position, item["type"], column if isinstance(column, str) else None, kwargs)


def compile_check(spec: Spec) -> Check | None:
    """Return the compiled check for `spec`, or None to hand it to GX."""
    allowed = _ALLOWED_KWARGS.get(spec.type)
    if allowed is None:
        return None
    for key, value in spec.kwargs.items():
        if key in _REPORTING_KWARGS:
            continue
        if key in ("row_condition", "condition_parser") and value is None:
            continue
        if key not in allowed or isinstance(value, dict):  # a dict is a suite parameter
            return None
    kwargs = spec.kwargs
    if spec.type == "expect_table_columns_to_match_set":
        column_set = kwargs.get("column_set")
        exact_match = kwargs.get("exact_match", True)
        if not isinstance(column_set, (list, set, tuple, type(None))):
            return None
        if not isinstance(exact_match, (bool, type(None))):
            return None
        return MatchSet(set(column_set or ()), exact_match)
    if spec.type == "expect_table_columns_to_match_ordered_list":
        column_list = kwargs.get("column_list")
        if not isinstance(column_list, (list, tuple, type(None))):
            return None
        return OrderedList(None if column_list is None else list(column_list))
    if spec.column is None:
        raise UserError(f"expectation {spec.position} ({spec.type}) needs a 'column' name")
    if spec.type == "expect_column_to_exist":
        column_index = kwargs.get("column_index")
        if not isinstance(column_index, (int, type(None))) or isinstance(column_index, bool):
            return None
        return Exists(spec.column, column_index)
    mostly = kwargs.get("mostly", 1)
    if not is_number(mostly):
        return None
    if not 0 <= mostly <= 1:
        raise UserError(
            f"expectation {spec.position} ({spec.type} on {spec.column}) has mostly={mostly}; "
            "it must be between 0 and 1"
        )
    mostly = float(mostly)
    if spec.type == "expect_column_values_to_not_be_null":
        return Nulls(spec.column, mostly, expect_null=False)
    if spec.type == "expect_column_values_to_be_null":
        return Nulls(spec.column, mostly, expect_null=True)
    if spec.type == "expect_column_values_to_be_between":
        return _compile_between(spec, mostly)
    if spec.type == "expect_column_values_to_be_in_set":
        value_set = kwargs.get("value_set")
        if not isinstance(value_set, (list, tuple, set, type(None))):
            return None
        return InSet(spec.column, None if value_set is None else list(value_set), mostly)
    if spec.type == "expect_column_values_to_be_of_type":
        type_ = kwargs.get("type_")
        if not isinstance(type_, (str, type(None))):
            return None
        return OfType(spec.column, type_, mostly)
    type_list = kwargs.get("type_list")
    if type_list is not None and (
        not isinstance(type_list, (list, tuple)) or not all(isinstance(t, str) for t in type_list)
    ):
        return None
    return InTypeList(spec.column, None if type_list is None else list(type_list), mostly)


def _compile_between(spec: Spec, mostly: float) -> Check | None:
    bounds = []
    for key in ("min_value", "max_value"):
        value = spec.kwargs.get(key)
        if value is not None and not is_number(value):
            return None  # dates and strings: GX parses them, let it
        # GX's model stores bounds as floats (Comparable = Union[float, ...]).
        bounds.append(None if value is None else float(value))
    low, high = bounds
    if low is None and high is None:
        raise UserError(
            f"expectation {spec.position} (between on {spec.column}) needs min_value or max_value"
        )
    strict_min = spec.kwargs.get("strict_min", False)
    strict_max = spec.kwargs.get("strict_max", False)
    if not isinstance(strict_min, (bool, type(None))) or not isinstance(
        strict_max, (bool, type(None))
    ):
        return None
    return Between(spec.column, low, high, bool(strict_min), bool(strict_max), mostly)
