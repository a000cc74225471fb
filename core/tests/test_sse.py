"""Server-sent event framing: what the core reads from providers' streams and writes to clients."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pixmux._sse import SSEDecoder, encode_event
from pixmux.exceptions import APIResponseValidationError
from pixmux.types import ServerSentEvent

OPENAI_STREAM = (
    b"event: image_generation.partial_image\n"
    b'data: {"type":"image_generation.partial_image","b64_json":"AAAA","partial_image_index":0}\n'
    b"\n"
    b": keep-alive\n"
    b"\n"
    b"event: image_generation.completed\n"
    b'data: {"type":"image_generation.completed","b64_json":"BBBB"}\n'
    b"\n"
)


def decode_all(chunks: list[bytes]) -> tuple[list[ServerSentEvent], bool]:
    decoder = SSEDecoder()
    events = [event for chunk in chunks for event in decoder.feed(chunk)]
    return events, decoder.close()


def test_openai_stream_gives_its_two_events_and_skips_comments() -> None:
    events, clean = decode_all([OPENAI_STREAM])
    assert [e.event for e in events] == ["image_generation.partial_image", "image_generation.completed"]
    assert events[0].data.startswith('{"type":"image_generation.partial_image"')
    assert clean


@given(st.lists(st.integers(min_value=0, max_value=len(OPENAI_STREAM)), max_size=12))
def test_any_chunking_gives_the_same_events(cuts: list[int]) -> None:
    """Providers' TCP reads split events anywhere, even inside a CRLF: the events never change."""
    points = sorted(set(cuts))
    chunks = [OPENAI_STREAM[a:b] for a, b in zip([0, *points], [*points, len(OPENAI_STREAM)], strict=True)]
    assert decode_all(chunks) == decode_all([OPENAI_STREAM])


def test_a_chunk_ending_between_an_events_last_line_and_its_blank_line() -> None:
    """A read that stops just before the blank line (found by the property above: it raised IndexError)."""
    framed = b'event: image_generation.partial_image\ndata: {"b64_json":"AAAA"}\n'
    events, clean = decode_all([framed, b"\n"])
    assert events == decode_all([framed + b"\n"])[0]
    assert events[0].event == "image_generation.partial_image"
    assert clean


@pytest.mark.parametrize("newline", [b"\n", b"\r\n", b"\r"])
def test_every_line_ending_the_standard_allows(newline: bytes) -> None:
    stream = OPENAI_STREAM.replace(b"\n", newline)
    events, clean = decode_all([stream[:37], stream[37:]])
    assert [e.event for e in events] == ["image_generation.partial_image", "image_generation.completed"]
    assert clean


def test_crlf_split_across_chunks_is_one_line_end() -> None:
    events, _ = decode_all([b"data: a\r", b"\ndata: b\r\n\r\n"])
    assert events == [ServerSentEvent(event="message", data="a\nb")]


def test_data_lines_join_and_fields_parse() -> None:
    events, _ = decode_all([b"\xef\xbb\xbfid: 7\nretry: 1500\ndata:first\ndata: second\nunknown: x\n\n"])
    assert events == [ServerSentEvent(event="message", data="first\nsecond", id="7", retry=1500)]


def test_a_cut_mid_event_yields_nothing_and_says_so() -> None:
    events, clean = decode_all([OPENAI_STREAM + b'event: image_generation.completed\ndata: {"type":'])
    assert len(events) == 2
    assert not clean


def test_an_oversized_event_is_refused_not_buffered() -> None:
    decoder = SSEDecoder(max_event_bytes=1024)
    for _ in range(4):
        decoder.feed(b"data: " + b"A" * 200 + b"\n")
    with pytest.raises(APIResponseValidationError, match="larger than 1024 bytes"):
        decoder.feed(b"data: " + b"A" * 200 + b"\n")


def test_encode_round_trips_through_the_decoder() -> None:
    block = encode_event("image_edit.completed", '{"a":1}\n{"b":2}')
    assert block == b'event: image_edit.completed\ndata: {"a":1}\ndata: {"b":2}\n\n'
    events, clean = decode_all([block])
    assert events == [ServerSentEvent(event="image_edit.completed", data='{"a":1}\n{"b":2}')]
    assert clean


