"""Service settings, read once from the environment at start-up."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from service.errors import PipelineError

DEFAULT_MAX_BATCH_ROWS = 10_000
VALIDATION_ENGINES = ("compiled", "gx")
PREDICTION_ENGINES = ("onnx", "sklearn")


# The one place the project root is worked out; scripts/params.py takes it from here. In a
# bento, params.yaml sits beside service/ as it does in the repository.
PARAMS_FILE = Path(__file__).resolve().parent.parent / "params.yaml"


def default_model_name(params_file: Path = PARAMS_FILE) -> str:
    """Return `model_name` from params.yaml, the one source of the pipeline's defaults."""
    import yaml

    try:
        params = yaml.safe_load(params_file.read_text())
    except (OSError, yaml.YAMLError) as error:
        raise PipelineError(
            f"cannot read the default model name from {params_file} ({error}); "
            "set MODEL_TAG=name:version"
        )
    name = params.get("model_name") if isinstance(params, dict) else None
    if not isinstance(name, str) or not name:
        raise PipelineError(f"{params_file} has no model_name; add one or set MODEL_TAG")
    return name


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
