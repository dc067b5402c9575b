"""The archive: every event of the events topic, once, in a Delta Lake table (docs/ARCHIVE.md)."""
