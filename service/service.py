"""The BentoML service: validate with the model's suite, predict with its ONNX graph, answer."""

from __future__ import annotations

import logging
import sys
from typing import Annotated

import bentoml
from bentoml.validators import ContentType
from starlette.responses import Response

import service.bentoml_fixes  # noqa: F401  (before serving: keeps worker memory flat)
from service.api_models import csv_input_spec, predict_input_spec, predict_output_spec
from service.errors import PipelineError
from service.predictor import OnnxPredictor, PipelinePredictor
from service.request_body import RecordParser, Rejection
from service.response_body import json_response, prediction_body, prediction_csv
from service.settings import Settings
from service.store import load_model_version

logger = logging.getLogger("bentoml.model_service")

try:
    SETTINGS = Settings.from_env()
    # Read at import: the request schema in /docs comes from the stored feature schema.
    ENTRY = load_model_version(SETTINGS.model_tag)
except PipelineError as error:
    sys.exit(f"model service cannot start: {error}")

PARSER = RecordParser(ENTRY.schema, SETTINGS.max_batch_rows)


def make_validator(suite: dict, engine: str):
    """Return a function from a frame to its failures, as dicts for the error body."""
    if engine == "gx":
        from service.validation.compiled import gx_failures

        return lambda frame: [failure.to_dict() for failure in gx_failures(frame, suite)]
    from service.validation import CompiledSuite

    compiled = CompiledSuite(suite)
    return lambda frame: [failure.to_dict() for failure in compiled.failures(frame)]


def make_predictor(engine: str):
    if engine == "onnx" and ENTRY.onnx_path is not None:
        return OnnxPredictor(ENTRY.onnx_path, ENTRY.schema)
    if engine == "onnx":
        logger.warning(
            "%s has no ONNX graph (%s); serving the skops pipeline",
            ENTRY.tag,
            ENTRY.metadata.get("onnx"),
        )
    return PipelinePredictor(ENTRY.load_pipeline(), ENTRY.schema)


def reject(rejection: Rejection, endpoint: str) -> Response:
    rules = ", ".join(
        f"{failure['column'] or '-'}:{failure['expectation']}" for failure in rejection.failures
    )
    logger.info("%s rejected %d %s %s", endpoint, rejection.status, rejection.error, rules)
    return json_response(rejection.body(), status_code=rejection.status)


@bentoml.service(
    name="model_service",
    workers=1,
    traffic={"timeout": 60},
)
class ModelService:
    # Declares the model version for `bentoml build`, which packs it into the bento.
    model = bentoml.models.BentoModel(ENTRY.tag)

    def __init__(self) -> None:
        self.validate = make_validator(ENTRY.suite, SETTINGS.validation_engine)
        self.predictor = make_predictor(SETTINGS.prediction_engine)
        self.classes = [str(label) for label in self.predictor.classes]

    def _answer(self, frame):
        """Return the predictions for a valid frame, or the Rejection naming what failed."""
        failures = self.validate(frame)
        if failures:
            return Rejection(
                400,
                "validation_failed",
                f"{len(failures)} expectation(s) of the model's suite failed",
                failures,
            )
        return self.predictor.predict(frame)

    @bentoml.api(
        input_spec=predict_input_spec(ENTRY.schema, PARSER),
        output_spec=predict_output_spec(ENTRY.schema),
    )
    async def predict(self, records) -> dict:
        """Predict the class of each record; a record that breaks the suite gets a 400."""
        if isinstance(records, Rejection):
            return reject(records, "/predict")
        answer = self._answer(records)
        if isinstance(answer, Rejection):
            return reject(answer, "/predict")
        return json_response(prediction_body(ENTRY.tag, *answer, self.classes))

    @bentoml.api(
        route="/predict_csv", input_spec=csv_input_spec(ENTRY.schema, SETTINGS.max_batch_rows)
    )
    async def predict_csv(self, file) -> Annotated[str, ContentType("text/csv")]:
        """Predict a CSV of records: the input columns plus the prediction and each probability.

        Send it as a multipart field `file`, or as the body with Content-Type: text/csv.
        """
        frame = file
        if isinstance(frame, Rejection):
            return reject(frame, "/predict_csv")
        answer = self._answer(frame[ENTRY.schema.names])
        if isinstance(answer, Rejection):
            return reject(answer, "/predict_csv")
        csv = prediction_csv(frame, *answer, self.classes)
        return Response(csv, media_type="text/csv")

    @bentoml.api(route="/metadata")
    async def metadata(self) -> dict:
        """Describe the model being served: tag, metrics, parameters, lineage, feature schema."""
        return {
            "model": ENTRY.tag,
            "serving": {
                "prediction_engine": type(self.predictor).__name__,
                "validation_engine": SETTINGS.validation_engine,
                "onnx": ENTRY.metadata.get("onnx"),
            },
            "metrics": ENTRY.metrics,
            "params": ENTRY.params,
            "lineage": ENTRY.lineage,
            "schema": ENTRY.schema.to_dict(),
        }
