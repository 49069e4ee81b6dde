"""Bounds on request-header bytes and header read time, which uvicorn's httptools protocol lacks.

BentoML 1.4's worker (_bentoml_impl/worker/service.py) builds `uvicorn.Config(...)` without
`http=`, so uvicorn resolves "auto" to `uvicorn.protocols.http.auto:AutoHTTPProtocol`, which is
`HttpToolsProtocol` when httptools is installed (it is one of our dependencies). That class
(uvicorn 0.54, httptools_impl.py) feeds every byte to the parser with no cap on header size and
no timer until a first response has been sent: measured on loopback, a 100 MB header was read
for 10.7 s and answered 200 while other clients stalled for up to 4.6 s, and a client sending
one byte a second, or nothing at all, held its socket for as long as it liked.

`BoundedHttpToolsProtocol` counts the bytes that arrive while a request's headers are
incomplete and answers 431 past MAX_HEADER_BYTES; a deadline that starts when the connection
opens, and again at the first byte of each later request, answers 408 when the headers are not
complete within HEADER_TIMEOUT_SECONDS. Both answers carry the project's error body and close
the connection. A chunk is counted after it is fed to the parser, so a body arriving in the
same read as the end of the headers is not counted as header bytes; a head that completes
within one read it could have pushed past the limit is measured when it completes (request
line and headers, to a few bytes). So at most one read (256 KiB) past the limit is ever
buffered. A normal request costs a clock read and a few attribute updates: the deadline is
checked by one timer per connection, re-armed only while a head is arriving.

`Config.load()` resolves the "auto" name with `import_from_string` at start-up, so pointing
`AutoHTTPProtocol` at the subclass takes effect as long as this module is imported before the
server starts; service/service.py does that in every worker. Should httptools be missing,
uvicorn falls back to h11, which keeps headers in a buffer of `h11_max_incomplete_event_size`
bytes (answering 400 past it); we set that to MAX_HEADER_BYTES, but enforce no header read
timeout there and say so in the log.

Drop this when BentoML passes uvicorn a header size limit and a header read timeout, or when
uvicorn's httptools protocol gains them (check httptools_impl.py's data_received); the tests
in tests/integration/test_http_limits.py tell whether the server still needs it.
"""

from __future__ import annotations

import json
import logging
from asyncio import TimerHandle, Transport

import uvicorn.protocols.http.auto as auto_protocol

from service.settings import Limits

logger = logging.getLogger(__name__)

LIMITS = Limits.from_env()


def _refusal(status: bytes, error: str, message: str) -> bytes:
    """Return a whole HTTP/1.1 response with the project's error body, closing the connection."""
    body = json.dumps({"error": error, "message": message, "failures": []}).encode()
    head = (
        b"HTTP/1.1 " + status + b"\r\n"
        b"content-type: application/json\r\n"
        b"content-length: " + str(len(body)).encode() + b"\r\n"
        b"connection: close\r\n\r\n"
    )
    return head + body


# Built once: refusing a request costs one write.
HEADERS_TOO_LARGE = _refusal(
    b"431 Request Header Fields Too Large",
    "headers_too_large",
    f"the request line and headers are over MAX_HEADER_BYTES={LIMITS.max_header_bytes} bytes; "
    "send fewer or shorter headers",
)
HEADER_TIMEOUT = _refusal(
    b"408 Request Timeout",
    "header_timeout",
    f"the request headers were not complete within HEADER_TIMEOUT_SECONDS="
    f"{LIMITS.header_timeout_seconds} seconds; send the whole request at once",
)


try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
except ImportError:  # httptools is missing: uvicorn's "auto" is h11
    HttpToolsProtocol = None


