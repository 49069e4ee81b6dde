"""The frame as the checks see it: a DataFrame or the service's {name: array}, columns read once."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

# pandas' public column access (`frame[name]`) costs about 8 us a column; the block manager's
# accessor about 1 us. Use it when present, fall back to the public path otherwise.
_FAST_COLUMN = hasattr(pd.DataFrame, "_get_column_array")


class Column:
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


class Duplicate:
    """A column name the frame holds more than once; only GX knows what it makes of that."""


DUPLICATE = Duplicate()


class FrameView:
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

    def column(self, name: str) -> Column | Duplicate | None:
        cached = self._cache.get(name)
        if cached is not None or name not in self.columns:
            return cached
        if not isinstance(self._source, pd.DataFrame):
            cached = Column(self._source[name])
        else:
            location = self.columns.get_loc(name)
            if not isinstance(location, int):
                cached = DUPLICATE
            elif _FAST_COLUMN:
                cached = Column(self._source._get_column_array(location))
            else:
                cached = Column(self._source.iloc[:, location].array)
        self._cache[name] = cached
        return cached
