"""The compiled PEP 3333 pieces: each request's environ, start_response
(with write() and the exc_info rules) and the runner that calls the app on
a worker thread (``--threads``).

The connection (prefork/http/_connection.pyx) owns the bytes; this module owns
the WSGI contract. Invariants: header names containing "_" never reach the
environ (so ``X_Forwarded_For`` cannot pose as ``X-Forwarded-For``); PATH_INFO
is percent-decoded and latin-1 (PEP 3333 "native strings"); with
``--threads`` the app's call, every block of its body and its close() run
on app threads, and no app thread ever waits for a client.
"""
import sys

from cpython.bytes cimport PyBytes_AS_STRING
from cpython.unicode cimport PyUnicode_DecodeLatin1

from prefork._speedups cimport FieldSpan, Request, field_name

from prefork.wsgi.filewrapper import FileWrapper


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

    def set_server_address(self, name, port):
        """SERVER_NAME/PORT for requests without a Host (HTTP/1.0)."""
        self.base["SERVER_NAME"] = name
        self.base["SERVER_PORT"] = str(port)

    def environ_for(self, Request req, str remote_addr="127.0.0.1", int remote_port=0,
                    body=None, Py_ssize_t body_size=0):
        """Python-level build(), for tests and benchmarks."""
        import io
        return self.build(req, remote_addr, remote_port, body if body is not None else io.BytesIO(),
                          body_size)

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
                    Py_ssize_t body_size):
        cdef dict environ = self.base.copy()
        cdef bytes path = req.path
        cdef const unsigned char *raw
        cdef FieldSpan *f
        cdef Py_ssize_t i
        cdef Py_ssize_t root_len = len(self.root_path)
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
            if key is None or key == "CONTENT_LENGTH":
                continue
            text = PyUnicode_DecodeLatin1(<const char *>raw + f.value_at, f.value_len, NULL)
            if key in environ:
                # RFC 9110 §5.3: repeated fields join with commas; cookies with "; ".
                text = environ[key] + ("; " if key == "HTTP_COOKIE" else ",") + text
            environ[key] = text
        if req.chunked or req.content_length > 0:
            environ["CONTENT_LENGTH"] = str(body_size)
        host = req.host
        if host:
            server_name, sep, port = host.decode("latin-1").rpartition(":")
            if not sep or "]" in port:
                server_name, port = host.decode("latin-1"), "80"
            environ["SERVER_NAME"] = server_name
            environ["SERVER_PORT"] = port
        else:
            environ["SERVER_NAME"] = self.base.get("SERVER_NAME", "localhost")
            environ["SERVER_PORT"] = self.base.get("SERVER_PORT", "80")
        return environ


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
