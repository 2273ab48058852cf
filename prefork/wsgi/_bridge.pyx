"""The compiled PEP 3333 pieces: each request's environ, start_response
(with write() and the exc_info rules) and the runner that calls the app on
a worker thread (``--threads``).

The connection (prefork/http/_connection.pyx) owns the bytes; this module owns
the WSGI contract. Invariants: header names containing "_" never reach the
environ (so ``X_Forwarded_For`` cannot pose as ``X-Forwarded-For``); PATH_INFO
is percent-decoded and latin-1 (PEP 3333 "native strings"); with
``--threads`` the app's call, every block of its body and its close() run
on app threads, and no app thread ever waits for a client.

The server's address (PEP 3333's URL reconstruction, CGI RFC 3875 §4.1.14-15):
SERVER_PORT is always the port of the listener the connection came in on;
SERVER_NAME is the host part of the request's host (the Host field, or the
authority of an absolute-form target, RFC 9112 §3.2.2), else the listener's
address. A unix-socket listener counts as "localhost" on port "80", the http
default, so the recipe adds no port to a URL built from them.
"""
import sys

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE
from cpython.unicode cimport PyUnicode_DecodeLatin1

from prefork._speedups cimport FieldSpan, Request, field_name

from prefork.wsgi.filewrapper import FileWrapper

# SERVER_NAME and SERVER_PORT when the listener's address is not known.
cdef tuple UNKNOWN_SERVER = ("localhost", "80")


def listener_address(sockname):
    """(SERVER_NAME fallback, SERVER_PORT) of a listening socket, from its
    getsockname(): an IPv6 address in brackets, as in a URL (RFC 3986
    §3.2.2); a unix socket (a path) as UNKNOWN_SERVER, since it has no port."""
    if isinstance(sockname, tuple):
        host = sockname[0]
        return (f"[{host}]" if ":" in host else host), str(sockname[1])
    return UNKNOWN_SERVER


cdef str host_name(bytes host):
    """The host part of a validated Host value or authority: without its
    ":port" (digits after the last colon, RFC 9110 §7.2), brackets of an
    IPv6 literal kept."""
    cdef const unsigned char *s = <const unsigned char *>PyBytes_AS_STRING(host)
    cdef Py_ssize_t n = PyBytes_GET_SIZE(host), k = n - 1
    while k >= 0 and 48 <= s[k] <= 57:
        k -= 1
    if k >= 0 and s[k] == 58:
        n = k
    return PyUnicode_DecodeLatin1(<const char *>s, n, NULL)


