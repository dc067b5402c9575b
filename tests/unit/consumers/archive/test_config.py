"""The archive's settings: the URI from the environment, the storage options handed to delta-rs."""

from __future__ import annotations

import argparse

import pytest

from consumers import registry
from consumers.archive.config import ArchiveSettings
from consumers.archive.consumer import ArchiveConsumer


def test_default_is_a_local_directory_with_no_options() -> None:
    """Without configuration the table is ./archive and delta-rs gets no storage options."""
    settings = ArchiveSettings()
    assert ("./archive", {}) == (settings.uri, settings.delta_storage_options())


def test_uri_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """`ARCHIVE_URI` names the table."""
    monkeypatch.setenv("ARCHIVE_URI", "s3://bucket/prefix")
    assert "s3://bucket/prefix" == ArchiveSettings().uri


def test_s3_uses_conditional_puts_by_default() -> None:
    """On S3 commits are conditional puts (safe for several replicas), with a request timeout."""
    options = ArchiveSettings(uri="s3://bucket/archive").delta_storage_options()
    assert {"conditional_put": "etag", "timeout": "30s"} == options


def test_unsafe_rename_for_a_single_writer(monkeypatch: pytest.MonkeyPatch) -> None:
    """`AWS_S3_ALLOW_UNSAFE_RENAME=true` replaces conditional puts (one writer only)."""
    monkeypatch.setenv("AWS_S3_ALLOW_UNSAFE_RENAME", "true")
    options = ArchiveSettings(uri="s3://bucket/archive").delta_storage_options()
    assert {"AWS_S3_ALLOW_UNSAFE_RENAME": "true", "timeout": "30s"} == options


def test_credentials_are_not_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """AWS keys stay in the environment for delta-rs; they are not copied into our options."""
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "very-secret")
    options = ArchiveSettings(uri="s3://bucket/archive").delta_storage_options()
    assert "very-secret" not in repr(ArchiveSettings()) + repr(options)


def test_command_line_overrides_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """`streamer consume archive --uri U --flush-max-age-secs N` beats `ARCHIVE_URI`."""
    monkeypatch.setenv("ARCHIVE_URI", "./from-env")
    parser = argparse.ArgumentParser()
    ArchiveConsumer.add_arguments(parser)
    args = parser.parse_args(["--uri", "s3://b/p", "--flush-max-age-secs", "5"])
    consumer = ArchiveConsumer.from_args(args)
    assert ("s3://b/p", 5.0) == (consumer.settings.uri, consumer.settings.flush_max_age_secs)


def test_registered_as_archive() -> None:
    """The entry point `archive` loads the archive consumer."""
    assert ArchiveConsumer is registry.load("archive")
