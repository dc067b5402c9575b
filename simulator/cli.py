"""`streamer simulate`: serve the simulated Managed Agents API until interrupted."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default: loopback)")
    parser.add_argument("--port", type=int, default=8080, help="port (0 = any free port)")
    parser.add_argument("--sessions", type=int, default=0, help="sessions to create and start")
    parser.add_argument(
        "--scenario", default="coding", choices=("coding", "mixed", "load", "chaos")
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of every random choice")
    parser.add_argument("--speed", type=float, default=1.0, help="time compression factor")
    parser.add_argument("--rate", type=float, default=0.0, help="cap on events/s (0 = none)")
    parser.add_argument("--turns", type=int, default=3, help="turns the simulated user drives")
    parser.add_argument("--faults", type=Path, help="JSON fault file (see docs/SIMULATOR.md)")
    parser.add_argument("--ground-truth", type=Path, help="append every persisted event (JSONL)")
    parser.add_argument(
        "--create-rpm", type=int, default=0, help="session creates/min (0 = no limit)"
    )
    parser.add_argument("--rpm", type=int, default=0, help="other requests/min (0 = no limit)")
    parser.add_argument("--api-key", help="accept only this key (default: any key)")
    parser.add_argument("--ping-secs", type=float, default=15.0, help="SSE ping interval")
    parser.add_argument(
        "--webhook-url", action="append", default=[], help="deliver signed webhooks here"
    )
    parser.add_argument("--webhook-secret", help="whsec_… signing secret for webhooks")
    parser.add_argument("--log-level", default="info")


def run(args: argparse.Namespace) -> int:
    import asyncio  # noqa: PLC0415 - keep `streamer --help` light

    from simulator.runner import serve_forever  # noqa: PLC0415
    from streamer.logs import configure_logging  # noqa: PLC0415

    configure_logging(args.log_level)
    return asyncio.run(serve_forever(args))
