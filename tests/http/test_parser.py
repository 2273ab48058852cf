"""One test per parsing rule of prefork._speedups.RequestParser.

Every case runs twice through the `feed` fixture: the request fed whole and
fed one byte at a time. Body events are merged so both modes compare equal.
"""
import time

import pytest
from hypothesis import given, settings, strategies as st

from prefork._speedups import EV_BODY, EV_DONE, EV_HEAD, EV_NEED_MORE, HTTPError, RequestParser

GET = b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n"
CHUNKED = b"Transfer-Encoding: chunked"


def merge_bodies(events):
    merged = []
    for kind, value in events:
        if kind == "body" and merged and merged[-1][0] == "body":
            merged[-1] = ("body", merged[-1][1] + value)
        else:
            merged.append((kind, value))
    return merged


def feed_whole(data, **limits):
    return merge_bodies(RequestParser(**limits).feed(data))


def feed_per_byte(data, **limits):
    parser = RequestParser(**limits)
    events = []
    for i in range(len(data)):
        events += parser.feed(data[i:i + 1])
    return merge_bodies(events)


@pytest.fixture(params=[feed_whole, feed_per_byte], ids=["whole", "per_byte"])
def feed(request):
    return request.param


def head(data, feed, **limits):
    events = feed(data, **limits)
    assert events[0][0] == "head"
    return events[0][1]


def status_of(data, feed, **limits):
    with pytest.raises(HTTPError) as info:
        feed(data, **limits)
    return info.value.status


def request(*lines, body=b"", version=b"HTTP/1.1", target=b"/", method=b"GET"):
    """A request with a Host field and the given extra header lines."""
    head_lines = [method + b" " + target + b" " + version, b"Host: example.com", *lines]
    return b"\r\n".join(head_lines) + b"\r\n\r\n" + body


# ---- module surface ----------------------------------------------------------

def test_event_constants_are_distinct_ints():
    assert sorted([EV_NEED_MORE, EV_HEAD, EV_BODY, EV_DONE]) == [0, 1, 2, 3]


def test_http_error_carries_status_and_reason():
    error = HTTPError(400, "bad")
    assert (error.status, error.reason, error.args) == (400, "bad", (400, "bad"))


# ---- request line (RFC 9112 §3) ----------------------------------------------

def test_parses_a_simple_get(feed):
    events = feed(GET)
    assert [kind for kind, _ in events] == ["head", "done"]
    req = events[0][1]
    assert (req.method, req.target, req.path, req.query) == (b"GET", b"/", b"/", b"")
    assert (req.http_version, req.minor, req.host) == (b"HTTP/1.1", 1, b"example.com")
    assert (req.content_length, req.chunked, req.keep_alive, req.expect_continue) == (0, False, True, False)
    assert req.headers == [(b"Host", b"example.com")] and req.trailers == []


def test_waits_for_an_incomplete_head():
    assert RequestParser().feed(GET[:-1]) == []


@pytest.mark.parametrize("line", [b"GET  / HTTP/1.1", b"GET /  HTTP/1.1", b"GET / HTTP/1.1 ",
                                  b" GET / HTTP/1.1", b"GET\t/ HTTP/1.1", b"GET /"])
def test_rejects_request_line_without_exactly_single_spaces(feed, line):
    assert status_of(line + b"\r\nHost: a\r\n\r\n", feed) == 400


@pytest.mark.parametrize("method", [b"G(T", b"G\x00T", b"G\xffT", b"G:T"])
def test_rejects_method_that_is_not_a_token(feed, method):
    assert status_of(request(method=method), feed) == 400


def test_accepts_extension_method_token(feed):
    assert head(request(method=b"PURGE!~"), feed).method == b"PURGE!~"


@pytest.mark.parametrize("version", [b"HTTP/2.0", b"HTTP/0.9", b"HTTP/3.1", b"HTTP/0.0", b"HTTP/9.1"])
def test_rejects_major_version_other_than_1_with_505(feed, version):
    assert status_of(request(version=version), feed) == 505


# RFC 9110 §2.5, §6.2: a recipient SHOULD process a higher minor version of a
# major version it implements as the highest minor version it conforms to.

@pytest.mark.parametrize("version", [b"HTTP/1.2", b"HTTP/1.9"])
def test_higher_minor_version_is_processed_as_http_1_1(feed, version):
    events = feed(request(CHUNKED, b"Expect: 100-continue", version=version,
                          body=b"3\r\nabc\r\n0\r\n\r\n"))
    req = events[0][1]
    assert (req.http_version, req.minor) == (version, 1)
    assert (req.keep_alive, req.chunked, req.expect_continue) == (True, True, True)
    assert events[1:] == [("body", b"abc"), ("done", req)]


def test_higher_minor_version_honours_connection_close(feed):
    assert head(request(b"Connection: close", version=b"HTTP/1.2"), feed).keep_alive is False


