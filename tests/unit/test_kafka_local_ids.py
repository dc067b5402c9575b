"""`kafka-local`'s generated cluster ids."""

from __future__ import annotations

import base64
import importlib.machinery
import importlib.util
import uuid
from types import ModuleType

import pytest

from tests.support.kafka import KAFKA_LOCAL


def _load_kafka_local() -> ModuleType:
    loader = importlib.machinery.SourceFileLoader("kafka_local", str(KAFKA_LOCAL))
    spec = importlib.util.spec_from_loader("kafka_local", loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def test_cluster_ids_never_start_with_a_dash(monkeypatch: pytest.MonkeyPatch) -> None:
    """An id starting with `-` reads as an option to the storage tool, which then refuses to
    format: the generator skips those (the first UUID drawn here encodes to one)."""
    kafka_local = _load_kafka_local()
    dash_first = uuid.UUID(bytes=base64.urlsafe_b64decode("-" + "A" * 21 + "=="))
    drawn = iter([dash_first, uuid.UUID(int=1)])
    monkeypatch.setattr(kafka_local.uuid, "uuid4", lambda: next(drawn))

    cluster_id = kafka_local._kafka_cluster_id()

    assert ("AAAAAAAAAAAAAAAAAAAAAQ", 22) == (cluster_id, len(cluster_id))
