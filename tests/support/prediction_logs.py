"""Reading the prediction log back in tests, strictly: a bare NaN fails the test."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from service.observe.prediction_log import LOG_GLOB


def read_log_lines(folder: Path) -> list[dict]:
    """Return every line of every prediction log file in `folder`, parsed as strict JSON."""
    lines = []
    for path in sorted(folder.glob(LOG_GLOB)):
        for line in path.read_text().splitlines():
            # Python's parser accepts the bare NaN that BentoML's own monitor writes.
            lines.append(json.loads(line, parse_constant=lambda name: pytest.fail(name)))
    return lines