def test_higher_minor_version_requires_host(feed):
    assert status_of(b"GET / HTTP/1.2\r\n\r\n", feed) == 400


@pytest.mark.parametrize("version", [b"HTTP/1", b"HTTP/1.1.1", b"HTTP/11.1", b"http/1.1",
                                     b"HTTP/1.x", b"HTTP 1.1", b"HTTPS/1.1", b""])
def test_rejects_malformed_version_with_400(feed, version):
    assert status_of(request(version=version), feed) == 400


def test_accepts_http_1_0_without_host(feed):
    req = head(b"GET / HTTP/1.0\r\n\r\n", feed)
    assert (req.minor, req.http_version, req.host, req.keep_alive) == (0, b"HTTP/1.0", None, False)


@pytest.mark.parametrize("target", [b"/a\x01", b"/a\x7f", b"/\x80", b"/a\tb", b"/\x00"])
def test_rejects_non_vchar_in_target(feed, target):
    assert status_of(request(target=target), feed) == 400


def test_rejects_fragment_in_target(feed):
    assert status_of(request(target=b"/a#frag"), feed) == 400


def test_splits_query_at_first_question_mark(feed):
    req = head(request(target=b"/p/a%20b?x=1?y=2"), feed)
    assert (req.path, req.query, req.target) == (b"/p/a%20b", b"x=1?y=2", b"/p/a%20b?x=1?y=2")


def test_keeps_empty_query_after_question_mark(feed):
    req = head(request(target=b"/p?"), feed)
    assert (req.path, req.query) == (b"/p", b"")


@pytest.mark.parametrize("target,host,path,query", [
    (b"http://Example.com:8080/p?q=1", b"Example.com:8080", b"/p", b"q=1"),
    (b"https://example.com", b"example.com", b"/", b""),
    (b"HTTP://example.com?x", b"example.com", b"/", b"x"),
    (b"http://[::1]:80/a", b"[::1]:80", b"/a", b""),
])
def test_absolute_form_sets_host_path_and_query(feed, target, host, path, query):
    req = head(request(target=target), feed)
    assert (req.host, req.path, req.query, req.target) == (host, path, query, target)


def test_absolute_form_host_overrides_host_field(feed):
    assert head(request(target=b"http://origin.test/"), feed).host == b"origin.test"


@pytest.mark.parametrize("target", [b"ftp://example.com/", b"http://", b"http:///p",
                                    b"http://user@example.com/", b"http://a b/", b"example.com/",
                                    b"?x", b"http:/example.com/"])
def test_rejects_malformed_absolute_form(feed, target):
    assert status_of(request(target=target), feed) == 400


def test_asterisk_form_for_options(feed):
    req = head(request(method=b"OPTIONS", target=b"*"), feed)
    assert (req.path, req.query, req.target) == (b"*", b"", b"*")


def test_rejects_asterisk_form_for_other_methods(feed):
    assert status_of(request(target=b"*"), feed) == 400


def test_connect_takes_authority_form(feed):
    req = head(request(method=b"CONNECT", target=b"example.com:443"), feed)
    assert (req.target, req.path, req.host) == (b"example.com:443", b"", b"example.com")


@pytest.mark.parametrize("target", [b"/", b"example.com", b"http://example.com:443/", b"*", b"a:b"])
def test_connect_rejects_other_forms(feed, target):
    assert status_of(request(method=b"CONNECT", target=target), feed) == 400


def test_rejects_authority_form_for_other_methods(feed):
    assert status_of(request(target=b"example.com:443"), feed) == 400


def test_ignores_a_few_leading_empty_lines(feed):
    events = feed(b"\r\n\r\n" + GET)
    assert [kind for kind, _ in events] == ["head", "done"]


def test_rejects_many_leading_empty_lines(feed):
    assert status_of(b"\r\n" * 5 + GET, feed) == 400


def test_rejects_leading_bare_lf(feed):
    assert status_of(b"\n" + GET, feed) == 400


def test_rejects_tls_handshake_early():
    with pytest.raises(HTTPError) as info:
        RequestParser().feed(b"\x16\x03\x01\x02\x00\x01")
    assert info.value.status == 400


# ---- header fields (RFC 9112 §5, RFC 9110 §5.5) ------------------------------

def test_keeps_field_names_as_received_in_order(feed):
    req = head(request(b"X-B: 1", b"x-a: 2", b"X-B: 3"), feed)
    assert req.headers == [(b"Host", b"example.com"), (b"X-B", b"1"), (b"x-a", b"2"), (b"X-B", b"3")]


def test_trims_ows_around_field_value(feed):
    req = head(request(b"X: \t a b \t "), feed)
    assert req.headers[-1] == (b"X", b"a b")


def test_accepts_empty_field_value(feed):
    assert head(request(b"X:", b"Y:   "), feed).headers[-2:] == [(b"X", b""), (b"Y", b"")]


