"""The streamer as a group: sessions announced on a compacted control topic, owned per partition.

`control`: the `agents.sessions` topic (announce, retire). `lane`: what one instance runs for one
control partition it owns (a transactional sink of its own, fenced per partition, and the
followers of that partition's sessions). `fleet`: the consumer-group member that turns
assignments into lanes. `bounded`: small size-capped maps, so nothing grows with sessions seen.
"""
