# C interface of the ASGI connection step (prefork/asgi/_connection.pyx).
from prefork.asgi._scope cimport ScopeBuilder
from prefork.http._connection cimport Connection


cdef class ASGIConnection


cdef class Upgraded:
    """The protocol a connection switched to after its head (a WebSocket
    session, prefork/asgi/_websocket.pyx): the connection's events go to it."""
    cdef ASGIConnection conn
    cdef int process(self) except -1        # bytes at buf[rstart:rend]
    cdef int flush(self) except -1          # write the queue; what comes after
    cdef int drained(self) except -1        # the write queue fell below HIGH_WATER
    cdef int peer_eof(self) except -1       # the client closed its side
    cdef int closed(self) except -1         # the connection is closed
    cdef int check_timeout(self, double now) except -1


cdef class ASGIApp:
    """What the worker's ASGI connections share: the app, the scope
    builder, the asyncio loop and the calls under way."""
    cdef readonly object app
    cdef readonly ScopeBuilder scopes
    cdef readonly object loop           # the asyncio loop
    cdef object start_task              # coroutine -> asyncio Task, stepped at once
    cdef object wake                    # asks the host loop for an iteration (prefork/asgi/loop.py)
    cdef readonly set calls             # ASGICall under way
    cdef readonly object resolve        # (future, value): its result, the waiting task stepped at once
    cdef readonly object websocket      # conn -> True if it took the request as a WebSocket, or None
    cdef readonly set websockets        # open WebSocket sessions (Upgraded)


cdef class ASGICall:
    """One request's app call: its receive() and send()."""
    cdef ASGIConnection conn
    cdef ASGIApp host
    cdef object task
    cdef list body                      # chunks received, not yet given to the app
    cdef Py_ssize_t queued              # their bytes
    cdef bint body_done                 # the whole request body has arrived
    cdef bint final_sent                # receive() gave the message with more_body False
    cdef bint continue_due              # the client waits for 100 Continue before its body
    cdef object receiver                # the Future receive() returned, or None
    cdef object drainer                 # the Future send() returned while the queue is full
    cdef bint started                   # http.response.start received
    cdef bint head_sent
    cdef readonly bint complete         # the last part of the response was queued
    cdef readonly bint disconnected
    cdef object status                  # from http.response.start
    cdef object headers
    cdef bint timed_out                 # --request-timeout passed: cancelled, answered

    cdef int push(self, bytes chunk) except -1
    cdef int end_body(self) except -1
    cdef int disconnect(self) except -1
    cdef int drained(self) except -1
    cdef dict next_message(self)
    cdef int finished(self, object task) except -1


cdef class ASGIConnection(Connection):
    cdef ASGICall acall                 # the request being served, or None
    cdef Upgraded upgraded              # after a WebSocket handshake, or None

    cdef int start_call(self) except -1
    cdef int respond(self, ASGICall call, bytes body, bint more) except -1
    cdef int send_file(self, ASGICall call, str path) except -1
    cdef int start_response(self, ASGICall call, long long known_length) except -1
    cdef int end_response(self, ASGICall call) except -1
    cdef int after_send(self) except -1
