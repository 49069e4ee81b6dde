"""API keys: an ASGI middleware that lets through only requests carrying a known key.

BentoML 1.4 has no server-side authentication outside its cloud, and MLflow's model server and
KServe leave it to a gateway. Keys come from API_KEYS (comma-separated, so a new key can be added
before the old one is removed) or API_KEYS_FILE (a mounted Kubernetes Secret, re-read when it
changes). Both `Authorization: Bearer KEY` (what `bentoml.SyncHTTPClient(url, token=KEY)` sends)
and `X-API-Key: KEY` are accepted; keys are compared in constant time and never logged.
"""

from __future__ import annotations

import hmac
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

import orjson

from service.errors import UserError
from service.observe.metrics import service_metrics
from service.settings import env_flag

logger = logging.getLogger("bentoml.model_service")

# Probes must answer without a key, or Kubernetes restarts every pod; the Open Inference
# Protocol's health endpoints are probes too.
OPEN_PATHS = frozenset({"/livez", "/readyz", "/healthz", "/v2/health/live", "/v2/health/ready"})
DOCS_PATHS = frozenset({"/", "/docs.json", "/schema.json"})
DOCS_PREFIXES = ("/static_content/",)
# How often a key file is checked for rotation; a stat per request would be I/O on the hot path.
KEY_FILE_RECHECK_SECONDS = 10.0
_UNAUTHORIZED_HEADERS = [
    (b"content-type", b"application/json"),
    (b"www-authenticate", b'Bearer realm="model-service"'),
]


@dataclass(frozen=True)
class AuthSettings:
    keys: tuple[str, ...]
    keys_file: Path | None
    required: bool  # the image sets API_KEYS_REQUIRED=1: no keys then means no start
    public_metrics: bool
    public_docs: bool

    @classmethod
    def from_env(cls) -> AuthSettings:
        keys_file = os.environ.get("API_KEYS_FILE", "").strip()
        settings = cls(
            keys=_split_keys(os.environ.get("API_KEYS", "")),
            keys_file=Path(keys_file) if keys_file else None,
            required=env_flag("API_KEYS_REQUIRED"),
            public_metrics=env_flag("PUBLIC_METRICS"),
            public_docs=env_flag("PUBLIC_DOCS"),
        )
        if settings.keys_file is not None:
            _read_keys(settings.keys_file)  # a missing or empty file stops start-up here
        if settings.required and not settings.enabled:
            raise UserError(
                "API_KEYS_REQUIRED=1 but no key is set; set API_KEYS=KEY1,KEY2 or "
                "API_KEYS_FILE=PATH (a mounted Secret), or API_KEYS_REQUIRED=0 to serve openly"
            )
        return settings

    @property
    def enabled(self) -> bool:
        return bool(self.keys) or self.keys_file is not None


def _split_keys(text: str) -> tuple[str, ...]:
    return tuple(key.strip() for key in text.replace("\n", ",").split(",") if key.strip())


def _read_keys(path: Path) -> tuple[str, ...]:
    try:
        lines = path.read_text().splitlines()
    except OSError as error:
        raise UserError(f"API_KEYS_FILE {path} cannot be read: {error.strerror}")
    keys = _split_keys(",".join(line for line in lines if not line.lstrip().startswith("#")))
    if not keys:
        raise UserError(f"API_KEYS_FILE {path} holds no key; one key per line")
    return keys


class KeyRing:
    """The accepted keys: from the environment, plus the key file as it is now."""

    def __init__(self, settings: AuthSettings) -> None:
        self.settings = settings
        self._from_file: tuple[bytes, ...] = ()
        self._file_state: tuple[float, int] | None = None
        self._checked_at = float("-inf")
        self._from_env = tuple(key.encode() for key in settings.keys)
        self.keys()

    def keys(self) -> tuple[bytes, ...]:
        path = self.settings.keys_file
        now = time.monotonic()
        if path is not None and now - self._checked_at >= KEY_FILE_RECHECK_SECONDS:
            self._checked_at = now
            try:
                stat = path.stat()
                state = (stat.st_mtime, stat.st_size)
                if state != self._file_state:
                    self._from_file = tuple(key.encode() for key in _read_keys(path))
                    self._file_state = state
            except (OSError, UserError) as error:
                # Keep the last good keys: a Secret being swapped is briefly unreadable.
                logger.warning("API_KEYS_FILE could not be re-read, keeping its keys: %s", error)
        return self._from_env + self._from_file

    def accepts(self, key: bytes) -> bool:
        # Every key is compared, so the time taken does not say which one came close.
        matched = False
        for known in self.keys():
            matched |= hmac.compare_digest(key, known)
        return matched


def presented_key(headers: list[tuple[bytes, bytes]]) -> bytes | None:
    """Return the key in `Authorization: Bearer KEY` or `X-API-Key: KEY`, if any."""
    for name, value in headers:
        if name == b"authorization" and value[:7].lower() == b"bearer ":
            return value[7:].strip()
        if name == b"x-api-key":
            return value.strip()
    return None


class ApiKeyMiddleware:
    """Answers 401 to a request without a known key, before any other work is done for it."""

    def __init__(self, app, settings: AuthSettings) -> None:
        self.app = app
        self.ring = KeyRing(settings)
        self.open_paths = set(OPEN_PATHS)
        self.open_prefixes: tuple[str, ...] = ()
        if settings.public_metrics:
            self.open_paths.add("/metrics")
        if settings.public_docs:
            self.open_paths |= DOCS_PATHS
            self.open_prefixes = DOCS_PREFIXES

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope["method"] == "OPTIONS":  # CORS preflight
            return await self.app(scope, receive, send)
        path = scope["path"]
        if path in self.open_paths or path.startswith(self.open_prefixes or ("\0",)):
            return await self.app(scope, receive, send)
        key = presented_key(scope["headers"])
        if key is None:
            return await self._refuse(send, "missing", "send an API key")
        if not self.ring.accepts(key):
            return await self._refuse(send, "invalid", "the API key is not valid")
        return await self.app(scope, receive, send)

    async def _refuse(self, send, reason: str, what: str) -> None:
        service_metrics().auth_failures.labels(reason=reason).inc()
        body = orjson.dumps(
            {
                "error": "unauthorized",
                "message": f"{what}: Authorization: Bearer KEY, or X-API-Key: KEY",
                "failures": [],
            }
        )
        headers = [*_UNAUTHORIZED_HEADERS, (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 401, "headers": headers})
        await send({"type": "http.response.body", "body": body})
