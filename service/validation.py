"""Checking model inputs against the expectation suite at serving speed, with GX's verdict.

Great Expectations is the source of truth for what valid input is, but its engine costs tens of
milliseconds per call and seconds to import. `CompiledSuite` turns the suite's common expectation
types into precomputed sets, bounds and numpy operations once, then evaluates a request frame in
microseconds. The parity tests check, expectation by expectation, that it reaches the same
verdict and the same unexpected rows as GX 1.x on pandas. Expectation types it does not compile,
and columns of dtypes it does not know (datetime, categorical, nullable extension dtypes), are
handed to GX itself (`service.gx_engine`, imported only when that happens).

GX semantics mirrored here (great_expectations/expectations/expectation.py and the metrics):

- Column map expectations drop null rows (`Series.notnull()`: None, NaN, NA, NaT) before the
  check. `mostly` compares `(nonnull - unexpected) / nonnull >= mostly`; an empty frame or a
  column with no non-null value passes. `not_be_null` and `be_null` count over all rows instead:
  `(rows - unexpected) / rows >= mostly`.
- A column expectation on a column the frame lacks fails (GX raises inside the metric and
  reports `success: False` with the exception); no rows are named.
- `between` compares int64/float64 columns with vectorised operators; any other column value by
  value, and a string value against numeric bounds raises `TypeError` in GX, which fails the
  expectation as a whole with no rows named. `min_value > max_value` fails the same way.
- `of_type` and `in_type_list` check the column's dtype as a whole (no rows, `mostly` ignored),
  except on `object` columns, which are checked value by value with `isinstance`.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd
from pandas.api.extensions import ExtensionDtype
from pandas.core.dtypes import dtypes as pandas_dtypes

from service.errors import PipelineError

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
# GX checks object columns value by value unless the expected type is object itself.
_OBJECT_TYPE_NAMES = ("object", "object_", "O", None)
_EMPTY = np.empty(0, dtype=np.intp)
_ASK_GX = object()  # a verdict only GX can give for this frame
_MESSAGE_ROWS = 5


@dataclass(frozen=True)
class Outcome:
    """One expectation's verdict, in the terms GX reports it."""

    expectation: str
    column: str | None
    success: bool
    unexpected_rows: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class Failure:
    """One failed expectation, as a client sees it in a 400 body."""

    expectation: str
    column: str | None
    rows: list[int]
    observed: list
    unexpected_count: int
    message: str

    def to_dict(self) -> dict:
        """Return the failure as a JSON-safe dict."""
        return {
            "expectation": self.expectation,
            "column": self.column,
            "rows": list(self.rows),
            "observed": [_json_safe(value) for value in self.observed],
            "unexpected_count": self.unexpected_count,
            "message": self.message,
        }


