"""Generate the raw-request corpus: tests/corpus/{valid,invalid}/NAME.http + NAME.json.

Invariants:
- Every ``.http`` file is written from this script, so CR, LF, NUL and obs-text
  bytes are exact; the committed files are reproduced byte for byte
  (``python tests/corpus/make_corpus.py --check`` verifies that, and
  tests/test_corpus.py runs the same check).
- A valid file holds one or more pipelined messages; its sidecar lists what the
  parser must report for each one. Expectations are written from the RFC, never
  taken from the parser's output.
- An invalid file holds a request the parser must refuse; its sidecar gives the
  status (and, for a pipeline, how many earlier messages complete first).
- File names say which rule the request exercises; limit cases assume the
  default RequestParser limits.

Run ``python tests/corpus/make_corpus.py`` to rewrite the corpus.
"""
import json
import sys
from pathlib import Path

CRLF = b"\r\n"
HERE = Path(__file__).resolve().parent

# Default limits of prefork._speedups.RequestParser, for the limit cases.
MAX_REQUEST_LINE = 8190
MAX_FIELD_SIZE = 8190
MAX_HEADER_SIZE = 65536
MAX_HEADER_COUNT = 100
MAX_BODY_SIZE = 1 << 30


class Field:
    """One field line: ``raw`` as sent, ``name``/``value`` as the parser must report."""

    def __init__(self, name, value, raw=None):
        self.name = name
        self.value = value
        self.raw = raw if raw is not None else name + b": " + value


def as_field(item):
    return item if isinstance(item, Field) else Field(*item)


def chunk(data, size=None, ext=b""):
    """One chunk of a chunked body; ``size`` overrides the hex digits sent."""
    size = size if size is not None else b"%x" % len(data)
    return size + ext + CRLF + data + CRLF


def latin1(data):
    return data.decode("latin-1")


def message(method, target, version=b"HTTP/1.1", fields=(), body=b"", *,
            chunks=None, last=b"0\r\n", trailers=(), **expected):
    """Build one request: returns (raw bytes, expectation dict).

    ``body`` is sent as is after the head (the caller writes the matching
    Content-Length field); ``chunks`` (a list of raw chunks made by ``chunk``)
    makes a chunked body ending with ``last``, the trailer fields and CRLF.
    ``expected`` overrides or adds keys of the expectation.
    """
    fields = [as_field(f) for f in fields]
    trailers = [as_field(f) for f in trailers]
    raw = b" ".join((method, target, version)) + CRLF
    raw += b"".join(f.raw + CRLF for f in fields) + CRLF
    if chunks is None:
        raw += body
    else:
        raw += b"".join(chunks) + last + b"".join(t.raw + CRLF for t in trailers) + CRLF
    expectation = default_expectation(method, target, version, fields, chunks)
    expectation["trailers"] = [[latin1(t.name), latin1(t.value)] for t in trailers]
    if "body" not in expected:
        expectation["body"] = latin1(body if chunks is None else decode_chunks(chunks))
    expectation.update(expected)
    return raw, {k: v for k, v in expectation.items() if v is not OMIT}


OMIT = object()


def default_expectation(method, target, version, fields, chunks):
    """What RFC 9112 says the parser reports for a well-formed message."""
    lowered = {f.name.lower(): f.value for f in fields}
    connection = lowered.get(b"connection", b"").lower()
    # RFC 9110 2.5: HTTP/1.2 and later minor versions are processed as HTTP/1.1.
    if version != b"HTTP/1.0":
        keep_alive = connection != b"close"
    else:
        keep_alive = connection == b"keep-alive"
    if chunks is not None:
        content_length = -1
    else:
        content_length = int(lowered.get(b"content-length", b"0"))
    host = lowered.get(b"host")
    path, _, query = target.partition(b"?")
    return {
        "method": latin1(method),
        "target": latin1(target),
        "http_version": latin1(version),
        "headers": [[latin1(f.name), latin1(f.value)] for f in fields],
        "keep_alive": keep_alive,
        "content_length": content_length,
        "chunked": chunks is not None,
        "host": None if host is None else latin1(host),
        "path": latin1(path),
        "query": latin1(query),
        "expect_continue": lowered.get(b"expect", b"").lower() == b"100-continue",
    }


def decode_chunks(chunks):
    data = b""
    for raw in chunks:
        size_line, _, rest = raw.partition(CRLF)
        size = int(size_line.split(b";")[0], 16)
        data += rest[:size]
    return data


HOST = (b"Host", b"example.com")


def get(target=b"/", version=b"HTTP/1.1", extra=(), **kw):
    fields = [HOST] if version == b"HTTP/1.1" else []
    return message(b"GET", target, version, fields + list(extra), **kw)


def post(body, version=b"HTTP/1.1", extra=(), **kw):
    fields = [HOST, (b"Content-Length", b"%d" % len(body))] + list(extra)
    return message(b"POST", b"/submit", version, fields, body, **kw)


def post_chunked(chunks, extra=(), **kw):
    fields = [HOST, (b"Transfer-Encoding", b"chunked")] + list(extra)
    return message(b"POST", b"/upload", b"HTTP/1.1", fields, chunks=chunks, **kw)


def ows(name, raw_value, value):
    """A field sent with ``raw_value`` whose reported value is ``value``."""
    return Field(name, value, name + b":" + raw_value)


# -- valid -----------------------------------------------------------------

