"""One client connection: bytes in -> requests -> WSGI app -> responses out.

This is the per-request hot path, compiled so that a keep-alive request costs
one recv, one parse, one environ, one app call and one send, with Python left
for the app itself. The sends of one batch of events go out together at its
end (HTTPService.defer_flush, prefork/worker/_service.pyx), so a client is woken
once per batch, not once per response.

Invariants:
- one request is served at a time per connection; pipelined bytes wait in the
  read buffer (bounded by the parser's limits) and are parsed only once the
  previous response is fully queued, so responses go out in request order;
- the app is called only after the whole body has been read (spooled to a
  temporary file past ``spool_threshold``), so a slow client never holds it;
- the result's ``close()`` is called exactly once, on success, error or
  disconnect (PEP 3333);
- a rejected request is answered with its status and ``Connection: close``
  and never reaches the app;
- a response queued during a batch is written by the batch's end, or before
  the next app call once the batch has run long (HTTPService.flush_if_late):
  it waits for at most one other app call;
- on a TLS connection (``tls``, prefork/http/_tls.pyx) the handshake comes
  first, within --header-timeout, and the record layer replaces the two
  I/O calls, the ``recv`` of ``on_readable`` and the ``writev`` of
  ``write_out``; everything else is the same code.
"""
import io
import os
import time

from cpython.bytes cimport PyBytes_FromStringAndSize
from libc.errno cimport EAGAIN, EINTR, errno
from libc.stdint cimport uint32_t
from libc.stdlib cimport free, malloc, realloc
from libc.string cimport memcmp, memmove
from posix.uio cimport iovec, writev
from posix.unistd cimport close as c_close

from prefork.cache._gate cimport CacheTicket
from prefork.http._forwarded cimport Forwarded
from prefork.worker._deadline cimport DeadlineNode, Deadlines
from prefork.http._proxy cimport PROXY_DONE, PROXY_WANT, ProxyHeader
from prefork.http._tls cimport (HANDSHAKE_DONE, HANDSHAKE_PLAIN_HTTP, HANDSHAKE_WANT,
                                TLSStream)
from prefork.metrics._counters cimport (C_BYTES_IN, C_BYTES_OUT, C_IN_FLIGHT, C_KEEPALIVE_REUSED,
                                        C_PARSE_ERRORS, C_READ_TIMEOUTS, C_REQUEST_TIMEOUTS,
                                        C_REQUESTS_SHED, C_THREADS_ABANDONED, add, count,
                                        count_request, parse_error_kind)
from prefork.worker._loop cimport EventLoop, monotonic
from prefork.http._response cimport HeadBuilder
from prefork.worker._service cimport HTTPService, ServedConnection
from prefork._speedups cimport EV_BODY, EV_DONE, EV_HEAD, EV_NEED_MORE, Request, RequestParser
from prefork.wsgi._bridge cimport EnvironBuilder, WSGICall

from prefork.http._response import ResponseError
from prefork._speedups import HTTPError
from prefork.wsgi._bridge import close_body, pull_block, run_in_thread
from prefork.worker._deadline import RequestTimeout
from prefork.http.errors import error_body
from prefork.wsgi.filewrapper import FileWrapper

cdef extern from "sys/socket.h" nogil:
    ssize_t recv(int fd, void *buf, size_t n, int flags)
    int shutdown(int fd, int how)
    enum:
        SHUT_WR
        MSG_PEEK
        MSG_DONTWAIT

cdef extern from "sys/epoll.h":
    enum:
        EPOLLIN
        EPOLLOUT
        EPOLLERR
        EPOLLHUP
        EPOLLRDHUP


cdef bytes CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
cdef bytes LAST_CHUNK = b"0\r\n\r\n"
cdef bytes CRLF = b"\r\n"
# --max-pending: when to try again (RFC 9110 §10.2.3), in seconds.
cdef list RETRY_AFTER = [("Retry-After", "1")]
# nginx's answer to plain HTTP on an HTTPS port, in plain text.
cdef bytes PLAIN_ON_TLS = b"400 Bad Request: a plain HTTP request was sent to an HTTPS port\n"

cdef enum:
    FILE_BLOCK = 65536          # a file's block read for a TLS connection (no sendfile)


cdef inline object body_bytes(object data):
    """PEP 3333: body blocks are bytestrings. Checked before a response
    head is queued, so a str body (the usual mistake) is answered with 500
    rather than a connection closed with nothing sent."""
    if type(data) is bytes:
        return data
    if isinstance(data, str):
        raise TypeError(f"the app's body must be bytes, not str: {data[:40]!r}")
    return bytes(data)


