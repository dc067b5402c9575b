"""The incremental SSE decoder."""

from __future__ import annotations

import random

import pytest

from streamer.sse import Frame, FrameError, SSEDecoder


def _decode(chunks: list[bytes], max_frame_bytes: int = 1 << 20) -> list[Frame | FrameError]:
    decoder = SSEDecoder(max_frame_bytes)
    return [item for chunk in chunks for item in decoder.feed(chunk)]


@pytest.mark.parametrize("eol", [b"\n", b"\r", b"\r\n"])
def test_every_line_ending_ends_lines_and_frames(eol: bytes) -> None:
    """`\\n`, `\\r` and `\\r\\n` all end a line; a blank line ends the frame."""
    stream = b"event: a" + eol + b"data: {}" + eol + eol

    assert [Frame("a", b"{}")] == _decode([stream])


def test_crlf_split_across_chunks_counts_once() -> None:
    """A `\\r` at the end of one chunk and `\\n` at the start of the next are one line end."""
    chunks = [b"event: a\r", b"\ndata: 1\r", b"\n\r", b"\n"]

    assert [Frame("a", b"1")] == _decode(chunks)


def test_byte_at_a_time_gives_the_same_frames() -> None:
    """Feeding one byte at a time yields exactly the frames of the whole stream."""
    stream = b'event: a\r\ndata: {"x":1}\r\n\r\nevent: b\ndata: 2\n\n'

    assert _decode([stream]) == _decode([bytes([b]) for b in stream])


def test_lone_cr_mid_chunk_does_not_swallow_the_next_chunks_newline() -> None:
    """Only a `\\r` that ends a chunk can be the first half of a split `\\r\\n`."""
    chunks = [b"event: a\rdata: 1", b"\n\n"]

    assert [Frame("a", b"1")] == _decode(chunks)


@pytest.mark.parametrize("seed", range(20))
def test_any_chunking_gives_the_same_frames(seed: int) -> None:
    """Frames, comments, oversized frames and all line endings survive any split into chunks."""
    oversized = b"data: " + b"x" * 300 + b"\r\n\r\n"
    stream = b"".join(
        [
            b": hi\r\nevent: a\ndata: 1\ndata: 2\n\n",
            oversized,
            b"event: b\rid: 7\rdata: {}\r\r",
            b"event: c\r\ndata: 3\r\n\r\n",
        ]
    )
    rng = random.Random(seed)
    cuts = sorted(rng.sample(range(1, len(stream)), 12))
    chunks = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]

    expected = [
        Frame("a", b"1\n2"),
        FrameError("frame_too_large", 307),
        Frame("b", b"{}", "7"),
        Frame("c", b"3"),
    ]
    assert expected == _decode([stream], max_frame_bytes=200)
    assert expected == _decode(chunks, max_frame_bytes=200)


def test_comments_are_ignored() -> None:
    """Lines starting with `:` are comments (one form of keepalive)."""
    assert [Frame("a", b"1")] == _decode([b": keepalive\n\n:x\nevent: a\ndata: 1\n\n"])


def test_multi_line_data_is_joined_with_newlines() -> None:
    """Several `data:` lines make one payload joined by `\\n`."""
    assert [Frame(None, b"a\nb\n c")] == _decode([b"data: a\ndata:b\ndata:  c\n\n"])


def test_frame_without_event_field_is_kept() -> None:
    """A frame with data and no `event:` still comes out, with event None."""
    assert [Frame(None, b"{}", "7")] == _decode([b"id: 7\ndata: {}\n\n"])


def test_blank_lines_alone_make_no_frames() -> None:
    """Blank lines between frames produce nothing."""
    assert [] == _decode([b"\n\n\r\n\r"])


def test_oversized_frame_is_dropped_and_the_next_frame_survives() -> None:
    """A frame over the limit becomes one FrameError; the following frame is intact."""
    big = b"event: big\ndata: " + b"x" * 500 + b"\n\n"
    items = _decode([big, b"event: ok\ndata: 1\n\n"], max_frame_bytes=100)

    assert ["frame_too_large", Frame("ok", b"1")] == [
        i.reason if isinstance(i, FrameError) else i for i in items
    ]


def test_endless_line_does_not_grow_the_buffer() -> None:
    """A line that never ends is discarded as it comes: the buffer stays within the limit."""
    decoder = SSEDecoder(max_frame_bytes=1000)
    for _ in range(100):
        decoder.feed(b"data: " + b"y" * 900)

    assert len(decoder._buf) <= 1000


def test_cut_mid_frame_emits_nothing_partial() -> None:
    """A stream that ends mid-frame yields only the complete frames before the cut."""
    assert [Frame("a", b"1")] == _decode([b'event: a\ndata: 1\n\nevent: b\ndata: {"ty'])
