"""The benchmark's floor: uvicorn + starlette + ONNX Runtime on the same graph, nothing else.

    MODEL_TAG=iris:latest uvicorn scripts.tools.bench.floor:app --port 3001

No validation, no metrics, no framework beyond starlette: what a request costs when only the
model runs. The service's p50 and throughput are reported as ratios to this.
"""

from __future__ import annotations

import os

import numpy as np
import orjson
import pandas as pd
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from service.model.store import load_model_version
from service.scoring.predictor import OnnxPredictor

VERSION = load_model_version(os.environ["MODEL_TAG"])
PREDICTOR = OnnxPredictor(VERSION.onnx_path, VERSION.schema)
NUMERIC = {f.name for f in VERSION.schema.features if f.kind == "numeric"}
CLASSES = [str(c) for c in PREDICTOR.classes]


async def predict(request: Request) -> Response:
    records = orjson.loads(await request.body())["records"]
    # A gap is NaN in a number (numpy makes None one) and the missing category in text (the
    # predictor fills it in a Series), as the graph was trained; nothing else is checked.
    columns = {
        name: np.array([r[name] for r in records], dtype=np.float64)
        if name in NUMERIC
        else pd.Series([r[name] for r in records], dtype=object)
        for name in VERSION.schema.names
    }
    labels, probabilities = PREDICTOR.predict(columns)
    body = {"model": VERSION.tag, "predictions": labels.tolist()}
    if not VERSION.schema.is_regression:
        body["probabilities"] = [
            dict(zip(CLASSES, row, strict=True)) for row in probabilities.tolist()
        ]
    return Response(orjson.dumps(body), media_type="application/json")


async def ready(request: Request) -> Response:
    return Response(b"ok")


app = Starlette(routes=[Route("/predict", predict, methods=["POST"]), Route("/readyz", ready)])
