"""A fix for BentoML 1.4's request-timeout timer, which kept every request alive for 60 s.

bentoml/_internal/server/http/traffic.py (TimeoutMiddleware.__call__) schedules
`loop.call_later(timeout, ...)` for each request and never cancels it. `call_later` copies the
request's contextvars, which hold its OpenTelemetry server span (the tracing middleware wraps
this one), so each request's span, context, future and timer stayed in memory for
`traffic.timeout` seconds: the worker grew about 5 KB per request, to some 200 MB under load,
and garbage-collection pauses grew with it. `tracing.sample_rate=0` does not help, as BentoML's
sampler still records every span.

This replaces the method with the same logic, except that the timer runs in an empty context
and is cancelled when the request ends. A 504 after `timeout` seconds works as before.
Import this module before the service starts serving; importing it twice is harmless.
"""

from __future__ import annotations

import asyncio
import contextvars

from bentoml._internal.server.http.traffic import TimeoutMiddleware
from starlette.responses import JSONResponse


async def _call_with_cancelled_timer(self, scope, receive, send) -> None:
    if scope["type"] not in ("http", "websocket"):
        return await self.app(scope, receive, send)
    loop = asyncio.get_running_loop()
    waiter = loop.create_future()
    timer = loop.call_later(
        self.timeout, self._set_timer_out, waiter, context=contextvars.Context()
    )

    async def _send(message) -> None:
        if not waiter.done():
            waiter.set_result(None)
        await send(message)

    try:
        request = asyncio.ensure_future(self.app(scope, receive, _send), loop=loop)
        try:
            await waiter
        except TimeoutError:
            if request.cancel():
                response = JSONResponse(
                    {"error": f"Not able to process the request in {self.timeout} seconds"},
                    status_code=504,
                )
                await response(scope, receive, send)
        else:
            await request
    finally:
        timer.cancel()


TimeoutMiddleware.__call__ = _call_with_cancelled_timer
