"""`streamer run`: follow sessions into Kafka until SIGTERM/SIGINT, then flush, commit and close.

Flags override the environment, which overrides the `--config` TOML file (see `streamer.config`).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

REAL_API = "https://api.anthropic.com"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--session",
        dest="session_ids",
        action="append",
        metavar="SESSION_ID",
        help="follow this session (repeatable); without any, sessions are discovered",
    )
    parser.add_argument(
        "--discover",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="poll GET /v1/sessions for live sessions (default: only when no --session)",
    )
    parser.add_argument("--discovery-interval-secs", type=float, metavar="SECS")
    parser.add_argument("--stream-read-timeout-secs", type=float, metavar="SECS")
    parser.add_argument("--reconnect-max-secs", type=float, metavar="SECS")
    parser.add_argument(
        "--reconcile-secs",
        type=float,
        metavar="SECS",
        help="also page history this often on a healthy stream (default: off)",
    )
    parser.add_argument("--http-host", metavar="HOST")
    parser.add_argument("--http-port", type=int, metavar="PORT", help="0 picks a free port")
    parser.add_argument("--base-url", metavar="URL", help="default: $ANTHROPIC_BASE_URL or the API")
    parser.add_argument(
        "--at-least-once",
        action="store_true",
        help="delivery mode at_least_once (= STREAMER_SINK_MODE): idempotent producer without "
        "transactions (for clusters without them)",
    )
    parser.add_argument(
        "--until-finished",
        action="store_true",
        help="exit once every followed session has ended (with --session, no discovery)",
    )
    parser.add_argument("--config", type=Path, metavar="FILE", help="TOML settings file")
    parser.add_argument("--log-level", choices=["debug", "info", "warning", "error"])


def run(args: argparse.Namespace) -> int:
    from pydantic import ValidationError  # noqa: PLC0415 - keep `streamer --help` light

    from streamer.config import invalid_settings, load_settings  # noqa: PLC0415
    from streamer.logs import configure_logging  # noqa: PLC0415

    overrides = _overrides(args)
    try:
        settings = load_settings(args.config, **overrides)
    except ValidationError as exc:
        for line in invalid_settings(exc):  # one line each, never the values (secrets)
            print(f"streamer run: {line}", file=sys.stderr)  # noqa: T201 - CLI usage error
        return 2
    configure_logging(settings.log_level)
    if not settings.api_key.get_secret_value() and settings.base_url.startswith(REAL_API):
        print("streamer run: ANTHROPIC_API_KEY is not set")  # noqa: T201 - CLI usage error
        return 2
    from streamer import gctune  # noqa: PLC0415

    gctune.tune()
    return asyncio.run(_main(settings, args))


async def _main(settings: Any, args: argparse.Namespace) -> int:
    from streamer.service import Service  # noqa: PLC0415 - keep `streamer --help` light
    from streamer.startup import (  # noqa: PLC0415
        Explainer,
        StartupError,
        start_unless_stopped,
        stop_on_signals,
    )

    stop = stop_on_signals()

    async def started() -> Any:
        service = Service(settings)
        return await service.__aenter__()  # cleans up after itself when it fails

    try:
        service = await start_unless_stopped(
            started, stop, deadline_secs=settings.start_timeout_secs,
            explain=Explainer(settings.kafka, settings.base_url),
        )  # fmt: skip
    except StartupError as exc:
        sys.stderr.write(f"streamer run: {exc}\n")
        return exc.exit_code
    if service is None:  # SIGTERM while still trying to start
        return 0
    try:
        return int(await service.wait(stop, until_finished=args.until_finished))
    finally:
        await service.stop()


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    names = (
        "discover",
        "discovery_interval_secs",
        "stream_read_timeout_secs",
        "reconnect_max_secs",
        "reconcile_secs",
        "http_host",
        "http_port",
        "base_url",
        "log_level",
    )
    overrides = {name: getattr(args, name) for name in names if getattr(args, name) is not None}
    if args.session_ids:
        overrides["session_ids"] = tuple(args.session_ids)
    if args.at_least_once:
        overrides["sink"] = {"mode": "at_least_once"}
    return overrides
