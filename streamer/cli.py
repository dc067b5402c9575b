"""The `streamer` command: one entry point whose subcommands live beside the code they run.

Each subcommand is a module with two functions, so adding one is one line in `SUBCOMMANDS`:

    def add_arguments(parser: argparse.ArgumentParser) -> None: ...
    def run(args: argparse.Namespace) -> int: ...          # the process exit code

Building the parser imports every subcommand module, so keep their top-level imports light: import
heavy machinery inside `run`.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from types import ModuleType

from streamer import __version__

# name -> (module, one-line help). Order is the order `streamer --help` lists them.
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "run": ("streamer.run", "Follow sessions' event streams into Kafka, exactly once"),
    "consume": ("consumers.cli", "Run consumers of the session-event topic (e.g. approvals)."),
    "approvals": ("consumers.approvals.cli", "List and decide escalated tool uses."),
    "archive": ("consumers.archive.cli", "Query, replay, transcribe and upkeep the event archive."),
    "demo": ("streamer.demo", "Local Kafka + simulator + streamer, shown live until Ctrl-C"),
    "simulate": ("streamer.simulator.cli", "Serve a simulated Managed Agents API (load, faults)."),
    "policy": (
        "consumers.approvals.policy.cli",
        "Check an approval policy file or try a call on it",
    ),
}


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line and run the chosen subcommand; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        return int(args.handler(args))
    except KeyboardInterrupt:
        return 130


def build_parser() -> argparse.ArgumentParser:
    """The full parser; subcommand modules add their own arguments."""
    parser = argparse.ArgumentParser(
        prog="streamer",
        description="Follow Claude Managed Agents sessions into Kafka, and consume them.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module_name, help_text) in SUBCOMMANDS.items():
        module = _load(module_name)
        command = sub.add_parser(name, help=help_text, description=help_text)
        module.add_arguments(command)
        command.set_defaults(handler=module.run)
    return parser


def _load(module_name: str) -> ModuleType:
    return importlib.import_module(module_name)


if __name__ == "__main__":
    sys.exit(main())