def valid_request_lines():
    yield "get_minimal", [get()]
    yield "http10_without_host", [get(version=b"HTTP/1.0")]
    yield "http10_with_host", [message(b"GET", b"/", b"HTTP/1.0", [HOST])]
    yield "http10_keep_alive", [get(version=b"HTTP/1.0", extra=[(b"Connection", b"keep-alive")])]
    yield "http10_keep_alive_mixed_case", [
        get(version=b"HTTP/1.0", extra=[(b"Connection", b"Keep-Alive")])]
    yield "http10_connection_close", [get(version=b"HTTP/1.0", extra=[(b"Connection", b"close")])]
    yield "http11_connection_close", [get(extra=[(b"Connection", b"close")])]
    yield "http11_connection_close_mixed_case", [get(extra=[(b"Connection", b"Close")])]
    yield "http11_connection_keep_alive", [get(extra=[(b"Connection", b"keep-alive")])]
    # RFC 9112 9.3: "close" and "keep-alive" are connection options in a list.
    yield "connection_option_list_with_close", [
        get(extra=[(b"Connection", b"TE, close")], keep_alive=False)]
    yield "connection_close_in_second_field", [
        get(extra=[(b"Connection", b"keep-alive"), (b"Connection", b"close")], keep_alive=False)]
    yield "http10_keep_alive_in_option_list", [
        get(version=b"HTTP/1.0", extra=[(b"Connection", b"Keep-Alive, Upgrade")], keep_alive=True)]
    # RFC 9110 5.6.1: a recipient MUST parse and ignore a reasonable number of
    # empty list elements (prefork: up to 8 in one field line).
    yield "connection_close_after_empty_element", [
        get(extra=[(b"Connection", b", close")], keep_alive=False)]
    yield "connection_close_before_empty_elements", [
        get(extra=[(b"Connection", b"close , ,")], keep_alive=False)]
    yield "connection_close_between_empty_elements", [
        get(extra=[(b"Connection", b"upgrade, , close,")], keep_alive=False)]
    yield "http10_keep_alive_after_empty_element", [
        get(version=b"HTTP/1.0", extra=[(b"Connection", b", keep-alive")], keep_alive=True)]
    yield "http10_keep_alive_before_empty_element", [
        get(version=b"HTTP/1.0", extra=[(b"Connection", b"keep-alive,")], keep_alive=True)]
    yield "connection_only_empty_elements", [get(extra=[(b"Connection", b", ,")], keep_alive=True)]
    yield "method_lowercase_token", [message(b"get", b"/", fields=[HOST])]
    yield "method_extension_token", [message(b"PROPFIND", b"/dav/", fields=[HOST])]
    yield "method_all_tchar_symbols", [message(b"X!#$%&'*+-.^_`|~Y", b"/", fields=[HOST])]
    yield "method_head", [message(b"HEAD", b"/index.html", fields=[HOST])]
    yield "method_delete_content_length_zero", [
        message(b"DELETE", b"/item", fields=[HOST, (b"Content-Length", b"0")])]
    yield "method_options_origin_form", [message(b"OPTIONS", b"/api", fields=[HOST])]
    yield "options_asterisk_form", [message(b"OPTIONS", b"*", fields=[HOST], path="*", query="")]
    yield "connect_authority_form", [
        message(b"CONNECT", b"example.com:443", fields=[(b"Host", b"example.com:443")],
                path=OMIT, query=OMIT)]
    yield "connect_ipv6_authority_form", [
        message(b"CONNECT", b"[2001:db8::1]:8443", fields=[(b"Host", b"[2001:db8::1]:8443")],
                path=OMIT, query=OMIT)]
    # RFC 9110 2.5, 6.2: a higher minor version is processed as HTTP/1.1 (keep-alive
    # by default, Host required, chunked allowed); http_version stays as sent.
    yield "version_http_1_2_processed_as_1_1", [
        message(b"GET", b"/", b"HTTP/1.2", [HOST], minor=1, keep_alive=True)]
    yield "version_http_1_9_processed_as_1_1", [
        message(b"GET", b"/", b"HTTP/1.9", [HOST], minor=1, keep_alive=True)]
    yield "version_http_1_2_connection_close", [
        message(b"GET", b"/", b"HTTP/1.2", [HOST, (b"Connection", b"close")], minor=1,
                keep_alive=False)]
    yield "version_http_1_2_chunked_body", [
        message(b"POST", b"/upload", b"HTTP/1.2", [HOST, (b"Transfer-Encoding", b"chunked")],
                chunks=[chunk(b"hello")], minor=1)]
    yield "version_http_1_2_expect_continue", [
        message(b"POST", b"/", b"HTTP/1.2", [HOST, (b"Content-Length", b"2"),
                                             (b"Expect", b"100-continue")], b"ok", minor=1)]
    yield "leading_crlf_ignored", [prefix(CRLF, get())]
    yield "two_leading_crlfs_ignored", [prefix(CRLF * 2, get())]


def prefix(data, built):
    raw, expected = built
    return data + raw, expected


def valid_targets():
    yield "origin_form_with_query", [get(b"/search?q=prefork&page=two")]
    yield "query_with_question_marks", [get(b"/a?b?c")]
    yield "empty_query", [get(b"/path?")]
    yield "target_percent_encoded", [get(b"/caf%C3%A9/%20space?x=%26")]
    yield "target_all_vchar_punctuation", [get(b"/!$&'()*+,;=:@-._~%41[]{}|^`\\\"<>?q=/?")]
    yield "target_long_under_limit", [get(b"/" + b"a" * (MAX_REQUEST_LINE - 200))]
    yield "absolute_form_http", [
        get(b"http://example.com/path?x=1", host="example.com", path="/path", query="x=1")]
    yield "absolute_form_https_with_port", [
        message(b"GET", b"https://example.com:8443/a/b", fields=[(b"Host", b"example.com:8443")],
                host="example.com:8443", path="/a/b", query="")]
    yield "absolute_form_overrides_host_field", [
        message(b"GET", b"http://origin.example/admin", fields=[(b"Host", b"other.example")],
                host="origin.example", path="/admin", query="")]
    # RFC 9110 4.2.3: an empty path in an http URI is equivalent to "/".
    yield "absolute_form_without_path", [
        get(b"http://example.com", host="example.com", path="/", query="")]
    yield "absolute_form_query_without_path", [
        get(b"http://example.com?x=1", host="example.com", path="/", query="x=1")]
    # RFC 3986 3.1: the scheme is case-insensitive.
    yield "absolute_form_uppercase_scheme", [
        get(b"HTTP://example.com/a", host="example.com", path="/a", query="")]
    yield "absolute_form_http10_without_host", [
        message(b"GET", b"http://example.com/x", b"HTTP/1.0",
                host="example.com", path="/x", query="")]


