"""`streamer approvals list|show|allow|deny`: people's side of escalations, over the bot's API."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from typing import Any

DEFAULT_URL = "http://127.0.0.1:8787"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """`--url` of a bot replica (any one) and the four actions; the bearer token, when the bot
    requires one, comes from `APPROVALS_HTTP_TOKEN` (never a flag: flags show in `ps`)."""
    parser.add_argument("--url", default=os.environ.get("APPROVALS_URL", DEFAULT_URL),
                        help="a bot's HTTP address (env APPROVALS_URL)")  # fmt: skip
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="escalations waiting for a person")
    listing.add_argument("--all", action="store_true", help="every known tool use")
    actions.add_parser("show", help="one tool use").add_argument("tool_use_id")
    for verb in ("allow", "deny"):
        decide = actions.add_parser(verb, help=f"{verb} an escalated tool use")
        decide.add_argument("tool_use_id")
        decide.add_argument("--by", default=os.environ.get("USER", ""), help="who decides")
        decide.add_argument("--reason", default="", help="why (kept in the audit trail)")
        if verb == "deny":
            decide.add_argument("--message", help="what the agent is told (default: --reason)")


def run(args: argparse.Namespace) -> int:
    """Call the bot's API; print JSON; exit 1 on an error answer."""
    import orjson  # noqa: PLC0415 - keep `streamer --help` light

    status, body = asyncio.run(_call(args))
    sys.stdout.write(orjson.dumps(body, option=orjson.OPT_INDENT_2).decode() + "\n")
    return 0 if status < 300 else 1


async def _call(args: argparse.Namespace) -> tuple[int, Any]:
    import aiohttp  # noqa: PLC0415 - keep `streamer --help` light

    base = args.url.rstrip("/")
    token = os.environ.get("APPROVALS_HTTP_TOKEN")
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(timeout=timeout, headers=headers) as http:
        if args.action == "list":
            query = "?status=all" if args.all else ""
            request = http.get(f"{base}/approvals{query}")
        elif args.action == "show":
            request = http.get(f"{base}/approvals/{args.tool_use_id}")
        else:
            body = {"decision": args.action, "by": args.by, "reason": args.reason}
            if args.action == "deny" and args.message:
                body["message"] = args.message
            request = http.post(f"{base}/approvals/{args.tool_use_id}/decision", json=body)
        async with request as response:
            return response.status, await response.json(content_type=None)