class CompiledSuite:
    """A GX expectation suite compiled to vectorised checks that reach GX's verdict."""

    def __init__(self, suite: dict, *, max_rows: int = 20) -> None:
        if not isinstance(suite, dict) or not isinstance(suite.get("expectations"), list):
            raise PipelineError(
                "an expectation suite must be a dict with an 'expectations' list "
                "(the shape ExpectationSuite.to_json_dict() gives)"
            )
        if max_rows < 0:
            raise PipelineError(f"max_rows must be >= 0, got {max_rows}")
        self.suite = suite
        self.max_rows = max_rows
        self._specs = [_spec(position, item) for position, item in enumerate(suite["expectations"])]
        self._checks = [_compile(spec) for spec in self._specs]
        self.delegated: list[str] = [
            spec.type
            for spec, check in zip(self._specs, self._checks, strict=True)
            if check is None
        ]

    def outcomes(self, frame: pd.DataFrame | Mapping[str, Any]) -> list[Outcome]:
        """Return one Outcome per expectation, in suite order."""
        _, verdicts = self._evaluate(frame)
        return [
            Outcome(spec.type, spec.column, success, [] if rows is None else rows.tolist())
            for spec, (success, rows) in zip(self._specs, verdicts, strict=True)
        ]

    def failures(self, frame: pd.DataFrame | Mapping[str, Any]) -> list[Failure]:
        """Return a Failure for each expectation `frame` does not meet, in suite order."""
        view, verdicts = self._evaluate(frame)
        return [
            self._failure(view, spec, rows)
            for spec, (success, rows) in zip(self._specs, verdicts, strict=True)
            if not success
        ]

    def failures_from(
        self, frame: pd.DataFrame | Mapping[str, Any], outcomes: list[Outcome]
    ) -> list[Failure]:
        """Return the Failures for `outcomes` computed elsewhere (by GX) on `frame`."""
        if len(outcomes) != len(self._specs):
            raise ValueError(f"expected {len(self._specs)} outcomes, got {len(outcomes)}")
        view = _View(frame)
        return [
            self._failure(view, spec, np.asarray(outcome.unexpected_rows, dtype=np.intp))
            for spec, outcome in zip(self._specs, outcomes, strict=True)
            if not outcome.success
        ]

    def _evaluate(
        self, frame: pd.DataFrame | Mapping[str, Any]
    ) -> tuple[_View, list[tuple[bool, Any]]]:
        view = _View(frame)
        verdicts = [_ASK_GX if check is None else check.evaluate(view) for check in self._checks]
        pending = [position for position, verdict in enumerate(verdicts) if verdict is _ASK_GX]
        if pending:
            from service import gx_engine  # only suites or frames that need GX pay its import

            subsuite = {
                "name": self.suite.get("name") or "delegated",
                "expectations": [self.suite["expectations"][position] for position in pending],
                "meta": {},
            }
            for position, outcome in zip(
                pending, gx_engine.gx_outcomes(view.frame, subsuite), strict=True
            ):
                rows = np.asarray(outcome.unexpected_rows, dtype=np.intp)
                verdicts[position] = (outcome.success, rows)
        return view, verdicts

    def _failure(self, view: _View, spec: _Spec, rows: np.ndarray | None) -> Failure:
        rows = _EMPTY if rows is None else rows
        column = view.column(spec.column) if spec.column is not None else None
        wrong_type = False
        if not len(rows) and column is not None and column is not _DUPLICATE:
            # GX failed the column as a whole (wrong dtype, or a value it could not compare):
            # name the rows whose values are of the wrong type, so the client can fix them.
            rows = _wrong_type_rows(spec, column)
            wrong_type = bool(len(rows))
        shown = rows[: self.max_rows].tolist()
        observed = []
        if column is not None and column is not _DUPLICATE:
            values = column.objects
            observed = [_json_safe(values[row]) for row in shown]
        message = _message(spec, view, column, rows, wrong_type)
        return Failure(spec.type, spec.column, shown, observed, int(len(rows)), message)


def parity_report(frame: pd.DataFrame, suite: dict, *, seed: int = 0, copies: int = 5) -> dict:
    """Return how compiled and GX verdicts compare on `frame` and on perturbed copies of it.

    Each copy goes through JSON-like records (as a request would) after injecting nulls,
    out-of-range numbers, unknown categories and wrong-typed values into random cells.
    """
    from service import gx_engine

    compiled = CompiledSuite(suite)
    frames = [frame.reset_index(drop=True)]
    rng = np.random.default_rng(seed)
    frames += [_perturbed(frames[0], suite, rng) for _ in range(copies)]
    mismatches = []
    compared = 0
    for number, checked in enumerate(frames):
        ours = compiled.outcomes(checked)
        theirs = gx_engine.gx_outcomes(checked, suite)
        for position, (mine, gx) in enumerate(zip(ours, theirs, strict=True)):
            compared += 1
            if (mine.success, mine.unexpected_rows) != (gx.success, gx.unexpected_rows):
                mismatches.append(
                    {
                        "frame": number,
                        "position": position,
                        "expectation": mine.expectation,
                        "column": mine.column,
                        "compiled": {"success": mine.success, "rows": mine.unexpected_rows},
                        "gx": {"success": gx.success, "rows": gx.unexpected_rows},
                    }
                )
    return {
        "checked_frames": len(frames),
        "expectations_compared": compared,
        "mismatches": mismatches,
        "agree": not mismatches,
    }