cdef class EnvironBuilder:

    def __init__(self, settings, bint multiprocess):
        root = (settings.root_path or "").rstrip("/")
        self.root_path = root.encode("latin-1")
        self.header_keys = {}
        self.base = {
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": "http",
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": settings.threads > 1,
            "wsgi.multiprocess": multiprocess,
            "wsgi.run_once": False,
            "wsgi.input_terminated": True,
            "wsgi.file_wrapper": FileWrapper,
            "SCRIPT_NAME": root,
            "SERVER_SOFTWARE": "prefork",
        }

    def environ_for(self, Request req, str remote_addr="127.0.0.1", int remote_port=0,
                    body=None, Py_ssize_t body_size=0, tuple server=None):
        """Python-level build(), for tests and benchmarks."""
        import io
        return self.build(req, remote_addr, remote_port, body if body is not None else io.BytesIO(),
                          body_size, server)

    cdef object environ_key(self, bytes name):
        """``Content-Type`` -> ``CONTENT_TYPE``; ``X-Foo`` -> ``HTTP_X_FOO``.
        Names containing ``_`` map to None: they could spoof a dash-named
        header once dashes become underscores."""
        key = self.header_keys.get(name, False)
        if key is not False:
            return key
        text = name.decode("latin-1").upper()
        if "_" in text:
            key = None
        else:
            text = text.replace("-", "_")
            key = text if text in ("CONTENT_TYPE", "CONTENT_LENGTH") else "HTTP_" + text
        if len(self.header_keys) > 4096:
            self.header_keys.clear()    # a client sending random names cannot grow it forever
        self.header_keys[name] = key
        return key

    cdef dict build(self, Request req, str remote_addr, int remote_port, object body,
                    Py_ssize_t body_size, tuple server):
        """``server``: (SERVER_NAME fallback, SERVER_PORT) of the listener the
        connection came in on (listener_address()); None when unknown."""
        cdef dict environ = self.base.copy()
        cdef bytes path = req.path
        cdef bytes host = req.host
        cdef bytes target = req.target
        cdef const unsigned char *raw
        cdef FieldSpan *f
        cdef Py_ssize_t i
        cdef Py_ssize_t root_len = len(self.root_path)
        cdef bint length_field = False
        environ["REQUEST_METHOD"] = req.method.decode("latin-1")
        if b"%" in path:
            from urllib.parse import unquote_to_bytes
            path = unquote_to_bytes(path)
        if root_len and path.startswith(self.root_path) and \
                (len(path) == root_len or path[root_len] == 47):
            path = path[root_len:]
        environ["PATH_INFO"] = path.decode("latin-1")
        environ["QUERY_STRING"] = req.query.decode("latin-1")
        environ["RAW_URI"] = req.target.decode("latin-1")
        environ["SERVER_PROTOCOL"] = "HTTP/1.1" if req.minor else "HTTP/1.0"
        environ["REMOTE_ADDR"] = remote_addr
        environ["REMOTE_PORT"] = str(remote_port)
        environ["wsgi.input"] = body
        # PERF: values go from the head's bytes straight to str; names of
        # common fields are shared objects, so their key lookup allocates nothing.
        raw = <const unsigned char *>PyBytes_AS_STRING(req.raw) if req.nfields else NULL
        for i in range(req.nfields):
            f = &req.spans[i]
            key = self.environ_key(field_name(raw + f.name_at, f.name_len))
            if key is None:
                continue
            if key == "CONTENT_LENGTH":
                length_field = True     # the parser checked it; the body size is what it says
                continue
            text = PyUnicode_DecodeLatin1(<const char *>raw + f.value_at, f.value_len, NULL)
            if key in environ:
                # RFC 9110 §5.3: repeated fields join with commas; cookies with "; ".
                text = environ[key] + ("; " if key == "HTTP_COOKIE" else ",") + text
            environ[key] = text
        # CGI RFC 3875 §4.1.2: the body's length whenever the request has a
        # body, a "Content-Length: 0" one included (PEP 3333 lets "" or an
        # absent key stand for none: without a body the key is absent). A
        # chunked body is given whole, so its decoded size is known too.
        if length_field or req.chunked:
            environ["CONTENT_LENGTH"] = str(body_size)
        if PyBytes_GET_SIZE(target) and PyBytes_AS_STRING(target)[0] != 47 and b"://" in target:
            # RFC 9112 §3.2.2: with an absolute-form target the server ignores
            # the Host field and uses the target's authority (req.host is it).
            environ["HTTP_HOST"] = PyUnicode_DecodeLatin1(PyBytes_AS_STRING(host),
                                                          PyBytes_GET_SIZE(host), NULL)
        if server is None:
            server = UNKNOWN_SERVER
        # See the module docstring: the name the client asked for, the port
        # the connection arrived on (a Host port may be a proxy's, not ours).
        environ["SERVER_NAME"] = host_name(host) if host else server[0]
        environ["SERVER_PORT"] = server[1]
        return environ


    cdef dict build_refresh(self, Request req, str remote_addr, int remote_port, tuple server):
        """The environ of a request the server makes itself to refresh a
        stored response (RFC 5861 §3): the client's request that found it
        stale, as a GET without preconditions or Range (RFC 9110 §13.1), so
        that the app answers with the full response to store."""
        import io
        environ = self.build(req, remote_addr, remote_port, io.BytesIO(), 0, server)
        environ["REQUEST_METHOD"] = "GET"
        for key in REFRESH_DROPS:
            environ.pop(key, None)
        return environ


# Request fields a background refresh does not pass on: its response must be
# a complete 200, not a 304 or a 206 for one client's copy.
cdef tuple REFRESH_DROPS = ("HTTP_IF_NONE_MATCH", "HTTP_IF_MODIFIED_SINCE", "HTTP_IF_MATCH",
                            "HTTP_IF_UNMODIFIED_SINCE", "HTTP_IF_RANGE", "HTTP_RANGE")


