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
    """delta-rs storage options: the archive consumer's own (`ArchiveSettings`: atomic commits on
    S3 through conditional puts, so that compact and forget may run beside the consumer), plus
    plain HTTP when `AWS_ENDPOINT_URL` is an `http://` address (a local S3-compatible server)."""
    from consumers.archive.config import ArchiveSettings  # noqa: PLC0415

    options = ArchiveSettings(uri=uri).delta_storage_options()
    if not uri.startswith(("s3://", "s3a://")):
        return options
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL") or ""
    if endpoint.startswith("http://") and "AWS_ALLOW_HTTP" not in os.environ:
        options.setdefault("AWS_ALLOW_HTTP", "true")
    if not os.environ.get("AWS_REGION") and not os.environ.get("AWS_DEFAULT_REGION"):
        options.setdefault("AWS_REGION", "us-east-1")  # S3-compatible servers take any
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
