"""The compiled frame reader (prefork/websocket/_frames.pyx), in process:
every message fed whole, a byte at a time and in random splits gives the
same events; every RFC 6455 violation raises the §7.4.1 code before any
part of its message is handed out; the UTF-8 validator agrees with
Python's strict decoder."""
import os
import random
import struct

import pytest
from hypothesis import given, settings, strategies as st

from prefork.websocket._frames import (FrameReader, ProtocolError, close_payload, encode_frame,
                                       is_utf8, is_valid_close_code)
from prefork.websocket.deflate import PerMessageDeflate
from rawws import close_frame, frame

TEXT, BINARY, CLOSE, PING, PONG, NONE = 1, 2, 8, 9, 10, -1


def events(data, reader=None, splits=None):
    """Feed ``data`` (in pieces at ``splits``) the way the connection does:
    unconsumed bytes stay and are offered again with the next piece."""
    reader = reader or FrameReader()
    pieces = [data] if splits is None else [data[a:b] for a, b in zip([0] + splits, splits + [len(data)])]
    found, pending = [], b""
    for piece in pieces:
        pending += piece
        while pending:
            used, event, message = reader.feed_bytes(pending)
            pending = pending[used:]
            if event != NONE:
                found.append((event, message))
            elif used == 0:
                break
    assert pending == b"" or len(pending) < 14
    return found


def every_split(data):
    """Whole, per byte, and three seeded random splittings."""
    yield None
    yield list(range(1, len(data)))
    rng = random.Random(len(data))
    for _ in range(3):
        yield sorted(rng.sample(range(1, len(data)), min(len(data) - 1, rng.randint(1, 6))))


STREAMS = {
    "text": (frame(TEXT, "héllo"), [(TEXT, "héllo")]),
    "binary": (frame(BINARY, b"\x00\xff" * 10), [(BINARY, b"\x00\xff" * 10)]),
    "empty text": (frame(TEXT, b""), [(TEXT, "")]),
    "16-bit length": (frame(BINARY, b"a" * 300), [(BINARY, b"a" * 300)]),
    "64-bit length": (frame(BINARY, b"b" * 70000), [(BINARY, b"b" * 70000)]),
    "fragments": (frame(TEXT, "ab", fin=False) + frame(0, "cd", fin=False) + frame(0, "e"),
                  [(TEXT, "abcde")]),
    "ping inside fragments": (frame(BINARY, b"12", fin=False) + frame(PING, b"p")
                              + frame(0, b"34"), [(PING, b"p"), (BINARY, b"1234")]),
    "utf-8 split across fragments": (frame(TEXT, "€".encode()[:1], fin=False)
                                     + frame(0, "€".encode()[1:]), [(TEXT, "€")]),
    "pong": (frame(PONG, b"x"), [(PONG, b"x")]),
    "close with code and reason": (close_frame(1000, "bye".encode()), [(CLOSE, (1000, "bye"))]),
    "close without a code": (close_frame(), [(CLOSE, (1005, ""))]),
    "close 4999": (close_frame(4999), [(CLOSE, (4999, ""))]),
}


@pytest.mark.parametrize("name", list(STREAMS))
def test_reads_valid_frames_in_any_split(name):
    data, expected = STREAMS[name]
    for splits in every_split(data):
        assert events(data, splits=splits) == expected, splits


def test_unmasks_at_every_offset_and_length():
    """The word-wide unmasking agrees with the bytewise definition (§5.3)
    for lengths around the 8-byte word and splits at every offset."""
    rng = random.Random(7)
    for n in list(range(0, 40)) + [1000, 4099]:
        payload = bytes(rng.randrange(256) for _ in range(n))
        data = frame(BINARY, payload)
        assert events(data) == [(BINARY, payload)]
        if n:
            cut = rng.randrange(1, len(data))
            assert events(data, splits=[cut]) == [(BINARY, payload)]


