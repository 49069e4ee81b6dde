"""Type names in a suite, resolved to the classes and dtypes GX compares values and columns with."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from pandas.api.extensions import ExtensionDtype
from pandas.core.dtypes import dtypes as pandas_dtypes


def types_for_values(type_names: list[str]) -> tuple[type, ...]:
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


def types_for_in_type_list(type_names: list[str]) -> list:
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


def safely(compute: Any, *args: Any) -> Any:
    try:
        return compute(*args)
    except Exception:  # noqa: BLE001 - GX fails the expectation if this raises; so do we
        return None