def valid_fields():
    yield "field_ows_spaces_trimmed", [get(extra=[ows(b"X-Pad", b"   value   ", b"value")])]
    yield "field_ows_tabs_trimmed", [get(extra=[ows(b"X-Pad", b"\tvalue\t", b"value")])]
    yield "field_ows_mixed_trimmed", [get(extra=[ows(b"X-Pad", b" \t value \t ", b"value")])]
    yield "field_without_ows", [get(extra=[ows(b"X-Tight", b"value", b"value")])]
    yield "field_empty_value", [get(extra=[ows(b"X-Empty", b"", b"")])]
    yield "field_empty_value_with_ows", [get(extra=[ows(b"X-Empty", b" \t ", b"")])]
    yield "field_value_inner_whitespace_kept", [get(extra=[(b"X-Inner", b"a  b\tc")])]
    yield "field_value_obs_text", [get(extra=[(b"X-Latin", b"caf\xe9 \x80\xff")])]
    yield "field_value_only_obs_text", [get(extra=[(b"X-Bytes", b"\xa0\x85\xc3\xa9")])]
    yield "field_value_with_colons", [get(extra=[(b"X-Time", b"12:34:56")])]
    yield "field_value_quotes_commas", [get(extra=[(b"X-List", b"\"a, b\", c;q=0.5")])]
    yield "field_name_all_tchar", [get(extra=[(b"X!#$%&'*+-.^_`|~Z", b"v")])]
    yield "field_names_case_preserved", [
        message(b"GET", b"/", fields=[(b"hOsT", b"example.com"), (b"X-MiXeD", b"v")])]
    yield "field_repeated_non_framing", [
        get(extra=[(b"Accept", b"text/html"), (b"Accept", b"application/json")])]
    yield "field_te_trailers_not_transfer_encoding", [get(extra=[(b"TE", b"trailers")])]
    yield "field_line_under_size_limit", [get(extra=[(b"X-Long", b"v" * (MAX_FIELD_SIZE - 200))])]
    yield "head_under_size_limit", [
        get(extra=[(b"X-Big-%d" % i, b"v" * 8000) for i in range(7)])]
    yield "field_count_at_limit", [
        get(extra=[(b"X-F%d" % i, b"v") for i in range(MAX_HEADER_COUNT - 1)])]
    yield "browser_like_request", [get(b"/index.html?lang=en", extra=[
        (b"User-Agent", b"Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0"),
        (b"Accept", b"text/html,application/xhtml+xml;q=0.9,*/*;q=0.8"),
        (b"Accept-Language", b"en-US,en;q=0.5"),
        (b"Accept-Encoding", b"gzip, deflate, br"),
        (b"Cookie", b"session=abc123; theme=dark; n=\"quoted\""),
        (b"Referer", b"https://example.com/start"),
        (b"Upgrade-Insecure-Requests", b"1"),
    ])]
    yield "websocket_upgrade_request", [get(b"/chat", extra=[
        (b"Upgrade", b"websocket"), (b"Connection", b"Upgrade"),
        (b"Sec-WebSocket-Key", b"dGhlIHNhbXBsZSBub25jZQ=="), (b"Sec-WebSocket-Version", b"13"),
    ])]
    yield "expect_100_continue", [post(b"hello", extra=[(b"Expect", b"100-continue")])]
    # RFC 9110 10.1.1: a server MUST ignore 100-continue in an HTTP/1.0 request.
    yield "expect_continue_ignored_on_http10", [
        post(b"hello", version=b"HTTP/1.0", extra=[(b"Expect", b"100-continue")],
             expect_continue=False)]
    yield "field_value_trailing_nbsp_kept", [get(extra=[(b"X-Nbsp", b"a\xa0")])]
    yield "expect_100_continue_mixed_case", [post(b"hello", extra=[(b"Expect", b"100-Continue")])]


def valid_hosts():
    def with_host(value):
        return [message(b"GET", b"/", fields=[(b"Host", value)])]
    yield "host_with_port", with_host(b"example.com:8080")
    yield "host_ipv4", with_host(b"192.0.2.7")
    yield "host_ipv6_literal_with_port", with_host(b"[::1]:8080")
    yield "host_ipv6_literal", with_host(b"[2001:db8::7]")
    yield "host_empty_value", with_host(b"")
    yield "host_empty_port", with_host(b"example.com:")
    yield "host_reg_name_unreserved", with_host(b"www.ex-ample_1~x.com")
    yield "host_reg_name_sub_delims", with_host(b"a!$&'()*+,;=b")
    yield "host_reg_name_percent_encoded", with_host(b"ex%41mple.com")
    yield "host_uppercase", with_host(b"EXAMPLE.COM")


def valid_bodies():
    yield "content_length_body", [post(b"name=value&x=1")]
    yield "content_length_zero", [post(b"")]
    yield "content_length_leading_zeros", [
        message(b"POST", b"/", fields=[HOST, (b"Content-Length", b"0005")], body=b"hello")]
    yield "content_length_eighteen_digits", [
        message(b"POST", b"/", fields=[HOST, (b"Content-Length", b"000000000000000005")],
                body=b"hello")]
    yield "content_length_with_ows", [
        message(b"POST", b"/", fields=[HOST, ows(b"Content-Length", b"  5 \t", b"5")],
                body=b"hello")]
    yield "content_length_lowercase_name", [
        message(b"POST", b"/", fields=[HOST, (b"content-length", b"5")], body=b"hello")]
    yield "content_length_binary_body", [post(bytes(range(256)))]
    yield "content_length_body_with_crlf", [post(b"line one\r\nline two\r\n\r\nGET / HTTP/1.1\r\n")]
    yield "content_length_large_body", [post(b"x" * 70000)]
    yield "get_with_content_length_body", [get(extra=[(b"Content-Length", b"3")], body=b"abc")]
    yield "http10_content_length_body", [post(b"old", version=b"HTTP/1.0")]
    yield "chunked_simple", [post_chunked([chunk(b"hello"), chunk(b" world")])]
    yield "chunked_empty_body", [post_chunked([])]
    yield "chunked_value_uppercase", [message(b"POST", b"/", fields=[
        HOST, (b"Transfer-Encoding", b"CHUNKED")], chunks=[chunk(b"abc")])]
    yield "chunked_value_mixed_case", [message(b"POST", b"/", fields=[
        HOST, (b"Transfer-Encoding", b"ChUnKeD")], chunks=[chunk(b"abc")])]
    yield "chunked_value_with_ows", [message(b"POST", b"/", fields=[
        HOST, ows(b"Transfer-Encoding", b" \t chunked \t", b"chunked")], chunks=[chunk(b"abc")])]
    yield "chunked_lowercase_name", [message(b"POST", b"/", fields=[
        HOST, (b"transfer-encoding", b"chunked")], chunks=[chunk(b"abc")])]
    # RFC 9110 5.6.1: empty list elements are ignored; chunked is still the
    # one and final coding (RFC 9112 6.1).
    for name, value in [("empty_element_before_chunked", b", chunked"),
                        ("leading_comma", b",chunked"),
                        ("trailing_comma", b"chunked,"),
                        ("empty_elements_after_chunked", b"chunked , ,"),
                        ("eight_empty_elements", b",,,,chunked,,,,")]:
        yield "te_" + name, [message(b"POST", b"/", fields=[
            HOST, (b"Transfer-Encoding", value)], chunks=[chunk(b"abc")])]
    yield "chunk_size_uppercase_hex", [post_chunked([chunk(b"z" * 26, size=b"1A")])]
    yield "chunk_size_lowercase_hex", [post_chunked([chunk(b"z" * 26, size=b"1a")])]
    yield "chunk_size_leading_zeros", [post_chunked([chunk(b"hello", size=b"0005")])]
    yield "chunk_size_sixteen_digits", [post_chunked([chunk(b"hello", size=b"0" * 15 + b"5")])]
    yield "chunk_extension_name_value", [post_chunked([chunk(b"hello", ext=b";name=value")])]
    yield "chunk_extension_quoted_value", [
        post_chunked([chunk(b"hello", ext=b";name=\"quoted; value\"")])]
    yield "chunk_extension_name_only", [post_chunked([chunk(b"hello", ext=b";flag")])]
    yield "chunk_extension_several", [post_chunked([chunk(b"hello", ext=b";a=1;b;c=\"x\"")])]
    yield "chunk_extension_on_last_chunk", [post_chunked([chunk(b"hello")], last=b"0;end=yes\r\n")]
    yield "chunk_extension_under_limit", [
        post_chunked([chunk(b"hello", ext=b";pad=" + b"v" * 3000)])]
    # RFC 9112 7.1.1: chunk-ext = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] ),
    # and RFC 9110 5.6.3: recipients MUST accept BWS.
    yield "chunk_extension_bws_after_semicolon", [
        post_chunked([chunk(b"hello", ext=b"; name = value")])]
    yield "chunk_extension_bws_before_semicolon", [
        post_chunked([chunk(b"hello", ext=b" ;name=value")])]
    yield "chunk_extension_htab_bws_before_semicolon", [
        post_chunked([chunk(b"hello", ext=b"\t;name")])]
    yield "chunk_extension_bws_around_equals", [
        post_chunked([chunk(b"hello", ext=b";name \t= \tvalue")])]
    yield "chunk_extension_all_tchar", [
        post_chunked([chunk(b"hello", ext=b";!#$%&'*+-.^_`|~09azAZ=!#$%&'*+-.^_`|~09azAZ")])]
    # RFC 9110 5.6.4: quoted-string = DQUOTE *( qdtext / quoted-pair ) DQUOTE
    yield "chunk_extension_empty_quoted_value", [post_chunked([chunk(b"hello", ext=b';a=""')])]
    yield "chunk_extension_quoted_pair", [
        post_chunked([chunk(b"hello", ext=b';a="say \\"hi\\" \\\\ \\\t"')])]
    yield "chunk_extension_quoted_obs_text", [
        post_chunked([chunk(b"hello", ext=b';a="caf\xc3\xa9 \\\xff"')])]
    yield "chunk_extension_at_limit", [
        post_chunked([chunk(b"hello", ext=b";" + b"x" * 4095)])]
    yield "last_chunk_several_zeros", [post_chunked([chunk(b"hello")], last=b"000\r\n")]
    yield "chunked_trailer_fields", [post_chunked([chunk(b"hello")], trailers=[
        (b"X-Checksum", b"5d41402a"), (b"X-Count", b"1")])]
    yield "chunked_trailer_with_ows", [post_chunked([chunk(b"hello")], trailers=[
        ows(b"X-Checksum", b"  abc \t", b"abc")])]
    yield "chunked_binary_data", [post_chunked([chunk(b"\x00\r\n\r\n0\r\n\xff"), chunk(b"\n")])]
    yield "chunked_many_small_chunks", [post_chunked([chunk(bytes([c])) for c in b"prefork!"])]
    yield "chunked_large_chunk", [post_chunked([chunk(b"q" * 0x10000), chunk(b"tail")])]
    yield "chunked_with_expect_continue", [
        post_chunked([chunk(b"data")], extra=[(b"Expect", b"100-continue")])]


