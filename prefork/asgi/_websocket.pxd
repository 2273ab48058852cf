# C interface of the ASGI WebSocket session (prefork/asgi/_websocket.pyx).
from prefork.asgi._connection cimport ASGIApp, ASGIConnection, Upgraded
from prefork.websocket._frames cimport FrameReader


cdef class WebSocketSession(Upgraded):
    cdef ASGIApp host
    cdef object task
    cdef object handshake           # prefork.websocket.handshake.Handshake
    cdef readonly FrameReader reader
    cdef object deflate             # PerMessageDeflate, or None
    cdef str deflate_answer         # its Sec-WebSocket-Extensions value
    cdef readonly int state
    cdef object inbox               # messages for receive() (a deque)
    cdef Py_ssize_t inbox_bytes
    cdef object receiver            # the Future receive() returned, or None
    cdef object drainer             # the Future send() returned while the queue is full
    cdef bint connected             # websocket.connect was handed out
    cdef dict farewell              # the websocket.disconnect message, once known
    cdef bint paused                # the socket is not read: the app lags
    cdef bint shut                  # our side of the TCP connection is shut (SHUT_WR)
    cdef bint close_received        # the peer's close frame arrived
    cdef bint going                 # the worker drains: close with 1001 once open
    cdef double ping_interval, ping_timeout
    cdef double next_ping           # when the next ping is due (0: never)
    cdef double pong_due            # when the pong of the ping sent must be in (0: none out)
    cdef double until               # CLOSING / CLOSED: the end of the wait for the peer
    cdef bytes ping_payload
    cdef int pings
    cdef object denial              # websocket.http.response: [status, headers, [body parts]]

    cdef int on_message(self, int event) except -1
    cdef int on_close_frame(self) except -1
    cdef int deliver(self, dict message, Py_ssize_t size) except -1
    cdef int tell_app(self, int code, str reason) except -1
    cdef int send_frame(self, int opcode, bytes payload) except -1
    cdef int start_close(self, int code, str reason) except -1
    cdef int fail(self, int code, str reason) except -1
    cdef int accept(self, dict message) except -1
    cdef int deny(self, object status, list headers, bytes body) except -1
    cdef int pause(self) except -1
    cdef bint reading(self)
