"""Export-time check that the compiled suite and Great Expectations agree, on perturbed data."""

from __future__ import annotations

import numpy as np
import pandas as pd

from service.validation.compiled import CompiledSuite


def suite_parity_report(
    frame: pd.DataFrame, suite: dict, *, seed: int = 0, copies: int = 5
) -> dict:
    """Return how compiled and GX verdicts compare on `frame` and on perturbed copies of it.

    Each copy goes through JSON-like records (as a request would) after injecting nulls,
    out-of-range numbers, unknown categories and wrong-typed values into random cells.
    """
    from service.validation import gx_engine

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
