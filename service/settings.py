"""Service settings, read once from the environment at start-up."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from service.errors import PipelineError

DEFAULT_MAX_BATCH_ROWS = 10_000
VALIDATION_ENGINES = ("compiled", "gx")
PREDICTION_ENGINES = ("onnx", "sklearn")


def default_model_name() -> str:
    """Return `model_name` from params.yaml beside the service (the bento carries it too)."""
    import yaml

    params_file = Path(__file__).resolve().parent.parent / "params.yaml"
    if params_file.is_file():
        return str(yaml.safe_load(params_file.read_text()).get("model_name", "iris"))
    return "iris"


def _choice(name: str, allowed: tuple[str, ...]) -> str:
    value = os.environ.get(name, allowed[0]).strip().lower()
    if value not in allowed:
        raise PipelineError(f"{name}={value!r} is not one of {', '.join(allowed)}")
    return value


@dataclass(frozen=True)
class Settings:
    model_tag: str
    max_batch_rows: int
    validation_engine: str
    prediction_engine: str

    @classmethod
    def from_env(cls) -> Settings:
        raw_rows = os.environ.get("MAX_BATCH_ROWS", str(DEFAULT_MAX_BATCH_ROWS))
        if not raw_rows.isdigit() or int(raw_rows) < 1:
            raise PipelineError(f"MAX_BATCH_ROWS={raw_rows!r} must be a positive whole number")
        return cls(
            model_tag=os.environ.get("MODEL_TAG") or f"{default_model_name()}:latest",
            max_batch_rows=int(raw_rows),
            # `gx` and `sklearn` exist to compare against and to fall back on.
            validation_engine=_choice("VALIDATION_ENGINE", VALIDATION_ENGINES),
            prediction_engine=_choice("PREDICTION_ENGINE", PREDICTION_ENGINES),
        )