def test_rejects_space_before_colon(feed):
    assert status_of(request(b"X-A : 1"), feed) == 400


def test_rejects_tab_before_colon(feed):
    assert status_of(request(b"X-A\t: 1"), feed) == 400


def test_rejects_obs_fold(feed):
    assert status_of(request(b"X-A: 1", b" continued"), feed) == 400


def test_rejects_obs_fold_with_tab(feed):
    assert status_of(request(b"X-A: 1", b"\tcontinued"), feed) == 400


def test_rejects_empty_field_name(feed):
    assert status_of(request(b": value"), feed) == 400


def test_rejects_field_line_without_colon(feed):
    assert status_of(request(b"X-A value"), feed) == 400


@pytest.mark.parametrize("name", [b"X(A", b"X/A", b"X\x80", b"X\"A", b"X@A"])
def test_rejects_field_name_that_is_not_a_token(feed, name):
    assert status_of(request(name + b": 1"), feed) == 400


@pytest.mark.parametrize("value", [b"a\x00b", b"a\x01b", b"a\x7fb", b"a\x1bb", b"a\x0bb"])
def test_rejects_ctl_in_field_value(feed, value):
    assert status_of(request(b"X: " + value), feed) == 400


def test_accepts_obs_text_in_field_value(feed):
    assert head(request(b"X: caf\xc3\xa9\xff"), feed).headers[-1] == (b"X", b"caf\xc3\xa9\xff")


def test_rejects_bare_lf_in_head(feed):
    assert status_of(b"GET / HTTP/1.1\r\nHost: a\nX: 1\r\n\r\n", feed) == 400


def test_rejects_bare_lf_ending_request_line(feed):
    assert status_of(b"GET / HTTP/1.1\nHost: a\r\n\r\n", feed) == 400


def test_rejects_bare_lf_ending_head(feed):
    assert status_of(b"GET / HTTP/1.1\r\nHost: a\r\n\n", feed) == 400


def test_rejects_bare_cr_in_field_value(feed):
    assert status_of(request(b"X: a\rb"), feed) == 400


def test_rejects_bare_cr_in_request_line(feed):
    assert status_of(b"GET / HTTP/1.1\r\r\nHost: a\r\n\r\n", feed) == 400


def test_rejects_bare_cr_as_blank_line(feed):
    assert status_of(b"GET / HTTP/1.1\r\nHost: a\r\n\rX", feed) == 400


# ---- limits -----------------------------------------------------------------

def test_request_line_too_long_is_414(feed):
    data = request(target=b"/" + b"a" * 100)
    assert status_of(data, feed, max_request_line=50) == 414


def test_request_line_too_long_is_414_before_its_crlf():
    with pytest.raises(HTTPError) as info:
        RequestParser(max_request_line=50).feed(b"GET /" + b"a" * 60)
    assert info.value.status == 414


def test_request_line_at_the_limit_is_accepted(feed):
    line = b"GET /" + b"a" * 36 + b" HTTP/1.1"
    assert len(line) == 50
    assert head(line + b"\r\nHost: a\r\n\r\n", feed, max_request_line=50).path == b"/" + b"a" * 36


def test_field_too_long_is_431(feed):
    assert status_of(request(b"X: " + b"v" * 100), feed, max_field_size=50) == 431


def test_field_too_long_is_431_before_its_crlf():
    with pytest.raises(HTTPError) as info:
        RequestParser(max_field_size=50).feed(b"GET / HTTP/1.1\r\nX: " + b"v" * 60)
    assert info.value.status == 431


def test_head_too_large_is_431_before_complete():
    lines = b"".join(b"X-%d: %s\r\n" % (i, b"v" * 40) for i in range(40))
    with pytest.raises(HTTPError) as info:
        RequestParser(max_header_size=1024).feed(b"GET / HTTP/1.1\r\n" + lines)
    assert info.value.status == 431


def test_head_too_large_is_431(feed):
    data = request(*[b"X-%d: %s" % (i, b"v" * 40) for i in range(40)])
    assert status_of(data, feed, max_header_size=1024) == 431


def test_too_many_fields_is_431(feed):
    data = request(*[b"X-%d: 1" % i for i in range(10)])
    assert status_of(data, feed, max_header_count=10) == 431


def test_field_count_at_the_limit_is_accepted(feed):
    data = request(*[b"X-%d: 1" % i for i in range(9)])
    assert len(head(data, feed, max_header_count=10).headers) == 10


def test_content_length_over_max_body_size_is_413(feed):
    assert status_of(request(b"Content-Length: 101"), feed, max_body_size=100) == 413


def test_max_body_size_zero_means_no_limit(feed):
    req = head(request(b"Content-Length: 999999999999999999"), feed, max_body_size=0)
    assert req.content_length == 999999999999999999


# ---- Content-Length framing (RFC 9112 §6.2-6.3, RFC 9110 §8.6) ----------------

