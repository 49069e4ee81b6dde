"""What validation gives back: GX's verdict per expectation, the failures and the 4xx to send.

One `Failure` shape and one `Rejection` serve every bad request, whether the body could not be
parsed into columns, the suite failed on them, or both; one row cap and one way to word a row list.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from service.validation.values import excerpt, json_safe

# How many rows (and their values) one failure lists; `unexpected_count` still counts them all.
MAX_LISTED_ROWS = 20
# How many rows a sentence names before "and N more".
_PHRASE_ROWS = 5


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

    def to_dict(self, max_echo_chars: int | None = None) -> dict:
        """Return the failure as a JSON-safe dict, client text cut to `max_echo_chars`."""

        def echo(value):
            value = json_safe(value)
            if max_echo_chars is not None and isinstance(value, str):
                return excerpt(value, max_echo_chars)
            return value

        return {
            "expectation": self.expectation,
            "column": echo(self.column),
            "rows": list(self.rows),
            "observed": [echo(value) for value in self.observed],
            "unexpected_count": self.unexpected_count,
            "message": self.message,
        }


@dataclass
class Rejection:
    """A 4xx answer: an error code, a sentence, and the failures behind it."""

    status: int
    error: str
    message: str
    failures: list[Failure] = field(default_factory=list)

    @classmethod
    def validation_failed(
        cls, failures: Sequence[Failure], *, found: Sequence[Failure] = ()
    ) -> Rejection:
        """Return the 400 for records that break the model's input rules (its suite).

        `found` is what the body parser found wrong (a missing, unknown or wrong-typed field).
        It comes first, and a suite failure of the same rule on the same column is left out: it
        says the same thing and, for a missing field, cannot name the records that lack it.
        Every other suite failure follows in suite order, so each failed rule is named once.
        """
        if found:
            said = {(f.expectation, f.column) for f in found}
            failures = [*found, *(f for f in failures if (f.expectation, f.column) not in said)]
        return cls(
            400,
            "validation_failed",
            f"{len(failures)} expectation(s) of the model's suite failed; see failures",
            list(failures),
        )

    def body(self, max_failures: int | None = None, max_echo_chars: int | None = None) -> dict:
        """Return the JSON error body: error, message and each failure (the first
        `max_failures` of them, with how many more there were), client text cut short."""
        listed = self.failures if max_failures is None else self.failures[:max_failures]
        body = {
            "error": self.error,
            "message": self.message,
            "failures": [failure.to_dict(max_echo_chars) for failure in listed],
        }
        if len(listed) < len(self.failures):
            body["failures_not_listed"] = len(self.failures) - len(listed)
        return body


def failure(
    expectation: str, column: str | None, rows: Sequence[int], observed: list, message: str
) -> Failure:
    """Return a Failure listing at most MAX_LISTED_ROWS rows and values, counting them all."""
    return Failure(
        expectation,
        column,
        [int(row) for row in rows[:MAX_LISTED_ROWS]],
        list(observed[:MAX_LISTED_ROWS]),
        len(rows),
        message,
    )


def rows_phrase(rows: Sequence[int] | np.ndarray) -> str:
    """Return "row 3", "rows 0, 4 and 7", or "rows 0, 1, 2, 3, 4 and 12 more"."""
    listed = [str(int(row)) for row in rows[:_PHRASE_ROWS]]
    if len(rows) == 1:
        return f"row {listed[0]}"
    if len(rows) <= _PHRASE_ROWS:
        return f"rows {', '.join(listed[:-1])} and {listed[-1]}"
    return f"rows {', '.join(listed)} and {len(rows) - _PHRASE_ROWS} more"
