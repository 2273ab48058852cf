"""Replay the raw-request corpus (tests/corpus/) through the compiled parser.

Every ``.http`` file is fed whole, one byte at a time and in seeded random
splits, each time alone and followed by trailing bytes:
- a valid file must yield exactly the messages of its ``.json`` sidecar; the
  trailing bytes (the start of another request) leave the parser waiting;
- an invalid file must raise HTTPError with the sidecar's status, whatever
  follows it, and must not complete the bad message first.
"""
import importlib.util
import json
import random
from pathlib import Path

import pytest

from prefork import _speedups
from prefork._speedups import HTTPError, RequestParser

CORPUS = Path(__file__).resolve().parent.parent / "corpus"
SEEDS = (7, 11, 2024, 31337, 65521)
MODES = ("whole", "per_byte") + tuple("seed%d" % s for s in SEEDS)
# The start of a further pipelined request: must not produce an event or an error.
VALID_TAIL = b"GET /next HTTP/1.1\r\nHost: exa"
# Junk after a bad request: must not change the status.
INVALID_TAIL = b"\r\n\r\n\x00\xff junk\r\nGET / HTTP/1.1\r\n\r\n"
# Optional sidecar keys and how to read them off a Request.
OPTIONAL_KEYS = ("content_length", "chunked", "host", "path", "query", "expect_continue", "minor")


def corpus_names(kind):
    return sorted(p.stem for p in (CORPUS / kind).glob("*.http"))


def load(kind, name):
    raw = (CORPUS / kind / (name + ".http")).read_bytes()
    sidecar = json.loads((CORPUS / kind / (name + ".json")).read_text())
    return raw, sidecar


def split(data, mode):
    """Cut ``data`` into the pieces fed one ``feed`` call each."""
    if mode == "whole":
        return [data]
    if mode == "per_byte":
        return [data[i:i + 1] for i in range(len(data))]
    rng = random.Random(int(mode[len("seed"):]) ^ len(data))
    cuts = sorted(rng.sample(range(1, len(data)), min(len(data) - 1, rng.randint(1, 40))))
    return [data[a:b] for a, b in zip([0] + cuts, cuts + [len(data)])]


def latin1(data):
    return None if data is None else data.decode("latin-1")


def pairs(fields):
    return [[latin1(name), latin1(value)] for name, value in fields]


def describe(head, done, body):
    """The sidecar view of one parsed message."""
    request = done if done is not None else head
    seen = {
        "method": latin1(head.method),
        "target": latin1(head.target),
        "http_version": latin1(head.http_version),
        "headers": pairs(head.headers),
        "keep_alive": head.keep_alive,
        "body": latin1(body),
        "trailers": pairs(request.trailers),
    }
    for key in OPTIONAL_KEYS:
        value = getattr(head, key)
        seen[key] = latin1(value) if isinstance(value, bytes) else value
    return seen


class Collector:
    """Groups parser events into messages and checks their order."""

    def __init__(self):
        self.messages = []
        self.head = None
        self.body = b""

    def add(self, events):
        for kind, value in events:
            if kind == "head":
                assert self.head is None, "head event inside an unfinished message"
                self.head, self.body = value, b""
            elif kind == "body":
                assert self.head is not None, "body event outside a message"
                self.body += value
            elif kind == "done":
                assert self.head is not None, "done event outside a message"
                self.messages.append(describe(self.head, value, self.body))
                self.head = None
            else:
                raise AssertionError("unknown event %r" % (kind,))


def feed_all(parser, pieces, collector):
    for piece in pieces:
        collector.add(parser.feed(piece))


def expected_view(expected, seen):
    """Restrict the parsed message to the keys the sidecar states."""
    return {key: seen.get(key) for key in expected}


@pytest.mark.parametrize("tail", [False, True], ids=["alone", "tail"])
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", corpus_names("valid"))
def test_valid_request(name, mode, tail):
    raw, sidecar = load("valid", name)
    data = raw + VALID_TAIL if tail else raw
    collector = Collector()
    feed_all(RequestParser(), split(data, mode), collector)
    assert collector.head is None, "a message was left unfinished"
    expected = sidecar["messages"]
    assert len(collector.messages) == len(expected)
    for want, seen in zip(expected, collector.messages):
        assert expected_view(want, seen) == want


@pytest.mark.parametrize("tail", [False, True], ids=["alone", "tail"])
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", corpus_names("invalid"))
def test_invalid_request(name, mode, tail):
    raw, sidecar = load("invalid", name)
    data = raw + INVALID_TAIL if tail else raw
    collector = Collector()
    with pytest.raises(HTTPError) as info:
        feed_all(RequestParser(), split(data, mode), collector)
    assert info.value.status == sidecar["status"], info.value.args
    assert info.value.args == (info.value.status, info.value.reason)
    # Earlier pipelined messages may complete (a feed() that raises drops the
    # events of that call, so fewer may be seen); the bad one never does.
    assert len(collector.messages) <= sidecar.get("messages_before", 0)


def test_corpus_is_large_enough():
    assert len(corpus_names("valid")) >= 80
    assert len(corpus_names("invalid")) >= 80


def test_every_request_has_a_sidecar():
    for kind in ("valid", "invalid"):
        stems = {p.stem for p in (CORPUS / kind).iterdir()}
        assert stems == set(corpus_names(kind)), kind


def test_corpus_matches_its_generator():
    spec = importlib.util.spec_from_file_location("make_corpus", CORPUS / "make_corpus.py")
    make_corpus = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make_corpus)
    assert make_corpus.check() == []


def test_parser_is_compiled():
    # A pure-Python stand-in must never pass this suite unnoticed.
    assert _speedups.__file__.endswith(".so"), _speedups.__file__