ERRORS = {
    "unmasked client frame": (frame(TEXT, "hi", mask=False), 1002),
    "opcode 3": (frame(3, b""), 1002),
    "opcode 7": (frame(7, b""), 1002),
    "opcode 11": (frame(11, b""), 1002),
    "opcode 15": (frame(15, b""), 1002),
    "RSV1 without an extension": (frame(TEXT, "a", rsv=4), 1002),
    "RSV2": (frame(TEXT, "a", rsv=2), 1002),
    "RSV3": (frame(BINARY, b"a", rsv=1), 1002),
    "control frame over 125 bytes": (frame(PING, b"x" * 126), 1002),
    "fragmented ping": (frame(PING, b"x", fin=False), 1002),
    "fragmented close": (frame(CLOSE, b"\x03\xe8", fin=False), 1002),
    "continuation without a message": (frame(0, b"x"), 1002),
    "new message inside a fragmented one": (frame(TEXT, "a", fin=False) + frame(TEXT, "b"), 1002),
    "close with a 1-byte payload": (frame(CLOSE, b"\x03"), 1002),
    "close code 999": (close_frame(999), 1002),
    "close code 1004": (close_frame(1004), 1002),
    "close code 1005": (close_frame(1005), 1002),
    "close code 1006": (close_frame(1006), 1002),
    "close code 1015": (close_frame(1015), 1002),
    "close code 1016": (close_frame(1016), 1002),
    "close code 2999": (close_frame(2999), 1002),
    "close code 5000": (close_frame(5000), 1002),
    "close reason not UTF-8": (close_frame(1000, b"\xff"), 1007),
    "invalid UTF-8 in text": (frame(TEXT, b"ok\xc0\xafok"), 1007),
    "surrogate in text": (frame(TEXT, b"\xed\xa0\x80"), 1007),
    "code point over U+10FFFF": (frame(TEXT, b"\xf4\x90\x80\x80"), 1007),
    "text ends inside a sequence": (frame(TEXT, "€".encode()[:2]), 1007),
    "invalid UTF-8 split across fragments": (frame(TEXT, b"\xe2\x82", fin=False)
                                             + frame(0, b"\x28"), 1007),
    "64-bit length with the top bit set": (frame(BINARY, b"", length=1 << 63), 1002),
}


@pytest.mark.parametrize("name", list(ERRORS))
def test_refuses_with_its_close_code(name):
    data, code = ERRORS[name]
    for splits in every_split(data):
        with pytest.raises(ProtocolError) as info:
            events(data, splits=splits)
        assert info.value.code == code, (splits, info.value)


def test_invalid_utf8_fails_before_the_message_ends():
    """§8.1: the bad byte is refused in the first fragment, before a
    continuation (or the final frame) arrives."""
    reader = FrameReader()
    with pytest.raises(ProtocolError) as info:
        reader.feed_bytes(frame(TEXT, b"abc\xff", fin=False))
    assert info.value.code == 1007


def test_nothing_of_a_bad_message_is_handed_out():
    """The valid message before it comes out; no fragment of the bad one does."""
    data = frame(TEXT, "good") + frame(TEXT, b"partial", fin=False) + frame(0, b"\xff")
    for splits in every_split(data):
        reader, seen, pending = FrameReader(), [], b""
        cuts = [0] + (splits or []) + [len(data)]
        with pytest.raises(ProtocolError):
            for a, b in zip(cuts, cuts[1:]):
                pending += data[a:b]
                while pending:
                    used, event, message = reader.feed_bytes(pending)
                    pending = pending[used:]
                    if event != NONE:
                        seen.append(message)
                    elif used == 0:
                        break
        assert seen == ["good"], splits


def test_message_size_limit_is_1009():
    with pytest.raises(ProtocolError) as info:
        events(frame(BINARY, b"x" * 101), FrameReader(max_message=100))
    assert info.value.code == 1009
    with pytest.raises(ProtocolError) as info:
        events(frame(BINARY, b"x" * 60, fin=False) + frame(0, b"x" * 60), FrameReader(max_message=100))
    assert info.value.code == 1009
    assert events(frame(BINARY, b"x" * 100), FrameReader(max_message=100)) == [(BINARY, b"x" * 100)]