cdef class Connection(ServedConnection):

    def __cinit__(self):
        self.buf = NULL
        self.fd = -1

    def __init__(self, HTTPService service, int fd, str remote_addr, int remote_port, bint tcp):
        self.service = service
        self.loop = service.loop
        self.fd = fd
        self.set_peer(remote_addr, remote_port, tcp)
        self.parser = RequestParser(service.max_request_line, service.max_field_size,
                                    service.max_header_size, service.max_header_count,
                                    service.max_body_size)
        self.out = []
        self.interest = EPOLLIN
        self.phase = PHASE_IDLE
        # A fresh clock: a burst accepted in one batch keeps its order, and
        # eviction (HTTPService.evictable) takes the oldest first.
        self.since = monotonic()
        self.deadline = service.idle_deadline(self.loop.now + service.header_timeout)
        self.requests = 0

    def __dealloc__(self):
        if self.buf != NULL:
            free(self.buf)
        if self.fd >= 0:
            c_close(self.fd)

    cdef int set_peer(self, str addr, int port, bint tcp) except -1:
        """The peer: from accept(), or from a PROXY protocol header that
        names the real one. The one place where a connection is judged
        trusted to speak for its clients (--forwarded-allow-ips)."""
        self.remote_addr = addr
        self.remote_port = port
        self.tcp = tcp
        self.trusted = self.service.forwarded.trusts(addr, tcp)
        self.client_addr = addr
        return 0

    cdef int find_client(self) except -1:
        """The current request's client, scheme and host: what a trusted
        peer's X-Forwarded-* or Forwarded fields say, if it sent any."""
        self.forwarded = None
        self.client_addr = self.remote_addr
        if self.trusted:
            self.forwarded = self.service.forwarded.resolve(self.request)
            if self.forwarded is not None and self.forwarded.client is not None:
                self.client_addr = self.forwarded.client
        return 0

    # -- events ----------------------------------------------------------

    cdef int on_events(self, uint32_t events) except -1:
        if self.proxy is not None:
            return self.on_proxy_header()
        if self.tls is not None and self.tls.handshaking:
            return self.on_handshake()
        if events & EPOLLRDHUP and not events & EPOLLIN:
            # Reading is paused (an ASGI app lags behind its body) and the
            # client closed: the app hears it. Once: the hang-up stays set.
            self.set_interest(self.interest & ~EPOLLRDHUP)
            self.peer_eof = True
            self.on_peer_eof()
        if events & EPOLLIN:
            self.on_readable()
        if events & EPOLLOUT and not self.closed:
            self.on_writable()
        if events & (EPOLLERR | EPOLLHUP) and not self.closed and not events & (EPOLLIN | EPOLLOUT):
            self.close()
        return 0

    cdef void abort(self):
        try:
            self.close()
        except Exception:
            pass

    cdef int on_readable(self) except -1:
        cdef ssize_t n
        cdef unsigned char *grown
        cdef Py_ssize_t limit
        cdef HTTPService service = self.service
        if service.deferred:
            service.flush_if_late()
        if self.buf == NULL:
            self.buf = <unsigned char *>malloc(INITIAL_BUFFER)
            if self.buf == NULL:
                raise MemoryError()
            self.rcap = INITIAL_BUFFER
        if self.rstart == self.rend:
            self.rstart = self.rend = 0
        elif self.rcap - self.rend < 1024 and self.rstart > 0:
            memmove(self.buf, self.buf + self.rstart, self.rend - self.rstart)
            self.rend -= self.rstart
            self.rstart = 0
        if self.rcap - self.rend < 1024:
            # Grow for a large head; the parser's limits bound how far.
            limit = self.service.max_header_size + self.service.max_request_line + READ_CHUNK
            if self.rcap >= limit:
                self.set_interest(self.interest & ~EPOLLIN)
                return 0
            grown = <unsigned char *>realloc(self.buf, min(self.rcap * 2, limit))
            if grown == NULL:
                raise MemoryError()
            self.buf = grown
            self.rcap = min(self.rcap * 2, limit)
        if self.tls is None:
            n = recv(self.fd, self.buf + self.rend, self.rcap - self.rend, 0)
        else:
            n = self.tls.recv_into(self.fd, self.buf + self.rend, self.rcap - self.rend)
        if n > 0:
            self.rend += n
            add(service.counters, C_BYTES_IN, n)
            if self.phase == PHASE_IDLE:
                self.phase = PHASE_HEAD
                self.since = self.loop.now
                self.deadline = self.loop.now + self.service.header_timeout
            elif self.phase == PHASE_BODY or self.phase == PHASE_APP_BODY:
                self.deadline = self.body_deadline()
            self.process()
            if not self.closed:
                service.defer_flush(self)
                if self.tls is not None and self.tls.buffered():
                    self.tls_kick()
        elif n == 0:
            self.peer_eof = True
            self.on_peer_eof()
            if self.phase == PHASE_APP or self.phase == PHASE_RESPONSE \
                    or self.phase == PHASE_APP_BODY or self.out or self.sendfile_src is not None:
                # Finish what was asked; stop listening for more. A response
                # already queued but not yet written counts too: a client that
                # half-closes after its request still gets all of it (flush()
                # closes once the queue drains).
                self.set_interest(self.interest & ~EPOLLIN)
            else:
                self.close()
        elif errno != EAGAIN and errno != EINTR:
            self.close()
        return 0

    cdef double body_deadline(self):
        """At most --body-timeout between two reads of a body, and on
        average at least --body-min-rate bytes a second after a grace of
        --body-timeout (what Apache's mod_reqtimeout calls MinRate): a body
        trickling in a byte at a time cannot hold a connection forever."""
        cdef HTTPService service = self.service
        cdef double deadline = self.loop.now + service.body_timeout
        if service.body_min_rate > 0:
            deadline = min(deadline, self.since + service.body_timeout
                           + self.body_size / service.body_min_rate)
        return deadline

    cdef int on_writable(self) except -1:
        self.flush()
        return 0

    # -- requests in ------------------------------------------------------

    cdef int process(self) except -1:
        """Parse buffered bytes and serve the requests they complete, while
        no response is in progress."""
        cdef Py_ssize_t used
        cdef int event
        cdef RequestParser parser = self.parser
        while not self.closed and not self.closing and self.phase != PHASE_APP \
                and self.phase != PHASE_RESPONSE and self.phase != PHASE_UPGRADED:
            if self.phase == PHASE_APP_BODY and not self.wants_body():
                # The app has not taken what arrived: stop reading until it
                # does (receive() resumes), so a fast client cannot fill memory;
                # a client that leaves meanwhile is still noticed (EPOLLRDHUP).
                self.set_interest((self.interest & ~EPOLLIN) | EPOLLRDHUP)
                self.deadline = 0
                break
            try:
                used = parser.execute(self.buf + self.rstart, self.rend - self.rstart)
            except HTTPError as exc:
                self.service.log.info("rejected request from %s: %d %s",
                                      self.remote_addr, exc.status, exc.reason)
                count(self.service.counters, C_PARSE_ERRORS + parse_error_kind(exc.status))
                head_request = (self.rend - self.rstart >= 5
                                and memcmp(self.buf + self.rstart, b"HEAD ", 5) == 0)
                self.rstart = self.rend
                self.send_error(exc.status, exc.reason, head_request)
                return 0
            event = parser.event
            if event == EV_BODY:
                self.on_body(self.buf + self.rstart + parser.body_start, parser.body_len)
            self.rstart += used
            if event == EV_NEED_MORE:
                break
            elif event == EV_HEAD:
                self.on_head()
            elif event == EV_DONE:
                self.on_request()
        if self.rstart == self.rend:
            self.rstart = self.rend = 0
        return 0

    cdef int on_head(self) except -1:
        cdef Request req = self.parser.request
        self.request = req
        self.body_chunks = None
        self.body_size = 0
        self.body_file = None
        if req.chunked or req.content_length > 0:
            self.phase = PHASE_BODY
            self.since = self.loop.now
            self.deadline = self.loop.now + self.service.body_timeout
            # RFC 9110 §10.1.1: 100 Continue only when the body will be read,
            # and only if the client is still waiting for it.
            if req.expect_continue and self.rstart == self.rend:
                self.queue(CONTINUE)
                self.flush()
        return 0

    cdef int on_body(self, const unsigned char *data, Py_ssize_t length) except -1:
        chunk = PyBytes_FromStringAndSize(<const char *>data, length)
        self.body_size += length
        if self.body_file is not None:
            self.body_file.write(chunk)
            return 0
        if self.body_chunks is None:
            self.body_chunks = []
        self.body_chunks.append(chunk)
        if self.body_size > self.service.spool_threshold:
            # Large bodies wait on disk, not in the worker's memory.
            import tempfile     # only workers that spool load it
            self.body_file = tempfile.TemporaryFile(prefix="prefork-body-")
            self.body_file.write(b"".join(self.body_chunks))
            self.body_chunks = None
        return 0

    cdef int on_request(self) except -1:
        cdef Request req = self.request
        cdef HTTPService service = self.service
        if self.body_file is not None:
            body = self.body_file
            body.seek(0)
        elif self.body_chunks is not None:
            body = io.BytesIO(self.body_chunks[0] if len(self.body_chunks) == 1
                              else b"".join(self.body_chunks))
        else:
            body = io.BytesIO()
        self.body_chunks = None
        self.body_file = None
        self.requests += 1
        service.requests_served += 1
        # A graceful stop turns keep-alive off, except for a request the
        # client already sent behind this one: it will be answered (the last
        # one received says Connection: close).
        self.keep_alive = req.keep_alive and (not service.keepalive_off or self.rstart < self.rend) and \
            not (service.max_keepalive_requests and self.requests >= service.max_keepalive_requests)
        self.started = time.time() if service.access_log is not None else 0.0
        self.find_client()
        self.begin_metering()
        if service.probes and self.answer_probe():
            return 0
        if service.gate is not None:
            if self.ticket is None:
                self.ticket = CacheTicket(self.remote_addr, self.remote_port, self.server_address)
            answer = service.gate.before_app(self.ticket, req, self.client_addr,
                                             self.keep_alive, self.loop.now)
            if answer is not None:
                self.serve_stored(answer)
                return 0
            if self.ticket.waiting:
                # Another request is filling this key: wait for its response
                # in the loop (request coalescing, prefork/cache/_gate.pyx).
                self.phase = PHASE_APP
                self.deadline = 0
                self.waiting_body = body
                service.gate.wait(self.ticket, self.resume_after_fill)
                return 0
        return self.call_app(body)

    def resume_after_fill(self, answer):
        """The cache gate ends this request's wait: send the response the
        other request's fill stored, or (None) call the app."""
        cdef HTTPService service = self.service
        body, self.waiting_body = self.waiting_body, None
        if self.closed:
            return
        if service.deferred:
            service.flush_if_late()     # as before any app call (see on_readable)
        try:
            if answer is not None:
                self.serve_stored(answer)
            else:
                self.call_app(body)
        except Exception:
            self.service.log.exception("error serving a request that waited for the cache")
            self.abort()
            return
        if not self.closed:
            self.service.defer_flush(self)

    cdef int call_app(self, object body) except -1:
        cdef Request req = self.request
        cdef HTTPService service = self.service
        if service.max_pending and service.pool_tasks >= service.threads + service.max_pending:
            return self.shed()
        environ = service.environ.build(req, self.remote_addr, self.remote_port, body,
                                        self.body_size, self.server_address)
        if self.tls is not None:
            environ.update(self.tls.environ())      # wsgi.url_scheme https, HTTPS, SSL_*
        if self.forwarded is not None:
            self.forwarded.apply_environ(environ)
        service.mark_busy(req)
        self.phase = PHASE_RESPONSE
        self.deadline = 0
        if service.deadlines is not None:
            self.start_deadline()
        if service.executor is None:
            self.run_inline(environ)
        else:
            self.phase = PHASE_APP
            self.call = WSGICall()
            service.pool_tasks += 1
            self.app_future = service.executor.submit(run_in_thread, self.loop.call_soon_threadsafe,
                                    self.threaded_done, self.call, service.app, environ)
        return 0

    cdef int start_deadline(self) except -1:
        if self.deadline_node is None:
            self.deadline_node = DeadlineNode(self)
        self.service.deadlines.start(self.deadline_node)
        return 0

    def on_deadline(self):
        """--request-timeout passed while the app still runs (called by the
        loop timer, prefork/worker/_deadline.pyx; an inline app call is
        interrupted by the timer signal instead, in run_inline)."""
        cdef Deadlines deadlines = self.service.deadlines
        if self.closed:
            return
        if self.phase == PHASE_APP and self.call is not None:
            if self.app_future is not None and self.app_future.cancel():
                # Still waiting for a thread: it never runs.
                self.service.pool_tasks -= 1
                self.app_future = None
                self.time_out(False, "it waited for an app thread and never ran")
                return
            # An app thread runs it: it cannot be stopped; the client gets
            # its answer now and the thread is left to finish (counted).
            deadlines.abandon(self.call)
            count(self.service.counters, C_THREADS_ABANDONED)
            self.time_out(False, "its app thread is left to finish (%d such running)"
                          % deadlines.abandoned_running)
        elif self.body_iter is not None or self.stream is not None:
            if self.pulling:
                deadlines.abandon(self.call)
                count(self.service.counters, C_THREADS_ABANDONED)
            self.time_out(True, "its response was cut short")

    cdef int time_out(self, bint response_started, str note) except -1:
        """The current request ran past --request-timeout: log it; answer
        504 if nothing was sent yet, else cut the response (the client sees
        it short); the connection closes either way."""
        cdef HTTPService service = self.service
        cdef Deadlines deadlines = service.deadlines
        cdef Request req = self.request
        deadlines.stop(self.deadline_node)
        deadlines.timed_out += 1
        count(service.counters, C_REQUEST_TIMEOUTS)
        service.log.warning("request timed out after %.2fs (--request-timeout %g): %s %s from %s; %s",
                            monotonic() - self.deadline_node.started, deadlines.timeout,
                            req.method.decode("latin-1"), req.target.decode("latin-1"),
                            self.client_addr or "-", note)
        service.mark_idle()
        self.close_result()
        if response_started:
            self.write_out()
            if not self.closed:
                self.close()
            return 0
        self.sent = 0
        self.send_error(504, "Gateway Timeout")
        self.log_access()
        return 0

    cdef int shed(self) except -1:
        """--max-pending requests already wait for an app thread: answer
        503 at once rather than queue one more (logged once a second)."""
        cdef HTTPService service = self.service
        cdef Request req = self.request
        service.requests_shed += 1
        count(service.counters, C_REQUESTS_SHED)
        service.shed_unlogged += 1
        if service.shed_unlogged == 1:
            service.log.warning("answered 503 to %s %s from %s: %d requests wait for an app "
                                "thread (--max-pending %d)", req.method.decode("latin-1"),
                                req.target.decode("latin-1"), self.client_addr or "-",
                                service.pool_tasks - service.threads, service.max_pending)
        self.sent = 0
        self.send_error(503, "Service Unavailable", False, RETRY_AFTER)
        self.log_access()
        return 0

    cdef int run_inline(self, dict environ) except -1:
        cdef WSGICall call = WSGICall()
        cdef Deadlines deadlines = self.service.deadlines
        self.call = call
        if deadlines is not None:
            deadlines.enter_app(self.deadline_node.when)
        try:
            result = self.service.app(environ, call)
        except RequestTimeout:
            deadlines.leave_app()
            self.loop.now = monotonic()
            self.time_out(False, "the app was interrupted")
            return 0
        except Exception:
            if deadlines is not None:
                deadlines.leave_app()
            self.loop.now = monotonic()
            self.app_error()
            return 0
        if deadlines is not None:
            deadlines.leave_app()
        # The app may have taken seconds: deadlines set from here on (the
        # keep-alive timeout after this response) start from the real time.
        self.loop.now = monotonic()
        self.send_result(call, result)
        return 0

    def threaded_done(self, WSGICall call, outcome, exc_info):
        """Back on the loop thread: an app thread finished this call."""
        self.service.pool_tasks -= 1
        self.app_future = None
        if self.closed or call is not self.call:
            # The connection closed while the app ran, or its deadline passed.
            if self.service.deadlines is not None:
                self.service.deadlines.finished_abandoned(call)
            if type(outcome) is FileWrapper:
                outcome.close()
            elif type(outcome) is tuple:
                self.service.executor.submit(close_body, outcome[0])
            return
        self.phase = PHASE_RESPONSE
        if exc_info is not None:
            self.thread_error(exc_info)
        elif type(outcome) is tuple:
            self.start_stream(call, outcome)
        else:
            self.send_result(call, outcome)
        if not self.closed:
            # With the other calls that finished in this batch of events.
            self.service.defer_flush(self)

    cdef int thread_error(self, tuple exc_info) except -1:
        # Re-raise so app_error() logs the app thread's traceback once;
        # logging it here as well left a second, empty "NoneType: None".
        try:
            raise exc_info[1]
        except BaseException:
            exc_info = None
            self.app_error()
        return 0

    cdef int start_stream(self, WSGICall call, tuple outcome) except -1:
        """An app thread returned a streamed body with its first block:
        queue that, then ask the pool for each next block only when the
        write queue has room (want_block), so no thread waits on a client."""
        result, blocks, first = outcome
        self.result = result
        try:
            self.start_head(call, 0 if first is None and call.written is None else -1)
            if call.written is not None:
                for data in call.written:
                    self.push_chunk(data)
            if first is not None:
                self.push_chunk(first)
        except Exception:
            self.app_error()
            return 0
        if first is None or not self.send_body:
            self.finish_response()      # empty, or HEAD/204/304: no block is wanted
        else:
            self.stream = blocks
            self.want_block()
        return 0

    cdef int want_block(self) except -1:
        if self.stream is not None and not self.pulling and not self.closed \
                and self.out_bytes < HIGH_WATER:
            self.pulling = True
            self.service.pool_tasks += 1
            self.service.executor.submit(pull_block, self.loop.call_soon_threadsafe,
                                         self.threaded_block, self.call, self.stream)
        return 0

    def threaded_block(self, WSGICall call, block, exc_info):
        """Back on the loop thread: the next block of a streamed body (None
        at its end), produced on the pool (prefork/wsgi/_bridge.pyx pull_block)."""
        self.pulling = False
        self.service.pool_tasks -= 1
        if self.closed or call is not self.call:
            if self.service.deadlines is not None:
                self.service.deadlines.finished_abandoned(call)
            if self.close_after_pull is not None:
                self.service.executor.submit(close_body, self.close_after_pull)
                self.close_after_pull = None
            return
        if exc_info is not None:
            self.thread_error(exc_info)
        elif block is None:
            self.stream = None
            self.finish_response()
        else:
            self.push_chunk(block)
            self.want_block()
        if not self.closed:
            self.service.defer_flush(self)

    # -- responses out ----------------------------------------------------

    cdef int send_result(self, WSGICall call, object result) except -1:
        """Frame and queue what the app returned."""
        cdef long long total = 0
        cdef bint head = self.request.method == b"HEAD"
        self.result = result
        try:
            if call.written is not None:
                # write() data goes first; what follows is streamed after it.
                self.body_iter = iter(result)
                self.start_head(call, -1)
                for data in call.written:
                    self.push_chunk(data)
                self.pump_body(True)
            elif type(result) is list or type(result) is tuple:
                for data in result:
                    total += len(body_bytes(data))
                self.start_head(call, total)
                if self.send_body:
                    for data in result:
                        self.push_chunk(data)
                self.finish_response()
            elif type(result) is FileWrapper and (<object>result).can_sendfile():
                if self.ticket is not None:
                    # sendfile() bytes never pass through capture(): not cacheable.
                    self.service.gate.abandon(self.ticket)
                self.sendfile_src = result
                self.sendfile_offset, self.sendfile_left = result.span()
                self.start_head(call, self.sendfile_left)
                if self.declared >= 0 and self.declared < self.sendfile_left:
                    self.sendfile_left = self.declared
                if not self.send_body:
                    self.sendfile_left = 0
                self.pump_sendfile()
            else:
                self.body_iter = iter(result)
                if head:
                    self.start_head(call, -1)
                    self.finish_response()
                else:
                    self.pump_body(True)
        except Exception:
            self.app_error()
        return 0

    cdef int start_head(self, WSGICall call, long long known_length) except -1:
        cdef HeadBuilder heads = self.service.heads
        if call.status is None:
            raise AssertionError("the app returned without calling start_response()")
        headers = call.headers
        self.broken = False
        if self.service.gate is not None and self.ticket is not None:
            if str(call.status)[:1] == "5":
                stale = self.service.gate.stale_for_error(self.ticket, self.request,
                                                          self.keep_alive, self.loop.now)
                if stale is not None:
                    # stale-if-error: the stored answer replaces the app's error.
                    call.headers_sent = True
                    self.chunked = False
                    self.send_body = False
                    self.declared = -1
                    self.sent = 0
                    self.status_code = int((<bytes>stale)[9:12])
                    self.queue(stale)
                    return 0
            headers = self.service.gate.on_head(self.ticket, self.request, call.status, headers)
        # Once keep-alive is off (a graceful stop), the response itself says
        # the connection closes.
        head = heads.build(self.request.minor, call.status, headers, known_length,
                           self.keep_alive and (not self.service.keepalive_off or self.rstart < self.rend),
                           self.request.method == b"HEAD")
        call.headers_sent = True
        self.keep_alive = heads.keep_alive
        self.chunked = heads.chunked
        self.send_body = heads.send_body
        self.declared = heads.content_length
        self.status_code = heads.status_code
        self.sent = 0
        self.queue(head)
        return 0

    cdef int push_chunk(self, object data) except -1:
        cdef Py_ssize_t n = len(data)
        if n == 0 or not self.send_body:
            return 0
        if type(data) is not bytes:
            data = bytes(data)
        if self.declared >= 0:
            if self.sent + n > self.declared:
                # More than the app's Content-Length: never send past it.
                self.service.log.error("app sent more than its Content-Length (%d)", self.declared)
                data = data[:self.declared - self.sent]
                n = len(data)
                self.keep_alive = False
                self.broken = True
                if n == 0:
                    return 0
            self.queue(data)
        elif self.chunked:
            self.queue(b"%x\r\n" % n)
            self.queue(data)
            self.queue(CRLF)
        else:
            self.queue(data)
        if self.ticket is not None and self.ticket.capturing:
            self.service.gate.capture(self.ticket, data)
        self.sent += n
        return 0

    cdef int pump_body(self, bint first=False) except -1:
        """Pull chunks from a streamed body until it ends or the write queue
        is full; resumed from flush() when the socket drains.

        ``first``: called with the app's result. Stop at the first block
        queued, without writing it: the response then goes out with the
        batch (HTTPService.defer_flush), and flush() asks for the next block
        once this one is written, as PEP 3333 wants. Most streamed bodies
        (a framework's response object) hold a single block."""
        cdef int pulled = 0
        cdef WSGICall call = self.call
        cdef Deadlines deadlines = self.service.deadlines
        while self.body_iter is not None and self.out_bytes < HIGH_WATER:
            if deadlines is not None and self.deadline_node is not None and self.deadline_node.linked:
                deadlines.enter_app(self.deadline_node.when)     # an inline body's next block
            try:
                data = next(self.body_iter)
            except StopIteration:
                self.body_iter = None
                if deadlines is not None:
                    deadlines.leave_app()
                if not call.headers_sent:
                    self.start_head(call, 0)
                self.finish_response()
                return 0
            except RequestTimeout:
                deadlines.leave_app()
                self.loop.now = monotonic()
                self.time_out(call.headers_sent, "the app was interrupted")
                return 0
            finally:
                if deadlines is not None:
                    deadlines.leave_app()
            if not call.headers_sent:
                if not data:
                    continue
                data = body_bytes(data)
                self.start_head(call, -1)
            self.push_chunk(data)
            if first and self.out:
                break
            if self.out:
                # PEP 3333 "Buffering and Streaming": send this block before
                # asking for the next, which may take the app a while.
                self.write_out()
                if self.closed or self.out:
                    break       # write_out() waits for EPOLLOUT; flush() resumes
            pulled += 1
            if pulled >= 16:
                # Let other connections run; continue once this one drains.
                self.set_interest(self.interest | EPOLLOUT)
                break
        return 0

    cdef int pump_sendfile(self) except -1:
        cdef Py_ssize_t sent
        if self.tls is not None:
            return self.pump_file_blocks()
        if self.out:
            self.flush()        # the head goes first
            if self.out or self.closed or self.sendfile_src is None:
                # Still writing the head; or flush() went on to send the file
                # and finish the response itself (and may have started the
                # next pipelined request): finishing again here would end
                # that request's response before it was sent.
                return 0
        while self.sendfile_left > 0:
            try:
                sent = os.sendfile(self.fd, self.sendfile_src.fileno(), self.sendfile_offset,
                                   min(self.sendfile_left, 1 << 20))
            except BlockingIOError:
                self.set_interest(self.interest | EPOLLOUT)
                self.deadline = self.loop.now + self.service.send_timeout
                return 0
            except OSError:
                self.close()
                return 0
            if sent == 0:
                break       # the file shrank: the framing cannot be kept
            self.sendfile_offset += sent
            self.sendfile_left -= sent
            self.sent += sent
            add(self.service.counters, C_BYTES_OUT, sent)
        self.sendfile_src = None
        self.finish_response()
        return 0

    cdef int pump_file_blocks(self) except -1:
        """A file for a TLS connection: sendfile() would bypass the record
        layer (Python's ssl has no kernel TLS), so the file goes through the
        write queue in blocks read here, up to the queue's high-water mark;
        flush() asks for more once they are written."""
        cdef bint shrank = False
        fileno = self.sendfile_src.fileno()
        while self.sendfile_left > 0 and self.out_bytes < HIGH_WATER:
            try:
                block = os.pread(fileno, min(self.sendfile_left, FILE_BLOCK), self.sendfile_offset)
            except OSError:
                self.service.log.exception("error reading a file to send")
                self.close()
                return 0
            if not block:
                shrank = True   # the file shrank: the framing cannot be kept
                break
            self.queue(block)
            self.sendfile_offset += len(block)
            self.sendfile_left -= len(block)
            self.sent += len(block)
        if self.sendfile_left > 0 and not shrank:
            return 0
        self.sendfile_src = None
        self.finish_response()
        return 0

    cdef int finish_response(self) except -1:
        self.service.mark_idle()
        if self.deadline_node is not None:
            self.service.deadlines.stop(self.deadline_node)
        if self.metered:
            self.end_metering(True)
        if self.chunked:
            self.queue(LAST_CHUNK)
        elif self.declared >= 0 and self.sent < self.declared and self.send_body:
            self.service.log.error("app sent %d bytes of its Content-Length %d",
                                   self.sent, self.declared)
            self.keep_alive = False
            self.broken = True
        if self.ticket is not None and self.call is not None:
            self.service.gate.on_finish(self.ticket, self.request, self.call.status,
                                        self.call.headers, not self.broken, self.loop.now)
        self.close_result()
        self.log_access()
        self.call = None
        self.request = None
        if self.keep_alive:
            # The response promised the connection stays open, so it does,
            # even if a graceful stop began meanwhile: its client may be
            # sending the next request right now. That request is answered
            # (with Connection: close); an idle connection lingers briefly.
            self.phase = PHASE_IDLE
            self.since = self.loop.now
            self.deadline = self.service.idle_deadline(self.loop.now + self.service.keepalive_timeout)
            if self.rstart < self.rend:
                self.phase = PHASE_HEAD
                self.deadline = self.loop.now + self.service.header_timeout
        else:
            self.closing = True
            self.phase = PHASE_IDLE
        return 0

    cdef int serve_stored(self, bytes answer) except -1:
        """Send a complete response the cache gate produced (a hit, a
        stale answer, PURGE or the counters) in place of the app's."""
        self.call = None
        self.phase = PHASE_RESPONSE
        self.chunked = False
        self.send_body = False
        self.declared = -1
        self.broken = False
        self.status_code = int(answer[9:12])
        if self.service.access_log is not None:
            self.sent = len(answer) - answer.find(b"\r\n\r\n") - 4     # body bytes, as for the app's
        self.queue(answer)
        self.finish_response()
        return 0

    cdef int close_result(self) except -1:
        """PEP 3333: the result's close(), exactly once; with --threads on
        the pool (after the block being pulled, if any, arrives)."""
        result = self.result
        self.result = None
        self.body_iter = None
        self.stream = None
        if result is None or type(result) is list or type(result) is tuple:
            return 0
        if self.service.executor is not None and type(result) is not FileWrapper:
            if self.pulling:
                self.close_after_pull = result      # an app thread iterates it still
                return 0
            try:
                self.service.executor.submit(close_body, result)
                return 0
            except RuntimeError:
                pass            # the pool is shut down: the worker is exiting
        close_body(result)
        return 0

    cdef int app_error(self) except -1:
        """The app (or its response) failed: answer 500 if nothing was sent
        yet, otherwise cut the connection; the worker keeps serving."""
        self.service.log.exception("error in the app")
        self.service.mark_idle()
        self.close_result()
        if self.call is not None and self.call.headers_sent:
            self.out = []
            self.out_bytes = 0
            self.close()
            return 0
        if self.ticket is not None and self.request is not None:
            stale = self.service.gate.stale_for_error(self.ticket, self.request,
                                                      self.keep_alive, self.loop.now)
            if stale is not None:
                self.serve_stored(stale)    # stale-if-error (RFC 5861 §4)
                return 0
        self.send_error(500, "Internal Server Error")
        return 0

    cdef int send_error(self, int status, str reason, bint head_request=False,
                        list headers=None) except -1:
        """Answer a request the server refuses, then close the connection."""
        minor = self.request.minor if self.request is not None else 1
        self.status_code = status
        if self.deadline_node is not None:
            self.service.deadlines.stop(self.deadline_node)
        body = error_body(status)
        fields = [("Content-Type", "text/plain; charset=utf-8")]
        if headers is not None:
            fields += headers
        head = self.service.heads.build(minor, body[0], fields, len(body[1]), False, False)
        self.queue(head)
        if self.request is not None:
            head_request = self.request.method == b"HEAD"
        if not head_request:
            self.queue(body[1])
        if self.metered:
            self.end_metering(True)
        self.closing = True
        self.phase = PHASE_IDLE
        self.call = None
        self.flush()
        return 0

    # -- bytes out ---------------------------------------------------------

    cdef int queue(self, bytes data) except -1:
        self.out.append(data)
        self.out_bytes += len(data)
        return 0

    cdef int write_out(self) except -1:
        """Write as much of the queue as the socket takes, with one writev;
        wait for EPOLLOUT for the rest."""
        cdef iovec iov[MAX_IOV]
        cdef int count, i
        cdef ssize_t n
        cdef bytes item
        cdef list out = self.out
        if self.tls is not None:
            return self.tls_write_out()
        while out:
            count = min(len(out), MAX_IOV)
            for i in range(count):
                item = <bytes>out[i]
                iov[i].iov_base = <char *>item
                iov[i].iov_len = len(item)
            iov[0].iov_base = <char *>iov[0].iov_base + self.out_offset
            iov[0].iov_len -= self.out_offset
            n = writev(self.fd, iov, count)
            if n < 0:
                if errno == EINTR:
                    continue
                if errno == EAGAIN:
                    break
                self.close()        # EPIPE, ECONNRESET: the client is gone
                return 0
            self.out_bytes -= n
            add(self.service.counters, C_BYTES_OUT, n)
            i = 0
            while i < count and <size_t>n >= iov[i].iov_len:
                n -= iov[i].iov_len
                i += 1
            if i > 0:
                del out[:i]
                self.out_offset = n
            else:
                self.out_offset += n
        if out:
            self.set_interest(self.interest | EPOLLOUT)
            self.deadline = self.loop.now + self.service.send_timeout
        if self.out_bytes < HIGH_WATER:
            self.on_drained()
        return 0

    cdef int tls_write_out(self) except -1:
        """write_out() through the record layer: the queue's items leave it
        once their records are written (prefork/http/_tls.pyx)."""
        cdef Py_ssize_t n = self.tls.write_from(self.fd, self.out)
        if n < 0:
            self.close()            # EPIPE, ECONNRESET: the client is gone
            return 0
        self.out_bytes -= n
        if self.out:
            self.set_interest(self.interest | EPOLLOUT)
            self.deadline = self.loop.now + self.service.send_timeout
        if self.out_bytes < HIGH_WATER:
            self.on_drained()
        return 0

    # -- PROXY protocol ----------------------------------------------------

    cdef int start_proxy(self, double timeout) except -1:
        """This connection came in on a --proxy-protocol listener: its
        header first (prefork/http/_proxy.pyx), within ``timeout``."""
        self.proxy = ProxyHeader()
        self.deadline = self.loop.now + timeout
        return 0

    cdef int on_proxy_header(self) except -1:
        cdef int state = self.proxy.read(self.fd)
        if state == PROXY_WANT:
            return 0
        if state != PROXY_DONE:
            self.service.log.info("PROXY protocol header from %s refused: %s", self.remote_addr,
                                  self.proxy.error)
            self.close()
            return 0
        if self.proxy.client_addr is not None:
            # The client the load balancer speaks for: REMOTE_ADDR, the
            # ASGI client and the access log from here on.
            # Trusted or not (--forwarded-allow-ips) is judged on it too.
            self.set_peer(self.proxy.client_addr, self.proxy.client_port, True)
        self.proxy = None
        self.since = self.loop.now
        self.deadline = self.service.idle_deadline(self.loop.now + self.service.header_timeout)
        # What follows the header may have come with it: no event will say so.
        if self.tls is not None:
            return self.on_handshake()
        return self.on_readable()

    # -- TLS -------------------------------------------------------------

    cdef int start_tls(self, object config) except -1:
        """This connection came in on a TLS listener: the handshake first
        (on_handshake), within the deadline __init__ set (--header-timeout,
        as nginx bounds its handshakes with client_header_timeout)."""
        self.tls = TLSStream(config)
        return 0

    cdef int on_handshake(self) except -1:
        cdef int state = self.tls.handshake(self.fd)
        if state == HANDSHAKE_WANT:
            self.set_interest(EPOLLIN | EPOLLOUT if self.tls.want_write() else EPOLLIN)
        elif state == HANDSHAKE_DONE:
            # Now a fresh connection, waiting for its first request.
            self.since = self.loop.now
            self.deadline = self.service.idle_deadline(self.loop.now + self.service.header_timeout)
            self.set_interest(EPOLLIN)
            if self.tls.buffered():
                self.on_readable()      # the request came with the client's last flight
        elif state == HANDSHAKE_PLAIN_HTTP:
            self.refuse_plain_http()
        else:
            if isinstance(self.tls.error, str):
                self.service.log.debug("TLS handshake with %s: %s", self.remote_addr, self.tls.error)
            else:
                self.service.log.info("TLS handshake with %s failed: %s", self.remote_addr,
                                      self.tls.error)
            self.close()
        return 0

    cdef int refuse_plain_http(self) except -1:
        """Plain HTTP sent to a TLS port: answered in plain text with 400
        and closed, as nginx does, so the client learns why (rather than a
        handshake that fails with "wrong version number")."""
        self.service.log.info("plain HTTP request from %s on a TLS port: answered 400",
                              self.remote_addr)
        self.tls = None
        self.status_code = 400
        self.queue(self.service.heads.build(1, "400 Bad Request",
                                            [("Content-Type", "text/plain; charset=utf-8")],
                                            len(PLAIN_ON_TLS), False, False))
        self.queue(PLAIN_ON_TLS)
        self.closing = True
        self.phase = PHASE_IDLE
        self.flush()
        return 0

    cdef int tls_kick(self) except -1:
        """Bytes wait in the record layer, where epoll cannot see them:
        read them in this iteration of the loop, once the events are done."""
        if not self.tls_read_scheduled and not self.closed and self.interest & EPOLLIN:
            self.tls_read_scheduled = True
            self.loop.call_soon(self.read_buffered)
            if not self.loop.dispatching:
                self.loop.wake()        # hosted in asyncio: make it run this loop
        return 0

    def read_buffered(self):
        self.tls_read_scheduled = False
        if not self.closed and self.interest & EPOLLIN and self.tls is not None \
                and self.tls.buffered():
            self.on_readable()

    cdef int on_drained(self) except -1:
        """The write queue fell below HIGH_WATER: room for more body."""
        if self.stream is not None:
            self.want_block()       # the next block of a threaded stream
        return 0

    cdef bint wants_body(self) except -1:
        """An ASGI app takes its body as it arrives; see PHASE_APP_BODY."""
        return True

    cdef int on_peer_eof(self) except -1:
        """The client closed its side (an ASGI app hears http.disconnect)."""
        return 0

    cdef int on_closed(self) except -1:
        """The connection is closed (an ASGI app hears http.disconnect)."""
        return 0

    cdef int flush(self) except -1:
        """Write the queue out; once it is empty, go on with the response
        body or the next request."""
        self.write_out()
        if self.closed or self.out:
            return 0
        # The queue is empty: continue a streamed body, or what comes next.
        if self.body_iter is not None:
            self.pump_body()
            if self.out and not self.closed:
                return self.flush()
        elif self.sendfile_src is not None:
            self.pump_sendfile()
            if self.closed:
                return 0
            if self.out:
                return self.flush()     # blocks of a file for a TLS connection
        if self.closed:
            return 0
        if self.closing and not self.out:
            self.close()
            return 0
        if self.body_iter is None and self.sendfile_src is None:
            if self.phase == PHASE_APP_BODY and not self.wants_body():
                # Reading waits for the app to take its body (process()):
                # turned back on here, the socket was read into the buffer
                # unparsed until it was full, and reading then stopped with
                # the app waiting in receive() for bytes held in the buffer.
                self.set_interest(EPOLLRDHUP if not self.peer_eof else 0)
                return 0
            self.set_interest(EPOLLIN if not self.peer_eof else 0)
            if self.phase == PHASE_HEAD or self.phase == PHASE_IDLE:
                if self.rstart < self.rend:
                    self.process()
                    if not self.closed and self.out:
                        return self.flush()
                elif self.peer_eof:
                    self.close()
        return 0

    cdef int set_interest(self, uint32_t interest) except -1:
        if interest != self.interest and not self.closed:
            self.interest = interest
            self.loop.modify(self, interest)
        if self.tls is not None and interest & EPOLLIN and self.tls.buffered():
            self.tls_kick()     # reading resumes: epoll will not announce these bytes
        return 0

    cdef int close(self) except -1:
        if self.closed:
            return 0
        self.closed = True
        if self.metered:
            self.end_metering(False)
        self.close_result()
        self.on_closed()
        if self.deadline_node is not None:
            self.service.deadlines.stop(self.deadline_node)
            self.deadline_node.owner = None     # no cycle left behind
            self.deadline_node = None
        if self.ticket is not None:
            self.service.gate.abandon(self.ticket)
        if self.sendfile_src is not None:
            self.sendfile_src.close()
            self.sendfile_src = None
        if self.body_file is not None:
            self.body_file.close()
            self.body_file = None
        self.loop.unregister(self)
        if self.fd >= 0:
            if self.tls is not None and (self.closing or self.phase == PHASE_IDLE):
                # Not after a response cut short: close_notify would make a
                # truncated body look complete to the client.
                self.tls.close_notify(self.fd)
            if self.closing:
                # Half-close first so unread request bytes do not turn the
                # close into a reset that could destroy the last response.
                shutdown(self.fd, SHUT_WR)
            c_close(self.fd)
            self.fd = -1
        if self.buf != NULL:
            free(self.buf)
            self.buf = NULL
        self.out = []
        self.service.connection_closed(self)
        return 0

    cdef bint idle(self) except -1:
        """Nothing in flight: waiting for a first request or between
        keep-alive requests. Bytes waiting in the socket are a request the
        loop has not read yet."""
        return self.phase == PHASE_IDLE and not self.out and self.rstart == self.rend \
            and not self.has_unread_bytes()

    cdef bint untouched(self) except -1:
        return self.requests == 0

    cdef double waiting_since(self):
        if self.closed or self.out or self.body_iter is not None or self.sendfile_src is not None:
            return -1
        if self.phase == PHASE_IDLE or self.phase == PHASE_HEAD or self.phase == PHASE_BODY:
            return self.since
        return -1

    cdef int evict(self) except -1:
        """Make room for a new connection (the worker is full): an idle one
        just closes; a request still arriving is answered 408."""
        if self.phase == PHASE_HEAD or self.phase == PHASE_BODY:
            self.service.log.info("request from %s cut short: the worker is full", self.remote_addr)
            self.send_error(408, "Request Timeout")
        if not self.closed:
            self.close()
        return 0

    cdef bint has_unread_bytes(self):
        cdef char byte
        if self.tls is not None and self.tls.buffered():
            return True
        return recv(self.fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT) > 0

    cdef int check_timeout(self, double now) except -1:
        if self.closed or self.deadline == 0 or now < self.deadline:
            return 0
        if self.phase == PHASE_HEAD or self.phase == PHASE_BODY:
            self.service.log.info("request timeout from %s", self.remote_addr)
            count(self.service.counters, C_READ_TIMEOUTS)
            self.send_error(408, "Request Timeout")
            if not self.closed and self.out:
                self.close()    # the client is not reading either
        elif self.phase == PHASE_IDLE or self.phase == PHASE_APP_BODY or self.out:
            # (An ASGI app whose body stopped arriving hears http.disconnect.)
            if self.proxy is not None:
                self.service.log.info("PROXY protocol header from %s timed out", self.remote_addr)
            elif self.tls is not None and self.tls.handshaking:
                self.service.log.info("TLS handshake from %s timed out", self.remote_addr)
            self.close()
        return 0

    cdef int log_access(self) except -1:
        access = self.service.access_log
        if access is None:
            return 0
        cdef Request req = self.request
        referer = agent = ""
        for name, value in req.headers:
            lname = (<bytes>name).lower()
            if lname == b"referer":
                referer = (<bytes>value).decode("latin-1")
            elif lname == b"user-agent":
                agent = (<bytes>value).decode("latin-1")
        access.info("access", extra={"access": {
            "remote": self.client_addr or "-",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S %z"),
            "method": req.method.decode("latin-1"), "target": req.target.decode("latin-1"),
            "version": req.http_version.decode("latin-1"),
            "status": self.status_code, "bytes": self.sent,
            "referer": referer, "user_agent": agent,
            "duration_ms": round((time.time() - self.started) * 1000.0, 3),
            "cache": self.ticket.state if self.ticket is not None else None}})
        return 0

    # -- metrics and probes (--metrics-bind, --health-path, --ready-path) ----

    cdef int begin_metering(self) except -1:
        """A request starts (its head parsed, its body read): count it in
        flight, and from when."""
        cdef HTTPService service = self.service
        if service.counters == NULL:
            return 0
        if not self.metered:
            self.metered = True
            service.counters[<int>C_IN_FLIGHT] += 1
        if self.requests > 1:
            service.counters[<int>C_KEEPALIVE_REUSED] += 1
        # PERF: the loop's clock, refreshed before this connection's event
        # was dispatched (a clock_gettime less per request; callgrind: 15.9k
        # instructions a request, +240 with the metrics on).
        self.metered_since = self.loop.now
        return 0

    cdef int end_metering(self, bint answered) except -1:
        """Its response is queued whole (``answered``: count it by method
        and status class, with its duration), or the connection ended first."""
        cdef HTTPService service = self.service
        self.metered = False
        service.counters[<int>C_IN_FLIGHT] -= 1
        if answered and self.request is not None:
            count_request(service.counters, self.request.method, self.status_code,
                          monotonic() - self.metered_since)
        return 0

    cdef bint answer_probe(self) except -1:
        cdef HTTPService service = self.service
        answer = service.probe_answer(self.request, self.keep_alive)
        if answer is None:
            return False
        self.keep_alive = service.heads.keep_alive
        self.serve_stored(answer)
        return True
