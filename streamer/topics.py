"""Default Kafka topic names; each is configurable (see `streamer.kafka.config.KafkaSettings`)."""

SESSION_EVENTS = "agents.session-events"
SESSION_DELTAS = "agents.session-deltas"
CHECKPOINTS = "agents.streamer.checkpoints"
DISCOVERY = "agents.streamer.discovery"
APPROVALS = "agents.approvals"
DEAD_LETTER = "agents.dead-letter"
SESSIONS = "agents.sessions"  # the control topic: sessions to follow, keyed by id
