"""Great Expectations itself, evaluating a suite on a DataFrame: the reference verdict.

Used for expectation types the compiled checks do not cover, for the service's "GX engine"
switch, and by the parity tests. Great Expectations is imported inside the functions, on first
use, so importing this module (or the service) does not cost GX's import of several seconds.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections import OrderedDict
from typing import Any

import pandas as pd

from service.errors import UserError
from service.validation.results import Outcome

# One ephemeral context, pandas data source and whole-dataframe batch definition per process,
# made on first use; GX's context is not thread-safe, so calls take turns.
_LOCK = threading.Lock()
_BATCH_DEFINITION: Any = None
_SUITES: OrderedDict[str, tuple[Any, list[str]]] = OrderedDict()
_SUITE_CACHE_SIZE = 16
RESULT_FORMAT = {"result_format": "COMPLETE"}  # every unexpected row index, not the first 20


def gx_outcomes(frame: pd.DataFrame, suite: dict) -> list[Outcome]:
    """Return GX's verdict on `frame`, one Outcome per expectation of `suite`, in suite order.

    Row numbers are positions in `frame` (0-based) whatever its index.
    """
    expectations = suite.get("expectations") if isinstance(suite, dict) else None
    if not isinstance(expectations, list):
        raise UserError("an expectation suite must be a dict with an 'expectations' list")
    if not expectations:
        return []
    if not isinstance(frame, pd.DataFrame):  # the service's {name: array} batches
        frame = pd.DataFrame(dict(frame))
    data = frame
    if not isinstance(frame.index, pd.RangeIndex) or not frame.index.equals(
        pd.RangeIndex(len(frame))
    ):
        data = frame.reset_index(drop=True)
    with _LOCK:
        gx_suite, ids = _gx_suite(suite)
        batch = _batch_definition().get_batch(batch_parameters={"dataframe": data})
        result = batch.validate(gx_suite, result_format=dict(RESULT_FORMAT))
    by_id = {item.expectation_config.id: item for item in result.results}
    outcomes = []
    for expectation, expectation_id in zip(expectations, ids, strict=True):
        item = by_id[expectation_id]
        kwargs = expectation.get("kwargs") or {}
        column = kwargs.get("column")
        rows = (item.result or {}).get("unexpected_index_list") or []
        outcomes.append(
            Outcome(
                expectation=expectation["type"],
                column=column if isinstance(column, str) else None,
                success=bool(item.success),
                unexpected_rows=sorted(int(row) for row in rows),
            )
        )
    return outcomes


def _batch_definition() -> Any:
    global _BATCH_DEFINITION
    if _BATCH_DEFINITION is None:
        import great_expectations as gx
        from great_expectations.data_context.types.base import ProgressBarsConfig

        context = gx.get_context(mode="ephemeral")
        context.variables.progress_bars = ProgressBarsConfig(globally=False)
        source = context.data_sources.add_pandas("service")
        asset = source.add_dataframe_asset("frames")
        _BATCH_DEFINITION = asset.add_batch_definition_whole_dataframe("whole frame")
    return _BATCH_DEFINITION


def _gx_suite(suite: dict) -> tuple[Any, list[str]]:
    """Return the GX ExpectationSuite for `suite` and the id given to each expectation.

    GX reports results grouped by metric, not in suite order, and suites loaded from JSON have
    no expectation ids; numbering the expectations lets results be put back in order.
    """
    key = json.dumps(suite, sort_keys=True, default=repr)
    cached = _SUITES.get(key)
    if cached is not None:
        _SUITES.move_to_end(key)
        return cached
    import great_expectations as gx

    ids = [str(uuid.UUID(int=position + 1)) for position in range(len(suite["expectations"]))]
    expectations = [
        {**expectation, "id": expectation_id}
        for expectation, expectation_id in zip(suite["expectations"], ids, strict=True)
    ]
    try:
        gx_suite = gx.ExpectationSuite(
            name=suite.get("name") or "suite",
            expectations=expectations,
            meta=suite.get("meta") or {},
        )
    except Exception as error:  # GX raises several types for a malformed expectation
        raise UserError(
            f"Great Expectations does not accept the suite {suite.get('name')!r}: {error}"
        ) from error
    _SUITES[key] = (gx_suite, ids)
    if len(_SUITES) > _SUITE_CACHE_SIZE:
        _SUITES.popitem(last=False)
    return gx_suite, ids
