"""The suite compiled once into vectorised checks that give GX's verdict in microseconds."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from service.errors import UserError
from service.validation.checks import ASK_GX, EMPTY
from service.validation.frame import DUPLICATE, FrameView
from service.validation.messages import failure_message, wrong_type_rows
from service.validation.results import MAX_LISTED_ROWS, Failure, Outcome
from service.validation.spec import Spec, compile_check, parse_spec
from service.validation.values import json_safe


class CompiledSuite:
    """A GX expectation suite compiled to vectorised checks that reach GX's verdict."""

    def __init__(self, suite: dict) -> None:
        if not isinstance(suite, dict) or not isinstance(suite.get("expectations"), list):
            raise UserError(
                "an expectation suite must be a dict with an 'expectations' list "
                "(the shape ExpectationSuite.to_json_dict() gives)"
            )
        self.suite = suite
        self._specs = [
            parse_spec(position, item) for position, item in enumerate(suite["expectations"])
        ]
        self._checks = [compile_check(spec) for spec in self._specs]
        # Handed to GX on every call (tens of milliseconds each): the service says so at start-up.
        self.delegated: list[dict[str, str | None]] = [
            {"expectation": spec.type, "column": spec.column}
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
        view = FrameView(frame)
        return [
            self._failure(view, spec, np.asarray(outcome.unexpected_rows, dtype=np.intp))
            for spec, outcome in zip(self._specs, outcomes, strict=True)
            if not outcome.success
        ]

    def _evaluate(
        self, frame: pd.DataFrame | Mapping[str, Any]
    ) -> tuple[FrameView, list[tuple[bool, Any]]]:
        view = FrameView(frame)
        verdicts = [ASK_GX if check is None else check.evaluate(view) for check in self._checks]
        pending = [position for position, verdict in enumerate(verdicts) if verdict is ASK_GX]
        if pending:
            # Only suites or frames that need GX pay its import.
            from service.validation import gx_engine

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

    def _failure(self, view: FrameView, spec: Spec, rows: np.ndarray | None) -> Failure:
        rows = EMPTY if rows is None else rows
        column = view.column(spec.column) if spec.column is not None else None
        wrong_type = False
        if not len(rows) and column is not None and column is not DUPLICATE:
            # GX failed the column as a whole (wrong dtype, or a value it could not compare):
            # name the rows whose values are of the wrong type, so the client can fix them.
            rows = wrong_type_rows(spec, column)
            wrong_type = bool(len(rows))
        shown = rows[:MAX_LISTED_ROWS].tolist()
        observed = []
        if column is not None and column is not DUPLICATE:
            values = column.objects
            observed = [json_safe(values[row]) for row in shown]
        message = failure_message(spec, view, column, rows, wrong_type)
        return Failure(spec.type, spec.column, shown, observed, int(len(rows)), message)


def gx_failures(frame: pd.DataFrame, suite: dict) -> list[Failure]:
    """Return the Failures GX finds in `frame`, shaped exactly as CompiledSuite.failures gives."""
    from service.validation import gx_engine

    return CompiledSuite(suite).failures_from(frame, gx_engine.gx_outcomes(frame, suite))
