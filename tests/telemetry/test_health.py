"""The health endpoint over real HTTP: liveness, readiness flipping, metrics, a port in use."""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import socket
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable

import pytest
from prometheus_client.parser import text_string_to_metric_families

from runtime.errors import ConfigurationError
from runtime.telemetry import HealthServer, Telemetry


async def get(url: str, accept: str | None = None) -> tuple[int, str, bytes]:
    """A real GET in a thread (the server runs on this loop): (status, content type, body)."""

    def fetch() -> tuple[int, str, bytes]:
        request = urllib.request.Request(url, headers={"Accept": accept} if accept else {})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, response.headers["Content-Type"], response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.headers["Content-Type"], error.read()

    return await asyncio.to_thread(fetch)


def serve(
    scenario: Callable[[HealthServer], Awaitable[None]],
    readiness: Callable[[], Awaitable[str | None]],
    telemetry: Telemetry | None = None,
) -> None:
    async def main() -> None:
        async with HealthServer(readiness, telemetry, port=0) as server:
            await scenario(server)

    asyncio.run(main())


async def ready() -> str | None:
    return None


def test_healthz_answers_ok_on_the_workers_loop() -> None:
    async def scenario(server: HealthServer) -> None:
        assert server.port > 0
        assert server.url == f"http://127.0.0.1:{server.port}"
        status, content_type, body = await get(server.url + "/healthz")
        assert (status, content_type, json.loads(body)) == (
            200,
            "application/json",
            {"status": "ok"},
        )

    serve(scenario, ready)


def test_readyz_follows_the_readiness_check_503_200_503() -> None:
    state: dict[str, str | None] = {"reason": "store unreachable: connection refused"}

    async def readiness() -> str | None:
        return state["reason"]

    async def scenario(server: HealthServer) -> None:
        status, _, body = await get(server.url + "/readyz")
        assert (status, json.loads(body)) == (
            503,
            {"status": "unready", "reason": "store unreachable: connection refused"},
        )
        state["reason"] = None
        status, _, body = await get(server.url + "/readyz")
        assert (status, json.loads(body)) == (200, {"status": "ready"})
        state["reason"] = "graphs not loaded"
        status, _, body = await get(server.url + "/readyz")
        assert (status, json.loads(body)) == (
            503,
            {"status": "unready", "reason": "graphs not loaded"},
        )

    serve(scenario, readiness)


def test_a_readiness_check_that_raises_or_hangs_reads_as_unready() -> None:
    async def broken() -> str | None:
        raise ConnectionError("could not reach postgresql://vrb:hunter2@db/vrb")

    async def scenario(server: HealthServer) -> None:
        status, _, body = await get(server.url + "/readyz")
        assert status == 503
        assert (
            json.loads(body)["reason"]
            == "ConnectionError: could not reach postgresql://vrb:***@db/vrb"
        )

    async def main() -> None:
        async with HealthServer(broken, port=0, secrets=["hunter2"]) as server:
            await scenario(server)
        never = asyncio.Event()

        async def hangs() -> str | None:
            await never.wait()
            return None

        async with HealthServer(hangs, port=0, check_timeout=0.05) as server:
            status, _, body = await get(server.url + "/readyz")
            assert (status, json.loads(body)["reason"]) == (
                503,
                "the readiness check took more than 0.05s",
            )

    asyncio.run(main())


def test_concurrent_probes_share_one_readiness_check() -> None:
    calls = 0
    release = asyncio.Event()

    async def readiness() -> str | None:
        nonlocal calls
        calls += 1
        await release.wait()
        return None

    async def main() -> None:
        server = HealthServer(readiness, port=0)
        probes = [asyncio.ensure_future(server.unready_reason()) for _ in range(5)]
        await asyncio.sleep(0)
        release.set()
        assert await asyncio.gather(*probes) == [None] * 5
        assert calls == 1
        assert await server.unready_reason() is None
        assert calls == 2  # a later probe checks again

    asyncio.run(main())


