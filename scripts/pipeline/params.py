"""Pipeline parameters: params.yaml, `-p NAME=VALUE` overrides, and the checks papermill skips."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path
from typing import TypeVar

import yaml

from service.errors import UserError
from service.settings import PARAMS_YAML

T = TypeVar("T")

DEFAULT_PARAMS = PARAMS_YAML
PROJECT_ROOT = PARAMS_YAML.parent
# Set by the runner for every notebook, never by the user.
RUNNER_PARAMS = {"run_dir"}
# Read by the runner itself, never passed to a notebook: the promotion gate after export, and
# `make retrain`'s policy.
PIPELINE_SETTINGS = {"promotion", "retrain"}


def load_params(path: Path = DEFAULT_PARAMS) -> dict:
    """Return the parameters in a YAML file, which must be a mapping."""
    if not path.is_file():
        raise UserError(f"parameter file {path} does not exist; pass --params FILE")
    try:
        params = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise UserError(f"parameter file {path} is not valid YAML: {error}")
    if not isinstance(params, dict):
        raise UserError(f"parameter file {path} must hold NAME: VALUE lines")
    return params


def parse_override(text: str) -> tuple[str, object]:
    """Return (name, value) from NAME=VALUE, the value read as YAML (so 3 is an int, [1] a list)."""
    name, sep, raw = text.partition("=")
    if not sep or not name.strip():
        raise UserError(f"-p {text!r} is not NAME=VALUE")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError as error:
        raise UserError(f"-p {name}: value {raw!r} is not valid YAML: {error}")
    return name.strip(), value


def _type_name(value: object) -> str:
    return {
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        str: "a string",
        dict: "a mapping",
        list: "a list",
    }.get(type(value), type(value).__name__)


def check_type(name: str, value: object, default: object) -> None:
    """Raise when `value` is not of the kind of `default` (an int is fine where a float is)."""
    if default is None or value is None:
        return
    expected = type(default)
    if expected is float and type(value) is int:
        return
    if type(value) is not expected:
        raise UserError(
            f"parameter {name} must be {_type_name(default)} like {default!r}, "
            f"not {_type_name(value)} ({value!r})"
        )


def resolve_params(
    base: dict, overrides: list[str], known: set[str], others: frozenset[str] = frozenset()
) -> dict:
    """Return `base` updated by `overrides`, after checking every name is known and every
    override has the type of the value it replaces.

    `others` are the names only another command's notebooks take (`make monitor`'s for `make
    pipeline`): left out of the result, and refused as an override with that said.
    """
    base = {name: value for name, value in base.items() if name not in others}
    unknown_in_file = sorted(set(base) - known)
    if unknown_in_file:
        raise UserError(
            f"unknown parameter(s) {', '.join(unknown_in_file)} in the parameter file; "
            f"known parameters: {', '.join(sorted(known))}"
        )
    params = dict(base)
    for text in overrides:
        name, value = parse_override(text)
        if name in others:
            raise UserError(
                f"parameter {name!r} is not one this command's notebooks take (another "
                f"command's are); known parameters: {', '.join(sorted(known))}"
            )
        if name not in known:
            raise UserError(
                f"unknown parameter {name!r}; known parameters: {', '.join(sorted(known))}"
            )
        check_type(name, value, base.get(name))
        params[name] = value
    return params


def settings_mapping(cls: type[T], raw: object, where: str) -> T:
    """Return the dataclass `cls` built from `raw`, a mapping in params.yaml at `where`: every
    key one of its fields, every value of the kind of that field's default (null only where
    the default is null). Missing keys take the defaults."""
    known = [field.name for field in fields(cls)]
    raw = {} if raw is None else raw
    if not isinstance(raw, dict):
        raise UserError(f"{where} must be a mapping of {', '.join(known)}, not {raw!r}")
    unknown = sorted(set(raw) - set(known))
    if unknown:
        raise UserError(
            f"unknown {where} setting(s) {', '.join(unknown)}; known: {', '.join(known)}"
        )
    for name, value in raw.items():
        default = getattr(cls, name)
        if value is None and default is not None:
            raise UserError(f"parameter {where}.{name} must be {_type_name(default)}, not null")
        check_type(f"{where}.{name}", value, default)
    return cls(**raw)
