"""What the service declares at import: settings, API keys and the model versions, checked.

`bentoml serve` imports service.py twice: in its own process, which reads the service's
configuration (workers, routes, the models `bentoml build` packs) and answers no request, and
in each worker, which serves. This is all the first needs; the runtime (runtime.py), which
imports pandas and ONNX Runtime and loads the scorers, is built in the worker alone, so the
process that answers nothing does not pay for it on the way to ready.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

from service.errors import UserError
from service.http.auth import AuthSettings
from service.model.store import load_model_version
from service.model.version import ModelVersion
from service.settings import Settings
from service.traffic.compatibility import CandidateError, check_compatible


@dataclass(frozen=True)
class Declaration:
    settings: Settings
    auth: AuthSettings
    version: ModelVersion
    candidate: ModelVersion | None

    @classmethod
    def from_env(cls) -> Declaration:
        """Return what the environment declares, or stop start-up with one line saying why."""
        try:
            settings = Settings.from_env()
            auth = AuthSettings.from_env()
            version = load_model_version(settings.model_tag)
            candidate = (
                load_model_version(settings.candidate.tag)
                if settings.candidate is not None
                else None
            )
            if candidate is not None:
                check_compatible(version, candidate)
        except (UserError, CandidateError) as error:
            sys.exit(f"model service cannot start: {error}")
        return cls(settings, auth, version, candidate)

    @property
    def classes(self) -> list:
        """The classes as the model names them (str or int): feedback labels must be one."""
        return list(self.version.schema.classes)
