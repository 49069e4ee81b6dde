"""Plain-value helpers the checks and the error bodies share: what a number is, JSON-safe values."""

from __future__ import annotations

import math
import numbers
from datetime import date, datetime
from typing import Any

import numpy as np


def is_number(value: object) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def json_safe(value: Any) -> Any:
    """Return `value` as something json.dumps writes as standard JSON."""
    # Imported on first use: BentoML's serving process imports this module (the error bodies
    # of the input specs) and answers no request, so it has no use for pandas' import time.
    import pandas as pd

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
        return [json_safe(item) for item in value]
    if isinstance(value, dict):
        return {str(key): json_safe(item) for key, item in value.items()}
    return str(value)


def excerpt(text: str, limit: int) -> str:
    """Return `text` cut to `limit` characters, marked with "…" when it was longer."""
    return text if len(text) <= limit else text[:limit] + "…"