# --- the expectations, parsed --------------------------------------------------------------


@dataclass(frozen=True)
class _Spec:
    position: int
    type: str
    column: str | None
    kwargs: dict


def _spec(position: int, item: object) -> _Spec:
    if not isinstance(item, dict) or not isinstance(item.get("type"), str):
        raise PipelineError(f"expectation {position} of the suite has no 'type': {item!r:.120}")
    kwargs = item.get("kwargs") or {}
    if not isinstance(kwargs, dict):
        raise PipelineError(f"expectation {position} ({item['type']}) has non-dict kwargs")
    column = kwargs.get("column")
    return _Spec(position, item["type"], column if isinstance(column, str) else None, kwargs)


def _compile(spec: _Spec) -> _Check | None:
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
        return _MatchSet(set(column_set or ()), exact_match)
    if spec.type == "expect_table_columns_to_match_ordered_list":
        column_list = kwargs.get("column_list")
        if not isinstance(column_list, (list, tuple, type(None))):
            return None
        return _OrderedList(None if column_list is None else list(column_list))
    if spec.column is None:
        raise PipelineError(f"expectation {spec.position} ({spec.type}) needs a 'column' name")
    if spec.type == "expect_column_to_exist":
        column_index = kwargs.get("column_index")
        if not isinstance(column_index, (int, type(None))) or isinstance(column_index, bool):
            return None
        return _Exists(spec.column, column_index)
    mostly = kwargs.get("mostly", 1)
    if not _is_number(mostly):
        return None
    if not 0 <= mostly <= 1:
        raise PipelineError(
            f"expectation {spec.position} ({spec.type} on {spec.column}) has mostly={mostly}; "
            "it must be between 0 and 1"
        )
    mostly = float(mostly)
    if spec.type == "expect_column_values_to_not_be_null":
        return _Nulls(spec.column, mostly, expect_null=False)
    if spec.type == "expect_column_values_to_be_null":
        return _Nulls(spec.column, mostly, expect_null=True)
    if spec.type == "expect_column_values_to_be_between":
        return _compile_between(spec, mostly)
    if spec.type == "expect_column_values_to_be_in_set":
        value_set = kwargs.get("value_set")
        if not isinstance(value_set, (list, tuple, set, type(None))):
            return None
        return _InSet(spec.column, None if value_set is None else list(value_set), mostly)
    if spec.type == "expect_column_values_to_be_of_type":
        type_ = kwargs.get("type_")
        if not isinstance(type_, (str, type(None))):
            return None
        return _OfType(spec.column, type_, mostly)
    type_list = kwargs.get("type_list")
    if type_list is not None and (
        not isinstance(type_list, (list, tuple)) or not all(isinstance(t, str) for t in type_list)
    ):
        return None
    return _InTypeList(spec.column, None if type_list is None else list(type_list), mostly)


def _compile_between(spec: _Spec, mostly: float) -> _Check | None:
    bounds = []
    for key in ("min_value", "max_value"):
        value = spec.kwargs.get(key)
        if value is not None and not _is_number(value):
            return None  # dates and strings: GX parses them, let it
        # GX's model stores bounds as floats (Comparable = Union[float, ...]).
        bounds.append(None if value is None else float(value))
    low, high = bounds
    if low is None and high is None:
        raise PipelineError(
            f"expectation {spec.position} (between on {spec.column}) needs min_value or max_value"
        )
    strict_min = spec.kwargs.get("strict_min", False)
    strict_max = spec.kwargs.get("strict_max", False)
    if not isinstance(strict_min, (bool, type(None))) or not isinstance(
        strict_max, (bool, type(None))
    ):
        return None
    return _Between(spec.column, low, high, bool(strict_min), bool(strict_max), mostly)


