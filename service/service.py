"""The BentoML service: parse, validate with the model's suite, predict, answer.

Each endpoint reads top to bottom through these modules:

- parse: `request_body.py` (JSON records, CSV uploads) behind the input specs of `api_models.py`
- validate and predict: `scoring.py`, the one scoring core (`validation/`, then `predictor.py`)
- answer: `response_body.py`; every 4xx is a `validation.results.Rejection`
- observe: `monitoring.py` times the stages and counts classes and drift bins for /metrics;
  `prediction_log.py` writes each record and its answer off the request path; `feedback.py`
  takes ground truth and counts live accuracy; `request_context.py` gives every request an id
- the model: `store.py` loads one hash-checked version of the contract in `model_version.py`
- guards, outermost first: `auth.py` (API keys), `body_limit.py` (bytes before parsing),
  `http_limits.py` (header bytes and read time); rejections are counted and sampled into the
  log by `rejection_log.py`
"""

from __future__ import annotations

import logging
import sys
from typing import Annotated

import bentoml
import numpy as np
from bentoml.validators import ContentType
from starlette.responses import Response

import service.http.bentoml_fixes  # noqa: F401  (before serving: keeps worker memory flat)
import service.http.header_limits  # noqa: F401  (before serving: bounds header bytes and read time)
from service.errors import UserError
from service.http.api_models import (
    csv_input_spec,
    feedback_input_spec,
    metadata_input_spec,
    predict_input_spec,
    predict_output_spec,
)
from service.http.auth import ApiKeyMiddleware, AuthSettings
from service.http.body_limit import BodyLimitMiddleware
from service.http.request_body import RecordParser
from service.http.request_context import RequestContextMiddleware, current_request
from service.http.response_body import json_response, prediction_body, prediction_csv, without_paths
from service.model.store import load_model_version
from service.model.version import ModelVersion
from service.observe.feedback import Feedback, LiveAccuracy
from service.observe.prediction_log import Answer, PredictionLog
from service.observe.rejection_log import RejectionLog
from service.scoring.core import Scored, Scorer
from service.settings import Settings, env_flag
from service.traffic.candidate import (
    CandidateError,
    Served,
    Shadow,
    ShadowWork,
    TrafficSplit,
    check_compatible,
)
from service.validation.results import Rejection

logger = logging.getLogger("bentoml.model_service")
# python-multipart logs a WARNING per malformed upload; the 400 and /metrics say it already.
logging.getLogger("python_multipart").setLevel(logging.ERROR)


def load_scorer(version: ModelVersion) -> Scorer:
    """Return the version's scorer, or stop start-up with one line saying why it cannot load."""
    try:
        # Built here, in the serving process, so a model that cannot load (a corrupt graph
        # whose hash matches) stops start-up with one line instead of crash-looping the worker.
        return Scorer(
            version,
            validation_engine=SETTINGS.validation_engine,
            prediction_engine=SETTINGS.prediction_engine,
        )
    except Exception as error:  # noqa: BLE001 - onnxruntime and skops raise many types
        sys.exit(f"model service cannot start: {version.tag} cannot be loaded: {error}"[:2000])


try:
    SETTINGS = Settings.from_env()
    AUTH = AuthSettings.from_env()
    # Read at import: the request schema in /docs comes from the stored feature schema.
    VERSION = load_model_version(SETTINGS.model_tag)
    CANDIDATE_VERSION = (
        load_model_version(SETTINGS.candidate.tag) if SETTINGS.candidate is not None else None
    )
    if CANDIDATE_VERSION is not None:
        check_compatible(VERSION, CANDIDATE_VERSION)
except (UserError, CandidateError) as error:
    sys.exit(f"model service cannot start: {error}")

SCORER = load_scorer(VERSION)
MAIN = Served(VERSION, SCORER, SETTINGS.monitoring)
CANDIDATE_SCORER = load_scorer(CANDIDATE_VERSION) if CANDIDATE_VERSION is not None else None
PARSER = RecordParser(VERSION.schema, SETTINGS.limits)
REJECTIONS = RejectionLog(SETTINGS.limits.max_echo_chars, SETTINGS.rejection_log_seconds)
PREDICTION_LOG = (
    PredictionLog(SETTINGS.prediction_log, VERSION.schema.names)
    if SETTINGS.prediction_log is not None
    else None
)
CLASSES = np.asarray(SCORER.predictor.classes).tolist()  # as the model names them: str or int
LIVE = LiveAccuracy(CLASSES, SETTINGS.feedback_hold_requests)


