"""The compiled checks: one class per expectation type, each reaching GX's verdict on a frame.

Each `evaluate` returns (success, unexpected row positions or None for a table-level verdict),
or ASK_GX when only GX can judge this frame.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from service.validation.frame import DUPLICATE, Column, FrameView
from service.validation.types import safely, types_for_in_type_list, types_for_values

# GX checks object columns value by value unless the expected type is object itself.
OBJECT_TYPE_NAMES = ("object", "object_", "O", None)
EMPTY = np.empty(0, dtype=np.intp)
ASK_GX = object()  # a verdict only GX can give for this frame


class Check:
    def evaluate(self, view: FrameView) -> Any:
        raise NotImplementedError


class MatchSet(Check):
    def __init__(self, expected: set, exact_match: bool | None) -> None:
        self.expected = expected
        self.exact_match = exact_match

    def evaluate(self, view: FrameView) -> Any:
        actual = set(view.columns)
        missing = self.expected - actual
        if not missing and not actual - self.expected:
            return True, None
        return (not self.exact_match and not missing), None


class OrderedList(Check):
    def __init__(self, expected: list | None) -> None:
        self.expected = expected

    def evaluate(self, view: FrameView) -> Any:
        return self.expected is None or list(view.columns) == self.expected, None


class Exists(Check):
    def __init__(self, column: str, column_index: int | None) -> None:
        self.column = column
        self.column_index = column_index

    def evaluate(self, view: FrameView) -> Any:
        if self.column_index:  # GX tests truthiness, so index 0 means "anywhere"
            try:
                return view.columns[self.column_index] == self.column, None
            except IndexError:
                return False, None
        return self.column in view.columns, None


def _column_or_verdict(view: FrameView, name: str) -> Any:
    column = view.column(name)
    if column is None:
        return (False, EMPTY)  # GX: the metric raises on a missing column
    if column is DUPLICATE:
        return ASK_GX
    return column


def _map_verdict(rows: int, nonnull: int, unexpected: np.ndarray, mostly: float) -> tuple:
    if rows == 0 or nonnull == 0:
        return True, unexpected
    return (float(nonnull) - float(len(unexpected))) / float(nonnull) >= mostly, unexpected


class Nulls(Check):
    def __init__(self, column: str, mostly: float, *, expect_null: bool) -> None:
        self.column = column
        self.mostly = mostly
        self.expect_null = expect_null

    def evaluate(self, view: FrameView) -> Any:
        column = _column_or_verdict(view, self.column)
        if not isinstance(column, Column):
            return column
        unexpected = np.flatnonzero(column.notnull if self.expect_null else column.null)
        rows = view.rows
        if rows == 0:
            return True, unexpected
        return (float(rows) - float(len(unexpected))) / float(rows) >= self.mostly, unexpected


class Between(Check):
    def __init__(
        self,
        column: str,
        low: float | None,
        high: float | None,
        strict_min: bool,
        strict_max: bool,
        mostly: float,
    ) -> None:
        self.column = column
        self.low = low
        self.high = high
        self.strict_min = strict_min
        self.strict_max = strict_max
        self.mostly = mostly
        # GX raises "min_value cannot be greater than max_value" inside the metric.
        self.impossible = low is not None and high is not None and low > high

    def evaluate(self, view: FrameView) -> Any:
        column = _column_or_verdict(view, self.column)
        if not isinstance(column, Column):
            return column
        if self.impossible:
            return False, EMPTY
        if column.mode == "gx":
            return ASK_GX
        if column.mode == "vector":
            outside = ~self._vectorised(column.array)
            if column.nonnull < view.rows:
                outside &= column.notnull  # NaN compares False: null rows are not judged
            unexpected = np.flatnonzero(outside)
        else:
            values = column.objects
            bad = []
            try:
                for position in np.flatnonzero(column.notnull).tolist():
                    if not self.contains(values[position]):
                        bad.append(position)
            except Exception:  # noqa: BLE001 - GX fails the expectation on any error here
                return False, EMPTY
            unexpected = np.asarray(bad, dtype=np.intp)
        return _map_verdict(view.rows, column.nonnull, unexpected, self.mostly)

    def _vectorised(self, values: np.ndarray) -> np.ndarray:
        # GX's _pandas_vectorized, operand order kept.
        low, high = self.low, self.high
        if low is None:
            return values < high if self.strict_max else values <= high
        if high is None:
            return low < values if self.strict_min else low <= values
        above = (low < values) if self.strict_min else (low <= values)
        below = (values < high) if self.strict_max else (values <= high)
        return above & below

    def contains(self, value: Any) -> bool:
        """GX's per-value is_between: raises TypeError for a string against number bounds."""
        low, high = self.low, self.high
        if low is not None and high is not None:
            if isinstance(value, str):
                raise TypeError("Column values, min_value, and max_value must be of one type.")
            if self.strict_min and self.strict_max:
                return (value > low) and (value < high)
            if self.strict_min:
                return (value > low) and (value <= high)
            if self.strict_max:
                return (value >= low) and (value < high)
            return (value >= low) and (value <= high)
        if isinstance(value, str):
            raise TypeError("Column values, min_value, and max_value must be of one type.")
        if low is None:
            return value < high if self.strict_max else value <= high
        return value > low if self.strict_min else value >= low


