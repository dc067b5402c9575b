"""Follows Claude Managed Agents sessions' event streams into Kafka."""

__version__ = "0.1.0"
