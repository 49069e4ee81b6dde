"""The Open Inference Protocol's routes (KServe V2), mounted on the service at import.

BentoML's own process imports the service to read its routes and answers no request, so the
routes are declared here, without pandas or the model, and the endpoints behind them
(endpoints.py) are built in the worker, by `serve`, once its runtime is.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

if TYPE_CHECKING:
    from service.open_inference.endpoints import OpenInference
    from service.runtime import Runtime

PREFIX = "/v2"


class OpenInferenceApp(Starlette):
    """The app to mount at the root (so `/v2` itself needs no redirect)."""

    def __init__(self) -> None:
        self.endpoints: OpenInference | None = None
        model, pinned = PREFIX + "/models/{name}", PREFIX + "/models/{name}/versions/{version}"
        get = self.answered_by
        super().__init__(
            routes=[
                Route(PREFIX, get("server_metadata")),
                Route(PREFIX + "/health/live", get("live")),
                Route(PREFIX + "/health/ready", get("ready")),
                Route(model, get("metadata")),
                Route(pinned, get("metadata")),
                Route(model + "/ready", get("model_ready")),
                Route(pinned + "/ready", get("model_ready")),
                Route(model + "/infer", get("infer"), methods=["POST"]),
                Route(pinned + "/infer", get("infer"), methods=["POST"]),
                # Anything else under /v2 answers in the protocol's terms, not BentoML's 404.
                Route(PREFIX + "/{rest:path}", get("not_found"), methods=["GET", "POST"]),
            ]
        )

    def answered_by(self, name: str):
        """Return a route endpoint that hands the request to the endpoint `name`."""

        async def endpoint(request: Request) -> Response:
            return await getattr(self.endpoints, name)(request)

        endpoint.__name__ = name
        return endpoint

    def serve(self, runtime: Runtime) -> list[str]:
        """Answer with `runtime` from now on; return the paths BentoML's request metrics may
        count."""
        # Imported here, in the worker: the endpoints parse tensors with pandas.
        from service.open_inference.endpoints import OpenInference

        self.endpoints = OpenInference(runtime, PREFIX)
        return self.endpoints.counted_paths()