def test_content_length_body(feed):
    events = feed(request(b"Content-Length: 5", body=b"hello"))
    assert [kind for kind, _ in events] == ["head", "body", "done"]
    assert events[1][1] == b"hello" and events[0][1].content_length == 5


def test_content_length_with_leading_zeros(feed):
    assert head(request(b"Content-Length: 005", body=b"hello"), feed).content_length == 5


def test_content_length_is_zero_without_body_fields(feed):
    assert head(GET, feed).content_length == 0


def test_waits_for_the_rest_of_the_body():
    parser = RequestParser()
    events = parser.feed(request(b"Content-Length: 10", body=b"abc"))
    assert [kind for kind, _ in events] == ["head", "body"]
    assert parser.feed(b"defghij") == [("body", b"defghij"), ("done", parser.request)]


@pytest.mark.parametrize("value", [b"-1", b"+1", b"1 2", b"0x10", b"1,1", b"1, 1", b"1.0", b"",
                                   b"a", b"1" * 19, b"\xd9\xa1"])
def test_rejects_invalid_content_length(feed, value):
    assert status_of(request(b"Content-Length: " + value), feed) == 400


def test_rejects_duplicate_content_length(feed):
    assert status_of(request(b"Content-Length: 1", b"Content-Length: 1", body=b"a"), feed) == 400


# ---- Transfer-Encoding framing (RFC 9112 §6.1, §6.3) --------------------------

def test_rejects_transfer_encoding_with_content_length(feed):
    data = request(b"Transfer-Encoding: chunked", b"Content-Length: 5", body=b"0\r\n\r\n")
    assert status_of(data, feed) == 400


def test_rejects_transfer_encoding_in_http_1_0(feed):
    data = request(b"Transfer-Encoding: chunked", body=b"0\r\n\r\n", version=b"HTTP/1.0")
    assert status_of(data, feed) == 400


def test_rejects_repeated_transfer_encoding_fields(feed):
    data = request(b"Transfer-Encoding: chunked", b"Transfer-Encoding: chunked", body=b"0\r\n\r\n")
    assert status_of(data, feed) == 400


@pytest.mark.parametrize("value", [b"chunked", b"Chunked", b"CHUNKED", b"chunked \t"])
def test_chunked_coding_is_case_insensitive(feed, value):
    req = head(request(b"Transfer-Encoding: " + value, body=b"0\r\n\r\n"), feed)
    assert (req.chunked, req.content_length) == (True, -1)


@pytest.mark.parametrize("value", [b"gzip, chunked", b"deflate,chunked", b"x-custom , chunked"])
def test_unknown_coding_before_chunked_is_501(feed, value):
    assert status_of(request(b"Transfer-Encoding: " + value, body=b"0\r\n\r\n"), feed) == 501


@pytest.mark.parametrize("value", [b"chunked, gzip", b"gzip", b"identity"])
def test_final_coding_other_than_chunked_is_400(feed, value):
    assert status_of(request(b"Transfer-Encoding: " + value), feed) == 400


@pytest.mark.parametrize("value", [b"xchunked", b"chunked;q=1", b'"chunked"', b"", b",", b" , ,",
                                   b"chunked, chunked", b"chunked, , chunked", b"chun ked"])
def test_rejects_malformed_transfer_encoding(feed, value):
    assert status_of(request(b"Transfer-Encoding: " + value, body=b"0\r\n\r\n"), feed) == 400


# RFC 9110 §5.6.1: a recipient MUST parse and ignore a reasonable number of
# empty list elements; prefork takes up to 8 per field line.

@pytest.mark.parametrize("value", [b", chunked", b",chunked", b"chunked,", b"chunked , ,",
                                   b" , chunked , ",
                                   b"," * 4 + b"chunked" + b"," * 4])  # 8: the bound
def test_transfer_encoding_ignores_empty_list_elements(feed, value):
    events = feed(request(b"Transfer-Encoding: " + value, body=b"3\r\nabc\r\n0\r\n\r\n"))
    assert (events[0][1].chunked, events[0][1].content_length) == (True, -1)
    assert events[1] == ("body", b"abc")


@pytest.mark.parametrize("value", [b"gzip,,chunked", b", gzip, chunked", b"gzip, chunked,"])
def test_empty_list_elements_do_not_hide_an_unknown_coding(feed, value):
    assert status_of(request(b"Transfer-Encoding: " + value, body=b"0\r\n\r\n"), feed) == 501


@pytest.mark.parametrize("value", [b"chunked,, gzip", b", gzip,", b"chunked, ,chunked"])
def test_empty_list_elements_do_not_make_chunked_final(feed, value):
    assert status_of(request(b"Transfer-Encoding: " + value, body=b"0\r\n\r\n"), feed) == 400


@pytest.mark.parametrize("value", [b"," * 9 + b"chunked", b"chunked" + b", " * 9,
                                   b", " * 5 + b"chunked" + b" ," * 4])
