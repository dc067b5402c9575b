"""`streamer tail`: watch the fleet's events from Kafka, one line each (or `--json`).

Exit codes: 0 when done (`--no-follow` caught up) or when the reader of a pipe went away (`| head`),
1 on an error (Kafka unreachable, no such topic with `--no-follow`), 128 + the signal on Ctrl-C
(130) or SIGTERM (143).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import sys
from datetime import datetime
from typing import IO

from streamer.tail.select import Selection, parse_since


class _PipeClosedError(Exception):
    """Whoever read our standard output has gone (`| head` got its lines)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Filters, where to start, follow or not, and the output form."""
    parser.add_argument(
        "--session",
        action="append",
        default=[],
        metavar="ID",
        help="only this session (a full id or the short one shown); repeatable",
    )
    parser.add_argument(
        "--type",
        action="append",
        default=[],
        metavar="GLOB",
        help="only event types matching GLOB, e.g. 'agent.*'; repeatable",
    )
    parser.add_argument("--agent", action="append", default=[], metavar="ID",
                        help="only sessions of this agent id (a glob); repeatable")  # fmt: skip
    start = parser.add_mutually_exclusive_group()
    start.add_argument(
        "--since",
        type=_since,
        metavar="WHEN",
        help="start at events from WHEN: a duration (10m, 2h, 1d) or an ISO time",
    )
    start.add_argument(
        "--from-beginning",
        action="store_true",
        help="start at the beginning of the topic (default: only new events)",
    )
    parser.add_argument(
        "--follow",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="keep waiting for new events (default); --no-follow: exit once "
        "caught up with the end of the topic as it was at the start",
    )
    parser.add_argument(
        "--json", action="store_true", help="print each event's JSON value, one per line (for jq)"
    )
    parser.add_argument(
        "--color",
        choices=("auto", "always", "never"),
        default="auto",
        help="colour the lines (auto: when standard output is a terminal and NO_COLOR is not set)",
    )
    parser.add_argument("--topic", default=None,
                        help="the events topic (default: KAFKA_EVENTS_TOPIC, else "
                             "agents.session-events)")  # fmt: skip


def run(args: argparse.Namespace) -> int:
    """Read and print until caught up (`--no-follow`), a signal, or a closed pipe."""
    import logging  # noqa: PLC0415 - keep `streamer --help` light

    # aiokafka logs every failed connection attempt; tail says what went wrong once, itself.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    try:
        return asyncio.run(_main(args, sys.stdout.buffer))
    except _PipeClosedError:
        # Point stdout at /dev/null so that the interpreter's last flush does not fail again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return 0


async def _main(args: argparse.Namespace, out: IO[bytes]) -> int:
    """`_tail` as a task that SIGINT / SIGTERM cancel; the exit code."""
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    received: list[int] = []

    def interrupt(signum: int) -> None:
        received.append(signum)
        if task is not None:
            task.cancel()

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, interrupt, signum)
    try:
        return await _tail(args, out)
    except asyncio.CancelledError:
        if received:
            return 128 + received[0]
        raise


async def _tail(args: argparse.Namespace, out: IO[bytes]) -> int:
    from aiokafka.errors import KafkaError  # noqa: PLC0415 - keep `streamer --help` light

    from streamer.kafka.config import KafkaSettings  # noqa: PLC0415
    from streamer.tail.printer import Printer  # noqa: PLC0415
    from streamer.tail.reader import StartAt, TailError, TailReader  # noqa: PLC0415

    kafka = KafkaSettings()
    topic = args.topic or kafka.events_topic
    if args.from_beginning:
        start_at = StartAt("beginning")
    else:
        start_at = StartAt("time", args.since) if args.since else StartAt("end")
    selection = Selection(tuple(args.session), tuple(args.type), tuple(args.agent), args.since)
    terminal = out.isatty()
    printer = Printer(selection, json=args.json, colour=_colour(args.color, terminal), warn=_warn)
    reader = TailReader(kafka, topic, start_at=start_at, follow=args.follow, waiting=_warn)
    try:
        async with reader:
            async for batch in reader.batches():
                printer.width = shutil.get_terminal_size().columns if terminal else None
                _write(out, b"".join(printer.render(message) for message in batch))
    except TailError as exc:
        _warn(str(exc))
        return 1
    except KafkaError as exc:
        _warn(f"cannot read {topic!r} from Kafka at {kafka.bootstrap_servers}: {exc!r}")
        return 1
    return 0


def _write(out: IO[bytes], chunk: bytes) -> None:
    if not chunk:
        return
    try:
        out.write(chunk)
        out.flush()
    except BrokenPipeError:
        raise _PipeClosedError from None


def _colour(choice: str, terminal: bool) -> bool:
    if choice != "auto":
        return choice == "always"
    return terminal and not os.environ.get("NO_COLOR")


def _warn(message: str) -> None:
    sys.stderr.write(f"streamer tail: {message}\n")
    sys.stderr.flush()


def _since(text: str) -> datetime:
    try:
        return parse_since(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
