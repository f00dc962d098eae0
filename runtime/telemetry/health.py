"""The worker's health endpoint: ``/healthz``, ``/readyz`` and ``/metrics`` over HTTP.

:class:`HealthServer` serves, on the worker's own event loop:

* ``GET /healthz``: ``200 {"status": "ok"}``. It is answered by the loop the
  worker runs on, so an answer means the loop is alive; a loop blocked by a
  runaway synchronous call answers nothing, and the probe times out.
* ``GET /readyz``: ``200 {"status": "ready"}`` when the readiness check
  passes (the worker's: its graphs are loaded and the store answers), else
  ``503 {"status": "unready", "reason": ...}``.
* ``GET /metrics``: the Prometheus text format (or OpenMetrics, if the
  scraper asks for it) of the worker's :class:`~runtime.telemetry.metrics.Telemetry`.

Decisions
---------
* **Starlette on uvicorn**, in the worker's loop: a probe must see the loop
  it checks, so no thread; HTTP parsing, keep-alive, request-size and
  connection limits come from a well-kept server (h11) rather than a parser of
  our own; and the run inspector (``vrb ui``) is a Starlette app too, so the
  product has one HTTP stack. Both are imported only when a server is built.
* **The worker owns the process**: uvicorn's signal handlers are not
  installed (SIGTERM drains the worker, which then stops this server), its
  logging configuration is not applied (nor any access log line per probe),
  and the socket is bound here
  (:func:`runtime.telemetry._listen.listen`), so a port in use is one
  :class:`~runtime.errors.ConfigurationError` line instead of uvicorn's exit.
* **Bounded**: at most :data:`MAX_CONNECTIONS` connections at once (more get
  ``503``), idle keep-alive connections closed after 5 s; a readiness check
  that takes longer than ``check_timeout`` makes ``/readyz`` answer ``503``,
  and concurrent probes share one check, so a burst of probes is one store query.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Generator, Iterable
from types import TracebackType
from typing import TYPE_CHECKING, Any

from ..errors import ConfigurationError
from ..stores._redact import scrub
from ._listen import check_port, listen
from .metrics import Metrics, NullTelemetry

if TYPE_CHECKING:
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response

__all__ = ["DEFAULT_HOST", "MAX_CONNECTIONS", "HealthServer", "Readiness"]

log = logging.getLogger("runtime.worker")

DEFAULT_HOST = "127.0.0.1"
"""Where the endpoint listens unless told otherwise: this machine only."""

MAX_CONNECTIONS = 32
"""Connections served at once; more are answered ``503``."""

Readiness = Callable[[], Awaitable[str | None]]
"""The readiness check: ``None`` when ready, else the reason it is not (one line)."""

_NO_CACHE = {"Cache-Control": "no-store"}


class HealthServer:
    """``/healthz``, ``/readyz``, ``/metrics`` on ``host:port`` (see the module docstring).

    Args:
        readiness: The readiness check (:data:`Readiness`); an exception it
            raises reads as unready, with the exception as the reason.
        telemetry: Whose metrics ``/metrics`` serves (default none: an empty page).
        port: The TCP port; ``0`` picks a free one (see :attr:`port`).
        host: The address to listen on (default ``127.0.0.1``).
        check_timeout: Seconds a readiness check may take before it reads as unready.
        secrets: Texts masked in reasons (the store URL's password).

    Raises:
        ConfigurationError: ``port`` or ``check_timeout`` is not valid.
    """

    def __init__(
        self,
        readiness: Readiness,
        telemetry: Metrics | None = None,
        *,
        port: int,
        host: str = DEFAULT_HOST,
        check_timeout: float = 5.0,
        secrets: Iterable[str] = (),
    ) -> None:
        check_port(port)
        if (
            isinstance(check_timeout, bool)
            or not isinstance(check_timeout, int | float)
            or not check_timeout > 0
        ):
            raise ConfigurationError(
                f"health check_timeout must be a positive number of seconds, got {check_timeout!r}"
            )
        self.readiness = readiness
        self.telemetry: Metrics = NullTelemetry() if telemetry is None else telemetry
        self.host = host
        self._port = port
        self.check_timeout = float(check_timeout)
        self._secrets = tuple(secrets)
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None
        self._check: asyncio.Task[str | None] | None = None

    @property
    def port(self) -> int:
        """The port listened on: the one given, or the one picked for ``0`` once started."""
        return self._port

    @property
    def url(self) -> str:
        """``http://host:port`` of the endpoint."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self._port}"

    @property
    def running(self) -> bool:
        """Whether the server is started and not stopped."""
        return self._task is not None and not self._task.done()

    async def start(self) -> None:
        """Listen and serve in the background; return once connections are accepted.

        Raises:
            ConfigurationError: The address is in use, not this machine's, or not allowed.
            RuntimeError: The server is already running.
        """
        if self.running:
            raise RuntimeError(f"the health endpoint is already serving on {self.url}")
        sock = listen(self.host, self._port)
        self._port = sock.getsockname()[1]
        server = _embedded_server(self._app())
        task = asyncio.create_task(server.serve(sockets=[sock]), name=f"vrb-health:{self._port}")
        while not server.started and not task.done():
            await asyncio.sleep(0.005)
        if task.done():
            sock.close()
            task.result()  # raises what stopped it
            raise RuntimeError("the health endpoint stopped while starting")
        self._server, self._task = server, task
        log.info("health endpoint on %s (/healthz, /readyz, /metrics)", self.url)

    async def stop(self) -> None:
        """Stop serving: close the socket and the open connections. Idempotent."""
        server, task = self._server, self._task
        self._server = self._task = None
        if server is None or task is None:
            return
        server.should_exit = True
        try:
            await task
        except Exception as error:  # the server died earlier: nothing more to stop
            log.warning("health endpoint on %s had stopped: %s", self.url, error)
        if self._check is not None:
            self._check.cancel()
            self._check = None

    async def __aenter__(self) -> HealthServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    # ------------------------------------------------------------------ readiness

    async def unready_reason(self) -> str | None:
        """Run the readiness check (shared by concurrent callers): ``None`` when ready."""
        check = self._check
        if check is None or check.done():
            check = self._check = asyncio.ensure_future(self._run_check())
        # Shielded: a probe that disconnects does not cancel the check the others await.
        return await asyncio.shield(check)

    async def _run_check(self) -> str | None:
        try:
            async with asyncio.timeout(self.check_timeout) as scope:
                reason = await self.readiness()
        except Exception as error:
            if isinstance(error, TimeoutError) and scope.expired():
                reason = f"the readiness check took more than {self.check_timeout:g}s"
            else:
                reason = f"{type(error).__name__}: {error}"
        if reason is None:
            return None
        reason = " ".join(str(reason).split()) or "not ready"
        return scrub(reason, self._secrets) if self._secrets else reason

    # ------------------------------------------------------------------ the app

    def _app(self) -> Starlette:
        from starlette.applications import Starlette
        from starlette.responses import JSONResponse, Response
        from starlette.routing import Route

        async def healthz(request: Request) -> Response:
            return JSONResponse({"status": "ok"}, headers=_NO_CACHE)

        async def readyz(request: Request) -> Response:
            reason = await self.unready_reason()
            if reason is None:
                return JSONResponse({"status": "ready"}, headers=_NO_CACHE)
            return JSONResponse(
                {"status": "unready", "reason": reason}, status_code=503, headers=_NO_CACHE
            )

        async def metrics(request: Request) -> Response:
            body, content_type = self.telemetry.exposition(request.headers.get("accept", ""))
            return Response(body, headers={**_NO_CACHE, "Content-Type": content_type})

        return Starlette(
            routes=[
                Route("/healthz", healthz, methods=["GET"]),
                Route("/readyz", readyz, methods=["GET"]),
                Route("/metrics", metrics, methods=["GET"]),
            ]
        )


def _embedded_server(app: Any) -> uvicorn.Server:
    """A uvicorn server that leaves the process's signals and logging to the worker."""
    import uvicorn
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class EmbeddedServer(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Generator[None, None, None]:
            # The worker handles SIGTERM/SIGINT (it drains, then stops this server).
            yield

    class QuietH11(H11Protocol):
        # No access log line per probe or scrape. Not by access_log=False: that empties
        # the "uvicorn.access" logger process-wide, an embedding application's own too.
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.access_log = False

    config = uvicorn.Config(
        app,
        log_config=None,
        lifespan="off",
        http=QuietH11,
        ws="none",
        proxy_headers=False,
        server_header=False,
        limit_concurrency=MAX_CONNECTIONS,
        timeout_keep_alive=5,
        timeout_graceful_shutdown=1,
    )
    return EmbeddedServer(config)
