# C interface of the connection step (prefork/http/_connection.pyx).
from libc.stdint cimport uint32_t

from prefork.cache._gate cimport CacheTicket
from prefork.http._forwarded cimport Forwarded
from prefork.worker._deadline cimport DeadlineNode
from prefork.http._proxy cimport ProxyHeader
from prefork.http._tls cimport TLSStream
from prefork.worker._loop cimport EventLoop
from prefork.worker._service cimport HTTPService, ServedConnection
from prefork._speedups cimport Request, RequestParser
from prefork.wsgi._bridge cimport WSGICall


cdef enum:
    READ_CHUNK = 65536          # bytes asked of recv() per call
    INITIAL_BUFFER = 8192
    HIGH_WATER = 262144         # stop producing body chunks above this many queued bytes
    MAX_IOV = 64

# Connection phases (what the deadline, if any, guards).
cdef enum:
    PHASE_IDLE = 0              # between requests (keep-alive timeout)
    PHASE_HEAD = 1              # a head is arriving (header timeout)
    PHASE_BODY = 2              # a body is arriving (body timeout, per read)
    PHASE_APP = 3               # the app runs in a thread, or the request waits for a cache fill
    PHASE_RESPONSE = 4          # a response is being sent (send timeout, per write)
    PHASE_APP_BODY = 5          # an ASGI app runs while its request body arrives (body timeout)
    PHASE_UPGRADED = 6          # the connection left HTTP (a WebSocket, prefork/asgi/_websocket.pyx)


cdef class Connection(ServedConnection):
    cdef HTTPService service
    cdef EventLoop loop
    cdef RequestParser parser
    cdef readonly str remote_addr
    cdef readonly int remote_port
    cdef bint tcp
    # --forwarded-allow-ips: whether the peer may speak for its clients
    # (judged once, in set_peer), what it said about the current request,
    # and that request's client (the peer's address, or the forwarded one)
    cdef bint trusted
    cdef Forwarded forwarded
    cdef str client_addr
    cdef DeadlineNode deadline_node # --request-timeout: its place among the running requests
    cdef object app_future          # --threads: the pool's Future of the app call
    # read buffer: unconsumed bytes are buf[rstart:rend]
    cdef unsigned char *buf
    cdef Py_ssize_t rstart, rend, rcap
    # write queue: bytes objects; the first has out_offset bytes already sent
    cdef list out
    cdef Py_ssize_t out_offset
    cdef Py_ssize_t out_bytes
    cdef uint32_t interest
    cdef int phase
    cdef double since               # when the current wait on the client began
    cdef bint closing                # close once the write queue is empty
    cdef bint peer_eof
    cdef int requests
    # the request being read / served
    cdef Request request
    cdef list body_chunks
    cdef Py_ssize_t body_size
    cdef object body_file
    # the response being sent
    cdef WSGICall call
    cdef object result
    cdef object body_iter
    cdef bint chunked
    cdef bint send_body
    cdef long long declared
    cdef long long sent
    cdef bint keep_alive
    cdef object sendfile_src
    cdef long long sendfile_offset
    cdef long long sendfile_left
    cdef double started
    cdef int status_code            # of the response being sent (for the access log)
    cdef bint broken                # its framing failed (length mismatch): never cache it
    cdef CacheTicket ticket         # cache state of the current request (with a gate)
    # --threads: a streamed body's iterator, whose blocks the pool produces
    # one at a time, each when the write queue has room (want_block)
    cdef object stream
    cdef bint pulling               # a block is being produced on the pool
    cdef object close_after_pull    # a result to close once that block arrives
    cdef object waiting_body        # wsgi.input of a request waiting for another's cache fill
    # TLS (prefork/http/_tls.pyx): its record layer, or None on a plain connection
    cdef TLSStream tls
    cdef bint tls_read_scheduled    # a read of bytes buffered in the record layer is due
    # The PROXY protocol header still to read (prefork/http/_proxy.pyx), or None
    cdef ProxyHeader proxy
    # --metrics-bind: a request is counted in flight from its start to its
    # response (or the connection's end)
    cdef bint metered
    cdef double metered_since

    cdef int set_peer(self, str addr, int port, bint tcp) except -1
    cdef int find_client(self) except -1
    cdef int start_deadline(self) except -1
    cdef int time_out(self, bint response_started, str note) except -1
    cdef int shed(self) except -1
    cdef int on_events(self, uint32_t events) except -1
    cdef void abort(self)
    cdef int on_readable(self) except -1
    cdef double body_deadline(self)
    cdef int on_writable(self) except -1
    cdef int process(self) except -1
    cdef int on_head(self) except -1
    cdef int on_body(self, const unsigned char *data, Py_ssize_t length) except -1
    cdef int on_request(self) except -1
    cdef int call_app(self, object body) except -1
    cdef int run_inline(self, dict environ) except -1
    cdef int thread_error(self, tuple exc_info) except -1
    cdef int start_stream(self, WSGICall call, tuple outcome) except -1
    cdef int want_block(self) except -1
    cdef int send_result(self, WSGICall call, object result) except -1
    cdef int start_head(self, WSGICall call, long long known_length) except -1
    cdef int pump_body(self, bint first=*) except -1
    cdef int push_chunk(self, object data) except -1
    cdef int pump_sendfile(self) except -1
    cdef int pump_file_blocks(self) except -1
    cdef int finish_response(self) except -1
    cdef int serve_stored(self, bytes answer) except -1
    cdef int close_result(self) except -1
    cdef int send_error(self, int status, str reason, bint head_request=*, list headers=*) except -1
    cdef int app_error(self) except -1
    cdef int queue(self, bytes data) except -1
    cdef int write_out(self) except -1
    cdef int tls_write_out(self) except -1
    cdef int on_handshake(self) except -1
    cdef int on_proxy_header(self) except -1
    cdef int refuse_plain_http(self) except -1
    cdef int tls_kick(self) except -1
    cdef int set_interest(self, uint32_t interest) except -1
    cdef bint has_unread_bytes(self)
    cdef double waiting_since(self)
    cdef bint untouched(self) except -1
    cdef int evict(self) except -1
    cdef int log_access(self) except -1
    cdef int begin_metering(self) except -1
    cdef int end_metering(self, bint answered) except -1
    # --health-path / --ready-path: True when the request was one, and answered.
    cdef bint answer_probe(self) except -1
    # Hooks a subclass (the ASGI connection) fills in.
    cdef int on_drained(self) except -1
    cdef bint wants_body(self) except -1
    cdef int on_peer_eof(self) except -1
    cdef int on_closed(self) except -1
