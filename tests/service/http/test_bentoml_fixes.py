"""The request-timeout fix: no timer outlives its request, and a slow request still gets a 504."""

import asyncio

from bentoml._internal.server.http.traffic import TimeoutMiddleware

import service.http.bentoml_fixes  # noqa: F401


async def _serve(app, timeout: float) -> tuple[list[dict], int]:
    sent: list[dict] = []

    async def receive():
        return {"type": "http.request", "body": b""}

    async def send(message):
        sent.append(message)

    middleware = TimeoutMiddleware(app, timeout=timeout)
    await middleware({"type": "http", "method": "GET", "path": "/", "headers": []}, receive, send)
    loop = asyncio.get_running_loop()
    live_timers = [h for h in loop._scheduled if not h.cancelled()]  # noqa: SLF001
    return sent, len(live_timers)


async def _fast(scope, receive, send):
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


async def _slow(scope, receive, send):
    await asyncio.sleep(1)


def test_finished_requests_leave_no_timer_behind():
    async def many():
        counts = [await _serve(_fast, timeout=60) for _ in range(50)]
        return counts[-1]

    sent, live = asyncio.run(many())
    assert sent[0]["status"] == 200
    assert live == 0


def test_a_request_over_the_timeout_still_gets_a_504():
    sent, _ = asyncio.run(_serve(_slow, timeout=0.05))
    assert sent[0]["status"] == 504


def test_tracing_middleware_is_left_out_without_an_exporter(monkeypatch):
    from _bentoml_impl.server.app import ServiceAppFactory
    from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
    from starlette.middleware import Middleware

    from service.http import bentoml_fixes

    listed = property(
        lambda self: [Middleware(OpenTelemetryMiddleware), Middleware(TimeoutMiddleware)]
    )
    monkeypatch.setattr(bentoml_fixes, "_all_middlewares", listed)
    kept = ServiceAppFactory.middlewares.fget(object())
    assert [m.cls for m in kept] == [TimeoutMiddleware]