def valid_pipelines():
    yield "pipeline_two_gets", [get(b"/one"), get(b"/two")]
    yield "pipeline_post_then_get", [post(b"payload"), get(b"/after")]
    yield "pipeline_chunked_then_content_length", [
        post_chunked([chunk(b"abc")], trailers=[(b"X-T", b"1")]), post(b"second")]
    yield "pipeline_mixed_versions", [
        get(b"/a"), get(b"/b", version=b"HTTP/1.0"), post(b"c", version=b"HTTP/1.0")]
    yield "pipeline_crlf_between_requests", [get(b"/one"), prefix(CRLF, get(b"/two"))]
    yield "pipeline_head_options_delete", [
        message(b"HEAD", b"/", fields=[HOST]), message(b"OPTIONS", b"*", fields=[HOST], path="*"),
        message(b"DELETE", b"/x", fields=[HOST, (b"Content-Length", b"0")])]
    yield "pipeline_body_looks_like_request", [
        post(b"GET /smuggled HTTP/1.1\r\nHost: evil\r\n\r\n"), get(b"/real")]
    yield "pipeline_five_gets", [get(b"/%d" % i) for i in range(5)]
    yield "pipeline_chunked_twice", [
        post_chunked([chunk(b"first")]), post_chunked([chunk(b"second", ext=b";e")])]
    yield "pipeline_close_last", [get(b"/a"), get(b"/b", extra=[(b"Connection", b"close")])]


VALID_GROUPS = (valid_request_lines, valid_targets, valid_fields, valid_hosts, valid_bodies,
                valid_pipelines)


# -- invalid ---------------------------------------------------------------

def bad(status, why, rfc, raw, before=0):
    sidecar = {"status": status, "why": why, "rfc": rfc}
    if before:
        sidecar["messages_before"] = before
    return raw, sidecar


def head(request_line, *field_lines):
    return request_line + CRLF + b"".join(f + CRLF for f in field_lines) + CRLF


def get_head(*field_lines):
    return head(b"GET / HTTP/1.1", b"Host: example.com", *field_lines)


def post_head(*field_lines):
    return head(b"POST / HTTP/1.1", b"Host: example.com", *field_lines)


def chunked_post(body, *field_lines):
    return post_head(b"Transfer-Encoding: chunked", *field_lines) + body


