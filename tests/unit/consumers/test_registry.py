"""Consumers are found by name through the entry-point group; `streamer consume` parses for them."""

from __future__ import annotations

import pytest

from consumers import registry
from consumers.approvals.consumer import ApprovalConsumer
from consumers.errors import UnknownConsumerError
from streamer.cli import build_parser


def test_the_approvals_consumer_is_registered() -> None:
    """`approvals` is in the entry-point group and loads as ApprovalConsumer."""
    assert (True, ApprovalConsumer) == (
        "approvals" in registry.available(),
        registry.load("approvals"),
    )


def test_an_unknown_name_is_a_clear_error() -> None:
    """Asking for a consumer nobody registered raises UnknownConsumerError naming the choices."""
    with pytest.raises(UnknownConsumerError, match="registered"):
        registry.load("no-such-consumer")


def test_consume_parses_names_and_the_consumers_own_options() -> None:
    """`streamer consume approvals --policy F --shadow` reaches ApprovalConsumer.from_args."""
    args = build_parser().parse_args(
        ["consume", "approvals", "--policy", "p.toml", "--shadow", "--escalation-timeout-secs", "9"]
    )
    consumer = ApprovalConsumer.from_args(args)
    assert (["approvals"], "p.toml", True, 9.0) == (
        args.names, consumer.settings.policy_path, consumer.settings.shadow,
        consumer.settings.escalation_timeout_secs,
    )  # fmt: skip
