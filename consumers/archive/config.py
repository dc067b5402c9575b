"""The archive consumer's settings (env prefix `ARCHIVE_`; S3 credentials are AWS's own names).

S3 credentials, region and endpoint are not settings of ours: delta-rs reads the usual AWS
environment itself (`AWS_ENDPOINT_URL`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
`AWS_SESSION_TOKEN`, `AWS_REGION`, `AWS_ALLOW_HTTP`, ...), so they never pass through this process's
objects, logs or metrics. `storage_options` adds or overrides delta-rs storage options.
"""

from __future__ import annotations

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from streamer.backoff import Backoff


class ArchiveSettings(BaseSettings):
    """Where the table is and when buffered rows are written to it."""

    model_config = SettingsConfigDict(env_prefix="ARCHIVE_", frozen=True, extra="ignore")

    uri: str = "./archive"
    # Rows are written when this old (from reaching Kafka), or when this many bytes of events
    # wait, whichever comes first: bounded staleness without a file per record.
    flush_max_age_secs: float = 30.0
    flush_max_bytes: int = 64 * 1024 * 1024
    # During catch-up every row is "old": writes are at least this far apart unless size-due.
    flush_min_interval_secs: float = 5.0
    # Backpressure: handling stops while this much waits unwritten (the store is slow or down).
    max_buffer_bytes: int = 256 * 1024 * 1024
    # A revocation or stop waits this long for its rows to be written, then leaves them to the
    # partition's next owner (which reads them again from Kafka: nothing lost).
    drain_timeout_secs: float = 30.0
    retry_initial_secs: float = 0.5
    retry_max_secs: float = 30.0
    # Concurrent S3 writers need atomic commits: conditional puts (`etag`: If-None-Match, which
    # AWS S3, MinIO and s3proxy honour). Empty to use `s3_allow_unsafe_rename` (one writer only).
    s3_conditional_put: str = "etag"
    s3_allow_unsafe_rename: bool = Field(
        default=False,
        validation_alias=AliasChoices(
            "AWS_S3_ALLOW_UNSAFE_RENAME", "ARCHIVE_S3_ALLOW_UNSAFE_RENAME", "s3_allow_unsafe_rename"
        ),
    )
    storage_timeout: str = "30s"  # one object store request (delta-rs `timeout`)
    # The object store client's own retries of one request; bounded so that a failing write
    # returns (and is logged, counted, retried with our backoff) instead of hanging for minutes.
    storage_max_retries: int = 3
    storage_retry_timeout: str = "20s"
    storage_options: dict[str, str] = Field(default_factory=dict)

    def delta_storage_options(self) -> dict[str, str]:
        """The storage options handed to delta-rs for this URI."""
        options: dict[str, str] = {}
        if self.uri.startswith(("s3://", "s3a://")):
            options["timeout"] = self.storage_timeout
            options["max_retries"] = str(self.storage_max_retries)
            options["retry_timeout"] = self.storage_retry_timeout
            if self.s3_allow_unsafe_rename:
                options["AWS_S3_ALLOW_UNSAFE_RENAME"] = "true"
            elif self.s3_conditional_put:
                options["conditional_put"] = self.s3_conditional_put
        options.update(self.storage_options)
        return options

    def backoff(self) -> Backoff:
        """The schedule of failed table writes' retries."""
        return Backoff(self.retry_initial_secs, self.retry_max_secs)
