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
    "tail": ("streamer.tail.cli", "Watch the fleet's events from Kafka live, one line each."),
    "demo": ("streamer.demo", "Local Kafka + simulator + streamer, shown live until Ctrl-C"),
    "simulate": ("simulator.cli", "Serve a simulated Managed Agents API (dev tooling)."),
    "policy": (
        "consumers.approvals.policy.cli",
        "Check an approval policy file or try a call on it",
    ),
}


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line and run the chosen subcommand; returns the exit code."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and not getattr(args, "ignores_arguments", False):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
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


# Subcommands that live in the source checkout only (the simulator is not in the wheel or the
# production image): elsewhere they are listed, and say so when run, instead of breaking `--help`.
DEV_ONLY = frozenset({"simulator.cli"})


def _load(module_name: str) -> ModuleType:
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if module_name not in DEV_ONLY or exc.name != module_name.split(".", maxsplit=1)[0]:
            raise
        return _dev_only(module_name)


def _dev_only(module_name: str) -> ModuleType:
    """A stand-in subcommand that explains where the real one lives and exits 2."""
    module = ModuleType(module_name)

    def add_arguments(parser: argparse.ArgumentParser) -> None:
        parser.set_defaults(ignores_arguments=True)  # whatever follows, the answer is the same

    package = module_name.split(".", maxsplit=1)[0]

    def run(_args: argparse.Namespace) -> int:
        print(  # noqa: T201
            f"streamer: this command needs the `{package}` package, which ships"
            " only in a source checkout (pip install -e '.[dev]' there) or the Docker image's"
            " `simulator` target",
            file=sys.stderr,
        )
        return 2

    module.add_arguments = add_arguments  # type: ignore[attr-defined]
    module.run = run  # type: ignore[attr-defined]
    return module


if __name__ == "__main__":
    sys.exit(main())