def _is_number(value: object) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


# --- one frame, columns read once ---------------------------------------------------------

# pandas' public column access (`frame[name]`) costs about 8 us a column; the block manager's
# accessor about 1 us. Use it when present, fall back to the public path otherwise.
_FAST_COLUMN = hasattr(pd.DataFrame, "_get_column_array")


class _Column:
    __slots__ = ("array", "dtype", "mode", "_null", "_notnull", "_nonnull", "_objects")

    def __init__(self, array: Any) -> None:
        self.array = array
        self.dtype = array.dtype
        self.mode = _mode(self.dtype)
        self._null = None
        self._notnull = None
        self._nonnull = -1
        self._objects = None

    @property
    def null(self) -> np.ndarray:
        if self._null is None:
            self._null = np.asarray(pd.isna(self.array), dtype=bool)
        return self._null

    @property
    def notnull(self) -> np.ndarray:
        if self._notnull is None:
            self._notnull = ~self.null
        return self._notnull

    @property
    def nonnull(self) -> int:
        if self._nonnull < 0:
            self._nonnull = int(np.count_nonzero(self.notnull))
        return self._nonnull

    @property
    def objects(self) -> np.ndarray:
        # Series.map hands Python scalars (astype(object)) to GX's per-value functions.
        if self._objects is None:
            self._objects = np.asarray(self.array, dtype=object)
        return self._objects


_MODES: dict[Any, str] = {}


def _mode(dtype: Any) -> str:
    """How GX evaluates values of `dtype`: "vector", "map" (value by value) or "gx" (ask it)."""
    mode = _MODES.get(dtype)
    if mode is None:
        if dtype in [int, float]:
            mode = "vector"  # GX: `column.dtype in [int, float]`, compared vectorised
        elif (isinstance(dtype, np.dtype) and dtype.kind in "biufO") or isinstance(
            dtype, pd.StringDtype
        ):
            mode = "map"  # GX: value by value
        else:
            mode = "gx"  # datetime, categorical, nullable extension dtypes: ask GX
        _MODES[dtype] = mode
    return mode


class _Duplicate:
    """A column name the frame holds more than once; only GX knows what it makes of that."""


_DUPLICATE = _Duplicate()


class _View:
    """The frame as the checks see it: a DataFrame, or a plain {name: array} mapping.

    The service passes a mapping of the arrays it parsed: building a DataFrame for one row
    costs more than every check in the suite together.
    """

    __slots__ = ("_source", "rows", "columns", "_cache")

    def __init__(self, frame: pd.DataFrame | Mapping[str, Any]) -> None:
        self._source = frame
        if isinstance(frame, pd.DataFrame):
            self.rows = len(frame)
            self.columns = frame.columns
        else:
            self.rows = len(next(iter(frame.values()))) if frame else 0
            self.columns = list(frame)
        self._cache: dict[str, Any] = {}

    @property
    def frame(self) -> pd.DataFrame:
        """Return the data as a DataFrame, for GX."""
        if isinstance(self._source, pd.DataFrame):
            return self._source
        return pd.DataFrame(dict(self._source))

    def column(self, name: str) -> _Column | _Duplicate | None:
        cached = self._cache.get(name)
        if cached is not None or name not in self.columns:
            return cached
        if not isinstance(self._source, pd.DataFrame):
            cached = _Column(self._source[name])
        else:
            location = self.columns.get_loc(name)
            if not isinstance(location, int):
                cached = _DUPLICATE
            elif _FAST_COLUMN:
                cached = _Column(self._source._get_column_array(location))
            else:
                cached = _Column(self._source.iloc[:, location].array)
        self._cache[name] = cached
        return cached


# --- the compiled checks -----------------------------------------------------------------
# Each returns (success, unexpected row positions or None for a table-level verdict), or
# _ASK_GX when only GX can judge this frame.


