# C interface of the connection step (prefork/_connection.pyx).
from libc.stdint cimport uint32_t

from prefork._cachegate cimport CacheGate, CacheTicket
from prefork._loop cimport BatchHook, EventLoop, Handler
from prefork._response cimport HeadBuilder
from prefork._speedups cimport Request, RequestParser
from prefork._wsgi cimport EnvironBuilder, WSGICall


cdef class HTTPService(BatchHook):
    """Per-worker state shared by every connection."""
    cdef readonly EventLoop loop
    cdef object app
    cdef HeadBuilder heads
    cdef readonly EnvironBuilder environ
    cdef object executor            # ThreadPoolExecutor, or None to run the app inline
    cdef readonly set connections
    cdef list acceptors
    cdef object log
    cdef object access_log
    # limits and timeouts
    cdef Py_ssize_t max_request_line, max_field_size, max_header_size, max_header_count
    cdef long long max_body_size
    cdef long long spool_threshold
    cdef double keepalive_timeout, header_timeout, body_timeout, send_timeout
    cdef int max_connections
    cdef int max_keepalive_requests
    cdef bint accepting
    cdef readonly bint draining
    cdef readonly long long requests_served
    cdef CacheGate gate             # the shared response cache, or None
    # "METHOD target" of the request the app is running, for the master's
    # heartbeat log (a slice of shared memory; NULL when not set).
    cdef unsigned char *status_slot
    cdef Py_ssize_t status_size
    cdef object status_buffer
    # connections whose responses go out at the end of this batch of events
    cdef list deferred
    cdef double deferred_since      # monotonic time of the first of them

    cdef int defer_flush(self, Connection conn) except -1
    cdef int flush_deferred(self) except -1
    cdef int end_batch(self) except -1
    cdef int accept_during_batch(self) except -1
    cdef int mark_busy(self, Request req) except -1
    cdef void mark_idle(self)

    cdef int connection_closed(self, Connection conn) except -1
    cdef int pause_accepting(self) except -1
    cdef int resume_accepting(self) except -1


cdef class Acceptor(Handler):
    cdef HTTPService service
    cdef object sock
    cdef bint tcp
    cdef bint registered
    cdef int on_events(self, uint32_t events) except -1


cdef class Connection(Handler):
    cdef HTTPService service
    cdef EventLoop loop
    cdef RequestParser parser
    cdef readonly str remote_addr
    cdef readonly int remote_port
    cdef bint tcp
    # read buffer: unconsumed bytes are buf[rstart:rend]
    cdef unsigned char *buf
    cdef Py_ssize_t rstart, rend, rcap
    # write queue: bytes objects; the first has out_offset bytes already sent
    cdef list out
    cdef Py_ssize_t out_offset
    cdef Py_ssize_t out_bytes
    cdef uint32_t interest
    cdef int phase
    cdef double deadline
    cdef bint closing                # close once the write queue is empty
    cdef bint closed
    cdef bint peer_eof
    cdef bint flush_pending          # in service.deferred
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
    cdef object chunk_waiter         # threading.Event an app thread waits on to send its next chunk

    cdef int on_events(self, uint32_t events) except -1
    cdef void abort(self)
    cdef int on_readable(self) except -1
    cdef int on_writable(self) except -1
    cdef int process(self) except -1
    cdef int on_head(self) except -1
    cdef int on_body(self, const unsigned char *data, Py_ssize_t length) except -1
    cdef int on_request(self) except -1
    cdef int run_inline(self, dict environ) except -1
    cdef int send_result(self, WSGICall call, object result) except -1
    cdef int start_head(self, WSGICall call, long long known_length) except -1
    cdef int pump_body(self, bint first=*) except -1
    cdef int push_chunk(self, object data) except -1
    cdef int pump_sendfile(self) except -1
    cdef int finish_response(self) except -1
    cdef int serve_stored(self, bytes answer) except -1
    cdef int close_result(self) except -1
    cdef int send_error(self, int status, str reason, bint head_request=*) except -1
    cdef int app_error(self) except -1
    cdef int queue(self, bytes data) except -1
    cdef int write_out(self) except -1
    cdef int flush(self) except -1
    cdef int set_interest(self, uint32_t interest) except -1
    cdef int close(self) except -1
    cdef bint has_unread_bytes(self)
    cdef int check_timeout(self, double now) except -1
    cdef int log_access(self) except -1
