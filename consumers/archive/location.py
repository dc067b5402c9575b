"""Where the archive table lives, for the `streamer archive` commands: URI and object-store options.

A local path (default `./archive`, env `ARCHIVE_URI`) or `s3://bucket/prefix`. For S3 the usual
AWS environment is read by delta-rs itself (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
`AWS_REGION`, `AWS_ENDPOINT_URL`, ...); the options built here only fill what an S3-compatible
server on plain HTTP needs. Nothing here downloads anything: every read goes through `deltalake`.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from deltalake import DeltaTable

DEFAULT_URI = "./archive"
# The small table recording every `forget` (docs/ARCHIVE.md): beside the data, under the table's
# root, where Delta readers and `vacuum` ignore it (paths starting with `_` are not data).
FORGOTTEN_DIR = "_forgotten"


class ArchiveCommandError(Exception):
    """What a `streamer archive` command reports to its user (exit code 2), never a traceback."""


def archive_uri(flag: str | None) -> str:
    """The table's URI: the `--uri` flag, else `ARCHIVE_URI`, else `./archive`."""
    return flag or os.environ.get("ARCHIVE_URI") or DEFAULT_URI


def forgotten_uri(uri: str) -> str:
    """The URI of the table's `forgotten` record."""
    return uri.rstrip("/") + "/" + FORGOTTEN_DIR


def storage_options(uri: str) -> dict[str, str]:
    """Options for delta-rs' object store: none for local paths; for S3, plain HTTP allowed when
    `AWS_ENDPOINT_URL` is an `http://` address (a local S3-compatible server)."""
    if not uri.startswith(("s3://", "s3a://")):
        return {}
    options: dict[str, str] = {}
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    if endpoint:
        options["AWS_ENDPOINT_URL"] = endpoint
        if endpoint.startswith("http://"):
            options["AWS_ALLOW_HTTP"] = "true"
    if not os.environ.get("AWS_REGION") and not os.environ.get("AWS_DEFAULT_REGION"):
        options["AWS_REGION"] = "us-east-1"  # S3-compatible servers accept any; delta-rs needs one
    return options


def open_table(uri: str) -> DeltaTable:
    """The table at `uri`; `ArchiveCommandError` when there is none."""
    from deltalake import DeltaTable  # noqa: PLC0415 - keep `streamer --help` light
    from deltalake.exceptions import TableNotFoundError  # noqa: PLC0415

    try:
        return DeltaTable(uri, storage_options=storage_options(uri))
    except TableNotFoundError:
        raise ArchiveCommandError(f"no archive table at {uri}") from None


def table_exists(uri: str) -> bool:
    """Whether a Delta table is at `uri`."""
    from deltalake import DeltaTable  # noqa: PLC0415

    return DeltaTable.is_deltatable(uri, storage_options=storage_options(uri))