def test_metrics_serves_what_the_telemetry_recorded() -> None:
    telemetry = Telemetry()
    for _ in range(3):
        telemetry.run_started("order")
        telemetry.step_attempt("order", "charge", "completed", 0.01)
        telemetry.run_finished("order", "completed")
    telemetry.run_started("order")
    telemetry.step_attempt("order", "charge", "retried", 0.01)
    telemetry.step_attempt("order", "charge", "retried", 0.01)
    telemetry.step_attempt("order", "charge", "failed", 0.01)
    telemetry.run_finished("order", "failed")

    async def scenario(server: HealthServer) -> None:
        status, content_type, body = await get(server.url + "/metrics")
        assert status == 200
        assert content_type.startswith("text/plain; version=0.0.4")
        found = {
            (sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(body.decode())
            for sample in family.samples
        }
        assert found[("vrb_runs_started_total", (("workflow", "order"),))] == 4
        assert (
            found[("vrb_runs_finished_total", (("status", "completed"), ("workflow", "order")))]
            == 3
        )
        assert (
            found[("vrb_runs_finished_total", (("status", "failed"), ("workflow", "order")))] == 1
        )
        steps = {labels: v for (name, labels), v in found.items() if name == "vrb_steps_total"}
        assert steps == {
            (("outcome", "completed"), ("step", "charge"), ("workflow", "order")): 3,
            (("outcome", "retried"), ("step", "charge"), ("workflow", "order")): 2,
            (("outcome", "failed"), ("step", "charge"), ("workflow", "order")): 1,
        }
        status, content_type, body = await get(
            server.url + "/metrics", accept="application/openmetrics-text; version=1.0.0"
        )
        assert status == 200
        assert content_type.startswith("application/openmetrics-text")

    serve(scenario, ready, telemetry)


def test_unknown_paths_and_methods_are_refused() -> None:
    async def scenario(server: HealthServer) -> None:
        status, _, _ = await get(server.url + "/nope")
        assert status == 404

        def post() -> int:
            request = urllib.request.Request(server.url + "/healthz", data=b"", method="POST")
            try:
                with urllib.request.urlopen(request, timeout=30) as response:
                    return int(response.status)
            except urllib.error.HTTPError as error:
                return error.code

        assert await asyncio.to_thread(post) == 405

    serve(scenario, ready)


def test_the_server_leaves_the_workers_signal_handlers_alone() -> None:
    async def main() -> None:
        before = {signum: signal.getsignal(signum) for signum in (signal.SIGTERM, signal.SIGINT)}
        async with HealthServer(ready, port=0) as server:
            await get(server.url + "/healthz")
            assert {s: signal.getsignal(s) for s in before} == before
        assert {s: signal.getsignal(s) for s in before} == before

    asyncio.run(main())


def test_a_stopped_server_listens_no_more_and_may_start_again() -> None:
    async def main() -> None:
        server = HealthServer(ready, port=0)
        await server.start()
        port = server.port
        assert server.running
        await server.stop()
        assert not server.running
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=5).close()
        await server.stop()  # idempotent
        await server.start()
        try:
            status, _, _ = await get(server.url + "/healthz")
            assert status == 200
        finally:
            await server.stop()

    asyncio.run(main())


def test_a_port_in_use_is_one_clear_line() -> None:
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    port = holder.getsockname()[1]

    async def main() -> None:
        with pytest.raises(ConfigurationError) as caught:
            await HealthServer(ready, port=port).start()
        assert str(caught.value) == (
            f"health port {port} on 127.0.0.1 is already in use; pick another port "
            "(--health-port) or stop the process listening on it"
        )

    try:
        asyncio.run(main())
    finally:
        holder.close()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"port": 70000},
            "health port must be an int from 0 to 65535 (0: any free port), got 70000",
        ),
        (
            {"port": "8080"},
            "health port must be an int from 0 to 65535 (0: any free port), got '8080'",
        ),
        ({"port": True}, "health port must be an int from 0 to 65535 (0: any free port), got True"),
        (
            {"port": 0, "check_timeout": 0},
            "health check_timeout must be a positive number of seconds, got 0",
        ),
    ],
)
def test_bad_options_are_refused_at_construction(options: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        HealthServer(ready, **options)  # type: ignore[arg-type]
    assert str(caught.value) == message


def test_a_host_that_is_not_this_machines_is_one_clear_line() -> None:
    async def main() -> None:
        # TEST-NET-1 (RFC 5737): never an address of this machine, resolved without DNS.
        with pytest.raises(ConfigurationError) as caught:
            await HealthServer(ready, port=0, host="192.0.2.1").start()
        assert str(caught.value) == (
            "health host '192.0.2.1' is not an address of this machine; use 127.0.0.1, "
            "0.0.0.0 or one of its interfaces' addresses"
        )
        assert "\n" not in str(caught.value)

    asyncio.run(main())


def test_probes_write_no_access_log_and_leave_uvicorns_loggers_alone(
    caplog: pytest.LogCaptureFixture,
) -> None:
    access = logging.getLogger("uvicorn.access")
    before = (list(access.handlers), access.propagate, access.level)

    async def scenario(server: HealthServer) -> None:
        for _ in range(3):
            await get(server.url + "/healthz")

    with caplog.at_level(logging.INFO):
        serve(scenario, ready)
    assert not [r for r in caplog.records if r.name == "uvicorn.access"]
    assert (list(access.handlers), access.propagate, access.level) == before
    assert any(
        r.getMessage().startswith("health endpoint on http://127.0.0.1:") for r in caplog.records
    )
