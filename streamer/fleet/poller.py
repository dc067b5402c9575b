"""`Poller`: discovery for a fleet, run by whichever instance owns control partition 0.

Only one instance needs to poll: the group already elects one, the owner of partition 0, and
the election moves with that partition (a new owner loads the watermark from Kafka and carries
on where the last pass stopped). Found sessions are announced on the control topic, and a session
counts as secured once its announcement is acknowledged: from then on the group follows it,
whichever instance dies. A zombie poller that wakes up after partition 0 moved only repeats
announcements (idempotent) or writes an older watermark (which only re-lists sessions).
"""

from __future__ import annotations

from streamer.api import ApiClient
from streamer.discovery import Discovery, DiscoverySettings, WatermarkStore
from streamer.discovery.loop import DiscoveryLoop
from streamer.discovery.poller import Follow, Secured
from streamer.follower import FollowerSettings

POLLING_PARTITION = 0


class Poller(DiscoveryLoop):
    """The fleet's discovery loop: passes that announce what they find on the control topic."""

    def __init__(
        self,
        client: ApiClient,
        store: WatermarkStore,
        follow: Follow,
        secured: Secured,
        *,
        settings: DiscoverySettings,
        backoff: FollowerSettings,
    ) -> None:
        super().__init__(
            lambda: Discovery(client, store, follow, secured, settings),
            interval_secs=settings.interval_secs,
            backoff=backoff.backoff(),
        )
