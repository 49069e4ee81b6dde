"""Two fixes for BentoML 1.4.40's HTTP middlewares, applied when this module is imported.

1. The request-timeout timer kept every request alive for 60 s.

bentoml/_internal/server/http/traffic.py (TimeoutMiddleware.__call__) schedules
`loop.call_later(timeout, ...)` for each request and never cancels it. `call_later` copies the
request's contextvars, which hold its OpenTelemetry server span (the tracing middleware wraps
this one), so each request's span, context, future and timer stayed in memory for
`traffic.timeout` seconds: the worker grew about 5 KB per request, to some 200 MB under load,
and garbage-collection pauses grew with it. `tracing.sample_rate=0` does not help, as BentoML's
sampler still records every span.

This replaces the method with the same logic, except that the timer runs in an empty context
and is cancelled when the request ends. A 504 after `timeout` seconds works as before.
2. Unknown paths grew /metrics without bound. RunnerTrafficMetricsMiddleware
(bentoml/_internal/server/http/instruments.py) labels its request counters and histograms with
the raw request path, so every distinct 404 path made new series: 11,700 random paths in 10 s
took /metrics from 56 KB to 47 MB and the worker from 184 to 603 MB (issue 11). The patched call
records only the service's own routes and BentoML's fixed endpoints; any other path is answered
as before but leaves no series behind.

3. Tracing cost every request with nothing to send it to. BentoML adds OpenTelemetry's ASGI
middleware whatever the configuration (_bentoml_impl/server/app.py, `middlewares`), so each
request builds server spans, sends and receives child spans and attributes even when no
exporter is configured; on one worker on 2 cores it took about a tenth of a request's time.
The middleware is left out unless `tracing.exporter_type` is set in BentoML's configuration.

Import this module before the service starts serving; importing it twice is harmless. Drop
each fix when BentoML cancels the timer, labels unknown routes by one value, or skips tracing
without an exporter, itself.
"""

from __future__ import annotations

import asyncio
import contextvars

from _bentoml_impl.server.app import ServiceAppFactory
from bentoml._internal.configuration.containers import BentoMLContainer
from bentoml._internal.context import server_context
from bentoml._internal.server.http.instruments import RunnerTrafficMetricsMiddleware
from bentoml._internal.server.http.traffic import TimeoutMiddleware
from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
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


# BentoML's own endpoints; the service's API routes are added from server_context at run time.
FIXED_ROUTES = frozenset(
    {"/", "/docs.json", "/schema.json", "/livez", "/readyz", "/healthz", "/metrics"}
)
# Other paths a mounted app answers, fixed at start-up (count_paths).
MOUNTED_ROUTES: set[str] = set()


def count_paths(paths: list[str]) -> None:
    """Let BentoML's request metrics count these paths of a mounted app too."""
    MOUNTED_ROUTES.update(paths)


_record_traffic = getattr(
    RunnerTrafficMetricsMiddleware.__call__,
    "__wrapped_original__",
    RunnerTrafficMetricsMiddleware.__call__,
)


async def _record_known_routes_only(self, scope, receive, send) -> None:
    if scope["type"] == "http":
        known = getattr(self, "_known_routes", None)
        if known is None:
            known = self._known_routes = (
                FIXED_ROUTES | MOUNTED_ROUTES | set(server_context.service_routes)
            )
        if scope["path"] not in known:
            return await self.app(scope, receive, send)
    return await _record_traffic(self, scope, receive, send)


_record_known_routes_only.__wrapped_original__ = _record_traffic
RunnerTrafficMetricsMiddleware.__call__ = _record_known_routes_only


# Importing twice must not wrap the wrapper: keep the original property on the getter.
_all_middlewares = getattr(
    ServiceAppFactory.middlewares.fget, "__wrapped_original__", ServiceAppFactory.middlewares
)


def _middlewares_without_idle_tracing(self) -> list:
    middlewares = _all_middlewares.fget(self)
    if BentoMLContainer.config.tracing.exporter_type.get():
        return middlewares
    return [m for m in middlewares if m.cls is not OpenTelemetryMiddleware]


_middlewares_without_idle_tracing.__wrapped_original__ = _all_middlewares
ServiceAppFactory.middlewares = property(_middlewares_without_idle_tracing)
