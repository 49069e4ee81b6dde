"""What the service runs with, built once in each worker: scorers, logs, traffic policy.

Built from the declaration (declaration.py: settings, keys, versions). The endpoints of
service.py call its methods; nothing here knows about BentoML, so a test or a benchmark builds
one without serving.
"""

from __future__ import annotations

import logging
import time

from starlette.responses import Response

from service.declaration import Declaration
from service.http.request_body import RecordParser, csv_frame
from service.http.request_context import current_request
from service.http.response_body import (
    json_response,
    prediction_body,
    prediction_csv,
    without_paths,
)
from service.model.version import ModelVersion
from service.observe.estimate import availability
from service.observe.feedback import Feedback, LiveAccuracy
from service.observe.prediction_log import PredictionLog
from service.observe.rejection_log import RejectionLog
from service.scoring.core import Scored, Scorer
from service.scoring.libraries import Need, missing_line, needs
from service.scoring.predictor import Batch
from service.settings import Settings
from service.traffic.candidate import Served
from service.traffic.policy import MainOnly, ShadowPolicy, SplitPolicy, TrafficPolicy
from service.validation.results import Rejection

logger = logging.getLogger("bentoml.model_service")


class StartupError(Exception):
    """The runtime cannot be built; the message is the one line start-up stops with."""


def serving_needs(version: ModelVersion, settings: Settings) -> list[Need]:
    """Return what `version` needs of the optional libraries with these settings' engines."""
    return needs(
        version,
        validation_engine=settings.validation_engine,
        prediction_engine=settings.prediction_engine,
    )


def load_scorer(version: ModelVersion, settings: Settings, wanted: list[Need]) -> Scorer:
    """Return the version's scorer, or stop start-up with one line saying why it cannot load:
    a library of `wanted` (its serving_needs) missing, or a model that does not load."""
    # The image carries only the libraries its version needs (`make bento`): a version that
    # needs one it lacks stops here, not on its first request.
    absent = missing_line(version.tag, wanted)
    if absent is not None:
        raise StartupError(f"model service cannot start: {absent}")
    try:
        return Scorer(
            version,
            validation_engine=settings.validation_engine,
            prediction_engine=settings.prediction_engine,
        )
    except Exception as error:  # noqa: BLE001 - onnxruntime and skops raise many types
        raise StartupError(
            f"model service cannot start: {version.tag} cannot be loaded: {error}"[:2000]
        ) from error


def traffic_policy(
    settings: Settings,
    main: Served,
    candidate: ModelVersion | None,
    log: PredictionLog | None,
) -> TrafficPolicy:
    """Return the policy CANDIDATE_MODE asks for, with the candidate's scorer loaded."""
    if candidate is None:
        return MainOnly(main, log)
    scorer = load_scorer(candidate, settings, serving_needs(candidate, settings))
    if settings.candidate.mode == "split":
        served = Served(candidate, scorer, settings.monitoring)
        return SplitPolicy(main, served, settings.candidate.share, log)
    return ShadowPolicy(main, candidate, scorer, settings.candidate.max_queued_rows, log)


