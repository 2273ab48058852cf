# C interface of the compiled PEP 3333 pieces (prefork/wsgi/_bridge.pyx).
from prefork._speedups cimport Request


cdef class EnvironBuilder:
    """Builds each request's environ from a per-worker template."""
    cdef dict base                  # the keys every request shares
    cdef dict header_keys           # raw header name -> environ key (None: dropped)
    cdef bytes root_path            # SCRIPT_NAME as bytes, without a trailing "/"

    cdef object environ_key(self, bytes name)
    cdef dict build(self, Request req, str remote_addr, int remote_port, object body,
                    Py_ssize_t body_size, tuple server)
    cdef dict build_refresh(self, Request req, str remote_addr, int remote_port, tuple server)


cdef class WSGICall:
    """One app call: the start_response callable and what it recorded."""
    cdef object status
    cdef list headers
    cdef bint headers_sent
    cdef list written                # data passed to write()
