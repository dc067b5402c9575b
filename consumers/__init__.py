"""Consumers of the streamer's Kafka topics (approvals, metrics, archive, ...)."""