class Runtime:
    """The service's state and what each endpoint does with it."""

    def __init__(self, declared: Declaration) -> None:
        settings, version = declared.settings, declared.version
        self.settings = settings
        self.auth = declared.auth
        self.version = version
        # Worked out once: each need compiles the suite to see what goes to GX.
        self.libraries = serving_needs(version, settings)
        self.scorer = load_scorer(version, settings, self.libraries)
        self.main = Served(version, self.scorer, settings.monitoring)
        self.prediction_log = (
            PredictionLog(settings.prediction_log, version.schema.names)
            if settings.prediction_log is not None
            else None
        )
        self.policy = traffic_policy(settings, self.main, declared.candidate, self.prediction_log)
        self.parser = RecordParser(version.schema, settings.limits, judge=self.scorer.failures)
        self.rejections = RejectionLog(
            settings.limits.max_echo_chars, settings.rejection_log_seconds
        )
        self.classes = declared.classes
        self.live = LiveAccuracy(self.classes, settings.feedback_hold_requests)

    # -- the worker's life ---------------------------------------------------------------------

    def start(self) -> None:
        """Start the series and threads; call it in the worker, where the metrics folder is set."""
        self.log_fallbacks()
        for served in self.policy.answering:
            served.start()
            self.live.start(served.tag, served.version.metadata.metrics)
        if self.prediction_log is not None:
            self.prediction_log.start()
        self.policy.start()

    def close(self) -> None:
        """Finish queued work: the shadow first, since what it scores goes to the log."""
        self.policy.close()
        if self.prediction_log is not None:
            self.prediction_log.close()

    # -- per request ---------------------------------------------------------------------------

    def predict(self, body: bytes) -> Response:
        """Return what /predict answers to `body`, {"records": [...]}."""
        started = time.perf_counter()
        records = self.parser.parse(body)
        self.observe_parse(time.perf_counter() - started)
        if isinstance(records, Rejection):
            return self.reject(records, "/predict")
        served, scored = self.score(records, "/predict")
        if isinstance(scored, Rejection):
            return self.reject(scored, "/predict", served)
        return json_response(
            prediction_body(served.tag, scored.labels, scored.probabilities, self.scorer.classes)
        )

    def predict_csv(self, upload: bytes | Rejection) -> Response:
        """Return what /predict_csv answers: the CSV with a prediction (and each probability)
        per row."""
        if isinstance(upload, Rejection):
            return self.reject(upload, "/predict_csv")
        started = time.perf_counter()
        frame = csv_frame(upload, self.version.schema, self.settings.limits)
        self.observe_parse(time.perf_counter() - started)
        if isinstance(frame, Rejection):
            return self.reject(frame, "/predict_csv")
        served, scored = self.score(frame[self.version.schema.names], "/predict_csv")
        if isinstance(scored, Rejection):
            return self.reject(scored, "/predict_csv", served)
        csv = prediction_csv(frame, scored.labels, scored.probabilities, self.scorer.classes)
        return Response(csv, media_type="text/csv")

    def score(
        self, columns: Batch, endpoint: str, served: Served | None = None
    ) -> tuple[Served, Scored | Rejection]:
        """Return the version this request goes to (`served`, when the client named it) and its
        answer, once recorded: live accuracy, the shadow candidate, the prediction log."""
        request = current_request()
        served = self.policy.route(request.client_id) if served is None else served
        request.answered_by = served.tag
        scored = served.score(columns)
        if isinstance(scored, Rejection):
            return served, scored
        self.live.remember(request.request_id, served.tag, scored.labels.tolist())
        self.policy.after_scored(request.request_id, endpoint, columns, served, scored)
        return served, scored

    def observe_parse(self, seconds: float) -> None:
        if self.main.monitor is not None:
            self.main.monitor.observe_parse(seconds)

    def reject(self, rejection: Rejection, endpoint: str, served: Served | None = None) -> Response:
        """Return the 4xx for `rejection`, once recorded (`record_rejection`)."""
        self.record_rejection(rejection, endpoint, served)
        limits = self.settings.limits
        body = rejection.body(limits.max_error_failures, limits.max_echo_chars)
        return json_response(body, status_code=rejection.status)

    def record_rejection(
        self, rejection: Rejection, endpoint: str, served: Served | None = None
    ) -> None:
        """Count `rejection`, sample it into the rejection log, write it to the prediction log."""
        served = self.main if served is None else served
        request = current_request()
        request.answered_by = served.tag
        self.rejections.record(rejection, endpoint, request.request_id, served.tag)
        served.rejected(rejection)
        if self.prediction_log is not None and endpoint != "/feedback":
            self.prediction_log.rejected(request.request_id, endpoint, served.tag, rejection)

    def record_feedback(self, items: list[Feedback]) -> dict:
        """Return what /feedback answers, once the labels are counted and logged."""
        matched = 0
        logged = []
        for item in items:
            model = self.live.match(item)
            matched += model is not None
            logged.append(
                {
                    "request_id": item.request_id,
                    "model": model or self.version.tag,
                    "row": item.row,
                    "label": item.label,
                }
            )
        if self.prediction_log is not None:
            self.prediction_log.feedback(logged)
        return {
            "accepted": len(items),
            "matched_live": matched,
            "logged": self.prediction_log is not None,
        }

    def feedback(self, items: list[Feedback] | Rejection) -> Response:
        """Return what /feedback answers: the counts of labels taken, or the 4xx."""
        if isinstance(items, Rejection):
            return self.reject(items, "/feedback")
        return json_response(self.record_feedback(items))

    def metadata(self) -> dict:
        """Return what /metadata says: tag, serving engines, candidate, metrics, lineage, schema."""
        version = self.version
        return {
            "model": version.tag,
            "serving": {
                "prediction_engine": self.scorer.prediction_engine,
                "validation_engine": self.settings.validation_engine,
                "onnx": version.metadata.onnx,
                "gx_delegated": self.scorer.delegated,
                # What the image carries and why: GX and scikit-learn go in only when needed.
                "libraries": {need.library.extra: need.to_dict() for need in self.libraries},
            },
            "candidate": self.policy.candidate_metadata(),
            "metrics": version.metrics,
            "performance_estimate": availability(version),
            "params": without_paths(version.params),
            "lineage": without_paths(version.lineage),
            "schema": version.schema.to_dict(),
        }

    def log_fallbacks(self) -> None:
        """Say at start-up what runs on a slow path, so nobody finds out from latency graphs."""
        scorer = self.scorer
        if scorer.delegated:
            rules = ", ".join(
                f"{d['expectation']} on {d['column'] or 'the table'}" for d in scorer.delegated
            )
            logger.warning(
                "%d expectation(s) are not compiled and go to Great Expectations on every "
                "request (tens of milliseconds each): %s",
                len(scorer.delegated),
                rules,
            )
        if not self.auth.enabled:
            logger.warning(
                "no API key is set: anyone who can reach this port can call every endpoint; "
                "set API_KEYS or API_KEYS_FILE"
            )
        if not self.version.schema.is_regression and self.version.calibrator is None:
            logger.warning(
                "no label-free performance estimate: %s", availability(self.version)["why"]
            )
        if self.settings.prediction_engine == "onnx" and not self.version.serves_onnx:
            logger.warning(
                "%s has no ONNX graph (%s); serving the skops pipeline",
                self.version.tag,
                self.version.metadata.onnx,
            )