class _Check:
    def evaluate(self, view: _View) -> Any:
        raise NotImplementedError


class _MatchSet(_Check):
    def __init__(self, expected: set, exact_match: bool | None) -> None:
        self.expected = expected
        self.exact_match = exact_match

    def evaluate(self, view: _View) -> Any:
        actual = set(view.columns)
        missing = self.expected - actual
        if not missing and not actual - self.expected:
            return True, None
        return (not self.exact_match and not missing), None


class _OrderedList(_Check):
    def __init__(self, expected: list | None) -> None:
        self.expected = expected

    def evaluate(self, view: _View) -> Any:
        return self.expected is None or list(view.columns) == self.expected, None


class _Exists(_Check):
    def __init__(self, column: str, column_index: int | None) -> None:
        self.column = column
        self.column_index = column_index

    def evaluate(self, view: _View) -> Any:
        if self.column_index:  # GX tests truthiness, so index 0 means "anywhere"
            try:
                return view.columns[self.column_index] == self.column, None
            except IndexError:
                return False, None
        return self.column in view.columns, None


def _column_or_verdict(view: _View, name: str) -> Any:
    column = view.column(name)
    if column is None:
        return (False, _EMPTY)  # GX: the metric raises on a missing column
    if column is _DUPLICATE:
        return _ASK_GX
    return column


def _map_verdict(rows: int, nonnull: int, unexpected: np.ndarray, mostly: float) -> tuple:
    if rows == 0 or nonnull == 0:
        return True, unexpected
    return (float(nonnull) - float(len(unexpected))) / float(nonnull) >= mostly, unexpected


class _Nulls(_Check):
    def __init__(self, column: str, mostly: float, *, expect_null: bool) -> None:
        self.column = column
        self.mostly = mostly
        self.expect_null = expect_null

    def evaluate(self, view: _View) -> Any:
        column = _column_or_verdict(view, self.column)
        if not isinstance(column, _Column):
            return column
        unexpected = np.flatnonzero(column.notnull if self.expect_null else column.null)
        rows = view.rows
        if rows == 0:
            return True, unexpected
        return (float(rows) - float(len(unexpected))) / float(rows) >= self.mostly, unexpected


class _Between(_Check):
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

    def evaluate(self, view: _View) -> Any:
        column = _column_or_verdict(view, self.column)
        if not isinstance(column, _Column):
            return column
        if self.impossible:
            return False, _EMPTY
        if column.mode == "gx":
            return _ASK_GX
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
                return False, _EMPTY
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


class _InSet(_Check):
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

    def evaluate(self, view: _View) -> Any:
        column = _column_or_verdict(view, self.column)
        if not isinstance(column, _Column):
            return column
        notnull = column.notnull
        nonnull = column.nonnull
        if self.value_set is None:
            return _map_verdict(view.rows, nonnull, _EMPTY, self.mostly)
        if column.mode == "gx":
            return _ASK_GX
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
            return False, _EMPTY
        return _map_verdict(view.rows, nonnull, unexpected, self.mostly)


def _member(value: Any, strings: frozenset) -> bool:
    try:
        return value in strings
    except TypeError:
        return False


def _types_for_values(type_names: list[str]) -> tuple[type, ...]:
    """The classes GX's per-value type metrics test with isinstance (column_values_*type*)."""
    found: list = []
    for type_ in type_names:
        try:
            found.append(np.dtype(type_).type)
        except TypeError:
            pandas_type = getattr(pd, type_, None)
            if isinstance(pandas_type, type):
                found.append(pandas_type)
            dtypes_type = getattr(pandas_dtypes, type_, None)
            if isinstance(dtypes_type, type):
                found.append(dtypes_type)
        found.extend(_native_types(type_) or ())
    return tuple(found)


