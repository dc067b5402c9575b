"""Runs a `Simulator` for the command line until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal

import orjson
import structlog

from simulator.config import SimulatorConfig
from simulator.server import Simulator

log = structlog.get_logger(__name__)


def config_from_args(args: argparse.Namespace) -> SimulatorConfig:
    return SimulatorConfig(
        host=args.host,
        port=args.port,
        scenario=args.scenario,
        sessions=args.sessions,
        seed=args.seed,
        speed=args.speed,
        rate_eps=args.rate,
        user_turns=args.turns,
        api_key=args.api_key,
        create_rpm=args.create_rpm,
        other_rpm=args.rpm,
        ping_interval_secs=args.ping_secs,
        ground_truth_path=args.ground_truth,
        faults_path=args.faults,
        webhook_urls=tuple(args.webhook_url),
        webhook_secret=args.webhook_secret,
    )


async def serve_forever(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with Simulator(config) as sim:
        if config.faults_path is not None:
            sim.faults.load(orjson.loads(config.faults_path.read_bytes()))
        print(sim.base_url, flush=True)  # noqa: T201 - the one line scripts read
        await stop.wait()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(ValueError):
            loop.remove_signal_handler(signum)
    return 0
