"""API keys: which requests pass, what a refusal says, and key rotation from a file."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from service.errors import UserError
from service.http import auth
from service.http.auth import ApiKeyMiddleware, AuthSettings, KeyRing, presented_key


def settings(**overrides) -> AuthSettings:
    values = {
        "keys": ("k1", "k2"),
        "keys_file": None,
        "required": False,
        "public_metrics": False,
        "public_docs": False,
    }
    return AuthSettings(**{**values, **overrides})


def call(middleware, path: str, headers=(), method: str = "POST") -> tuple[int, dict, bytes]:
    sent = []

    async def send(message):
        sent.append(message)

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    scope = {"type": "http", "method": method, "path": path, "headers": list(headers)}
    asyncio.run(middleware(scope, receive, send))
    start = sent[0]
    return (
        start["status"],
        dict(start.get("headers", [])),
        b"".join(m.get("body", b"") for m in sent[1:]),
    )


async def ok_app(scope, receive, send):
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


def test_both_header_forms_are_accepted():
    assert presented_key([(b"authorization", b"Bearer k1")]) == b"k1"
    assert presented_key([(b"authorization", b"bearer  k1 ")]) == b"k1"
    assert presented_key([(b"x-api-key", b"k2")]) == b"k2"
    assert presented_key([(b"authorization", b"Basic abc")]) is None


def test_a_known_key_passes_and_others_get_401_with_a_challenge():
    middleware = ApiKeyMiddleware(ok_app, settings())
    assert call(middleware, "/predict", [(b"x-api-key", b"k2")])[0] == 200
    status, headers, body = call(middleware, "/predict", [(b"authorization", b"Bearer nope")])
    assert status == 401 and headers[b"www-authenticate"].startswith(b"Bearer")
    assert orjson.loads(body)["error"] == "unauthorized" and b"nope" not in body
    assert call(middleware, "/predict")[0] == 401


def test_probes_and_preflight_are_open_metrics_and_docs_only_when_told():
    closed = ApiKeyMiddleware(ok_app, settings())
    assert call(closed, "/livez", method="GET")[0] == 200
    assert call(closed, "/readyz", method="GET")[0] == 200
    assert call(closed, "/predict", method="OPTIONS")[0] == 200
    assert call(closed, "/metrics", method="GET")[0] == 401
    assert call(closed, "/docs.json", method="GET")[0] == 401
    opened = ApiKeyMiddleware(ok_app, settings(public_metrics=True, public_docs=True))
    assert call(opened, "/metrics", method="GET")[0] == 200
    assert call(opened, "/static_content/index.css", method="GET")[0] == 200
    assert call(opened, "/predict")[0] == 401


def test_keys_required_but_absent_stops_start_up(monkeypatch):
    for name in ("API_KEYS", "API_KEYS_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("API_KEYS_REQUIRED", "1")
    with pytest.raises(UserError, match="API_KEYS_REQUIRED=1 but no key is set"):
        AuthSettings.from_env()
    monkeypatch.setenv("API_KEYS", " a , b ,")
    assert AuthSettings.from_env().keys == ("a", "b")


def test_an_empty_key_file_stops_start_up(tmp_path, monkeypatch):
    empty = tmp_path / "keys"
    empty.write_text("# no keys yet\n\n")
    monkeypatch.setenv("API_KEYS_FILE", str(empty))
    with pytest.raises(UserError, match="holds no key"):
        AuthSettings.from_env()


def test_a_rotated_key_file_is_picked_up(tmp_path, monkeypatch):
    keys = tmp_path / "keys"
    keys.write_text("old\n")
    monkeypatch.setattr(auth, "KEY_FILE_RECHECK_SECONDS", 0.0)
    ring = KeyRing(settings(keys=(), keys_file=keys))
    assert ring.accepts(b"old") and not ring.accepts(b"new")
    keys.write_text("new\nnewer\n")
    assert ring.accepts(b"new") and not ring.accepts(b"old")
