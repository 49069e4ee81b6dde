"""Request ids: every response carries X-Request-ID, and the code that answers can read it.

The client's own id is kept when it is well formed, so one id follows a record from the
client's log through ours (the prediction log, the rejection log line) and back; anything else
(too long, control characters, a forged log line) is replaced with a new one. The endpoint
names the model version that answered, and the middleware sends it as X-Model-Version.
"""

from __future__ import annotations

import re
import uuid
from contextvars import ContextVar
from dataclasses import dataclass

# Ids from gateways (UUIDs, W3C trace ids, AWS ids like "Root=1-...") fit in these characters.
_WELL_FORMED = re.compile(rb"[A-Za-z0-9][A-Za-z0-9._:=+/-]{0,127}")
_REQUEST_ID = b"x-request-id"
_CLIENT_ID = b"x-client-id"


@dataclass
class RequestInfo:
    request_id: str
    client_id: str | None = None
    answered_by: str | None = None  # the model version tag, set by the endpoint that answered


_current: ContextVar[RequestInfo | None] = ContextVar("model_service_request", default=None)


def current_request() -> RequestInfo:
    """Return this request's info; outside a request (a test, a benchmark) a fresh one."""
    info = _current.get()
    return info if info is not None else RequestInfo(new_request_id())


def new_request_id() -> str:
    return uuid.uuid4().hex


def well_formed(request_id: bytes | str) -> bool:
    raw = request_id.encode("latin-1") if isinstance(request_id, str) else request_id
    return _WELL_FORMED.fullmatch(raw) is not None


def _header(headers: list[tuple[bytes, bytes]], name: bytes) -> bytes | None:
    for key, value in headers:
        if key == name:
            return value
    return None


class RequestContextMiddleware:
    """Outermost middleware: even a 401 or a 413 carries the request id."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = scope["headers"]
        given = _header(headers, _REQUEST_ID)
        request_id = given.decode("ascii") if given and well_formed(given) else new_request_id()
        client = _header(headers, _CLIENT_ID)
        info = RequestInfo(
            request_id, client.decode("latin-1") if client and well_formed(client) else None
        )
        # A holder object, not the value: the endpoint may run in a copied context, and what
        # it sets must still reach the response headers sent from here.
        token = _current.set(info)

        async def send_with_ids(message) -> None:
            if message["type"] == "http.response.start":
                extra = [(_REQUEST_ID, info.request_id.encode("ascii"))]
                if info.answered_by is not None:
                    extra.append((b"x-model-version", info.answered_by.encode("latin-1")))
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        try:
            await self.app(scope, receive, send_with_ids)
        finally:
            _current.reset(token)