class InSet(Check):
    def __init__(self, column: str, value_set: list | None, mostly: float) -> None:
        self.column = column
        self.value_set = value_set
        self.mostly = mostly
        # For a set of strings, Python set membership gives exactly pandas' isin, whatever the
        # column holds: strings compare by value, and no number, bool or None equals a string.
        self.strings = (
            frozenset(value_set)
            if value_set is not None and all(isinstance(v, str) for v in value_set)
            else None
        )

    def evaluate(self, view: FrameView) -> Any:
        column = _column_or_verdict(view, self.column)
        if not isinstance(column, Column):
            return column
        notnull = column.notnull
        nonnull = column.nonnull
        if self.value_set is None:
            return _map_verdict(view.rows, nonnull, EMPTY, self.mostly)
        if column.mode == "gx":
            return ASK_GX
        positions = np.flatnonzero(notnull)
        try:
            if self.strings is not None:
                values = column.objects
                strings = self.strings
                try:
                    bad = [p for p in positions.tolist() if values[p] not in strings]
                except TypeError:  # an unhashable value: pandas' isin counts it as not in the set
                    bad = [p for p in positions.tolist() if not _member(values[p], strings)]
                unexpected = np.asarray(bad, dtype=np.intp)
            else:
                # GX calls Series.isin on the non-null rows; so do we, for the same answer.
                kept = pd.Series(column.array, copy=False)[notnull]
                inside = np.asarray(kept.isin(self.value_set), dtype=bool)
                unexpected = positions[~inside]
        except Exception:  # noqa: BLE001 - unhashable values: GX fails the expectation
            return False, EMPTY
        return _map_verdict(view.rows, nonnull, unexpected, self.mostly)


def _member(value: Any, strings: frozenset) -> bool:
    try:
        return value in strings
    except TypeError:
        return False


class TypeCheck(Check):
    column: str
    mostly: float
    value_types: tuple | None  # None: GX raises when checking values
    _by_dtype: dict  # the dtype verdict, memoised: comparing dtypes costs microseconds

    def evaluate(self, view: FrameView) -> Any:
        column = _column_or_verdict(view, self.column)
        if not isinstance(column, Column):
            return column
        if self.checks_values(column.dtype):
            if not self.value_types:
                return False, EMPTY  # GX: "Unrecognized numpy/python type"
            notnull = column.notnull
            values = column.objects
            kinds = self.value_types
            positions = np.flatnonzero(notnull).tolist()
            bad = [p for p in positions if not isinstance(values[p], kinds)]
            return _map_verdict(
                view.rows, len(positions), np.asarray(bad, dtype=np.intp), self.mostly
            )
        verdict = self._by_dtype.get(column.dtype)
        if verdict is None:
            verdict = self._by_dtype[column.dtype] = self.dtype_matches(column.dtype)
        return verdict, None

    def checks_values(self, dtype: Any) -> bool:
        raise NotImplementedError

    def dtype_matches(self, dtype: Any) -> bool:
        raise NotImplementedError


class OfType(TypeCheck):
    def __init__(self, column: str, type_: str | None, mostly: float) -> None:
        self._by_dtype = {}
        self.column = column
        self.type_ = type_
        self.mostly = mostly
        self.value_types = None if type_ is None else safely(types_for_values, [type_])
        self.dtype_types = self.value_types

    def checks_values(self, dtype: Any) -> bool:
        return dtype.type.__name__ == "object_" and self.type_ not in OBJECT_TYPE_NAMES

    def dtype_matches(self, dtype: Any) -> bool:
        if self.type_ is None:
            return True
        if self.dtype_types is None:
            return False
        return dtype.type in self.dtype_types


class InTypeList(TypeCheck):
    def __init__(self, column: str, type_list: list[str] | None, mostly: float) -> None:
        self._by_dtype = {}
        self.column = column
        self.type_list = type_list
        self.mostly = mostly
        self.value_types = None if type_list is None else safely(types_for_values, type_list)
        self.dtype_types = None if type_list is None else safely(types_for_in_type_list, type_list)

    def checks_values(self, dtype: Any) -> bool:
        return dtype.type.__name__ == "object_" and self.type_list is not None

    def dtype_matches(self, dtype: Any) -> bool:
        if self.type_list is None:
            return True
        if self.dtype_types is None:
            return False
        try:
            return dtype in self.dtype_types
        except Exception:  # noqa: BLE001 - a dtype that cannot be compared: GX fails too
            return False
