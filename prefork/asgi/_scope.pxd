# C interface of the ASGI scope builder (prefork/asgi/_scope.pyx).
from prefork._speedups cimport Request


cdef class Done:
    """An awaitable that is already complete: awaiting it never suspends."""
    cdef object value


cdef inline int release(object waiter) except -1:
    """Let an app's coroutine waiting on ``waiter`` (a future, or None) go on."""
    if waiter is not None and not waiter.done():
        waiter.set_result(None)
    return 0


cdef class ScopeBuilder:
    cdef dict base                  # the keys every HTTP scope shares
    cdef str root_path
    cdef bytes root_path_bytes
    cdef dict lower_names           # raw header name -> lowercased (bounded)
    cdef public dict state          # the lifespan state (a shallow copy per request), or None

    cdef list headers(self, Request req)
    cdef dict build(self, Request req, str remote_addr, int remote_port, bint tcp,
                    tuple server_address)
