"""`streamer consume NAME [NAME...]`: run registered consumers in one process until SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from typing import TYPE_CHECKING

from consumers import registry
from consumers.errors import ConsumerError

if TYPE_CHECKING:
    from pydantic import ValidationError

    from consumers.runner import Runner
    from consumers.settings import RunnerSettings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Consumer names, runner options, and every registered consumer's own options."""
    parser.add_argument("names", nargs="+", metavar="NAME", help="consumers to run")
    parser.add_argument("--group-id", help="consumer group id (default agents-streamer.NAME)")
    parser.add_argument("--http-port", type=int, help="serve /metrics, /healthz (and APIs)")
    parser.add_argument("--log-level", default="info")
    for name in registry.available():
        try:
            consumer = registry.load(name)
        except Exception as exc:  # noqa: BLE001 - a broken plug-in must not break the CLI
            sys.stderr.write(f"warning: consumer {name!r} cannot be loaded: {exc}\n")
            continue
        consumer.add_arguments(parser.add_argument_group(f"{name} consumer"))  # type: ignore[arg-type]


def run(args: argparse.Namespace) -> int:
    """Run the named consumers; returns 0 after a graceful stop."""
    from streamer.logs import configure_logging  # noqa: PLC0415 - keep `streamer --help` light

    configure_logging(args.log_level)
    return asyncio.run(_run(args))


async def _run(args: argparse.Namespace) -> int:
    from pydantic import ValidationError  # noqa: PLC0415 - keep `streamer --help` light

    from consumers.http import HttpServer  # noqa: PLC0415
    from consumers.settings import RunnerSettings  # noqa: PLC0415
    from streamer import gctune  # noqa: PLC0415
    from streamer.config import invalid_settings  # noqa: PLC0415
    from streamer.kafka.config import KafkaSettings  # noqa: PLC0415
    from streamer.startup import (  # noqa: PLC0415
        Explainer,
        StartupError,
        start_unless_stopped,
        stop_on_signals,
    )

    try:
        settings = RunnerSettings()
        kafka = Explainer(KafkaSettings())
    except ValidationError as exc:
        return _invalid(exc)
    stop = stop_on_signals()

    def explain(exc: BaseException) -> StartupError:
        if isinstance(exc, ConsumerError):  # not retriable: its configuration was refused (2)
            code = 1 if exc.retriable else 2
            return StartupError(str(exc), retriable=exc.retriable, exit_code=code)
        if isinstance(exc, ValidationError):  # a consumer's own settings
            return StartupError("; ".join(invalid_settings(exc)), retriable=False, exit_code=2)
        return kafka(exc)

    try:
        runners = await start_unless_stopped(
            lambda: _started(args, settings), stop, deadline_secs=settings.start_timeout_secs,
            explain=explain,
        )  # fmt: skip
    except StartupError as exc:
        sys.stderr.write(f"streamer consume: {exc}\n")
        return exc.exit_code
    if runners is None:  # SIGTERM while still trying to start
        return 0
    # What the start built (modules, clients, settings) lives as long as the process: frozen, the
    # collector's full passes stop walking it again and again (a tenth of the archive's CPU); and
    # young collections every 50,000 allocations, as in the streamer (`streamer/gctune.py`).
    gctune.tune()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, _stop_all, runners)
    loop.add_signal_handler(signal.SIGINT, _stop_all, runners)
    if stop.is_set():
        _stop_all(runners)
    port = args.http_port if args.http_port is not None else settings.http_port
    try:
        routes = [route for runner in runners for route in runner.context.routes]
        server = HttpServer(settings.http_host, port, routes) if port is not None else None
        if server is not None:
            await server.start()
        try:
            async with asyncio.TaskGroup() as group:
                for runner in runners:
                    group.create_task(runner.run())
        finally:
            if server is not None:
                await server.stop()
    finally:
        for runner in runners:
            await runner.stop()
    return 0


async def _started(args: argparse.Namespace, settings: RunnerSettings) -> list[Runner]:
    """The named consumers' runners, each started; none left running if one fails."""
    from consumers.runner import Runner  # noqa: PLC0415 - keep `streamer --help` light

    runners = []
    for name in args.names:
        consumer = registry.load(name).from_args(args)
        group_id = args.group_id if args.group_id and len(args.names) == 1 else None
        runners.append(Runner(consumer, settings=settings, group_id=group_id))
    started: list[Runner] = []
    try:
        for runner in runners:
            await runner.start()
            started.append(runner)
    except BaseException:
        for runner in reversed(started):
            await runner.stop()
        raise
    return runners


def _invalid(error: ValidationError) -> int:
    from streamer.config import invalid_settings  # noqa: PLC0415

    for line in invalid_settings(error):  # one line each, never the values (secrets)
        sys.stderr.write(f"streamer consume: {line}\n")
    return 2


def _stop_all(runners: list[Runner]) -> None:
    for runner in runners:
        runner.request_stop()