def log_with_shadow(work: ShadowWork, candidate: Scored | None) -> None:
    """Log the main answer with the candidate's beside it (None: dropped, failed, rejected)."""
    if PREDICTION_LOG is None:
        return
    main = Answer(VERSION.tag, work.main.labels, work.main.probabilities, SCORER.classes)
    beside = None
    if candidate is not None:
        beside = Answer(
            CANDIDATE_VERSION.tag, candidate.labels, candidate.probabilities, SCORER.classes
        )
    PREDICTION_LOG.scored(work.request_id, work.endpoint, work.columns, main, beside)


# Only a split candidate answers, so only it gets the series of a version that serves (its
# model_info, classes, drift, live accuracy); a shadow has the shadow_* series alone.
CANDIDATE = SPLIT = SHADOW = None
if CANDIDATE_VERSION is not None and SETTINGS.candidate.mode == "split":
    CANDIDATE = Served(CANDIDATE_VERSION, CANDIDATE_SCORER, SETTINGS.monitoring)
    SPLIT = TrafficSplit(SETTINGS.candidate.share)
elif CANDIDATE_VERSION is not None:
    SHADOW = Shadow(
        CANDIDATE_SCORER, CANDIDATE_VERSION.tag, SETTINGS.candidate.max_queued_rows, log_with_shadow
    )


def score(columns, endpoint: str) -> tuple[Served, Scored | Rejection]:
    """Score a parsed batch with the version this request goes to, and record the answer:
    live accuracy, the shadow candidate, the prediction log."""
    request = current_request()
    served = CANDIDATE if SPLIT is not None and SPLIT.to_candidate(request.client_id) else MAIN
    request.answered_by = served.tag
    scored = served.score(columns)
    if isinstance(scored, Rejection):
        return served, scored
    LIVE.remember(request.request_id, served.tag, scored.labels.tolist())
    if SHADOW is not None:
        SHADOW.submit(ShadowWork(request.request_id, endpoint, columns, scored))
    elif PREDICTION_LOG is not None:
        answer = Answer(served.tag, scored.labels, scored.probabilities, SCORER.classes)
        PREDICTION_LOG.scored(request.request_id, endpoint, columns, answer)
    return served, scored


def observe_parse(seconds: float) -> None:
    if MAIN.monitor is not None:
        MAIN.monitor.observe_parse(seconds)


def reject(rejection: Rejection, endpoint: str, served: Served = MAIN) -> Response:
    request = current_request()
    request.answered_by = served.tag
    REJECTIONS.record(rejection, endpoint, request.request_id, served.tag)
    served.rejected(rejection)
    if PREDICTION_LOG is not None and endpoint != "/feedback":
        PREDICTION_LOG.rejected(request.request_id, endpoint, served.tag, rejection)
    limits = SETTINGS.limits
    body = rejection.body(limits.max_error_failures, limits.max_echo_chars)
    return json_response(body, status_code=rejection.status)


def record_feedback(items: list[Feedback]) -> dict:
    matched = 0
    logged = []
    for item in items:
        model = LIVE.match(item)
        matched += model is not None
        logged.append(
            {
                "request_id": item.request_id,
                "model": model or VERSION.tag,
                "row": item.row,
                "label": item.label,
            }
        )
    if PREDICTION_LOG is not None:
        PREDICTION_LOG.feedback(logged)
    return {"accepted": len(items), "matched_live": matched, "logged": PREDICTION_LOG is not None}


def log_fallbacks(scorer: Scorer) -> None:
    """Say at start-up what runs on a slow path, so nobody finds out from latency graphs."""
    if scorer.delegated:
        rules = ", ".join(
            f"{d['expectation']} on {d['column'] or 'the table'}" for d in scorer.delegated
        )
        logger.warning(
            "%d expectation(s) are not compiled and go to Great Expectations on every request "
            "(tens of milliseconds each): %s",
            len(scorer.delegated),
            rules,
        )
    if not AUTH.enabled:
        logger.warning(
            "no API key is set: anyone who can reach this port can call every endpoint; "
            "set API_KEYS or API_KEYS_FILE"
        )
    if SETTINGS.prediction_engine == "onnx" and not VERSION.serves_onnx:
        logger.warning(
            "%s has no ONNX graph (%s); serving the skops pipeline",
            VERSION.tag,
            VERSION.metadata.onnx,
        )


