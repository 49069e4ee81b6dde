"""The optional libraries a model version needs to serve, and whether this environment has them.

Great Expectations is needed only when the suite holds expectation types the compiled checks
hand to it (or VALIDATION_ENGINE=gx); scikit-learn and skops only when the version has no ONNX
graph (or PREDICTION_ENGINE=sklearn). `make bento` puts in the image what these say, and the
service refuses to start when a library it needs is missing.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass

from service.model.version import ModelVersion
from service.validation.compiled import CompiledSuite


@dataclass(frozen=True)
class Library:
    """An optional serving library: the pyproject extra that installs it, what it imports."""

    name: str  # as a person reads it
    extra: str  # [project.optional-dependencies] key in pyproject.toml
    modules: tuple[str, ...]  # all must be importable for the library to count as installed


GX = Library("Great Expectations", "gx", ("great_expectations",))
# scipy comes with scikit-learn (and with GX); skops loads the pipeline.
SKLEARN = Library("scikit-learn, scipy and skops", "sklearn", ("sklearn", "scipy", "skops"))
OPTIONAL = (GX, SKLEARN)


@dataclass(frozen=True)
class Need:
    """Whether one optional library is needed to serve a version, and why."""

    library: Library
    needed: bool
    reason: str

    @property
    def installed(self) -> bool:
        return installed(self.library)

    def to_dict(self) -> dict:
        return {
            "extra": self.library.extra,
            "needed": self.needed,
            "installed": self.installed,
            "reason": self.reason,
        }


def installed(library: Library) -> bool:
    """Return whether every module of `library` can be imported, without importing it."""
    return all(importlib.util.find_spec(module) is not None for module in library.modules)


def gx_need(suite: dict, validation_engine: str = "compiled") -> Need:
    """Return whether serving `suite` takes Great Expectations, and why."""
    if validation_engine == "gx":
        return Need(GX, True, "VALIDATION_ENGINE=gx checks every request with GX")
    delegated = CompiledSuite(suite).delegated
    if delegated:
        rules = ", ".join(f"{d['expectation']} on {d['column'] or 'the table'}" for d in delegated)
        return Need(GX, True, f"{len(delegated)} expectation(s) go to GX: {rules}")
    count = len(suite["expectations"])
    return Need(GX, False, f"all {count} expectations are compiled")


def sklearn_need(version: ModelVersion, prediction_engine: str = "onnx") -> Need:
    """Return whether serving `version` takes the skops pipeline (scikit-learn), and why."""
    if not version.serves_onnx:
        why = version.metadata.onnx.get("reason") or version.metadata.onnx.get("error")
        detail = f" ({why})" if why else ""
        return Need(SKLEARN, True, f"{version.tag} has no ONNX graph{detail}")
    if prediction_engine == "sklearn":
        return Need(SKLEARN, True, "PREDICTION_ENGINE=sklearn serves the skops pipeline")
    return Need(SKLEARN, False, "predictions come from the ONNX graph")


def needs(
    version: ModelVersion, *, validation_engine: str = "compiled", prediction_engine: str = "onnx"
) -> list[Need]:
    """Return the version's need of each optional library, in OPTIONAL order."""
    return [gx_need(version.suite, validation_engine), sklearn_need(version, prediction_engine)]


def missing_line(tag: str, wanted: list[Need]) -> str | None:
    """Return the one line that says which needed library is not installed, or None."""
    absent = [need for need in wanted if need.needed and not need.installed]
    if not absent:
        return None
    what = "; ".join(f"{need.library.name} ({need.reason})" for need in absent)
    extras = ",".join(need.library.extra for need in absent)
    return (
        f"{tag} needs {what}, which this environment lacks; rebuild the image for this version "
        f"with `make bento` (it adds the extra [{extras}]) or install it"
    )