def invalid_request_lines():
    s31, s22 = "RFC 9112 3", "RFC 9112 2.2"
    host = b"Host: example.com"
    yield "request_line_double_space", bad(
        400, "two SP between method and target", s31, head(b"GET  / HTTP/1.1", host))
    yield "request_line_double_space_before_version", bad(
        400, "two SP between target and version", s31, head(b"GET /  HTTP/1.1", host))
    yield "request_line_tab_separators", bad(
        400, "HTAB instead of SP in the request line", s31, head(b"GET\t/\tHTTP/1.1", host))
    yield "request_line_trailing_space", bad(
        400, "SP after the version", s31, head(b"GET / HTTP/1.1 ", host))
    yield "request_line_leading_space", bad(
        400, "SP before the method", s31, head(b" GET / HTTP/1.1", host))
    yield "request_line_without_version", bad(
        400, "HTTP/0.9 style request line without version", s31, head(b"GET /", host))
    yield "request_line_bare_lf", bad(
        400, "request line ended by bare LF", s22, b"GET / HTTP/1.1\nHost: example.com\r\n\r\n")
    yield "request_line_bare_cr", bad(
        400, "bare CR inside the request line", s22, head(b"GET /\r HTTP/1.1", host))
    yield "request_line_vertical_tab", bad(
        400, "VT used as separator", s31, head(b"GET\x0b/ HTTP/1.1", host))
    yield "method_with_separator", bad(
        400, "method is not a token", "RFC 9110 9.1", head(b"GE(T / HTTP/1.1", host))
    yield "method_with_obs_text", bad(
        400, "method contains a byte >= 0x80", "RFC 9110 9.1", head(b"G\xc9T / HTTP/1.1", host))
    yield "method_with_nul", bad(
        400, "NUL inside the method", "RFC 9110 9.1", head(b"GE\x00T / HTTP/1.1", host))
    yield "target_with_space", bad(
        400, "SP inside the target", "RFC 9112 3.2", head(b"GET /a b HTTP/1.1", host))
    yield "target_with_ctl", bad(
        400, "control byte inside the target", "RFC 9112 3.2", head(b"GET /a\x01b HTTP/1.1", host))
    yield "target_with_del", bad(
        400, "DEL inside the target", "RFC 9112 3.2", head(b"GET /a\x7fb HTTP/1.1", host))
    yield "target_with_nul", bad(
        400, "NUL inside the target", "RFC 9112 3.2", head(b"GET /a\x00b HTTP/1.1", host))
    yield "target_with_obs_text", bad(
        400, "byte >= 0x80 inside the target", "RFC 9112 3.2",
        head(b"GET /caf\xe9 HTTP/1.1", host))
    yield "target_with_fragment", bad(
        400, "fragment in the request target", "RFC 9112 3.2", head(b"GET /a#frag HTTP/1.1", host))
    yield "target_without_leading_slash", bad(
        400, "target matches no request-target form", "RFC 9112 3.2",
        head(b"GET index.html HTTP/1.1", host))
    yield "asterisk_form_for_get", bad(
        400, "asterisk-form is only for OPTIONS", "RFC 9112 3.2.4", head(b"GET * HTTP/1.1", host))
    yield "authority_form_for_get", bad(
        400, "authority-form is only for CONNECT", "RFC 9112 3.2.3",
        head(b"GET example.com:80 HTTP/1.1", host))
    yield "connect_with_origin_form", bad(
        400, "CONNECT needs authority-form", "RFC 9112 3.2.3", head(b"CONNECT / HTTP/1.1", host))
    yield "connect_with_absolute_form", bad(
        400, "CONNECT needs authority-form", "RFC 9112 3.2.3",
        head(b"CONNECT http://example.com/ HTTP/1.1", host))
    yield "absolute_form_ftp_scheme", bad(
        400, "absolute-form scheme other than http/https", "RFC 9112 3.2.2",
        head(b"GET ftp://example.com/file HTTP/1.1", host))
    yield "absolute_form_empty_host", bad(
        400, "http URI with an empty host", "RFC 9110 4.2.1",
        head(b"GET http:///path HTTP/1.1", host))
    yield "absolute_form_with_userinfo", bad(
        400, "userinfo in an http URI", "RFC 9110 4.2.4",
        head(b"GET http://user@example.com/ HTTP/1.1", host))
    yield "absolute_form_invalid_port", bad(
        400, "non-numeric port in the target authority", "RFC 9110 4.2.1",
        head(b"GET http://example.com:http/ HTTP/1.1", host))
    yield "absolute_form_http11_missing_host", bad(
        400, "HTTP/1.1 absolute-form request still needs a Host field", "RFC 9112 3.2",
        head(b"GET http://example.com/ HTTP/1.1", b"Accept: */*"))
    yield "asterisk_form_with_query", bad(
        400, "asterisk-form is exactly '*'", "RFC 9112 3.2.4", head(b"OPTIONS *?x HTTP/1.1", host))
    yield "connect_authority_without_port", bad(
        400, "authority-form needs host:port", "RFC 9112 3.2.3",
        head(b"CONNECT example.com HTTP/1.1", host))
    yield "leading_bare_lf_before_request_line", bad(
        400, "bare LF before the request line", s22, b"\n" + head(b"GET / HTTP/1.1", host))
    yield "version_http_2", bad(
        505, "well-formed but unsupported major version", "RFC 9110 15.6.6",
        head(b"GET / HTTP/2.0", host))
    yield "version_http_0_9", bad(
        505, "well-formed but unsupported version", "RFC 9110 15.6.6",
        head(b"GET / HTTP/0.9", host))
    yield "version_http_3_1", bad(
        505, "well-formed but unsupported major version", "RFC 9110 15.6.6",
        head(b"GET / HTTP/3.1", host))
    yield "version_http_1_2_missing_host", bad(
        400, "HTTP/1.2 is processed as HTTP/1.1, which needs Host", "RFC 9110 2.5, RFC 9112 3.2",
        head(b"GET / HTTP/1.2", b"Accept: */*"))
    yield "version_http_1_2_te_and_cl", bad(
        400, "HTTP/1.2 is processed as HTTP/1.1: Transfer-Encoding with Content-Length",
        "RFC 9110 2.5, RFC 9112 6.3",
        post_head(b"Content-Length: 5", b"Transfer-Encoding: chunked").replace(
            b"HTTP/1.1", b"HTTP/1.2", 1) + b"0\r\n\r\n")
    yield "version_http_1_two_digit_minor", bad(
        400, "HTTP-version has one digit per part", "RFC 9112 2.3", head(b"GET / HTTP/1.10", host))
    yield "version_lowercase", bad(
        400, "HTTP-name is case-sensitive", "RFC 9112 2.3", head(b"GET / http/1.1", host))
    yield "version_two_digit_major", bad(
        400, "HTTP-version has one digit per part", "RFC 9112 2.3", head(b"GET / HTTP/11.1", host))
    yield "version_missing_minor", bad(
        400, "HTTP-version without minor", "RFC 9112 2.3", head(b"GET / HTTP/1", host))
    yield "version_trailing_garbage", bad(
        400, "bytes after the version", "RFC 9112 2.3", head(b"GET / HTTP/1.1x", host))
    yield "request_line_too_long", bad(
        414, "request line longer than max_request_line", "RFC 9112 3",
        head(b"GET /" + b"a" * (MAX_REQUEST_LINE + 800) + b" HTTP/1.1", host))

    # The request line is over its own limit long before the head is; the
    # answer must not depend on how the bytes were split (414, never 431).
    yield "request_line_longer_than_head_limit", bad(
        414, "request line longer than max_request_line and max_header_size", "RFC 9112 3",
        head(b"GET /" + b"a" * (MAX_HEADER_SIZE + 5000) + b" HTTP/1.1", host))