def test_rejects_more_than_8_empty_list_elements_in_transfer_encoding(feed, value):
    assert status_of(request(b"Transfer-Encoding: " + value, body=b"0\r\n\r\n"), feed) == 400


def test_empty_list_elements_keep_transfer_encoding_with_content_length_refused(feed):
    data = request(b"Transfer-Encoding: , chunked", b"Content-Length: 3", body=b"0\r\n\r\n")
    assert status_of(data, feed) == 400


# ---- chunked body (RFC 9112 §7.1) ---------------------------------------------


def test_chunked_body(feed):
    events = feed(request(CHUNKED, body=b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"))
    assert [kind for kind, _ in events] == ["head", "body", "done"]
    assert events[1][1] == b"hello world"


def test_chunked_body_with_extensions_and_trailers(feed):
    body = b"a;name=value;x=\"q s\"\r\n0123456789\r\n0;last\r\nX-Sum: 1\r\nX-Other:  two \r\n\r\n"
    events = feed(request(CHUNKED, body=body))
    assert events[1] == ("body", b"0123456789")
    assert events[2][1].trailers == [(b"X-Sum", b"1"), (b"X-Other", b"two")]


def test_chunk_size_is_hexadecimal_any_case(feed):
    events = feed(request(CHUNKED, body=b"A\r\n" + b"x" * 10 + b"\r\nb\r\n" + b"y" * 11 + b"\r\n0\r\n\r\n"))
    assert events[1][1] == b"x" * 10 + b"y" * 11


def test_accepts_16_digit_chunk_size(feed):
    events = feed(request(CHUNKED, body=b"0000000000000003\r\nabc\r\n0\r\n\r\n"))
    assert events[1][1] == b"abc"


def test_rejects_chunk_size_over_16_digits(feed):
    assert status_of(request(CHUNKED, body=b"00000000000000003\r\nabc\r\n0\r\n\r\n"), feed) == 400


@pytest.mark.parametrize("size", [b"0x5", b"+5", b"-5", b"5_0", b" 5", b"5 ", b"", b"g"])
def test_rejects_invalid_chunk_size(feed, size):
    assert status_of(request(CHUNKED, body=size + b"\r\nhello\r\n0\r\n\r\n"), feed) == 400


def test_rejects_long_chunk_extension(feed):
    body = b"5;" + b"x" * 4097 + b"\r\nhello\r\n0\r\n\r\n"
    assert status_of(request(CHUNKED, body=body), feed) == 400


def test_chunk_extension_of_4096_bytes_is_the_limit(feed):
    ext = b";" + b"x" * 4095
    assert feed(request(CHUNKED, body=b"5" + ext + b"\r\nhello\r\n0\r\n\r\n"))[1] == ("body", b"hello")
    assert status_of(request(CHUNKED, body=b"5" + ext + b"x\r\nhello\r\n0\r\n\r\n"), feed) == 400


def chunk_ext_body(ext):
    return b"5" + ext + b"\r\nhello\r\n0\r\n\r\n"


# RFC 9112 §7.1.1: chunk-ext = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )
# chunk-ext-name = token; chunk-ext-val = token / quoted-string (RFC 9110 §5.6.4).

@pytest.mark.parametrize("ext", [
    b";a", b";name=value", b";a;b=1;c", b"; a = b", b" ;a", b"\t;a", b" \t ;\t a\t=\t b",
    b";a=\tb", b";!#$%&'*+-.^_`|~09azAZ=!#$%&'*+-.^_`|~09azAZ",
    b';a=""', b';a="x y"', b';a="; = , \t"', b';a="caf\xc3\xa9\xff"', b';a="b";c="d"',
])
def test_accepts_chunk_extension_grammar(feed, ext):
    assert feed(request(CHUNKED, body=chunk_ext_body(ext)))[1] == ("body", b"hello")


@pytest.mark.parametrize("ext", [b';a="q\\"d"', b';a="\\\\"', b';a="\\\t"', b';a="\\ "',
                                 b';a="\\\xe9"', b';a="\\x"'])
def test_accepts_quoted_pair_in_chunk_extension_value(feed, ext):
    # RFC 9110 §5.6.4: quoted-pair = "\" ( HTAB / SP / VCHAR / obs-text )
    assert feed(request(CHUNKED, body=chunk_ext_body(ext)))[1] == ("body", b"hello")


@pytest.mark.parametrize("ext", [b";a b", b";a b=c", b";na me"])
def test_rejects_chunk_extension_name_with_space(feed, ext):
    assert status_of(request(CHUNKED, body=chunk_ext_body(ext)), feed) == 400


@pytest.mark.parametrize("ext", [b";", b";;a", b";=b", b"; ", b";a;", b";\xe9", b";a/b", b";a,b"])
def test_rejects_chunk_extension_without_a_token_name(feed, ext):
    assert status_of(request(CHUNKED, body=chunk_ext_body(ext)), feed) == 400


@pytest.mark.parametrize("ext", [b";a=", b";a = ", b";a=;b", b";a==b", b";a=b=c", b";a=,"])
def test_rejects_chunk_extension_equals_without_a_value(feed, ext):
    assert status_of(request(CHUNKED, body=chunk_ext_body(ext)), feed) == 400


@pytest.mark.parametrize("ext", [b";a=b c", b";a=\xe9", b";a=b/c", b";a=b\"c\""])
def test_rejects_chunk_extension_value_that_is_not_a_token(feed, ext):
    assert status_of(request(CHUNKED, body=chunk_ext_body(ext)), feed) == 400


@pytest.mark.parametrize("ext", [b';a="x', b';a="', b';a="x\\"', b';a="\\'])
def test_rejects_unterminated_quoted_string_in_chunk_extension(feed, ext):
    assert status_of(request(CHUNKED, body=chunk_ext_body(ext)), feed) == 400


@pytest.mark.parametrize("ext", [b';a="x"y', b';a="x""y"', b';a="x"=b'])
def test_rejects_bytes_after_quoted_chunk_extension_value(feed, ext):
    assert status_of(request(CHUNKED, body=chunk_ext_body(ext)), feed) == 400


@pytest.mark.parametrize("ext", [b";a ", b";a\t", b";a=b ", b';a="x" ', b" "])
def test_rejects_whitespace_after_the_last_chunk_extension(feed, ext):
    # BWS is allowed only before ";" and around "=": the grammar ends with a name or value.
    assert status_of(request(CHUNKED, body=chunk_ext_body(ext)), feed) == 400


@pytest.mark.parametrize("ext", [b";a\x00", b";a\rb", b";a\x7f", b";a\x01", b";a=b\x0b",
                                 b';a="\x00"', b';a="\x1b"', b';a="\x7f"', b';a="\\\x00"',
                                 b';a="\\\x7f"', b';a="x\ry"'])
def test_rejects_ctl_in_chunk_extension(feed, ext):
    assert status_of(request(CHUNKED, body=chunk_ext_body(ext)), feed) == 400


def test_validates_extension_of_the_last_chunk(feed):
    assert status_of(request(CHUNKED, body=b"0;a b\r\n\r\n"), feed) == 400


@pytest.mark.parametrize("ext,valid", [(b'; n = "q\\"x;y" ;flag', True), (b'; n = "q\\"x;y ;flag', False)])
def test_chunk_extension_is_validated_whatever_the_split(ext, valid):
    # The chunk-size line is consumed only once its LF arrived; cut it anywhere.
    data = request(CHUNKED, body=chunk_ext_body(ext))
    start = data.index(b"\r\n\r\n") + 4
    for cut in range(start, start + len(ext) + 3):
        parser, events = RequestParser(), []
        try:
            events += parser.feed(data[:cut])
            events += parser.feed(data[cut:])
        except HTTPError as error:
            assert not valid and error.status == 400, cut
            continue
        assert valid, cut
        assert merge_bodies(events)[1] == ("body", b"hello")


@pytest.mark.parametrize("bws", [b" ", b"\t", b" \t "])
def test_accepts_bws_before_chunk_extension(feed, bws):
    # RFC 9112 §7.1.1: chunk-ext = *( BWS ";" BWS chunk-ext-name ... )
    assert feed(request(CHUNKED, body=b"5" + bws + b";a\r\nhello\r\n0\r\n\r\n"))[1] == ("body", b"hello")


@pytest.mark.parametrize("after", [b"XX", b"\n", b"\r\r\n", b"\rX", b" \r\n"])
def test_rejects_chunk_data_not_followed_by_crlf(feed, after):
    assert status_of(request(CHUNKED, body=b"5\r\nhello" + after + b"0\r\n\r\n"), feed) == 400


def test_rejects_bare_lf_after_chunk_size(feed):
    assert status_of(request(CHUNKED, body=b"5\nhello\r\n0\r\n\r\n"), feed) == 400


def test_requires_final_crlf_after_trailers():
    events = RequestParser().feed(request(CHUNKED, body=b"0\r\nX: 1\r\n"))
    assert [kind for kind, _ in events] == ["head"]


def test_rejects_bare_lf_ending_trailers(feed):
    assert status_of(request(CHUNKED, body=b"0\r\nX: 1\r\n\n"), feed) == 400


def test_trailer_fields_follow_field_rules(feed):
    assert status_of(request(CHUNKED, body=b"0\r\nX : 1\r\n\r\n"), feed) == 400
    assert status_of(request(CHUNKED, body=b"0\r\nX: 1\r\n continued\r\n\r\n"), feed) == 400


def test_trailer_fields_count_against_field_limit(feed):
    body = b"0\r\n" + b"".join(b"T-%d: 1\r\n" % i for i in range(5)) + b"\r\n"
    assert status_of(request(CHUNKED, body=body), feed, max_header_count=6) == 431


def test_trailer_bytes_count_against_head_size(feed):
    body = b"0\r\n" + b"T: " + b"v" * 200 + b"\r\n\r\n"
    assert status_of(request(CHUNKED, body=body), feed, max_header_size=200) == 431


def test_chunked_body_over_max_body_size_is_413(feed):
    body = b"40\r\n" + b"x" * 64 + b"\r\n40\r\n" + b"x" * 64 + b"\r\n0\r\n\r\n"
    assert status_of(request(CHUNKED, body=body), feed, max_body_size=100) == 413


# ---- Host (RFC 9112 §3.2, RFC 9110 §7.2) --------------------------------------

def test_rejects_http_1_1_without_host(feed):
    assert status_of(b"GET / HTTP/1.1\r\n\r\n", feed) == 400


def test_rejects_http_1_1_absolute_form_without_host(feed):
    assert status_of(b"GET http://a/ HTTP/1.1\r\n\r\n", feed) == 400


def test_rejects_duplicate_host(feed):
    assert status_of(request(b"Host: example.com"), feed) == 400


@pytest.mark.parametrize("value", [b"a b", b"a/b", b"a@b", b"host:port:x", b"[::1", b"::1",
                                   b"[::1]x", b"[:::1]", b"[1:2:3:4:5:6:7:8:9]", b"a%zz",
                                   b":80", b"host:8x", b"[1.2.3.4]", b"a?b", b"a#b"])
def test_rejects_invalid_host(feed, value):
    assert status_of(b"GET / HTTP/1.1\r\nHost: " + value + b"\r\n\r\n", feed) == 400


@pytest.mark.parametrize("value", [b"example.com", b"example.com:8080", b"127.0.0.1:80", b"[::1]",
                                   b"[::1]:8080", b"[2001:db8::ff00:42:8329]", b"[::ffff:192.0.2.1]",
                                   b"[v1.fe80::a+en1]", b"ex%41mple", b"a-b.c_d~!$&'()*+,;=",
                                   b"host:", b""])
def test_accepts_valid_host(feed, value):
    assert head(b"GET / HTTP/1.1\r\nHost: " + value + b"\r\n\r\n", feed).host == value


# ---- Connection, keep-alive (RFC 9112 §9.3) -----------------------------------

@pytest.mark.parametrize("version,connection,keep_alive", [
    (b"HTTP/1.1", None, True),
    (b"HTTP/1.1", b"close", False),
    (b"HTTP/1.1", b"Close", False),
    (b"HTTP/1.1", b"keep-alive", True),
    (b"HTTP/1.1", b"upgrade, close", False),
    (b"HTTP/1.0", None, False),
    (b"HTTP/1.0", b"keep-alive", True),
    (b"HTTP/1.0", b"Keep-Alive", True),
    (b"HTTP/1.0", b"keep-alive, close", False),
    (b"HTTP/1.0", b"close", False),
    (b"HTTP/1.0", b" , keep-alive ,", True),
])
def test_keep_alive_matrix(feed, version, connection, keep_alive):
    lines = [b"Connection: " + connection] if connection is not None else []
    assert head(request(*lines, version=version), feed).keep_alive is keep_alive


@pytest.mark.parametrize("version,connection,keep_alive", [
    (b"HTTP/1.1", b", close", False),
    (b"HTTP/1.1", b",close", False),
    (b"HTTP/1.1", b"close,", False),
    (b"HTTP/1.1", b"close , ,", False),
    (b"HTTP/1.1", b"upgrade, , close", False),
    (b"HTTP/1.1", b",", True),
    (b"HTTP/1.1", b"," * 7, True),  # 8 empty elements: the bound
    (b"HTTP/1.0", b", keep-alive", True),
    (b"HTTP/1.0", b"keep-alive,", True),
    (b"HTTP/1.0", b", , keep-alive, ,", True),
])
def test_connection_ignores_empty_list_elements(feed, version, connection, keep_alive):
    # RFC 9110 §5.6.1, §7.6.1 Connection = #connection-option
    assert head(request(b"Connection: " + connection, version=version), feed).keep_alive is keep_alive


@pytest.mark.parametrize("connection", [b"," * 9 + b"close", b"close" + b" ," * 9, b", " * 10])
def test_rejects_more_than_8_empty_list_elements_in_connection(feed, connection):
    assert status_of(request(b"Connection: " + connection), feed) == 400


def test_empty_list_element_bound_is_per_field_line(feed):
    lines = [b"Connection: " + b"," * 8 + b"upgrade", b"Connection: " + b"," * 8 + b"close"]
    assert head(request(*lines), feed).keep_alive is False


def test_connection_tokens_across_fields(feed):
    assert head(request(b"Connection: upgrade", b"Connection: close"), feed).keep_alive is False


def test_rejects_connection_option_that_is_not_a_token(feed):
    assert status_of(request(b"Connection: clo se"), feed) == 400


# ---- Expect (RFC 9110 §10.1.1) ------------------------------------------------

def test_expect_100_continue(feed):
    req = head(request(b"Expect: 100-Continue", b"Content-Length: 1", body=b"x"), feed)
    assert req.expect_continue is True


def test_expect_100_continue_is_ignored_on_http_1_0(feed):
    data = request(b"Expect: 100-continue", b"Content-Length: 1", body=b"x", version=b"HTTP/1.0")
    assert head(data, feed).expect_continue is False


@pytest.mark.parametrize("value", [b"100-continue-x", b"200-ok", b"", b"100-continue, foo"])
def test_other_expectation_is_417(feed, value):
    assert status_of(request(b"Expect: " + value), feed) == 417


# ---- pipelining and parser state ------------------------------------------------

def test_pipelined_requests(feed):
    post = request(b"Content-Length: 3", body=b"abc", method=b"POST")
    chunked = request(CHUNKED, body=b"2\r\nde\r\n0\r\n\r\n", method=b"PUT")
    events = feed(GET + post + chunked + GET)
    assert [(kind, value if kind == "body" else value.method) for kind, value in events] == [
        ("head", b"GET"), ("done", b"GET"),
        ("head", b"POST"), ("body", b"abc"), ("done", b"POST"),
        ("head", b"PUT"), ("body", b"de"), ("done", b"PUT"),
        ("head", b"GET"), ("done", b"GET"),
    ]


def test_leading_empty_line_between_pipelined_requests(feed):
    assert [kind for kind, _ in feed(GET + b"\r\n" + GET)] == ["head", "done"] * 2


def test_keeps_bytes_of_the_next_request():
    parser = RequestParser()
    assert [kind for kind, _ in parser.feed(GET + GET[:10])] == ["head", "done"]
    assert [kind for kind, _ in parser.feed(GET[10:])] == ["head", "done"]


def test_parser_stays_failed_after_error():
    parser = RequestParser()
    with pytest.raises(HTTPError):
        parser.feed(b"GET / HTTP/1.1\r\nX : 1\r\n\r\n")
    with pytest.raises(HTTPError) as info:
        parser.feed(GET)
    assert info.value.status == 400


def test_reset_forgets_failure_and_partial_message():
    parser = RequestParser()
    with pytest.raises(HTTPError):
        parser.feed(b"BAD\x00")
    parser.reset()
    parser.feed(GET[:5])
    parser.reset()
    assert [kind for kind, _ in parser.feed(GET)] == ["head", "done"]


def test_accepts_bytearray_and_memoryview():
    parser = RequestParser()
    assert [kind for kind, _ in parser.feed(bytearray(GET))] == ["head", "done"]
    assert [kind for kind, _ in parser.feed(memoryview(GET))] == ["head", "done"]


def test_per_byte_feeding_of_a_large_head_is_linear():
    data = request(*[b"X-%d: %s" % (i, b"v" * 500) for i in range(100)])
    parser = RequestParser(max_field_size=1000, max_header_size=len(data) + 1, max_header_count=200)
    started = time.perf_counter()
    events = []
    for i in range(len(data)):
        events += parser.feed(data[i:i + 1])
    assert [kind for kind, _ in events] == ["head", "done"]
    assert time.perf_counter() - started < 2.0


# ---- robustness ------------------------------------------------------------------

def assert_only_events_or_http_error(parser, chunks):
    for chunk in chunks:
        try:
            events = parser.feed(chunk)
        except HTTPError as error:
            assert error.status in (400, 413, 414, 417, 431, 501, 505)
            return
        for kind, value in events:
            assert kind in ("head", "body", "done")


@settings(max_examples=500, deadline=None)
@given(st.lists(st.binary(max_size=64), max_size=8))
def test_random_bytes_only_give_events_or_http_error(chunks):
    assert_only_events_or_http_error(RequestParser(max_body_size=1000), chunks)


VALID = request(CHUNKED, b"X: 1", body=b"3;e=1\r\nabc\r\n0\r\nT: 2\r\n\r\n") + GET


@settings(max_examples=500, deadline=None)
@given(st.integers(0, len(VALID) - 1), st.binary(min_size=1, max_size=3))
def test_mutated_requests_only_give_events_or_http_error(index, replacement):
    data = VALID[:index] + replacement + VALID[index + 1:]
    assert_only_events_or_http_error(RequestParser(), [data])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(1, len(VALID) - 1), max_size=10))
def test_any_split_gives_the_same_events(cuts):
    points = [0, *sorted(set(cuts)), len(VALID)]
    parser = RequestParser()
    events = []
    for start, end in zip(points, points[1:]):
        events += parser.feed(VALID[start:end])
    shape = [(kind, value if kind == "body" else value.method) for kind, value in merge_bodies(events)]
    assert shape == [("head", b"GET"), ("body", b"abc"), ("done", b"GET"), ("head", b"GET"), ("done", b"GET")]