def _types_for_in_type_list(type_names: list[str]) -> list:
    """What GX's ExpectColumnValuesToBeInTypeList._validate_pandas compares the dtype with."""
    found: list = []
    for type_ in type_names:
        try:
            found.append(np.dtype(type_).type)
            found.append(np.dtype(type_))
        except TypeError:
            pandas_type = getattr(pd, type_, None)
            if isinstance(pandas_type, type):
                found.append(pandas_type)
                try:
                    instance = pandas_type()
                except TypeError:
                    instance = None
                if isinstance(instance, ExtensionDtype):
                    found.append(instance)
            dtypes_type = getattr(pandas_dtypes, type_, None)
            if isinstance(dtypes_type, type):
                found.append(dtypes_type)
        found.extend(_native_types(type_) or ())
    return found


def _native_types(type_: str) -> tuple[type, ...] | None:
    # great_expectations.expectations.type_comparison.native_type_type_map
    name = type_.lower()
    natives = {
        "none": (type(None),),
        "bool": (bool,),
        "int": (int,),
        "long": (int,),
        "float": (float,),
        "bytes": (bytes,),
        "complex": (complex,),
        "str": (str,),
        "string_types": (str,),
        "list": (list,),
        "dict": (dict,),
    }
    return natives.get(name)


def _safe(compute: Any, *args: Any) -> Any:
    try:
        return compute(*args)
    except Exception:  # noqa: BLE001 - GX fails the expectation if this raises; so do we
        return None


class _TypeCheck(_Check):
    column: str
    mostly: float
    value_types: tuple | None  # None: GX raises when checking values
    _by_dtype: dict  # the dtype verdict, memoised: comparing dtypes costs microseconds

    def evaluate(self, view: _View) -> Any:
        column = _column_or_verdict(view, self.column)
        if not isinstance(column, _Column):
            return column
        if self.checks_values(column.dtype):
            if not self.value_types:
                return False, _EMPTY  # GX: "Unrecognized numpy/python type"
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


class _OfType(_TypeCheck):
    def __init__(self, column: str, type_: str | None, mostly: float) -> None:
        self._by_dtype = {}
        self.column = column
        self.type_ = type_
        self.mostly = mostly
        self.value_types = None if type_ is None else _safe(_types_for_values, [type_])
        self.dtype_types = self.value_types

    def checks_values(self, dtype: Any) -> bool:
        return dtype.type.__name__ == "object_" and self.type_ not in _OBJECT_TYPE_NAMES

    def dtype_matches(self, dtype: Any) -> bool:
        if self.type_ is None:
            return True
        if self.dtype_types is None:
            return False
        return dtype.type in self.dtype_types


class _InTypeList(_TypeCheck):
    def __init__(self, column: str, type_list: list[str] | None, mostly: float) -> None:
        self._by_dtype = {}
        self.column = column
        self.type_list = type_list
        self.mostly = mostly
        self.value_types = None if type_list is None else _safe(_types_for_values, type_list)
        self.dtype_types = None if type_list is None else _safe(_types_for_in_type_list, type_list)

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


# --- explaining a failure to a person ---------------------------------------------------


def _wrong_type_rows(spec: _Spec, column: _Column) -> np.ndarray:
    """Rows whose values are of a type the expectation cannot accept, for a whole-column fail."""
    notnull = np.flatnonzero(column.notnull).tolist()
    values = column.objects
    if spec.type == "expect_column_values_to_be_between":
        check = _compile(spec)
        if not isinstance(check, _Between) or check.impossible:
            return _EMPTY
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
        check = _compile(spec)
        if not isinstance(check, _TypeCheck) or not check.value_types:
            return _EMPTY
        kinds = check.value_types
        return np.asarray([p for p in notnull if not isinstance(values[p], kinds)], dtype=np.intp)
    return _EMPTY


