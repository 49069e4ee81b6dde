"""The Open Inference Protocol's REST endpoints (KServe V2), over the service's own runtime.

Built in the worker once its runtime is (routes.py mounts them and hands requests here).

`/v2/models/{name}/infer` goes through what /predict goes through: the same parser of records
where a tensor holds them, the same scoring core and suite, the same traffic policy, metrics,
prediction log, request id, API keys and body bounds (the service's middlewares wrap this app).
Only the shape of the answer differs: tensors, and `{"error": "..."}` for a 4xx, as the
protocol says.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from service.http.response_body import json_response
from service.open_inference.tensors import (
    HEADER_LENGTH,
    LABEL,
    PREDICTION,
    PROBABILITIES,
    TEXT_DTYPE,
    TensorParser,
    label_datatype,
    output_names,
    response_tensors,
)
from service.runtime import Runtime
from service.traffic.candidate import Served
from service.validation.results import Rejection

# The protocol's optional parts this server speaks, as GET /v2 lists them.
EXTENSIONS = ["binary_tensor_data"]


def version_of(served: Served) -> str:
    return served.tag.partition(":")[2]


def error_message(rejection: Rejection, max_failures: int, max_echo_chars: int) -> str:
    """Return the rejection as one sentence: the protocol's error body has no other field."""
    body = rejection.body(max_failures, max_echo_chars)
    failures = body.get("failures") or []
    if not failures:
        return body["message"]
    said = "; ".join(f"{f['message']} ({f['expectation']})" for f in failures)
    more = body.get("failures_not_listed")
    return f"{body['message'].removesuffix('; see failures')}: {said}" + (
        f"; and {more} more" if more else ""
    )


class OpenInference:
    """The endpoints, for the model the runtime serves."""

    def __init__(self, runtime: Runtime, prefix: str) -> None:
        self.runtime = runtime
        self.prefix = prefix
        version = runtime.version
        self.name = version.tag.partition(":")[0]
        self.classes = runtime.classes
        self.outputs = output_names(self.classes)
        self.parser = TensorParser(
            version.schema,
            runtime.settings.limits,
            runtime.parser,
            f"{self.prefix}/models/{self.name}",
        )

    def counted_paths(self) -> list[str]:
        """Return the paths BentoML's request metrics may count: one model name, so bounded."""
        model = f"{self.prefix}/models/{self.name}"
        prefix = self.prefix
        paths = [prefix, prefix + "/health/live", prefix + "/health/ready", model, model + "/infer"]
        for served in self.runtime.policy.answering:
            pinned = f"{model}/versions/{version_of(served)}"
            paths += [pinned, pinned + "/infer"]
        return paths

    # -- endpoints -----------------------------------------------------------------------------

    async def server_metadata(self, request: Request) -> Response:
        return json_response(
            {"name": "model_service", "version": self.runtime.version.tag, "extensions": EXTENSIONS}
        )

    async def live(self, request: Request) -> Response:
        return json_response({"live": True})

    async def ready(self, request: Request) -> Response:
        # This app answers only once the worker has loaded its model and started its series.
        return json_response({"ready": True})

    async def model_ready(self, request: Request) -> Response:
        served = self.served(request)
        if isinstance(served, Response):
            return served
        return json_response({"name": self.name, "ready": True})

    async def metadata(self, request: Request) -> Response:
        served = self.served(request)
        if isinstance(served, Response):
            return served
        inputs = [
            {
                "name": feature.name,
                "datatype": "FP64" if feature.kind == "numeric" else TEXT_DTYPE,
                "shape": [-1],
            }
            for feature in self.runtime.version.schema.features
        ]
        if not self.classes:
            outputs = [{"name": PREDICTION, "datatype": "FP64", "shape": [-1]}]
        else:
            outputs = [{"name": LABEL, "datatype": label_datatype(self.classes), "shape": [-1]}]
            outputs.append(
                {"name": PROBABILITIES, "datatype": "FP64", "shape": [-1, len(self.classes)]}
            )
            outputs += [
                {"name": name, "datatype": "FP64", "shape": [-1]}
                for name in self.outputs
                if name not in (LABEL, PROBABILITIES)
            ]
        return json_response(
            {
                "name": self.name,
                "versions": [version_of(s) for s in self.runtime.policy.answering],
                "platform": "onnx" if served.scorer.prediction_engine == "onnx" else "sklearn",
                "inputs": inputs,
                "outputs": outputs,
            }
        )

    async def infer(self, request: Request) -> Response:
        endpoint = f"{self.prefix}/models/{self.name}/infer"
        served = self.served(request)
        if isinstance(served, Response):
            return served
        pinned = served if "version" in request.path_params else None
        body = await request.body()
        parsed = self.parser.parse(body, request.headers.get(HEADER_LENGTH), self.outputs)
        if isinstance(parsed, Rejection):
            return self.reject(parsed, endpoint)
        served, scored = self.runtime.score(parsed.columns, endpoint, served=pinned)
        if isinstance(scored, Rejection):
            return self.reject(scored, endpoint, served)
        tensors, chunks = response_tensors(
            parsed.outputs, self.classes, scored.labels, scored.probabilities
        )
        answer = {"model_name": self.name, "model_version": version_of(served)}
        if parsed.id is not None:
            answer["id"] = parsed.id
        answer["outputs"] = tensors
        response = json_response(answer)
        if not chunks:
            return response
        header = response.body
        return Response(
            header + b"".join(chunks),
            media_type="application/octet-stream",
            headers={HEADER_LENGTH: str(len(header))},
        )

    async def not_found(self, request: Request) -> Response:
        return json_response(
            {"error": f"no such endpoint: {request.method} {request.url.path[:200]}"},
            status_code=404,
        )

    # -- shared --------------------------------------------------------------------------------

    def served(self, request: Request) -> Served | Response:
        """Return the version a path names (any this service answers with when it names none),
        or the 404 saying what is served."""
        name = request.path_params["name"]
        answering = self.runtime.policy.answering
        if name != self.name:
            return self.missing(f"model {name[:200]!r} is not served here; this is {self.name!r}")
        if "version" not in request.path_params:
            return answering[0]
        version = request.path_params["version"]
        for served in answering:
            if version_of(served) == version:
                return served
        served_versions = ", ".join(version_of(s) for s in answering)
        return self.missing(
            f"version {version[:200]!r} of {self.name!r} is not served here; "
            f"this service answers with {served_versions}"
        )

    def missing(self, message: str) -> Response:
        return json_response({"error": message}, status_code=404)

    def reject(self, rejection: Rejection, endpoint: str, served: Served | None = None) -> Response:
        self.runtime.record_rejection(rejection, endpoint, served)
        limits = self.runtime.settings.limits
        message = error_message(rejection, limits.max_error_failures, limits.max_echo_chars)
        return json_response({"error": message}, status_code=rejection.status)
