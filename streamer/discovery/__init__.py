"""Discovery: find every session to follow, live or already ended, from a watermark in Kafka."""

from streamer.discovery.poller import Discovery, DiscoverySettings
from streamer.discovery.watermark import InMemoryWatermarks, Watermark, WatermarkStore

__all__ = ["Discovery", "DiscoverySettings", "InMemoryWatermarks", "Watermark", "WatermarkStore"]