def _message(spec: _Spec, view: _View, column: Any, rows: np.ndarray, wrong_type: bool) -> str:
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
            and column is not _DUPLICATE
            and column.dtype.type.__name__ != "object_"
        ):
            held = f"{rule}, but the column holds {_dtype_name(column.dtype)} values"
            return held + (f" ({_rows_phrase(rows)})" if len(rows) else "")
    if not len(rows):
        if spec.type == "expect_column_values_to_be_between" and _bounds_impossible(kwargs):
            return f"{rule}, which no value can be: the suite's min_value is above max_value"
        return f"{rule}; Great Expectations could not evaluate it on these values"
    text = f"{rule}; {_rows_phrase(rows)} {one if len(rows) == 1 else many}"
    mostly = kwargs.get("mostly", 1)
    if _is_number(mostly) and mostly < 1:
        text += f" (at least {_percent(mostly)} of the values must pass)"
    return text


def _rule(spec: _Spec, wrong_type: bool) -> tuple[str, str, str]:
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
    return _is_number(low) and _is_number(high) and low > high


def _rows_phrase(rows: np.ndarray) -> str:
    listed = [str(r) for r in rows[:_MESSAGE_ROWS].tolist()]
    if len(rows) == 1:
        return f"row {listed[0]}"
    if len(rows) <= _MESSAGE_ROWS:
        return f"rows {', '.join(listed[:-1])} and {listed[-1]}"
    return f"rows {', '.join(listed)} and {len(rows) - _MESSAGE_ROWS} more"


def _listing(values: list, limit: int = 10) -> str:
    shown = ", ".join(str(v) for v in values[:limit])
    return shown + (f" and {len(values) - limit} more" if len(values) > limit else "")


def _number(value: Any) -> str:
    return f"{value:.10g}" if _is_number(value) else str(value)


def _percent(fraction: float) -> str:
    return f"{fraction * 100:.10g}%"


def _json_safe(value: Any) -> Any:
    """Return `value` as something json.dumps writes as standard JSON."""
    if value is None or (isinstance(value, (bool, str, int)) and not isinstance(value, np.generic)):
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, (float, np.floating)):
        number = float(value)
        if math.isnan(number):
            return None
        if math.isinf(number):
            return "Infinity" if number > 0 else "-Infinity"
        return number
    if isinstance(value, np.str_):
        return str(value)
    if isinstance(value, (datetime, date, pd.Timestamp)):
        return None if pd.isna(value) else value.isoformat()
    try:
        if pd.isna(value) is True:
            return None
    except (TypeError, ValueError):
        pass
    if isinstance(value, (list, tuple)):
        return [_json_safe(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _json_safe(item) for key, item in value.items()}
    return str(value)


# --- perturbed copies for the parity report ----------------------------------------------


def _perturbed(frame: pd.DataFrame, suite: dict, rng: np.random.Generator) -> pd.DataFrame:
    records = frame.to_dict("records")
    if not records:
        return frame.copy()
    columns = list(frame.columns)
    bounds: dict[str, tuple] = {}
    sets: dict[str, list] = {}
    for item in suite.get("expectations", []):
        kwargs = item.get("kwargs") or {}
        if item.get("type") == "expect_column_values_to_be_between":
            bounds[kwargs.get("column")] = (kwargs.get("min_value"), kwargs.get("max_value"))
        if item.get("type") == "expect_column_values_to_be_in_set":
            sets[kwargs.get("column")] = list(kwargs.get("value_set") or [])
    cells = max(1, len(records) * len(columns) // 10)
    for _ in range(cells):
        row = int(rng.integers(len(records)))
        column = columns[int(rng.integers(len(columns)))]
        choice = int(rng.integers(4))
        if choice == 0:
            records[row][column] = None
        elif choice == 1 and column in bounds:
            low, high = bounds[column]
            edge = high if high is not None else low
            span = abs((high or 0) - (low or 0)) + 1.0
            records[row][column] = edge + span if high is not None else edge - span
        elif choice == 2 and column in sets:
            records[row][column] = "__unknown__"
        else:
            current = records[row][column]
            records[row][column] = 12345 if isinstance(current, str) else "not a number"
    return pd.DataFrame.from_records(records, columns=columns)
