"""Turning a request body into feature columns, rejecting what the suite cannot even look at.

Each rejection names the rule in the suite's own terms (a missing field breaks
expect_column_to_exist, an unknown one expect_table_columns_to_match_set), so a client reads
one vocabulary whether the body or a value was wrong.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import orjson
import pandas as pd
from pandas.api.extensions import ExtensionArray

from service.schema import FeatureSchema

MAX_LISTED_ROWS = 20
ArrayLike = np.ndarray | ExtensionArray
NUMBER_TYPES = {int, float, type(None)}  # bool is a subclass of int, but not its type
TEXT_TYPES = {str, type(None)}


@dataclass
class Rejection:
    """A 4xx answer: an error code, a sentence, and the failures behind it."""

    status: int
    error: str
    message: str
    failures: list[dict] = field(default_factory=list)

    def body(self) -> dict:
        return {"error": self.error, "message": self.message, "failures": self.failures}


def _rows_phrase(rows: list[int], verb: str = "") -> str:
    """Return "row 3" or "rows 0, 4 and 12 more", followed by `verb` in the right number."""
    shown = ", ".join(map(str, rows[:MAX_LISTED_ROWS]))
    more = f" and {len(rows) - MAX_LISTED_ROWS} more" if len(rows) > MAX_LISTED_ROWS else ""
    plural = len(rows) > 1
    verb = {"is": "are", "was": "were"}.get(verb, verb) if plural else verb
    return f"row{'s' if plural else ''} {shown}{more}" + (f" {verb}" if verb else "")


def _failure(rule: str, column: str | None, rows: list[int], observed: list, message: str) -> dict:
    return {
        "expectation": rule,
        "column": column,
        "rows": rows[:MAX_LISTED_ROWS],
        "observed": observed[:MAX_LISTED_ROWS],
        "unexpected_count": len(rows),
        "message": message,
    }


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


class RecordParser:
    """Parses `{"records": [...]}` for one feature schema; built once at start-up."""

    def __init__(self, schema: FeatureSchema, max_rows: int):
        self.schema = schema
        self.max_rows = max_rows
        self.names = schema.names
        self.known = set(self.names)
        self.numeric = {f.name for f in schema.features if f.kind == "numeric"}
        self.nullable = {f.name for f in schema.features if f.nullable}

    def parse(self, body: bytes) -> dict[str, ArrayLike] | Rejection:
        """Return {feature: array} in schema order, or the Rejection that explains why not.

        A mapping, not a DataFrame: building one costs more than validating and predicting
        a small batch. Both the compiled suite and the predictors take either.
        """
        try:
            document = orjson.loads(body)
        except orjson.JSONDecodeError as error:
            return Rejection(400, "malformed_json", f"the body is not valid JSON: {error}")
        if not isinstance(document, dict):
            return Rejection(
                400, "invalid_body", 'the body must be a JSON object like {"records": [{...}]}'
            )
        extra = sorted(set(document) - {"records"})
        if extra or "records" not in document:
            return Rejection(
                400,
                "invalid_body",
                'the body must hold exactly one key, "records"'
                + (f"; it also has {', '.join(map(repr, extra))}" if extra else ""),
            )
        records = document["records"]
        if not isinstance(records, list):
            return Rejection(400, "invalid_body", '"records" must be a list of objects')
        if not records:
            return Rejection(400, "empty_batch", '"records" is empty; send at least one record')
        if len(records) > self.max_rows:
            return Rejection(
                413,
                "batch_too_large",
                f"{len(records)} records is more than MAX_BATCH_ROWS={self.max_rows}; "
                "split the batch or use the CSV endpoint in chunks",
            )
        return self.columns(records)

    def columns(self, records: list) -> dict[str, ArrayLike] | Rejection:
        not_objects = [i for i, record in enumerate(records) if not isinstance(record, dict)]
        if not_objects:
            return Rejection(
                400,
                "invalid_body",
                f"every record must be a JSON object; {_rows_phrase(not_objects, 'is')} not",
            )
        failures = self.field_failures(records)
        columns = {}
        for name in self.names:
            values = [record.get(name) for record in records]
            # One pass over the value types decides the common case without a Python loop.
            types = set(map(type, values))
            if name in self.numeric:
                if types <= NUMBER_TYPES:
                    columns[name] = np.array(values, dtype=np.float64)  # None becomes NaN
                    continue
                bad = [i for i, v in enumerate(values) if v is not None and not _is_number(v)]
                kind = "a number"
            else:
                if types <= TEXT_TYPES:
                    columns[name] = pd.array(values, dtype="str")
                    continue
                bad = [i for i, v in enumerate(values) if v is not None and not isinstance(v, str)]
                kind = "a string"
            failures.append(
                _failure(
                    "expect_column_values_to_be_in_type_list",
                    name,
                    bad,
                    [values[i] for i in bad[:MAX_LISTED_ROWS]],
                    f"{name} must be {kind} or null; {_rows_phrase(bad, 'is')} not",
                )
            )
        if failures:
            return Rejection(
                400,
                "validation_failed",
                f"{len(failures)} rule(s) failed; see failures",
                failures,
            )
        return columns

    def field_failures(self, records: list[dict]) -> list[dict]:
        """Return a failure per unknown field and per missing field, with the rows concerned."""
        failures = []
        unknown: dict[str, list[int]] = {}
        missing: dict[str, list[int]] = {}
        for row, record in enumerate(records):
            if record.keys() != self.known:
                for name in record.keys() - self.known:
                    unknown.setdefault(name, []).append(row)
                for name in self.known - record.keys():
                    missing.setdefault(name, []).append(row)
        for name, rows in sorted(unknown.items()):
            failures.append(
                _failure(
                    "expect_table_columns_to_match_set",
                    name,
                    rows,
                    [],
                    f"{name!r} is not a feature of this model ({_rows_phrase(rows)}); "
                    f"the features are {', '.join(self.names)}",
                )
            )
        for name, rows in sorted(missing.items()):
            failures.append(
                _failure(
                    "expect_column_to_exist",
                    name,
                    rows,
                    [],
                    f"{name} is missing from {_rows_phrase(rows)}; send it"
                    + (", as null if unknown" if name in self.nullable else ""),
                )
            )
        return failures


def csv_frame(content: bytes, schema: FeatureSchema, max_rows: int) -> pd.DataFrame | Rejection:
    """Return an uploaded CSV as features in schema order (other columns kept aside), or why not."""
    import io

    categorical = {f.name: "str" for f in schema.features if f.kind == "categorical"}
    try:
        frame = pd.read_csv(io.BytesIO(content), dtype=categorical)
    except (
        pd.errors.ParserError,
        pd.errors.EmptyDataError,
        UnicodeDecodeError,
        ValueError,
    ) as error:
        first_line = (str(error).splitlines() or [type(error).__name__])[0]
        return Rejection(400, "malformed_csv", f"the file is not a readable CSV: {first_line}")
    if frame.empty:
        return Rejection(400, "empty_batch", "the CSV has no data rows")
    if len(frame) > max_rows:
        return Rejection(
            413,
            "batch_too_large",
            f"{len(frame)} rows is more than MAX_BATCH_ROWS={max_rows}; split the file",
        )
    missing = [name for name in schema.names if name not in frame.columns]
    if missing:
        return Rejection(
            400,
            "validation_failed",
            "the CSV lacks feature columns",
            [
                _failure("expect_column_to_exist", name, [], [], f"the CSV has no column {name!r}")
                for name in missing
            ],
        )
    failures = []
    for feature in schema.features:
        if feature.kind != "numeric" or pd.api.types.is_numeric_dtype(frame[feature.name]):
            continue
        column = frame[feature.name]
        bad = np.flatnonzero(pd.to_numeric(column, errors="coerce").isna() & column.notna())
        rows = bad.tolist()
        failures.append(
            _failure(
                "expect_column_values_to_be_in_type_list",
                feature.name,
                rows,
                column.iloc[bad[:MAX_LISTED_ROWS]].tolist(),
                f"{feature.name} must be a number or empty; {_rows_phrase(rows, 'is')} not",
            )
        )
    if failures:
        return Rejection(400, "validation_failed", f"{len(failures)} rule(s) failed", failures)
    return frame
