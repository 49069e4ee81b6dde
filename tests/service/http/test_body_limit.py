"""The body limit answers 413 before the body is read, with or without Content-Length."""

from __future__ import annotations

import asyncio

import orjson

from service.http.body_limit import BodyLimitMiddleware


def run(headers, chunks: list[bytes], limit: int = 100):
    seen = {}
    sent = []
    pulled = []

    async def app(scope, receive, send):
        message = await receive()
        seen["body"] = message["body"]
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    async def receive():
        chunk = chunks[len(pulled)]
        pulled.append(chunk)
        return {"type": "http.request", "body": chunk, "more_body": len(pulled) < len(chunks)}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/predict", "headers": headers}
    asyncio.run(BodyLimitMiddleware(app, limit)(scope, receive, send))
    return sent[0]["status"], sent[1]["body"], seen, len(pulled)


def test_declared_length_over_the_limit_is_refused_unread():
    status, body, seen, pulled = run([(b"content-length", b"5000")], [b"x" * 5000])
    assert status == 413 and pulled == 0 and seen == {}
    assert orjson.loads(body)["error"] == "body_too_large"


def test_chunked_body_is_counted_and_cut_at_the_limit():
    status, _, seen, pulled = run([], [b"x" * 60, b"x" * 60, b"x" * 60])
    assert status == 413 and pulled == 2 and seen == {}


def test_bodies_within_the_limit_reach_the_app_whole():
    assert run([(b"content-length", b"10")], [b"0123456789"])[2] == {"body": b"0123456789"}
    status, _, seen, _ = run([], [b"ab", b"cd"])
    assert status == 200 and seen == {"body": b"abcd"}
