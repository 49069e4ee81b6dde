"""The BentoML service: parse, validate with the model's suite, predict, answer.

Each endpoint reads top to bottom through these modules:

- state: `declaration.py`, read at import, names the settings, API keys and model versions;
  `runtime.py`, built from it once in each worker, holds the scorers and logs and does what the
  endpoints do (parse, score, reject, record feedback, describe the model)
- parse: the input specs of `http/api_models.py` read the body; `http/request_body.py` parses it
  (JSON records, CSV uploads)
- validate and predict: `scoring/core.py`, the one scoring core (`validation/`, then
  `scoring/predictor.py`)
- answer: `http/response_body.py`; every 4xx is a `validation.results.Rejection`
- the Open Inference Protocol (KServe V2): `open_inference/routes.py`, mounted beside the
  endpoints below, turns tensors (`open_inference/tensors.py`) into the same calls
- start-up: `start_failure.py` stops the whole server, in one line, when a worker cannot build its
  runtime
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

import service.http.bentoml_fixes  # noqa: F401  (before serving: keeps worker memory flat)
import service.http.header_limits  # noqa: F401  (before serving: bounds header bytes and read time)
from service.declaration import Declaration
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
from service.open_inference.routes import OpenInferenceApp
from service.settings import env_flag
from service.start_failure import give_up, stop_when_a_worker_fails

# python-multipart logs a WARNING per malformed upload; the 400 and /metrics say it already.
logging.getLogger("python_multipart").setLevel(logging.ERROR)

# Read at import, in BentoML's own process too: the input specs, and so /docs, come from the
# stored feature schema, and `bentoml build` reads the model versions off the class.
DECLARED = Declaration.from_env()
stop_when_a_worker_fails()
# Mounted at the root, its routes under /v2: mounted at /v2, a GET /v2 would be a redirect,
# which tritonclient does not follow.
OPEN_INFERENCE = OpenInferenceApp()


@bentoml.service(
    name="model_service",
    workers=DECLARED.settings.workers,
    traffic={"timeout": 60},
    # One line per request filled a disk; rejections are sampled by RejectionLog instead.
    logging={"access": {"enabled": env_flag("ACCESS_LOG")}},
)
@bentoml.asgi_app(OPEN_INFERENCE, path="/")
class ModelService:
    # Declares the model versions for `bentoml build`, which packs them into the bento.
    model = bentoml.models.BentoModel(DECLARED.version.tag)
    if DECLARED.candidate is not None:
        candidate_model = bentoml.models.BentoModel(DECLARED.candidate.tag)

    def __init__(self) -> None:
        # Imported and built here, in the worker alone: pandas, ONNX Runtime and the scorers are
        # on the path to ready once, not also in BentoML's own process, which answers nothing.
        from service.runtime import Runtime, StartupError

        try:
            self.runtime = Runtime(DECLARED)
        except StartupError as error:
            give_up(str(error))
        count_paths(OPEN_INFERENCE.serve(self.runtime))
        # Threads and series start here, in the worker, where BentoML's metrics folder is set.
        self.runtime.start()

    @bentoml.on_shutdown
    def finish_queued_work(self) -> None:
        self.runtime.close()

    @bentoml.api(
        input_spec=predict_input_spec(
            DECLARED.version.schema, DECLARED.settings.limits, DECLARED.version.suite
        ),
        output_spec=predict_output_spec(DECLARED.version.schema),
    )
    async def predict(self, records) -> dict:
        """Predict the class of each record; a record that breaks the suite gets a 400."""
        return self.runtime.predict(records)

    @bentoml.api(route="/predict_csv", input_spec=csv_input_spec(DECLARED.settings.limits))
    async def predict_csv(self, file) -> Annotated[str, ContentType("text/csv")]:
        """Predict a CSV of records: the input columns plus the prediction and each probability.

        Send it as a multipart field `file`, or as the body with Content-Type: text/csv.
        """
        return self.runtime.predict_csv(file)

    @bentoml.api(
        route="/feedback",
        input_spec=feedback_input_spec(DECLARED.classes, DECLARED.settings.limits),
    )
    async def feedback(self, feedback) -> dict:
        """Record the true label of predictions, by the X-Request-ID they were answered with.

        Send {"request_id": ..., "label": ..., "row": 0} or a list of them; `row` is the
        record's index in its request. Labels go to the prediction log and, where this worker
        still holds the prediction, to live accuracy in /metrics.
        """
        return self.runtime.feedback(feedback)

    @bentoml.api(route="/metadata", input_spec=metadata_input_spec())
    async def metadata(self) -> dict:
        """Describe the model being served: tag, metrics, parameters, lineage, feature schema."""
        return self.runtime.metadata()


# The first added runs outermost, so even a 401 or a 413 carries its request id.
ModelService.add_asgi_middleware(RequestContextMiddleware)
if DECLARED.auth.enabled:
    ModelService.add_asgi_middleware(ApiKeyMiddleware, settings=DECLARED.auth)
ModelService.add_asgi_middleware(
    BodyLimitMiddleware, max_body_bytes=DECLARED.settings.limits.max_body_bytes
)
