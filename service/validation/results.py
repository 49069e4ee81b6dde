"""What validation gives back: GX's verdict per expectation, and the failures a client reads."""

from __future__ import annotations

from dataclasses import dataclass, field

from service.validation.values import json_safe


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
            "observed": [json_safe(value) for value in self.observed],
            "unexpected_count": self.unexpected_count,
            "message": self.message,
        }