def invalid_fields():
    s52, s54, s22 = "RFC 9112 5.1", "RFC 9110 5.5", "RFC 9112 2.2"
    yield "field_space_before_colon", bad(
        400, "whitespace between field name and colon", s52, get_head(b"X-Name : value"))
    yield "host_space_before_colon", bad(
        400, "whitespace before colon in Host", s52,
        head(b"GET / HTTP/1.1", b"Host : example.com"))
    yield "transfer_encoding_space_before_colon", bad(
        400, "'Transfer-Encoding : chunked' must not be read as TE", s52,
        post_head(b"Transfer-Encoding : chunked") + b"0\r\n\r\n")
    yield "field_tab_before_colon", bad(
        400, "HTAB between field name and colon", s52, get_head(b"X-Name\t: value"))
    yield "field_obs_fold_space", bad(
        400, "obs-fold continuation line", "RFC 9112 5.2", get_head(b"X-Long: a", b" b"))
    yield "field_obs_fold_tab", bad(
        400, "obs-fold continuation line with HTAB", "RFC 9112 5.2",
        get_head(b"X-Long: a", b"\tb"))
    yield "transfer_encoding_obs_fold", bad(
        400, "TE value folded onto the next line", "RFC 9112 5.2",
        post_head(b"Transfer-Encoding:", b" chunked") + b"0\r\n\r\n")
    yield "whitespace_before_first_field", bad(
        400, "first field line starts with whitespace", s22,
        head(b"GET / HTTP/1.1", b" X-Hidden: 1", b"Host: example.com"))
    yield "field_value_nul", bad(400, "NUL in a field value", s54, get_head(b"X-Nul: a\x00b"))
    yield "field_value_bare_cr", bad(400, "bare CR in a field value", s54, get_head(b"X-Cr: a\rb"))
    yield "field_value_vertical_tab", bad(
        400, "VT in a field value", s54, get_head(b"X-Vt: a\x0bb"))
    yield "field_value_form_feed", bad(400, "FF in a field value", s54, get_head(b"X-Ff: a\x0cb"))
    yield "field_value_del", bad(400, "DEL in a field value", s54, get_head(b"X-Del: a\x7fb"))
    yield "field_value_escape", bad(400, "ESC in a field value", s54, get_head(b"X-Esc: \x1b[31m"))
    yield "field_line_bare_lf", bad(
        400, "field line ended by bare LF", s22,
        b"GET / HTTP/1.1\r\nHost: example.com\nX-A: b\r\n\r\n")
    yield "head_all_bare_lf", bad(
        400, "every line ended by bare LF", s22, b"GET / HTTP/1.1\nHost: example.com\n\n")
    yield "head_end_bare_lf", bad(
        400, "empty line ending the head is a bare LF", s22,
        b"GET / HTTP/1.1\r\nHost: example.com\r\n\n")
    yield "field_line_cr_cr_lf", bad(
        400, "field line ended by CR CR LF", s22, b"GET / HTTP/1.1\r\nHost: example.com\r\r\n\r\n")
    yield "field_empty_name", bad(400, "field line with empty name", s52, get_head(b": value"))
    yield "field_name_with_space", bad(
        400, "field name contains SP", s52, get_head(b"X Name: value"))
    yield "field_name_with_separator", bad(
        400, "field name contains '/'", s52, get_head(b"X-A/B: value"))
    yield "field_name_with_nul", bad(400, "NUL inside a field name", s52, get_head(b"X\x00Y: v"))
    yield "field_name_obs_text_suffix", bad(
        400, "'Transfer-Encoding\\xa0' is not Transfer-Encoding nor a token", s52,
        post_head(b"Transfer-Encoding\xa0: chunked") + b"0\r\n\r\n")
    yield "content_length_name_nel_suffix", bad(
        400, "'Content-Length\\x85' is not a token", s52,
        post_head(b"Content-Length\x85: 5") + b"hello")
    yield "field_without_colon", bad(400, "field line without colon", s52, get_head(b"X-NoColon"))
    yield "field_line_too_long", bad(
        431, "one field line longer than max_field_size", "RFC 6585 5",
        get_head(b"X-Long: " + b"v" * (MAX_FIELD_SIZE + 100)))
    yield "field_line_longer_than_head_limit", bad(
        431, "one field line longer than max_header_size", "RFC 6585 5",
        get_head(b"X-Huge: " + b"v" * (MAX_HEADER_SIZE + 5000)))
    yield "head_too_large", bad(
        431, "head larger than max_header_size", "RFC 6585 5",
        get_head(*[b"X-Big-%d: %s" % (i, b"v" * 8000) for i in range(9)]))
    yield "too_many_fields", bad(
        431, "more fields than max_header_count", "RFC 6585 5",
        get_head(*[b"X-F%d: v" % i for i in range(MAX_HEADER_COUNT)]))


def invalid_framing():
    s63, s61, cl = "RFC 9112 6.3", "RFC 9112 6.1", "RFC 9110 8.6"
    yield "te_and_cl", bad(
        400, "CL.TE: both Content-Length and Transfer-Encoding", s63,
        post_head(b"Content-Length: 13", b"Transfer-Encoding: chunked")
        + b"0\r\n\r\nSMUGGLED")
    yield "cl_after_te", bad(
        400, "TE.CL: Transfer-Encoding then Content-Length", s63,
        post_head(b"Transfer-Encoding: chunked", b"Content-Length: 4")
        + b"5c\r\nGPOST / HTTP/1.1\r\n\r\n0\r\n\r\n")
    yield "te_and_cl_zero", bad(
        400, "Content-Length: 0 beside Transfer-Encoding", s63,
        post_head(b"Content-Length: 0", b"Transfer-Encoding: chunked") + b"0\r\n\r\n")
    yield "te_on_http10", bad(
        400, "Transfer-Encoding in an HTTP/1.0 request", s61,
        head(b"POST / HTTP/1.0", b"Transfer-Encoding: chunked") + b"0\r\n\r\n")
    yield "te_field_repeated", bad(
        400, "Transfer-Encoding field sent twice", s61,
        post_head(b"Transfer-Encoding: chunked", b"Transfer-Encoding: chunked") + b"0\r\n\r\n")
    yield "te_chunked_then_identity_field", bad(
        400, "Transfer-Encoding: chunked then Transfer-Encoding: identity", s61,
        post_head(b"Transfer-Encoding: chunked", b"Transfer-Encoding: identity") + b"0\r\n\r\n")
    yield "te_gzip_then_chunked", bad(
        501, "a transfer coding the server does not implement", s61,
        post_head(b"Transfer-Encoding: gzip, chunked") + b"0\r\n\r\n")
    yield "te_chunked_then_gzip", bad(
        400, "chunked is not the last transfer coding", s63,
        post_head(b"Transfer-Encoding: chunked, gzip") + b"0\r\n\r\n")
    yield "te_gzip_only", bad(
        400, "request transfer coding without chunked last", s63,
        post_head(b"Transfer-Encoding: gzip") + b"0\r\n\r\n")
    yield "te_identity", bad(
        400, "identity is no longer a transfer coding", s63,
        post_head(b"Transfer-Encoding: identity") + b"0\r\n\r\n")
    yield "te_chunked_twice_in_list", bad(
        400, "chunked applied more than once", s61,
        post_head(b"Transfer-Encoding: chunked, chunked") + b"0\r\n\r\n")
    yield "te_chunked_twice_around_empty_element", bad(
        400, "chunked applied twice, an empty list element between", s61,
        post_head(b"Transfer-Encoding: chunked, , chunked") + b"0\r\n\r\n")
    yield "te_gzip_empty_element_chunked", bad(
        501, "an empty list element does not hide the coding before chunked", s61,
        post_head(b"Transfer-Encoding: gzip,,chunked") + b"0\r\n\r\n")
    yield "te_only_empty_elements", bad(
        400, "a list of empty elements names no coding", s63,
        post_head(b"Transfer-Encoding: , ,") + b"0\r\n\r\n")
    yield "te_nine_empty_elements", bad(
        400, "more empty list elements than the 8 prefork ignores", "RFC 9110 5.6.1",
        post_head(b"Transfer-Encoding: " + b"," * 9 + b"chunked") + b"0\r\n\r\n")
    yield "te_empty_element_with_content_length", bad(
        400, "Transfer-Encoding with an empty element beside Content-Length", s63,
        post_head(b"Content-Length: 5", b"Transfer-Encoding: , chunked") + b"0\r\n\r\n")
    yield "connection_nine_empty_elements", bad(
        400, "more empty list elements than the 8 prefork ignores", "RFC 9110 5.6.1",
        get_head(b"Connection: close" + b" ," * 9))
    for name, value in [("prefixed_token", b"xchunked"), ("with_parameter", b"chunked;q=1"),
                        ("quoted", b"\"chunked\""), ("empty", b""),
                        ("vertical_tab", b"\x0bchunked"), ("nbsp", b"\xa0chunked"),
                        ("form_feed_suffix", b"chunked\x0c"), ("nul_suffix", b"chunked\x00")]:
        yield "te_value_" + name, bad(
            400, "Transfer-Encoding value %r is not exactly chunked" % value, s61,
            post_head(b"Transfer-Encoding: " + value) + b"0\r\n\r\n")
    for name, value in [("plus_sign", b"+5"), ("minus_sign", b"-5"), ("list_equal", b"5,5"),
                        ("list_with_space", b"5, 5"), ("hex", b"0x5"), ("inner_space", b"5 0"),
                        ("empty", b""), ("alpha", b"five"), ("decimal_point", b"5.0"),
                        ("nineteen_digits", b"0" * 18 + b"5"),
                        ("overflow", b"99999999999999999999999")]:
        yield "content_length_" + name, bad(
            400, "Content-Length %r is not 1*DIGIT of at most 18 digits" % value, cl,
            post_head(b"Content-Length: " + value) + b"hello")
    yield "content_length_duplicate_equal", bad(
        400, "two Content-Length fields, even equal", cl,
        post_head(b"Content-Length: 5", b"Content-Length: 5") + b"hello")
    yield "content_length_duplicate_different", bad(
        400, "two different Content-Length fields", cl,
        post_head(b"Content-Length: 5", b"Content-Length: 6") + b"hello!")
    yield "content_length_exceeds_max_body", bad(
        413, "declared body larger than max_body_size", "RFC 9110 15.5.14",
        post_head(b"Content-Length: %d" % (MAX_BODY_SIZE + 1)) + b"x")