def reference_events(stream: bytes) -> list[tuple[str, str, str | None]]:
    """The standard's algorithm, line by line over the whole stream: what the decoder must agree with."""
    if stream.startswith(b"\xef\xbb\xbf"):
        stream = stream[3:]
    lines = stream.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n")
    lines.pop()  # the text after the last line end is no line yet
    events = []
    name, data, last_id = "", [], None
    for line in lines:
        if not line:
            if data or name:
                events.append((name or "message", "\n".join(data), last_id))
            name, data = "", []
            continue
        if line.startswith(b":"):
            continue
        field, _, value = line.decode("utf-8", "replace").partition(":")
        value = value.removeprefix(" ")
        if field == "data":
            data.append(value)
        elif field == "event":
            name = value
        elif field == "id" and "\0" not in value:
            last_id = value
    return events


_PARTS = st.sampled_from(
    [
        b"event: image_generation.partial_image",
        b'data: {"a":1}',
        b"data:x",
        b"data",
        b": comment",
        b"id: 7",
        b"retry: 10",
        b"event:",
        b"data: " + b"Q" * 300,
        b"\n",
        b"\r",
        b"\r\n",
        b"",
        b"other: y",
    ]
)


@given(st.lists(_PARTS, max_size=30), st.lists(st.integers(min_value=0, max_value=4000), max_size=8))
def test_the_decoder_agrees_with_the_standard_on_any_stream_and_chunking(parts: list[bytes], cuts: list[int]) -> None:
    """Mixed line endings, comments, repeated data lines, a CRLF split between chunks: the standard's events."""
    stream = b"".join(part + (b"" if part in (b"\n", b"\r", b"\r\n") else b"\n") for part in parts)
    points = sorted({cut for cut in cuts if cut <= len(stream)})
    chunks = [stream[a:b] for a, b in zip([0, *points], [*points, len(stream)], strict=True)]
    events, _ = decode_all(chunks)
    assert [(e.event, e.data, e.id) for e in events] == reference_events(stream)


def test_an_event_is_copied_once_into_its_frame_and_its_data_is_a_view_of_it() -> None:
    """A 1.5 MB event in 23 chunks: one frame, the data a range of it, nothing decoded until asked."""
    data = b'{"type":"image_generation.partial_image","b64_json":"' + b"A" * 1_500_000 + b'"}'
    stream = b"event: image_generation.partial_image\r\n" + b"data: " + data + b"\r\n\r\n"
    chunks = [stream[i : i + 65536] for i in range(0, len(stream), 65536)]
    events, clean = decode_all(chunks)
    assert clean
    assert len(events) == 1
    found = events[0]._frame()
    assert found is not None
    frame, start, end = found
    assert frame == b"event: image_generation.partial_image\ndata: " + data + b"\n\n"
    assert frame[start:end] == data
    assert events[0].data_bytes() == data
    assert events[0]._text is None  # not decoded
    assert events[0].data == data.decode()


def test_an_event_that_came_whole_and_already_framed_is_not_copied_at_all() -> None:
    """Within one chunk, ``event:`` then ``data:`` with LF line ends: the event is a view of that chunk."""
    block = b'event: image_generation.partial_image\ndata: {"b64_json":"' + b"A" * 100_000 + b'"}\n\n'
    chunk = b": keep-alive\n\n" + block + b"event: x\r\ndata: crlf\r\n\r\nid: 9\nevent: y\ndata: with id\n\n"
    decoder = SSEDecoder()
    events = decoder.feed(chunk)
    assert [(e.event, e.id) for e in events] == [("image_generation.partial_image", None), ("x", None), ("y", "9")]
    found = events[0]._frame()
    assert found is not None
    frame, start, end = found
    assert isinstance(frame, memoryview)
    assert frame.obj is chunk
    assert frame == block
    head = len(b"event: image_generation.partial_image\ndata: ")
    assert frame[start:end] == events[0].data_bytes() == block[head:-2]
    crlf = events[1]._frame()  # re-framed with LF: a copy, as for any event that was not already framed
    assert crlf is not None
    assert crlf[0] == b"event: x\ndata: crlf\n\n"
