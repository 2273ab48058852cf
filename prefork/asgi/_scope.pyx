"""The ASGI HTTP scope of each request, compiled (asgiref "HTTP & WebSocket"
spec 2.4), and the completed awaitable that receive() and send() return
when nothing has to wait.

Invariants: ``headers`` are the request's fields in order, names lowercased
and values as sent (bytes); ``path`` is the target's path percent-decoded as
UTF-8, starting with ``root_path`` (``--root-path``; added when the request
did not carry it), ``raw_path`` the path as sent;
``state`` is a shallow copy of the lifespan state, made per request; the
server and client ports are ints (None for a unix socket).
"""
from urllib.parse import unquote

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize
from libc.string cimport memchr

from prefork._speedups cimport FieldSpan, Request, field_name

SPEC = {"version": "3.0", "spec_version": "2.4"}


cdef class Done:
    """``await Done(x)`` evaluates to ``x`` at once (see _scope.pyi)."""

    def __init__(self, value=None):
        self.value = value

    def __await__(self):
        return self

    def __iter__(self):
        return self

    def __next__(self):
        raise StopIteration(self.value)

    def send(self, value):
        raise StopIteration(self.value)

    def throw(self, typ, val=None, tb=None):
        if val is None:
            raise typ
        raise val

    def close(self):
        pass


cdef class ScopeBuilder:

    def __init__(self, settings):
        self.root_path = (settings.root_path or "").rstrip("/")
        self.root_path_bytes = self.root_path.encode("latin-1")
        self.lower_names = {}
        self.state = None
        self.base = {
            "type": "http",
            "asgi": SPEC,
            "scheme": "http",
            "root_path": self.root_path,
            # prefork sends a file named by http.response.pathsend with sendfile().
            "extensions": {"http.response.pathsend": {}},
        }

    def scope_for(self, Request req, str remote_addr="127.0.0.1", int remote_port=0,
                  tuple server_address=("127.0.0.1", "80")):
        return self.build(req, remote_addr, remote_port, True, server_address)

    cdef list headers(self, Request req):
        """[(lowercased name, value)] in the order received."""
        cdef list headers = []
        cdef FieldSpan *f
        cdef Py_ssize_t i
        cdef const char *raw
        if not req.nfields:
            return headers
        raw = PyBytes_AS_STRING(req.raw)
        lower_names = self.lower_names
        for i in range(req.nfields):
            f = &req.spans[i]
            name = field_name(<const unsigned char *>raw + f.name_at, f.name_len)
            lower = lower_names.get(name)
            if lower is None:
                lower = name.lower()
                if len(lower_names) > 4096:
                    lower_names.clear()     # random names cannot grow it forever
                lower_names[name] = lower
            headers.append((lower, PyBytes_FromStringAndSize(raw + f.value_at, f.value_len)))
        return headers

    cdef dict build(self, Request req, str remote_addr, int remote_port, bint tcp,
                    tuple server_address):
        cdef dict scope = self.base.copy()
        cdef bytes path = req.path
        scope["http_version"] = "1.1" if req.minor else "1.0"
        scope["method"] = req.method.decode("latin-1")
        scope["raw_path"] = path
        if memchr(PyBytes_AS_STRING(path), 37, len(path)) != NULL:     # "%"
            text = unquote(path.decode("latin-1"))      # %-escapes decoded as UTF-8
        else:
            text = path.decode("latin-1")               # the parser admits only ASCII here
        if self.root_path and not (text.startswith(self.root_path) and
                                   (len(text) == len(self.root_path) or text[len(self.root_path)] == "/")):
            # A proxy that strips the prefix: put it back (the spec's path
            # includes root_path). One that keeps it, as for WSGI's
            # SCRIPT_NAME, sends it already.
            text = self.root_path + text
        scope["path"] = text
        scope["query_string"] = req.query
        scope["headers"] = self.headers(req)
        scope["client"] = (remote_addr, remote_port) if tcp else None
        port = server_address[1]
        scope["server"] = (server_address[0].strip("[]"), int(port)) if port else (server_address[0], None)
        if self.state is not None:
            scope["state"] = self.state.copy()
        return scope
