"""What the service answers: the JSON body of predictions, the CSV of predictions, and bytes."""

from __future__ import annotations

import io
from pathlib import PurePath
from typing import Any

import numpy as np
import orjson
import pandas as pd
from starlette.responses import Response


def json_response(body: dict, status_code: int = 200) -> Response:
    """Return `body` as a JSON response, serialised by orjson."""
    # starlette's JSONResponse goes through json.dumps, several times slower.
    return Response(orjson.dumps(body), status_code=status_code, media_type="application/json")


def prediction_body(
    tag: str, labels: np.ndarray, probabilities: np.ndarray, classes: list[str]
) -> dict:
    """Return {"model", "predictions", "probabilities": [{class: p}, ...]} for one batch; a
    regressor (no classes) answers its values and no probabilities."""
    if not classes:
        return {"model": tag, "predictions": labels.tolist()}
    return {
        "model": tag,
        "predictions": labels.tolist(),
        "probabilities": [dict(zip(classes, row, strict=True)) for row in probabilities.tolist()],
    }


def prediction_csv(
    frame: pd.DataFrame, labels: np.ndarray, probabilities: np.ndarray, classes: list[str]
) -> str:
    """Return `frame` as CSV with a `prediction` column and a `probability_<class>` per class
    (none for a regressor)."""
    output = frame.assign(prediction=labels)
    for index, label in enumerate(classes):
        output[f"probability_{label}"] = probabilities[:, index]
    buffer = io.StringIO()
    output.to_csv(buffer, index=False)
    return buffer.getvalue()


def without_paths(document: Any) -> Any:
    """Return `document` with every absolute path cut to its file name.

    /metadata must not tell a client where the training machine keeps its files.
    """
    if isinstance(document, dict):
        return {key: without_paths(value) for key, value in document.items()}
    if isinstance(document, list):
        return [without_paths(value) for value in document]
    if isinstance(document, str) and PurePath(document).is_absolute():
        return PurePath(document).name
    return document