def collect_response(app, dict environ, Py_ssize_t limit):
    """Call the app for a response no client waits for (a background
    refresh of a cache entry): (status, headers, body), the body None when
    it grew past ``limit`` bytes or is a file for sendfile() (which fills
    never store either). The result's close() is called (PEP 3333); an
    exception from the app propagates."""
    cdef WSGICall call = WSGICall()
    cdef Py_ssize_t size = 0
    cdef list chunks = []
    result = app(environ, call)
    try:
        if type(result) is FileWrapper and result.can_sendfile():
            chunks = None
        else:
            for chunk in result:
                if chunk:
                    chunk = bytes(chunk)
                    chunks.append(chunk)
                    size += len(chunk)
                    if size > limit:
                        chunks = None
                        break
        if call.status is None:
            raise AssertionError("the app returned without calling start_response()")
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()
    if chunks is not None and call.written is not None:
        chunks = call.written + chunks      # write() data goes first
        if size + sum([len(c) for c in call.written]) > limit:
            chunks = None
    return call.status, call.headers, None if chunks is None else b"".join(chunks)


cdef class WSGICall:

    def __cinit__(self):
        self.status = None
        self.headers = None
        self.headers_sent = False
        self.written = None

    def __call__(self, status, headers, exc_info=None):
        """start_response (PEP 3333)."""
        if exc_info is not None:
            try:
                if self.headers_sent:
                    raise exc_info[1].with_traceback(exc_info[2])
            finally:
                exc_info = None
        elif self.status is not None:
            raise AssertionError("start_response called a second time without exc_info")
        if type(headers) is not list:
            raise TypeError(f"response headers must be a list, got {type(headers).__name__}")
        self.status = status
        self.headers = headers
        # A fresh bound method, not one cached on self: caching it would make
        # a reference cycle, and every call object would wait for the GC.
        return self.write

    def write(self, data):
        """The legacy write() callable: data is buffered and sent before the
        body the app returns (PEP 3333 permits buffering)."""
        if self.status is None:
            raise AssertionError("write() called before start_response()")
        if self.written is None:
            self.written = []
        self.written.append(bytes(data))


cdef object next_block(object blocks):
    """The next non-empty block of a body, as bytes; None at its end."""
    for block in blocks:
        if block:
            if type(block) is bytes:
                return block
            if isinstance(block, str):
                raise TypeError(f"the app's body must be bytes, not str: {block[:40]!r}")
            return bytes(block)
    return None


def run_in_thread(post, on_done, WSGICall call, app, dict environ):
    """Runs on an app thread: call the app and hand its body to the loop.

    A list or tuple is passed whole; a body wrapped with wsgi.file_wrapper
    is passed on unread, so the loop can sendfile() it. Any other iterable
    is passed as ``(result, iterator, first block)``: its first block is
    pulled here (start_response may come with it), the next ones by
    ``pull_block``, one task each, asked for by the loop only when the
    connection has room for them. So an app thread never waits for a
    client: a slow reader holds a bounded buffer, not a thread.
    ``post`` is the loop's call_soon_threadsafe; ``on_done`` is the
    connection's callback, run on the loop thread."""
    result = None
    try:
        result = app(environ, call)
        if type(result) is FileWrapper and (<object>result).can_sendfile():
            outcome = result
        elif type(result) is list or type(result) is tuple:
            outcome = [bytes(block) for block in result if block]
        else:
            blocks = iter(result)
            outcome = (result, blocks, next_block(blocks))
        if call.status is None:
            raise AssertionError("the app returned without calling start_response()")
    except BaseException:
        if result is not None and type(result) is not list and type(result) is not tuple:
            close_body(result)
        post(on_done, call, None, sys.exc_info())
        return
    if type(outcome) is list:
        close_body(result)
    post(on_done, call, outcome, None)


def pull_block(post, on_block, WSGICall call, blocks):
    """Runs on an app thread: the next block of a streamed body (None at its
    end), handed to the loop. PEP 3333 "Buffering and Streaming": one block
    per task, sent before the next is asked for."""
    try:
        block = next_block(blocks)
    except BaseException:
        post(on_block, call, None, sys.exc_info())
        return
    post(on_block, call, block, None)


def close_body(result):
    """PEP 3333: the result's close(), on an app thread in --threads mode
    (it may release a database connection, and so block)."""
    close = getattr(result, "close", None)
    if close is not None:
        try:
            close()
        except Exception:
            import logging
            logging.getLogger("prefork.error").exception("error closing the app's response")
