"""The Kafka side of the streamer: settings, the transactional sink, record format."""
