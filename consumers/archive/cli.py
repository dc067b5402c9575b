"""`streamer archive query|compact|vacuum|forget|replay|transcript`: working with the archive table.

Every action takes `--uri` (env `ARCHIVE_URI`, default `./archive`; `s3://bucket/prefix` with
the usual AWS environment). Results go to stdout, log lines (JSON) to stderr; a user error (no
table, bad SQL, bad session id) is one `error: ...` line and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The six actions and their options."""
    parser.add_argument("--log-level", default="warning")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    query = _action(actions, "query", "run SQL over the table (view `events`) with DuckDB")
    query.add_argument("sql", help='e.g. "SELECT type, count(*) FROM events GROUP BY type"')
    query.add_argument("--format", choices=("table", "csv", "json"), default="table")
    compact = _action(actions, "compact", "rewrite small data files into large ones (optimize)")
    compact.add_argument("--target-size-mb", type=int, help="target file size (default 100 MB)")
    vacuum = _action(actions, "vacuum", "delete data files no recent version references")
    vacuum.add_argument("--retain-hours", type=int, required=True, help="keep files this young")
    vacuum.add_argument("--force", action="store_true", help="allow less than table retention")
    vacuum.add_argument("--dry-run", action="store_true", help="list the files, delete nothing")
    forget = _action(actions, "forget", "delete one session's events (and record that it was)")
    forget.add_argument("session_id")
    forget.add_argument("--by", default="", help="who asked (default $USER)")
    forget.add_argument("--reason", default="", help="why (kept in the forgotten record)")
    _replay_arguments(_action(actions, "replay", "write archived events back to a Kafka topic"))
    transcript = _action(actions, "transcript", "one session as a person reads it")
    transcript.add_argument("session_id")
    transcript.add_argument("--format", choices=("markdown", "html", "jsonl"), default="markdown")
    transcript.add_argument(
        "--approvals",
        action="store_true",
        help="name who decided each approval from the approval bot's audit records "
        "(KAFKA_APPROVALS_TOPIC on KAFKA_BOOTSTRAP_SERVERS)",
    )


def _action(actions: Any, name: str, help_text: str) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = actions.add_parser(name, help=help_text,
                                                         description=help_text)  # fmt: skip
    parser.add_argument("--uri", help="the table (env ARCHIVE_URI, default ./archive)")
    return parser


def _replay_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--topic", required=True, help="the topic to write to")
    parser.add_argument("--session", action="append", default=[], metavar="ID",
                        help="only this session (repeatable; default every session)")  # fmt: skip
    parser.add_argument("--since", help="only events processed at or after (RFC 3339)")
    parser.add_argument("--until", help="only events processed before (RFC 3339)")
    parser.add_argument("--source", help="ce_source of the records "
                        "(default $ANTHROPIC_BASE_URL/v1/sessions)")  # fmt: skip
    parser.add_argument("--batch-events", type=int, default=1000, help="events per transaction")


def run(args: argparse.Namespace) -> int:
    """Run one action; 0 on success, 2 on a user error."""
    import structlog  # noqa: PLC0415 - keep `streamer --help` light

    from consumers import configure_logging  # noqa: PLC0415
    from consumers.archive.location import archive_uri  # noqa: PLC0415

    configure_logging(args.log_level)
    try:
        return _dispatch(args, archive_uri(args.uri))
    except Exception as exc:  # noqa: BLE001 - every failure becomes one clear line, not a trace
        kind = _error_kind(exc)
        structlog.get_logger(__name__).error("archive_command_failed", action=args.action,
                                             kind=kind, error=str(exc))  # fmt: skip
        sys.stderr.write(f"error: {exc}\n")
        return 2 if kind != "internal" else 1


def _dispatch(args: argparse.Namespace, uri: str) -> int:
    if args.action == "query":
        from consumers.archive import query  # noqa: PLC0415

        query.render(query.run_query(uri, args.sql), args.format, sys.stdout)
        return 0
    if args.action in ("compact", "vacuum", "forget"):
        return _upkeep(args, uri)
    if args.action == "replay":
        from consumers.archive import replay  # noqa: PLC0415

        _print(replay.run_replay(uri, replay.ReplayRequest.from_args(args)))
        return 0
    from consumers.archive import transcript  # noqa: PLC0415

    decisions = _decisions(args.session_id) if args.approvals else None
    sys.stdout.write(transcript.render_session(uri, args.session_id, args.format, decisions))
    return 0


def _decisions(session_id: str) -> dict[str, dict[str, Any]]:
    import asyncio  # noqa: PLC0415

    from consumers import KafkaSettings  # noqa: PLC0415
    from consumers.archive.decisions import session_decisions  # noqa: PLC0415

    return asyncio.run(session_decisions(KafkaSettings(), session_id))


def _upkeep(args: argparse.Namespace, uri: str) -> int:
    from consumers.archive import upkeep  # noqa: PLC0415

    if args.action == "compact":
        _print(upkeep.compact(uri, target_size_mb=args.target_size_mb))
    elif args.action == "vacuum":
        files = upkeep.vacuum(uri, retain_hours=args.retain_hours, force=args.force,
                              dry_run=args.dry_run)  # fmt: skip
        _print({"dry_run": args.dry_run, "files_deleted": len(files), "files": files})
    else:
        _print(upkeep.forget(uri, args.session_id, by=args.by, reason=args.reason))
    return 0


def _print(value: Any) -> None:
    import orjson  # noqa: PLC0415

    text = orjson.dumps(value, default=str, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS)
    sys.stdout.write(text.decode() + "\n")


def _error_kind(exc: Exception) -> str:
    """A fixed-vocabulary name for what went wrong (log field)."""
    from consumers.archive.location import ArchiveCommandError  # noqa: PLC0415

    if isinstance(exc, ArchiveCommandError):
        return "usage"
    module = type(exc).__module__
    if "duckdb" in module:
        return "query"
    if "deltalake" in module or type(exc).__name__.endswith("DeltaError"):
        return "table"
    if module.startswith(("aiokafka", "kafka")):
        return "kafka"
    return "internal"