if HttpToolsProtocol is not None:

    class BoundedHttpToolsProtocol(HttpToolsProtocol):
        """uvicorn's httptools protocol with a header byte count and a header read deadline."""

        def connection_made(self, transport: Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._refused = False
            self._idle = True  # no request in flight: the next byte starts a head
            self._ended = 0  # requests parsed to their end, to spot a chunk holding two
            # When the head now arriving began (None between requests). A connection that
            # sends nothing is timed out like a slow one, so the first head starts now.
            self._head_started: float | None = self.loop.time()
            self._head_bytes = 0
            self._chunk_bytes = 0
            self._measure_head = False
            self._timer: TimerHandle | None = self.loop.call_later(
                LIMITS.header_timeout_seconds, self._check_head_time
            )

        def data_received(self, data: bytes) -> None:
            if self._refused:
                return
            whole = self._head_started is not None or self._idle
            ended = self._ended
            self._chunk_bytes = len(data)
            super().data_received(data)
            if self._head_started is None or self._refused:
                return
            if whole and self._ended == ended:  # every byte of the chunk is this head's
                self._head_bytes += len(data)
                if self._head_bytes > LIMITS.max_header_bytes:
                    self._refuse(HEADERS_TOO_LARGE)
            else:  # the chunk ended one pipelined request and began this head
                self._measure_head = True

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._idle = False
            if self._head_started is None:  # a keep-alive request: both bounds start afresh
                self._head_started = self.loop.time()
                self._head_bytes = 0
                self._measure_head = False
                if self._timer is None:
                    self._timer = self.loop.call_later(
                        LIMITS.header_timeout_seconds, self._check_head_time
                    )

        def on_headers_complete(self) -> None:
            self._head_started = None
            # A head that arrived within one read was never counted by data_received.
            if (
                self._measure_head or self._head_bytes + self._chunk_bytes > LIMITS.max_header_bytes
            ) and self._measured_head_bytes() > LIMITS.max_header_bytes:
                self._refuse(HEADERS_TOO_LARGE)
                return
            super().on_headers_complete()

        def on_body(self, body: bytes) -> None:
            if not self._refused:  # the parser goes on through the rest of the read
                super().on_body(body)

        def on_message_complete(self) -> None:
            self._ended += 1
            self._idle = True
            if not self._refused:
                super().on_message_complete()

        def connection_lost(self, exc: Exception | None) -> None:
            self._stop_timer()
            super().connection_lost(exc)

        def _measured_head_bytes(self) -> int:
            """Return the size of the request line and headers as sent, give or take a few."""
            # "GET " + url + " HTTP/1.1\r\n", "name: value\r\n" per header, "\r\n".
            return 20 + len(self.url) + sum(len(n) + len(v) + 4 for n, v in self.headers)

        def _check_head_time(self) -> None:
            # One timer per connection, re-armed only while a head is arriving: a call_later
            # and a cancel per request cost more than the rest of this class together.
            self._timer = None
            if self._head_started is None:
                return  # between requests; the next head re-arms it
            now = self.loop.time()
            waited = now - self._head_started
            if waited < LIMITS.header_timeout_seconds:
                delay = LIMITS.header_timeout_seconds - waited
            elif self.cycle is not None and not self.cycle.response_complete:
                # A pipelined head waits while the server answers the request before it (and
                # uvicorn may stop reading meanwhile): the client is not the slow one.
                self._head_started = now
                delay = LIMITS.header_timeout_seconds
            else:
                self._refuse(HEADER_TIMEOUT)
                return
            self._timer = self.loop.call_later(delay, self._check_head_time)

        def _stop_timer(self) -> None:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None

        def _refuse(self, response: bytes) -> None:
            self._stop_timer()
            self._refused = True
            if self.transport.is_closing():
                return
            # With a pipelined request still being answered, a refusal written now would
            # read as that request's answer: close without one.
            if self.cycle is None or self.cycle.response_complete:
                self.transport.write(response)
            self.transport.close()

    auto_protocol.AutoHTTPProtocol = BoundedHttpToolsProtocol

else:
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class BoundedH11Protocol(H11Protocol):
        """uvicorn's h11 protocol with its header buffer capped at MAX_HEADER_BYTES."""

        def __init__(self, config, *args, **kwargs) -> None:
            config.h11_max_incomplete_event_size = LIMITS.max_header_bytes
            super().__init__(config, *args, **kwargs)

    auto_protocol.AutoHTTPProtocol = BoundedH11Protocol
    logger.warning(
        "httptools is not installed, so uvicorn serves with h11: headers are capped at "
        "MAX_HEADER_BYTES=%d bytes, but HEADER_TIMEOUT_SECONDS is not enforced; "
        "install httptools to enforce it",
        LIMITS.max_header_bytes,
    )