def invalid_chunks():
    s71, s711, s712 = "RFC 9112 7.1", "RFC 9112 7.1.1", "RFC 9112 7.1.2"
    for name, size in [("0x_prefix", b"0x5"), ("plus_sign", b"+5"), ("minus_sign", b"-5"),
                       ("underscore", b"0_5"), ("leading_space", b" 5"),
                       ("trailing_space", b"5 "), ("leading_tab", b"\t5"), ("empty", b""),
                       ("non_hex", b"5g"), ("seventeen_digits", b"0" * 16 + b"5"),
                       ("overflow", b"ffffffffffffffffff")]:
        yield "chunk_size_" + name, bad(
            400, "chunk size %r is not 1*HEXDIG of at most 16 digits" % size, s71,
            chunked_post(size + b"\r\nhello\r\n0\r\n\r\n"))
    yield "chunk_size_bare_lf", bad(
        400, "chunk size line ended by bare LF", s71, chunked_post(b"5\nhello\r\n0\r\n\r\n"))
    yield "chunk_size_exceeds_max_body", bad(
        413, "declared chunk larger than max_body_size", "RFC 9110 15.5.14",
        chunked_post(b"40000001\r\nxxxx"))
    yield "chunk_size_sixteen_f", bad(
        413, "chunk size 2**64-1 must not wrap to a small or negative number",
        "RFC 9110 15.5.14", chunked_post(b"ffffffffffffffff\r\nxxxx"))
    yield "chunk_ext_bare_lf", bad(
        400, "bare LF inside a chunk extension", s711,
        chunked_post(b"5;a\nX\r\nhello\r\n0\r\n\r\n"))
    yield "chunk_ext_bare_cr", bad(
        400, "bare CR inside a chunk extension", s711,
        chunked_post(b"5;a\rX\r\nhello\r\n0\r\n\r\n"))
    yield "chunk_ext_nul", bad(
        400, "NUL inside a chunk extension", s711, chunked_post(b"5;a\x00b\r\nhello\r\n0\r\n\r\n"))
    yield "chunk_ext_too_long", bad(
        400, "chunk extension longer than 4096 bytes", s711,
        chunked_post(b"5;a=" + b"v" * 5000 + b"\r\nhello\r\n0\r\n\r\n"))
    yield "last_chunk_ext_bare_lf", bad(
        400, "bare LF inside the last chunk's extension", s711,
        chunked_post(b"0;a\nX\r\n\r\n"))
    for name, ext, why in [
            ("name_with_space", b";a b", "SP inside chunk-ext-name"),
            ("name_missing", b";", "';' without a chunk-ext-name"),
            ("name_missing_before_equals", b";=b", "'=' where the chunk-ext-name should be"),
            ("empty_between_semicolons", b";a;;b", "empty chunk-ext between two ';'"),
            ("name_obs_text", b";caf\xe9", "obs-text in chunk-ext-name"),
            ("equals_without_value", b";a=", "'=' with no chunk-ext-val"),
            ("equals_without_value_before_next", b";a=;b", "'=' with no chunk-ext-val"),
            ("value_with_space", b";a=b c", "SP inside a token chunk-ext-val"),
            ("value_with_slash", b";a=b/c", "'/' inside a token chunk-ext-val"),
            ("unterminated_quoted_string", b';a="open', "quoted-string without closing DQUOTE"),
            ("quoted_string_escaped_close", b';a="open\\"', "the closing DQUOTE is escaped"),
            ("bytes_after_quoted_string", b';a="x"y', "bytes after a quoted chunk-ext-val"),
            ("trailing_space", b";a ", "BWS after the last chunk-ext"),
            ("trailing_tab_after_value", b";a=b\t", "BWS after the last chunk-ext-val"),
            ("ctl_in_quoted_string", b';a="x\x01y"', "CTL inside a quoted-string"),
            ("del_in_quoted_string", b';a="x\x7fy"', "DEL inside a quoted-string"),
            ("quoted_pair_nul", b';a="\\\x00"', "quoted-pair of NUL"),
            ("vertical_tab", b";a=\x0b", "VT as a chunk-ext-val")]:
        yield "chunk_ext_" + name, bad(400, why, s711, chunked_post(
            b"5" + ext + b"\r\nhello\r\n0\r\n\r\n"))
    yield "last_chunk_ext_name_with_space", bad(
        400, "SP inside the last chunk's chunk-ext-name", s711, chunked_post(b"0;a b\r\n\r\n"))
    yield "chunk_ext_over_limit", bad(
        400, "chunk extension of 4097 bytes, one over the limit", s711,
        chunked_post(b"5;" + b"x" * 4096 + b"\r\nhello\r\n0\r\n\r\n"))
    yield "chunk_data_longer_than_size", bad(
        400, "chunk data not followed by CRLF (size too small)", s71,
        chunked_post(b"3\r\nhello\r\n0\r\n\r\n"))
    yield "chunk_data_without_crlf", bad(
        400, "chunk data followed by other bytes", s71, chunked_post(b"5\r\nhelloXX0\r\n\r\n"))
    yield "chunk_data_bare_lf", bad(
        400, "chunk data ended by bare LF", s71, chunked_post(b"5\r\nhello\n0\r\n\r\n"))
    yield "chunk_data_bare_cr", bad(
        400, "chunk data ended by bare CR", s71, chunked_post(b"5\r\nhello\r0\r\n\r\n"))
    yield "trailer_obs_fold", bad(
        400, "obs-fold in the trailer section", s712,
        chunked_post(b"0\r\nX-T: a\r\n b\r\n\r\n"))
    yield "trailer_space_before_colon", bad(
        400, "whitespace before colon in a trailer", s712, chunked_post(b"0\r\nX-T : a\r\n\r\n"))
    yield "trailer_bare_lf", bad(
        400, "trailer line ended by bare LF", s712, chunked_post(b"0\r\nX-T: a\n\r\n"))
    yield "trailer_value_nul", bad(
        400, "NUL in a trailer value", s712, chunked_post(b"0\r\nX-T: a\x00\r\n\r\n"))
    yield "chunked_final_bare_lf", bad(
        400, "chunked body ended by bare LF", s71, chunked_post(b"0\r\n\n"))
    yield "chunked_final_crlf_missing", bad(
        400, "last chunk followed by a request instead of CRLF", s71,
        chunked_post(b"0\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n"))


