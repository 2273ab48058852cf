"""Differential and fuzz tests: prefork's compiled parser against h11.

- On generated well-formed requests (RFC 9112 grammar, pipelined, fed in
  random splits) our parser must report exactly what was generated, and h11,
  an independent implementation, must agree with it.
- On random bytes and on mutations of the valid corpus, our parser may only
  return events or raise HTTPError. h11 is more lenient in places (bare LF,
  CTLs in values, TE with CL), so a refusal by one side alone is not a
  failure; but every message that both complete must be the same message.
"""
import faulthandler
import random
import string
from pathlib import Path

import h11
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from prefork._speedups import HTTPError, RequestParser

CORPUS = Path(__file__).resolve().parent.parent / "corpus"
VALID_REQUESTS = tuple(p.read_bytes() for p in sorted((CORPUS / "valid").glob("*.http")))
TCHAR = "!#$%&'*+-.^_`|~" + string.digits + string.ascii_letters
# Characters allowed unescaped in a path segment or query (RFC 3986 pchar).
PCHAR = string.ascii_letters + string.digits + "-._~!$&'()*+,;=:@"
# Field names whose semantics would change the framing or the outcome.
SPECIAL_FIELDS = {b"host", b"content-length", b"transfer-encoding", b"expect", b"connection",
                  b"te", b"trailer", b"upgrade"}
