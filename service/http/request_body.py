"""Turning a request body into feature columns, rejecting what the suite cannot even look at.

Each rejection names the rule in the suite's own terms (a missing field breaks
expect_column_to_exist, an unknown one expect_table_columns_to_match_set), so a client reads
one vocabulary whether the body or a value was wrong. A JSON body with such fields is still
judged by the suite on what it does hold, so one answer says all that is wrong, as Great
Expectations would.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import orjson
import pandas as pd
from pandas.api.extensions import ExtensionArray

from service.model.schema import FeatureSchema
from service.settings import Limits
from service.validation.results import (
    MAX_LISTED_ROWS,
    Failure,
    Rejection,
    failure,
    rows_phrase,
)
from service.validation.values import excerpt, is_number

ArrayLike = np.ndarray | ExtensionArray
NUMBER_TYPES = {int, float, type(None)}  # bool is a subclass of int, but not its type
TEXT_TYPES = {str, type(None)}
# The suite's failures on the columns, leaving out the rows of each column sent as gaps.
Judge = Callable[[dict[str, ArrayLike], dict[str, list[int]]], list[Failure]]


def _are(rows: list[int]) -> str:
    return "is" if len(rows) == 1 else "are"


def _have(rows: list[int]) -> str:
    return "has" if len(rows) == 1 else "have"


class RecordParser:
    """Parses `{"records": [...]}` for one feature schema; built once at start-up."""

    def __init__(
        self,
        schema: FeatureSchema,
        limits: Limits,
        judge: Judge | None = None,
    ):
        self.schema = schema
        self.limits = limits
        # The suite's failures on columns (Scorer.failures): asked only when a field is wrong.
        self.judge = judge
        self.max_rows = limits.max_batch_rows
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
                + (f"; it also has {self.names_excerpt(extra)}" if extra else ""),
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
                "every record must be a JSON object; "
                f"{rows_phrase(not_objects)} {_are(not_objects)} not",
            )
        crowded = [i for i, record in enumerate(records) if len(record) > self.limits.max_fields]
        if crowded:
            return Rejection(
                400,
                "too_many_fields",
                f"{rows_phrase(crowded)} {_have(crowded)} more than MAX_FIELDS="
                f"{self.limits.max_fields} fields; this model takes {len(self.names)}",
            )
        failures = self.field_failures(records)
        columns = {}
        wrong: dict[str, list[int]] = {}
        for name in self.names:
            values = [record.get(name) for record in records]
            # One pass over the value types decides the common case without a Python loop.
            types = set(map(type, values))
            if name in self.numeric:
                if types <= NUMBER_TYPES:
                    columns[name] = np.array(values, dtype=np.float64)  # None becomes NaN
                    continue
                bad = [i for i, v in enumerate(values) if v is not None and not is_number(v)]
                kind = "a number"
            else:
                if types <= TEXT_TYPES:
                    too_long = self.too_long(name, values)
                    if too_long is not None:
                        failures.append(too_long)
                    columns[name] = pd.array(values, dtype="str")
                    continue
                bad = [i for i, v in enumerate(values) if v is not None and not isinstance(v, str)]
                kind = "a string"
            failures.append(
                failure(
                    "expect_column_values_to_be_in_type_list",
                    name,
                    bad,
                    [values[i] for i in bad],
                    f"{name} must be {kind} or null; {rows_phrase(bad)} {_are(bad)} not",
                )
            )
            # The wrong values go to the suite as gaps, so the column's other rules judge its
            # other rows, and a value of the wrong type breaks the type rule only, as the CSV
            # endpoint and batch scoring say for text in a number column.
            wrong[name] = bad
            dropped = set(bad)
            kept = [None if i in dropped else v for i, v in enumerate(values)]
            columns[name] = (
                np.array(kept, dtype=np.float64) if name in self.numeric else pd.array(kept, "str")
            )
        if failures:
            return self.rejection(records, columns, failures, wrong)
        return columns

    def rejection(
        self,
        records: list[dict],
        columns: dict[str, ArrayLike],
        found: list[Failure],
        wrong: dict[str, list[int]],
    ) -> Rejection:
        """Return the 400 naming what the body got wrong and what the suite finds in the rest."""
        if self.judge is None:
            return Rejection.validation_failed(found)
        # A field no record has is a column the table lacks, as Great Expectations sees it.
        held = {name for record in records for name in record}
        present = {name: values for name, values in columns.items() if name in held}
        try:
            judged = self.judge(present, wrong)
        except Exception:  # noqa: BLE001 - values of any JSON type; what was found still stands
            return Rejection.validation_failed(found)
        return Rejection.validation_failed(judged, found=found)

    def too_long(self, name: str, values: list) -> Failure | None:
        """Return a failure naming the rows whose text is over MAX_STRING_CHARS, if any."""
        limit = self.limits.max_string_chars
        rows = [i for i, value in enumerate(values) if value is not None and len(value) > limit]
        if not rows:
            return None
        return failure(
            "expect_column_value_lengths_to_be_between",
            name,
            rows,
            [values[i] for i in rows[:MAX_LISTED_ROWS]],
            f"{name} must be at most MAX_STRING_CHARS={limit} characters; "
            f"{rows_phrase(rows)} {_are(rows)} longer",
        )

    def names_excerpt(self, names: list[str], shown: int = 5) -> str:
        """Return client-sent names quoted and cut short, a few of them: never the whole list."""
        limit = self.limits.max_echo_chars
        quoted = ", ".join(repr(excerpt(str(name), limit)) for name in names[:shown])
        return quoted + (f" and {len(names) - shown} more" if len(names) > shown else "")

    def field_failures(self, records: list[dict]) -> list[Failure]:
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
                failure(
                    "expect_table_columns_to_match_set",
                    name,
                    rows,
                    [],
                    f"{self.names_excerpt([name])} is not a feature of this model "
                    f"({rows_phrase(rows)}); "
                    f"the features are {', '.join(self.names)}",
                )
            )
        for name, rows in sorted(missing.items()):
            failures.append(
                failure(
                    "expect_column_to_exist",
                    name,
                    rows,
                    [],
                    f"{name} is missing from {rows_phrase(rows)}; send it"
                    + (", as null if unknown" if name in self.nullable else ""),
                )
            )
        return failures


def csv_frame(content: bytes, schema: FeatureSchema, limits: Limits) -> pd.DataFrame | Rejection:
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
        first_line = (str(error).splitlines() or [type(error).__name__])[0][:200]
        return Rejection(400, "malformed_csv", f"the file is not a readable CSV: {first_line}")
    if frame.empty:
        return Rejection(400, "empty_batch", "the CSV has no data rows")
    if len(frame) > limits.max_batch_rows:
        return Rejection(
            413,
            "batch_too_large",
            f"{len(frame)} rows is more than MAX_BATCH_ROWS={limits.max_batch_rows}; "
            "split the file",
        )
    if len(frame.columns) > limits.max_fields:
        return Rejection(
            400,
            "too_many_fields",
            f"the CSV has {len(frame.columns)} columns, more than MAX_FIELDS={limits.max_fields}",
        )
    missing = [name for name in schema.names if name not in frame.columns]
    if missing:
        return Rejection.validation_failed(
            [
                failure("expect_column_to_exist", name, [], [], f"the CSV has no column {name!r}")
                for name in missing
            ]
        )
    failures = []
    for feature in schema.features:
        if feature.kind == "categorical":
            lengths = frame[feature.name].str.len()
            rows = np.flatnonzero(lengths.fillna(0).to_numpy() > limits.max_string_chars).tolist()
            if rows:
                failures.append(
                    failure(
                        "expect_column_value_lengths_to_be_between",
                        feature.name,
                        rows,
                        frame[feature.name].iloc[rows[:MAX_LISTED_ROWS]].tolist(),
                        f"{feature.name} must be at most MAX_STRING_CHARS="
                        f"{limits.max_string_chars} characters; {rows_phrase(rows)} "
                        f"{_are(rows)} longer",
                    )
                )
            continue
        if pd.api.types.is_numeric_dtype(frame[feature.name]):
            continue
        column = frame[feature.name]
        bad = np.flatnonzero(pd.to_numeric(column, errors="coerce").isna() & column.notna())
        rows = bad.tolist()
        failures.append(
            failure(
                "expect_column_values_to_be_in_type_list",
                feature.name,
                rows,
                column.iloc[bad[:MAX_LISTED_ROWS]].tolist(),
                f"{feature.name} must be a number or empty; {rows_phrase(rows)} {_are(rows)} not",
            )
        )
    if failures:
        return Rejection.validation_failed(failures)
    return frame
