"""uvicorn's HTTP protocol with a deadline for a request's headers (slow-client protection).

uvicorn (0.54) has no header-read timeout: its keep-alive timer is cancelled by every byte
received, so a client sending one header byte a second holds a connection (and its memory) for
ever, and a thousand such clients hold a thousand. This protocol gives every request's head a
deadline, from the connection's start or the previous response's end, that incoming bytes do
not extend; when it passes before the headers are complete, the connection is closed. It wraps
the protocol uvicorn would choose itself (httptools; h11 has the same mixin), so nothing else
about serving changes. Chosen over a reverse proxy so that `launchcast serve` is protected on
its own, and over another ASGI server to keep the server the benchmarks measure.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from store.settings import get_settings


class HeaderDeadline:
    """Mixin over a uvicorn HTTP protocol: close a connection whose headers arrive too slowly."""

    # Provided by the uvicorn protocol this is mixed into.
    cycle: Any
    loop: asyncio.AbstractEventLoop
    transport: asyncio.Transport

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.header_timeout = get_settings().header_timeout_seconds
        self._header_deadline: asyncio.TimerHandle | None = None
        self._header_started = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # type: ignore[misc]
        self._arm()

    def data_received(self, data: bytes) -> None:
        waiting_for = self.cycle
        super().data_received(data)  # type: ignore[misc]
        if self.cycle is not waiting_for:  # a request's headers are complete
            self._disarm()

    def on_response_complete(self) -> None:
        answered = self.cycle
        super().on_response_complete()  # type: ignore[misc]
        if self.cycle is answered:  # no pipelined request started: the next head gets a deadline
            self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)  # type: ignore[misc]

    def _arm(self) -> None:
        self._disarm()
        self._header_started = time.monotonic()
        self._header_deadline = self.loop.call_later(self.header_timeout, self._too_slow)

    def _disarm(self) -> None:
        if self._header_deadline is not None:
            self._header_deadline.cancel()
            self._header_deadline = None

    def _too_slow(self) -> None:
        # An event loop may fire a timer slightly early (libuv reads its clock once per loop
        # turn, in milliseconds: a client saw 1.9998 s of a 2 s deadline), so the deadline is
        # checked against the monotonic clock and, if not yet reached, waited out.
        remaining = self._header_started + self.header_timeout - time.monotonic()
        if remaining > 0:
            self._header_deadline = self.loop.call_later(remaining, self._too_slow)
            return
        self._header_deadline = None
        if not self.transport.is_closing():
            self.transport.close()


class H11WithHeaderDeadline(HeaderDeadline, H11Protocol):
    pass


class HttpToolsWithHeaderDeadline(HeaderDeadline, HttpToolsProtocol):
    pass


def protocol_class() -> type[asyncio.Protocol]:
    """The protocol `launchcast serve` runs: httptools (uvicorn's own first choice, pinned in
    requirements.lock), with the header deadline."""
    return HttpToolsWithHeaderDeadline