# A field value byte: VCHAR or obs-text (RFC 9110 5.5).
FIELD_VCHAR = [bytes([b]) for b in list(range(0x21, 0x7F)) + list(range(0x80, 0x100))]
BOUNDED = settings(max_examples=300, deadline=None,
                   suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
HANG_LIMIT = 120  # seconds before faulthandler reports a parser that never returns


@pytest.fixture(autouse=True)
def fail_on_hang():
    # A C loop that never returns never reaches a Python signal handler;
    # faulthandler's watchdog thread still fires and ends the run.
    faulthandler.dump_traceback_later(HANG_LIMIT, exit=True)
    yield
    faulthandler.cancel_dump_traceback_later()


# -- strategies for well-formed requests -----------------------------------

def ascii_text(alphabet, min_size=1, max_size=12):
    return st.text(alphabet=alphabet, min_size=min_size, max_size=max_size).map(str.encode)


tokens = ascii_text(TCHAR)
methods = tokens.filter(lambda m: m != b"CONNECT")
ows = st.sampled_from([b"", b" ", b"\t", b"  ", b" \t "])


@st.composite
def targets(draw):
    segments = draw(st.lists(ascii_text(PCHAR, 0, 8), min_size=1, max_size=4))
    target = b"/" + b"/".join(segments)
    if draw(st.booleans()):
        target += b"?" + draw(ascii_text(PCHAR + "/?", 0, 16))
    return target


@st.composite
def field_values(draw):
    words = draw(st.lists(st.lists(st.sampled_from(FIELD_VCHAR), min_size=1, max_size=6)
                          .map(b"".join), min_size=0, max_size=4))
    value = b""
    for i, word in enumerate(words):
        value += (draw(st.sampled_from([b" ", b"\t", b"  ", b" \t"])) if i else b"") + word
    return value


@st.composite
def fields(draw, max_size=6):
    """[(name, value, raw line)] of fields without framing meaning."""
    names = draw(st.lists(tokens.filter(lambda n: n.lower() not in SPECIAL_FIELDS),
                          max_size=max_size))
    result = []
    for name in names:
        value = draw(field_values())
        raw = name + b":" + draw(ows) + value + (draw(ows) if value else b"")
        result.append((name, value, raw))
    return result


hosts = st.tuples(ascii_text(string.ascii_lowercase + string.digits + "-.", 1, 12),
                  st.one_of(st.just(b""), st.integers(1, 65535).map(b":%d".__mod__)))


# RFC 9110 §5.6.4: qdtext (HTAB, SP, VCHAR but DQUOTE and "\", obs-text) and quoted-pairs.
QDTEXT = [bytes([b]) for b in [9, 32, 0x21] + list(range(0x23, 0x5C)) + list(range(0x5D, 0x7F))
          + list(range(0x80, 0x100))]
quoted_strings = st.lists(st.one_of(st.sampled_from(QDTEXT),
                                    st.sampled_from([b'\\"', b"\\\\", b"\\\t", b"\\a", b"\\\xe9"])),
                          max_size=8).map(lambda parts: b'"' + b"".join(parts) + b'"')


@st.composite
def chunked_bodies(draw, body):
    """Raw chunked encoding of ``body`` with random chunking, extensions, trailers."""
    cuts = sorted(draw(st.lists(st.integers(0, len(body)), max_size=5)))
    pieces = [body[a:b] for a, b in zip([0] + cuts, cuts + [len(body)]) if b > a]
    raw = b""
    for piece in pieces + [b""]:
        size = b"%x" % len(piece)
        size = draw(st.sampled_from([size, size.upper()]))
        size = b"0" * draw(st.integers(0, 16 - len(size))) + size
        ext = draw(st.lists(st.tuples(ows, tokens, st.one_of(
            st.just(b""), st.tuples(ows, ows, tokens).map(lambda t: t[0] + b"=" + t[1] + t[2]),
            quoted_strings.map(b"=".__add__))), max_size=2))
        # No BWS before the first ";": RFC 9112 §7.1.1 allows it, h11 does not.
        raw += size + b"".join(b";" + bws + n + v for bws, n, v in ext) + b"\r\n"
        raw += piece + b"\r\n" if piece else b""
    trailers = draw(fields(max_size=3))
    raw += b"".join(t[2] + b"\r\n" for t in trailers) + b"\r\n"
    return raw, trailers


@st.composite
def requests(draw):
    """(raw bytes, expected message) for one well-formed request."""
    # RFC 9110 2.5: HTTP/1.2 is processed as HTTP/1.1 (Host, chunked); both
    # parsers report the version as sent.
    version = draw(st.sampled_from([b"HTTP/1.1", b"HTTP/1.0", b"HTTP/1.2"]))
    method, target = draw(methods), draw(targets())
    head_fields = draw(fields())
    if version != b"HTTP/1.0" or draw(st.booleans()):
        name, port = draw(hosts)
        at = draw(st.integers(0, len(head_fields)))
        host_raw = draw(st.sampled_from([b"Host", b"host", b"HOST"]))
        head_fields.insert(at, (host_raw, name + port, host_raw + b":" + draw(ows) + name + port))
    body = draw(st.binary(max_size=64))
    framing = draw(st.sampled_from(["length", "chunked"] if version != b"HTTP/1.0"
                                   else ["length"]))
    trailers, raw_body = [], body
    if framing == "length" and (body or draw(st.booleans())):
        cl = b"%d" % len(body)
        head_fields.append((b"Content-Length", cl, b"Content-Length: " + cl))
    elif framing == "chunked":
        # Exactly "chunked": h11 refuses empty list elements here (", chunked"),
        # which RFC 9110 §5.6.1 says to ignore; the corpus covers those.
        head_fields.append((b"Transfer-Encoding", b"chunked", b"Transfer-Encoding: chunked"))
        raw_body, trailers = draw(chunked_bodies(body))
    raw = method + b" " + target + b" " + version + b"\r\n"
    raw += b"".join(f[2] + b"\r\n" for f in head_fields) + b"\r\n" + raw_body
    expected = {"method": method, "target": target, "version": version[5:],
                "headers": normalize((n, v) for n, v, _ in head_fields), "body": body,
                "trailers": normalize((n, v) for n, v, _ in trailers)}
    return raw, expected


pipelines = st.lists(requests(), min_size=1, max_size=4)


# -- running both parsers --------------------------------------------------

def normalize(fields):
    """Field list as both parsers can report it: lower-case names, and the
    Transfer-Encoding value lower-cased (h11 folds it)."""
    result = []
    for name, value in fields:
        name = bytes(name).lower()
        value = bytes(value).lower() if name == b"transfer-encoding" else bytes(value)
        result.append((name, value))
    return result


def split(data, rng):
    if len(data) < 2:
        return [data]
    cuts = sorted(rng.sample(range(1, len(data)), min(len(data) - 1, rng.randint(0, 12))))
    return [data[a:b] for a, b in zip([0] + cuts, cuts + [len(data)])]


def ours(pieces):
    """(completed messages, HTTPError or None)."""
    parser, messages, head, body = RequestParser(), [], None, b""
    try:
        for piece in pieces:
            for kind, value in parser.feed(piece):
                if kind == "head":
                    head, body = value, b""
                elif kind == "body":
                    body += value
                elif kind == "done":
                    done = value if value is not None else head
                    messages.append({
                        "method": head.method, "target": head.target,
                        "version": head.http_version[5:], "headers": normalize(head.headers),
                        "body": body, "trailers": normalize(done.trailers)})
                    head = None
    except HTTPError as error:
        return messages, error
    return messages, None


def theirs(data):
    """h11's completed messages, and its error (None when it accepted all)."""
    messages = []
    try:
        while data:
            connection = h11.Connection(h11.SERVER)
            connection.receive_data(data)
            message = None
            while True:
                event = connection.next_event()
                if event is h11.NEED_DATA:
                    return messages, None
                if isinstance(event, h11.Request):
                    message = {"method": event.method, "target": event.target,
                               "version": event.http_version,
                               "headers": normalize(event.headers.raw_items()), "body": b""}
                elif isinstance(event, h11.Data):
                    message["body"] += event.data
                elif isinstance(event, h11.EndOfMessage):
                    message["trailers"] = normalize(event.headers.raw_items())
                    messages.append(message)
                    break
            data = connection.trailing_data[0]
    except h11.RemoteProtocolError as error:
        return messages, error
    return messages, None


# -- tests -----------------------------------------------------------------

@BOUNDED
@given(pipeline=pipelines, seed=st.integers(0, 2**32 - 1))
def test_agrees_with_h11_on_well_formed_pipelines(pipeline, seed):
    data = b"".join(raw for raw, _ in pipeline)
    expected = [message for _, message in pipeline]
    messages, error = ours(split(data, random.Random(seed)))
    assert error is None, (error, data)
    assert messages == expected
    h11_messages, h11_error = theirs(data)
    assert h11_error is None, (h11_error, data)
    assert h11_messages == messages


@st.composite
def mutations(draw, seeds):
    """A valid corpus request with a few bytes flipped, inserted or deleted."""
    data = bytearray(draw(st.sampled_from(seeds)))
    interesting = st.sampled_from(b"\r\n \t\x00\x0b:;,\"0fF-+x\x80\xff")
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["flip", "insert", "delete", "replace"]))
        at = draw(st.integers(0, len(data)))
        if op == "insert":
            data.insert(at, draw(st.one_of(interesting, st.integers(0, 255))))
        elif data and at < len(data):
            if op == "delete":
                del data[at]
            elif op == "flip":
                data[at] ^= 1 << draw(st.integers(0, 7))
            else:
                data[at] = draw(st.one_of(interesting, st.integers(0, 255)))
    return bytes(data)