def test_frame_size_limit_is_1009_from_the_head_alone():
    reader = FrameReader(max_frame=1000)
    head = frame(BINARY, b"x" * 2000)[:8]       # head and mask only: refused before the payload
    with pytest.raises(ProtocolError) as info:
        reader.feed_bytes(head)
    assert info.value.code == 1009


def test_compressed_messages_inflate_and_count_inflated_bytes():
    import zlib
    text = "compressible " * 500
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    body = c.compress(text.encode()) + c.flush(zlib.Z_SYNC_FLUSH)
    body = body[:-4]
    reader = FrameReader(inflater=PerMessageDeflate())
    assert events(frame(TEXT, body, rsv=4), reader) == [(TEXT, text)]
    # split over two frames, RSV1 on the first only (RFC 7692 §6.1)
    half = len(body) // 2
    reader = FrameReader(inflater=PerMessageDeflate())
    assert events(frame(TEXT, body[:half], rsv=4, fin=False) + frame(0, body[half:]), reader) \
        == [(TEXT, text)]
    # a small compressed frame that inflates past the limit (a zip bomb)
    reader = FrameReader(max_message=1000, inflater=PerMessageDeflate())
    with pytest.raises(ProtocolError) as info:
        events(frame(TEXT, body, rsv=4), reader)
    assert info.value.code == 1009
    # RSV1 on a continuation frame
    reader = FrameReader(inflater=PerMessageDeflate())
    with pytest.raises(ProtocolError) as info:
        events(frame(TEXT, body[:half], rsv=4, fin=False) + frame(0, body[half:], rsv=4), reader)
    assert info.value.code == 1002
    # garbage that is not a deflate stream
    reader = FrameReader(inflater=PerMessageDeflate())
    with pytest.raises(ProtocolError) as info:
        events(frame(BINARY, b"\xff\xff\xff\xff", rsv=4), reader)
    assert info.value.code == 1007


def test_server_frames_are_unmasked_with_minimal_lengths():
    assert encode_frame(TEXT, b"hi") == b"\x81\x02hi"
    assert encode_frame(BINARY, b"x" * 126)[:4] == b"\x82\x7e\x00\x7e"
    assert encode_frame(BINARY, b"x" * 65536)[:10] == b"\x82\x7f" + struct.pack("!Q", 65536)
    assert encode_frame(TEXT, b"z", True)[0] == 0xC1


def test_close_codes_that_may_be_sent():
    valid = [c for c in range(0, 6000) if is_valid_close_code(c)]
    assert valid == [1000, 1001, 1002, 1003] + list(range(1007, 1012)) + list(range(3000, 5000))
    assert close_payload(1000, "bye") == b"\x03\xe8bye"
    for code in (1005, 1006, 1015):
        with pytest.raises(ValueError):
            close_payload(code)
    with pytest.raises(ValueError):
        close_payload(1000, "x" * 124)


@settings(max_examples=2000, deadline=None)
@given(st.binary(max_size=40))
def test_utf8_validator_agrees_with_python(data):
    try:
        data.decode("utf-8")
        expected = True
    except UnicodeDecodeError:
        expected = False
    assert is_utf8(data) == expected


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60), st.integers(min_value=0, max_value=8))
def test_valid_text_split_anywhere_reads_back(text, cut):
    """Fragments may split a character anywhere (§5.6: only the whole
    message must be UTF-8)."""
    data = text.encode()
    cut = min(cut, len(data))
    stream = frame(TEXT, data[:cut], fin=False) + frame(0, data[cut:])
    assert events(stream) == [(TEXT, text)]


def test_random_binary_streams_read_back():
    rng = random.Random(13)
    for _ in range(50):
        messages = [os.urandom(rng.randrange(0, 3000)) for _ in range(rng.randrange(1, 5))]
        data = b"".join(frame(BINARY, m) for m in messages)
        splits = sorted(rng.sample(range(1, len(data)), min(len(data) - 1, 5))) if len(data) > 1 else None
        assert events(data, splits=splits) == [(BINARY, m) for m in messages]
