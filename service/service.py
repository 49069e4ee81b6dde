"""The BentoML service: parse, validate with the model's suite, predict, answer.

Each endpoint reads top to bottom through these modules:

- state: `runtime.py`, built once at start-up, holds the versions, scorers and logs, and does
  what the endpoints share (score, reject, record feedback, describe the model)
- parse: `http/request_body.py` (JSON records, CSV uploads) behind the input specs of
  `http/api_models.py`
- validate and predict: `scoring/core.py`, the one scoring core (`validation/`, then
  `scoring/predictor.py`)
- answer: `http/response_body.py`; every 4xx is a `validation.results.Rejection`
- the Open Inference Protocol (KServe V2): `open_inference/routes.py`, mounted beside the
  endpoints below, turns tensors (`open_inference/tensors.py`) into the same calls
- traffic: `traffic/policy.py` picks the version that answers (the main one alone, a shadow
  candidate beside it, or a split) out of `traffic/candidate.py`
- observe: `observe/monitoring.py` times the stages and counts classes and drift bins for
  /metrics; `observe/prediction_log.py` writes each record and its answer off the request path;
  `observe/feedback.py` takes ground truth and counts live accuracy;
  `http/request_context.py` gives every request an id
- the model: `model/store.py` loads one hash-checked version of the contract in
  `model/version.py`
- guards, outermost first: `http/auth.py` (API keys), `http/body_limit.py` (bytes before
  parsing), `http/header_limits.py` (header bytes and read time); rejections are counted and
  sampled into the log by `observe/rejection_log.py`
"""

from __future__ import annotations

import logging
from typing import Annotated

import bentoml
from bentoml.validators import ContentType
from starlette.responses import Response

import service.http.bentoml_fixes  # noqa: F401  (before serving: keeps worker memory flat)
import service.http.header_limits  # noqa: F401  (before serving: bounds header bytes and read time)
from service.http.api_models import (
    csv_input_spec,
    feedback_input_spec,
    metadata_input_spec,
    predict_input_spec,
    predict_output_spec,
)
from service.http.auth import ApiKeyMiddleware
from service.http.bentoml_fixes import count_paths
from service.http.body_limit import BodyLimitMiddleware
from service.http.request_context import RequestContextMiddleware
from service.http.response_body import json_response, prediction_body, prediction_csv
from service.open_inference.routes import open_inference_app
from service.runtime import Runtime
from service.settings import env_flag
from service.validation.results import Rejection

# python-multipart logs a WARNING per malformed upload; the 400 and /metrics say it already.
logging.getLogger("python_multipart").setLevel(logging.ERROR)

# Built at import: the input specs, and so /docs, come from the stored feature schema, and
# `bentoml build` reads the model versions off the class.
RUNTIME = Runtime.from_env()
# Mounted at the root, its routes under /v2: mounted at /v2, a GET /v2 would be a redirect,
# which tritonclient does not follow.
OPEN_INFERENCE, OPEN_INFERENCE_PATHS = open_inference_app(RUNTIME)
count_paths(OPEN_INFERENCE_PATHS)


@bentoml.service(
    name="model_service",
    workers=RUNTIME.settings.workers,
    traffic={"timeout": 60},
    # One line per request filled a disk; rejections are sampled by RejectionLog instead.
    logging={"access": {"enabled": env_flag("ACCESS_LOG")}},
)
@bentoml.asgi_app(OPEN_INFERENCE, path="/")
class ModelService:
    # Declares the model versions for `bentoml build`, which packs them into the bento.
    model = bentoml.models.BentoModel(RUNTIME.version.tag)
    if RUNTIME.policy.candidate is not None:
        candidate_model = bentoml.models.BentoModel(RUNTIME.policy.candidate.tag)

    def __init__(self) -> None:
        self.scorer = RUNTIME.scorer
        # Threads and series start here, in the worker, where BentoML's metrics folder is set.
        RUNTIME.start()

    @bentoml.on_shutdown
    def finish_queued_work(self) -> None:
        RUNTIME.close()

    @bentoml.api(
        input_spec=predict_input_spec(
            RUNTIME.version.schema, RUNTIME.parser, RUNTIME.version.suite, RUNTIME.observe_parse
        ),
        output_spec=predict_output_spec(RUNTIME.version.schema),
    )
    async def predict(self, records) -> dict:
        """Predict the class of each record; a record that breaks the suite gets a 400."""
        if isinstance(records, Rejection):
            return RUNTIME.reject(records, "/predict")
        served, scored = RUNTIME.score(records, "/predict")
        if isinstance(scored, Rejection):
            return RUNTIME.reject(scored, "/predict", served)
        return json_response(
            prediction_body(served.tag, scored.labels, scored.probabilities, self.scorer.classes)
        )

    @bentoml.api(
        route="/predict_csv",
        input_spec=csv_input_spec(
            RUNTIME.version.schema, RUNTIME.settings.limits, RUNTIME.observe_parse
        ),
    )
    async def predict_csv(self, file) -> Annotated[str, ContentType("text/csv")]:
        """Predict a CSV of records: the input columns plus the prediction and each probability.

        Send it as a multipart field `file`, or as the body with Content-Type: text/csv.
        """
        if isinstance(file, Rejection):
            return RUNTIME.reject(file, "/predict_csv")
        served, scored = RUNTIME.score(file[RUNTIME.version.schema.names], "/predict_csv")
        if isinstance(scored, Rejection):
            return RUNTIME.reject(scored, "/predict_csv", served)
        csv = prediction_csv(file, scored.labels, scored.probabilities, self.scorer.classes)
        return Response(csv, media_type="text/csv")

    @bentoml.api(
        route="/feedback",
        input_spec=feedback_input_spec(RUNTIME.classes, RUNTIME.settings.limits),
    )
    async def feedback(self, feedback) -> dict:
        """Record the true label of predictions, by the X-Request-ID they were answered with.

        Send {"request_id": ..., "label": ..., "row": 0} or a list of them; `row` is the
        record's index in its request. Labels go to the prediction log and, where this worker
        still holds the prediction, to live accuracy in /metrics.
        """
        if isinstance(feedback, Rejection):
            return RUNTIME.reject(feedback, "/feedback")
        return json_response(RUNTIME.record_feedback(feedback))

    @bentoml.api(route="/metadata", input_spec=metadata_input_spec())
    async def metadata(self) -> dict:
        """Describe the model being served: tag, metrics, parameters, lineage, feature schema."""
        return RUNTIME.metadata()


# The first added runs outermost, so even a 401 or a 413 carries its request id.
ModelService.add_asgi_middleware(RequestContextMiddleware)
if RUNTIME.auth.enabled:
    ModelService.add_asgi_middleware(ApiKeyMiddleware, settings=RUNTIME.auth)
ModelService.add_asgi_middleware(
    BodyLimitMiddleware, max_body_bytes=RUNTIME.settings.limits.max_body_bytes
)