def invalid_hosts_and_expect():
    s72 = "RFC 9112 3.2"
    yield "http11_missing_host", bad(
        400, "HTTP/1.1 request without Host", s72, head(b"GET / HTTP/1.1", b"Accept: */*"))
    yield "host_duplicate", bad(
        400, "two Host fields", s72,
        head(b"GET / HTTP/1.1", b"Host: a.example", b"Host: b.example"))
    yield "host_duplicate_equal", bad(
        400, "two Host fields, even equal", s72,
        head(b"GET / HTTP/1.1", b"Host: a.example", b"Host: a.example"))
    for name, value in [("with_space", b"a b"), ("with_slash", b"a/b"),
                        ("with_userinfo", b"a@b"), ("two_colons", b"h:1:2"),
                        ("unclosed_ipv6", b"[::1"), ("non_numeric_port", b"h:x"),
                        ("with_comma_list", b"a.example, b.example"),
                        ("with_question_mark", b"a?b"), ("ipv6_invalid", b"[zz]"),
                        ("ipv6_port_without_colon", b"[::1]80")]:
        yield "host_" + name, bad(
            400, "Host %r is not uri-host [':' port]" % value, "RFC 9110 7.2",
            head(b"GET / HTTP/1.1", b"Host: " + value))
    yield "expect_unknown", bad(
        417, "expectation other than 100-continue", "RFC 9110 10.1.1",
        get_head(b"Expect: 102-processing"))


def invalid_pipelines():
    ok = b"GET /ok HTTP/1.1\r\nHost: example.com\r\n\r\n"
    yield "pipeline_second_request_te_and_cl", bad(
        400, "valid request then a CL.TE smuggling request", "RFC 9112 6.3",
        ok + post_head(b"Content-Length: 6", b"Transfer-Encoding: chunked") + b"0\r\n\r\nX",
        before=1)
    yield "pipeline_body_then_bare_lf_request", bad(
        400, "second request uses bare LF line endings", "RFC 9112 2.2",
        post_head(b"Content-Length: 3") + b"abc" + b"GET / HTTP/1.1\nHost: example.com\n\n",
        before=1)
    yield "pipeline_chunked_then_bad_chunk", bad(
        400, "second chunked request has a 0x chunk size", "RFC 9112 7.1",
        chunked_post(b"1\r\na\r\n0\r\n\r\n") + chunked_post(b"0x1\r\na\r\n0\r\n\r\n"), before=1)


INVALID_GROUPS = (invalid_request_lines, invalid_fields, invalid_framing, invalid_chunks,
                  invalid_hosts_and_expect, invalid_pipelines)


# -- writing ---------------------------------------------------------------

def render():
    """Map relative path -> exact bytes for the whole corpus."""
    files = {}
    for group in VALID_GROUPS:
        for name, built in group():
            raw = b"".join(r for r, _ in built)
            add(files, "valid", name, raw, {"messages": [e for _, e in built]})
    for group in INVALID_GROUPS:
        for name, (raw, sidecar) in group():
            add(files, "invalid", name, raw, sidecar)
    return files


def add(files, kind, name, raw, sidecar):
    path = "%s/%s.http" % (kind, name)
    if path in files:
        raise ValueError("duplicate corpus name: " + path)
    files[path] = raw
    text = json.dumps(sidecar, indent=1, sort_keys=True, ensure_ascii=True)
    files["%s/%s.json" % (kind, name)] = text.encode("ascii") + b"\n"


def stale(files):
    """Corpus files on disk that the generator no longer produces."""
    on_disk = {str(p.relative_to(HERE)) for kind in ("valid", "invalid")
               for p in (HERE / kind).glob("*") if p.suffix in (".http", ".json")}
    return sorted(on_disk - set(files))


def check():
    """Return a list of differences between the generator and the files on disk."""
    files = render()
    problems = ["stale: " + p for p in stale(files)]
    for rel, data in sorted(files.items()):
        path = HERE / rel
        if not path.exists() or path.read_bytes() != data:
            problems.append("differs: " + rel)
    return problems


def write():
    files = render()
    for rel in stale(files):
        (HERE / rel).unlink()
    for rel, data in files.items():
        path = HERE / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return files


def main(argv):
    if argv[1:] == ["--check"]:
        problems = check()
        print("\n".join(problems) or "corpus up to date")
        return 1 if problems else 0
    files = write()
    for kind in ("valid", "invalid"):
        count = sum(1 for rel in files if rel.startswith(kind + "/") and rel.endswith(".http"))
        print("%s: %d requests" % (kind, count))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
