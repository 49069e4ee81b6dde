"""Request ids: kept when the client's is well formed, made otherwise, sent back every time."""

from __future__ import annotations

import asyncio

import pytest

from service.http.request_context import RequestContextMiddleware, current_request, well_formed


def _call(headers: list[tuple[bytes, bytes]], answered_by: str | None = None):
    seen, sent = {}, []

    async def app(scope, receive, send):
        info = current_request()
        seen["id"], seen["client"] = info.request_id, info.client_id
        info.answered_by = answered_by
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def send(message):
        sent.append(message)

    async def receive():
        return {"type": "http.request", "body": b""}

    scope = {"type": "http", "method": "POST", "path": "/predict", "headers": headers}
    asyncio.run(RequestContextMiddleware(app)(scope, receive, send))
    return seen, dict(sent[0]["headers"])


def test_a_well_formed_client_id_is_kept_and_echoed():
    seen, headers = _call([(b"x-request-id", b"abc-123"), (b"x-client-id", b"shop-7")])
    assert seen == {"id": "abc-123", "client": "shop-7"}
    assert headers[b"x-request-id"] == b"abc-123"


@pytest.mark.parametrize("given", [b"", b"a" * 200, b"bad\x01id", b"two words", b"-lead"])
def test_a_missing_or_malformed_id_is_replaced(given):
    seen, headers = _call([(b"x-request-id", given)] if given else [])
    assert seen["id"] != given.decode("latin-1")
    assert len(seen["id"]) == 32
    assert headers[b"x-request-id"] == seen["id"].encode()


def test_the_version_that_answered_is_sent_as_a_header():
    _, headers = _call([], answered_by="iris:abc")
    assert headers[b"x-model-version"] == b"iris:abc"
    _, headers = _call([])
    assert b"x-model-version" not in headers


def test_well_formed_accepts_common_gateway_ids():
    assert well_formed("Root=1-67891233-abcdef012345678912345678")
    assert well_formed("4bf92f3577b34da6a3ce929d0e0e4736")
    assert not well_formed("a\nb")
