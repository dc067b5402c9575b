"""`streamer tail`: a live, read-only view of the fleet from the events topic.

`cli` parses the command line, `reader` reads Kafka (every partition assigned by hand, no consumer
group, `read_committed`, nothing committed), `select` decides which records to show, `summary`
says in a few words what an event is about and `format` lays it out as one line.
"""
