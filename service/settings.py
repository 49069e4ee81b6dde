"""Service settings, read once from the environment at start-up."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from service.errors import UserError

VALIDATION_ENGINES = ("compiled", "gx")
PREDICTION_ENGINES = ("onnx", "sklearn")
CANDIDATE_MODES = ("shadow", "split")  # the first is the default


# The one place the project root is worked out; scripts/pipeline/params.py takes it from here. In a
# bento, params.yaml sits beside service/ as it does in the repository.
PARAMS_YAML = Path(__file__).resolve().parent.parent / "params.yaml"


def default_model_name(params_file: Path = PARAMS_YAML) -> str:
    """Return `model_name` from params.yaml, the one source of the pipeline's defaults."""
    import yaml

    try:
        params = yaml.safe_load(params_file.read_text())
    except (OSError, yaml.YAMLError) as error:
        raise UserError(
            f"cannot read the default model name from {params_file} ({error}); "
            "set MODEL_TAG=name:version"
        )
    name = params.get("model_name") if isinstance(params, dict) else None
    if not isinstance(name, str) or not name:
        raise UserError(f"{params_file} has no model_name; add one or set MODEL_TAG")
    return name


def _choice(name: str, allowed: tuple[str, ...]) -> str:
    value = os.environ.get(name, allowed[0]).strip().lower()
    if value not in allowed:
        raise UserError(f"{name}={value!r} is not one of {', '.join(allowed)}")
    return value


def _whole_number(name: str, default: int, minimum: int = 1) -> int:
    raw = os.environ.get(name, str(default)).strip()
    if not raw.isdigit() or int(raw) < minimum:
        raise UserError(
            f"{name}={raw!r} must be a whole number of at least {minimum} (default {default})"
        )
    return int(raw)


def env_flag(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name, "1" if default else "").strip().lower()
    if raw not in ("", "0", "1", "true", "false", "yes", "no"):
        raise UserError(f"{name}={raw!r} must be 1 or 0 (true or false)")
    return raw in ("1", "true", "yes")


@dataclass(frozen=True)
class Limits:
    """Bounds on what one request may hold, each enforced before the work it protects."""

    max_body_bytes: int  # 413 before the body is parsed; the count streams as bytes arrive
    max_header_bytes: int  # 431 while the headers are still arriving
    header_timeout_seconds: int  # a client that has not sent its headers by then is dropped
    max_batch_rows: int  # records (or CSV rows) per request
    max_fields: int  # keys in one record
    max_string_chars: int  # characters in one string value
    max_echo_chars: int  # characters of a client's value or key echoed back or logged
    max_error_failures: int  # failures listed in one error body; the rest are counted

    @classmethod
    def from_env(cls) -> Limits:
        return cls(
            max_body_bytes=_whole_number("MAX_BODY_BYTES", 8 * 1024 * 1024),
            max_header_bytes=_whole_number("MAX_HEADER_BYTES", 32 * 1024),
            header_timeout_seconds=_whole_number("HEADER_TIMEOUT_SECONDS", 10),
            max_batch_rows=_whole_number("MAX_BATCH_ROWS", 10_000),
            max_fields=_whole_number("MAX_FIELDS", 1_000),
            max_string_chars=_whole_number("MAX_STRING_CHARS", 1_000),
            max_echo_chars=_whole_number("MAX_ECHO_CHARS", 64),
            max_error_failures=_whole_number("MAX_ERROR_FAILURES", 50),
        )


def _fraction(name: str, default: float) -> float:
    raw = os.environ.get(name, str(default)).strip()
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0.0 < value <= 1.0:
        raise UserError(f"{name}={raw!r} must be a number above 0 and at most 1")
    return value


@dataclass(frozen=True)
class PredictionLogSettings:
    folder: Path
    sample_rate: float  # share of requests logged; feedback is always logged
    max_queued_rows: int  # records waiting for the writer; more are dropped and counted
    file_bytes: int  # a worker's file is rotated past this size
    total_bytes: int  # the oldest rotated files are deleted past this total

    @classmethod
    def from_env(cls) -> PredictionLogSettings | None:
        """Return the log's settings, or None when PREDICTION_LOG_DIR is unset (the log is off)."""
        folder = os.environ.get("PREDICTION_LOG_DIR", "").strip()
        if not folder:
            return None
        file_mb = _whole_number("PREDICTION_LOG_FILE_MB", 64)
        total_mb = _whole_number("PREDICTION_LOG_TOTAL_MB", 1024)
        if total_mb < 2 * file_mb:
            raise UserError(
                f"PREDICTION_LOG_TOTAL_MB={total_mb} must be at least twice "
                f"PREDICTION_LOG_FILE_MB={file_mb}, or every rotation deletes the last file"
            )
        return cls(
            folder=Path(folder),
            sample_rate=_fraction("PREDICTION_LOG_SAMPLE", 1.0),
            max_queued_rows=_whole_number("PREDICTION_LOG_QUEUE_ROWS", 100_000),
            file_bytes=file_mb * 1024 * 1024,
            total_bytes=total_mb * 1024 * 1024,
        )


@dataclass(frozen=True)
class CandidateSettings:
    tag: str
    mode: str  # shadow: scored beside the main model, never answered; split: answers a share
    share: float  # split: the share of requests (or of X-Client-IDs) the candidate answers
    max_queued_rows: int  # shadow: rows waiting to be scored; more are dropped and counted

    @classmethod
    def from_env(cls) -> CandidateSettings | None:
        """Return the candidate's settings, or None when CANDIDATE_MODEL_TAG is unset."""
        tag = os.environ.get("CANDIDATE_MODEL_TAG", "").strip()
        if not tag:
            return None
        return cls(
            tag=tag,
            mode=_choice("CANDIDATE_MODE", CANDIDATE_MODES),
            share=_fraction("CANDIDATE_SHARE", 0.1),
            max_queued_rows=_whole_number("CANDIDATE_QUEUE_ROWS", 10_000),
        )


@dataclass(frozen=True)
class Settings:
    model_tag: str
    validation_engine: str
    prediction_engine: str
    limits: Limits
    rejection_log_seconds: int  # at most one log line per interval per worker; 0 logs each
    monitoring: bool  # stage times, classes and drift in /metrics (MONITORING=0 turns off)
    workers: int  # worker processes; /metrics adds up all of them
    prediction_log: PredictionLogSettings | None  # None: no prediction log
    feedback_hold_requests: int  # predictions per worker kept for live accuracy; 0 keeps none
    candidate: CandidateSettings | None  # a second version in shadow or split mode

    @property
    def max_batch_rows(self) -> int:
        return self.limits.max_batch_rows

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            # The champion alias (service/model/aliases.py), not `latest`: a newer version serves
            # only once it passed the promotion gate.
            model_tag=os.environ.get("MODEL_TAG") or f"{default_model_name()}:champion",
            # `gx` and `sklearn` exist to compare against and to fall back on.
            validation_engine=_choice("VALIDATION_ENGINE", VALIDATION_ENGINES),
            prediction_engine=_choice("PREDICTION_ENGINE", PREDICTION_ENGINES),
            limits=Limits.from_env(),
            rejection_log_seconds=_whole_number("REJECTION_LOG_SECONDS", 10, minimum=0),
            monitoring=env_flag("MONITORING", default=True),
            workers=_whole_number("WORKERS", 1),
            prediction_log=PredictionLogSettings.from_env(),
            feedback_hold_requests=_whole_number("FEEDBACK_HOLD_REQUESTS", 10_000, minimum=0),
            candidate=CandidateSettings.from_env(),
        )
