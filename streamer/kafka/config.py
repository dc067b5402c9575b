"""Kafka connection settings shared by the streamer and every consumer.

Environment names follow the ecosystem: `KAFKA_BOOTSTRAP_SERVERS`, then `KAFKA_*` for security.
`client_kwargs()` is the one place aiokafka client arguments are built.
"""

from __future__ import annotations

import ssl
from typing import Any, Literal

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from streamer import topics


class KafkaSettings(BaseSettings):
    """How to reach the cluster, and the topic names."""

    model_config = SettingsConfigDict(env_prefix="KAFKA_", frozen=True, extra="ignore")

    bootstrap_servers: str = Field(
        default="127.0.0.1:9092",
        validation_alias=AliasChoices("KAFKA_BOOTSTRAP_SERVERS", "bootstrap_servers"),
    )
    client_id: str = "agents-streamer"
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_cafile: str | None = None
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None

    events_topic: str = topics.SESSION_EVENTS
    deltas_topic: str = topics.SESSION_DELTAS
    checkpoints_topic: str = topics.CHECKPOINTS
    discovery_topic: str = topics.DISCOVERY
    approvals_topic: str = topics.APPROVALS
    dead_letter_topic: str = topics.DEAD_LETTER
    sessions_topic: str = topics.SESSIONS

    def client_kwargs(self) -> dict[str, Any]:
        """Connection arguments common to aiokafka producers, consumers and admin clients."""
        kwargs: dict[str, Any] = {
            "bootstrap_servers": self.bootstrap_servers,
            "client_id": self.client_id,
            "security_protocol": self.security_protocol,
        }
        if self.security_protocol in ("SSL", "SASL_SSL"):
            context = ssl.create_default_context(cafile=self.ssl_cafile)
            if self.ssl_certfile:
                context.load_cert_chain(self.ssl_certfile, self.ssl_keyfile)
            kwargs["ssl_context"] = context
        if self.security_protocol.startswith("SASL"):
            kwargs["sasl_mechanism"] = self.sasl_mechanism or "PLAIN"
            kwargs["sasl_plain_username"] = self.sasl_username
            kwargs["sasl_plain_password"] = (
                self.sasl_password.get_secret_value() if self.sasl_password else None
            )
        return kwargs