def check_only_events_or_http_error(data, seed):
    """Our parser must never raise anything but HTTPError; where both parsers
    complete a message, they must agree on it."""
    messages, error = ours(split(data, random.Random(seed)))
    whole_messages, whole_error = ours([data])
    # Splitting never changes the outcome. (A feed() that raises drops the
    # events of that call, so fewer messages may be seen when fed whole.)
    assert type(error) is type(whole_error)
    assert error is None or error.status == whole_error.status
    assert_same_prefix(messages, whole_messages, data)
    h11_messages, _ = theirs(data)
    assert_same_prefix(messages, h11_messages, data)


def assert_same_prefix(ours_messages, other_messages, data):
    common = min(len(ours_messages), len(other_messages))
    assert ours_messages[:common] == other_messages[:common], data


@BOUNDED
@given(data=st.binary(max_size=512), seed=st.integers(0, 2**32 - 1))
def test_random_bytes_give_events_or_http_error(data, seed):
    check_only_events_or_http_error(data, seed)


@BOUNDED
@given(data=st.data(), seed=st.integers(0, 2**32 - 1))
def test_mutated_corpus_gives_events_or_http_error(data, seed):
    check_only_events_or_http_error(data.draw(mutations(VALID_REQUESTS)), seed)


@BOUNDED
@given(data=st.data(), seed=st.integers(0, 2**32 - 1))
def test_mutated_request_line_prefix_gives_events_or_http_error(data, seed):
    # Random bytes after a plausible start stress the request-line states.
    start = data.draw(st.sampled_from([b"GET ", b"GET /", b"POST / HTTP/1.", b"\r\n"]))
    check_only_events_or_http_error(start + data.draw(st.binary(max_size=64)), seed)