@bentoml.service(
    name="model_service",
    workers=SETTINGS.workers,
    traffic={"timeout": 60},
    # One line per request filled a disk; rejections are sampled by RejectionLog instead.
    logging={"access": {"enabled": env_flag("ACCESS_LOG")}},
)
class ModelService:
    # Declares the model version for `bentoml build`, which packs it into the bento.
    model = bentoml.models.BentoModel(VERSION.tag)
    if CANDIDATE_VERSION is not None:
        candidate_model = bentoml.models.BentoModel(CANDIDATE_VERSION.tag)

    def __init__(self) -> None:
        self.scorer = SCORER
        log_fallbacks(self.scorer)
        # Threads and series start here, in the worker, where BentoML's metrics folder is set.
        for served in (MAIN, CANDIDATE) if CANDIDATE is not None else (MAIN,):
            served.start()
            LIVE.start(served.tag, served.version.metadata.metrics.get("accuracy"))
        if PREDICTION_LOG is not None:
            PREDICTION_LOG.start()
        if SHADOW is not None:
            SHADOW.start()

    @bentoml.on_shutdown
    def finish_queued_work(self) -> None:
        if SHADOW is not None:
            SHADOW.close()
        if PREDICTION_LOG is not None:
            PREDICTION_LOG.close()

    @bentoml.api(
        input_spec=predict_input_spec(VERSION.schema, PARSER, VERSION.suite, observe_parse),
        output_spec=predict_output_spec(VERSION.schema),
    )
    async def predict(self, records) -> dict:
        """Predict the class of each record; a record that breaks the suite gets a 400."""
        if isinstance(records, Rejection):
            return reject(records, "/predict")
        served, scored = score(records, "/predict")
        if isinstance(scored, Rejection):
            return reject(scored, "/predict", served)
        return json_response(
            prediction_body(served.tag, scored.labels, scored.probabilities, self.scorer.classes)
        )

    @bentoml.api(
        route="/predict_csv",
        input_spec=csv_input_spec(VERSION.schema, SETTINGS.limits, observe_parse),
    )
    async def predict_csv(self, file) -> Annotated[str, ContentType("text/csv")]:
        """Predict a CSV of records: the input columns plus the prediction and each probability.

        Send it as a multipart field `file`, or as the body with Content-Type: text/csv.
        """
        if isinstance(file, Rejection):
            return reject(file, "/predict_csv")
        served, scored = score(file[VERSION.schema.names], "/predict_csv")
        if isinstance(scored, Rejection):
            return reject(scored, "/predict_csv", served)
        csv = prediction_csv(file, scored.labels, scored.probabilities, self.scorer.classes)
        return Response(csv, media_type="text/csv")

    @bentoml.api(route="/feedback", input_spec=feedback_input_spec(CLASSES, SETTINGS.limits))
    async def feedback(self, feedback) -> dict:
        """Record the true label of predictions, by the X-Request-ID they were answered with.

        Send {"request_id": ..., "label": ..., "row": 0} or a list of them; `row` is the
        record's index in its request. Labels go to the prediction log and, where this worker
        still holds the prediction, to live accuracy in /metrics.
        """
        if isinstance(feedback, Rejection):
            return reject(feedback, "/feedback")
        return json_response(record_feedback(feedback))

    @bentoml.api(route="/metadata", input_spec=metadata_input_spec())
    async def metadata(self) -> dict:
        """Describe the model being served: tag, metrics, parameters, lineage, feature schema."""
        return {
            "model": VERSION.tag,
            "serving": {
                "prediction_engine": self.scorer.prediction_engine,
                "validation_engine": SETTINGS.validation_engine,
                "onnx": VERSION.metadata.onnx,
                "gx_delegated": self.scorer.delegated,
            },
            "candidate": None
            if CANDIDATE_VERSION is None
            else {
                "model": CANDIDATE_VERSION.tag,
                "mode": SETTINGS.candidate.mode,
                "share": SETTINGS.candidate.share if SPLIT is not None else None,
                "metrics": CANDIDATE_VERSION.metrics,
            },
            "metrics": VERSION.metrics,
            "params": without_paths(VERSION.params),
            "lineage": without_paths(VERSION.lineage),
            "schema": VERSION.schema.to_dict(),
        }


# The first added runs outermost, so even a 401 or a 413 carries its request id.
ModelService.add_asgi_middleware(RequestContextMiddleware)
if AUTH.enabled:
    ModelService.add_asgi_middleware(ApiKeyMiddleware, settings=AUTH)
ModelService.add_asgi_middleware(BodyLimitMiddleware, max_body_bytes=SETTINGS.limits.max_body_bytes)
