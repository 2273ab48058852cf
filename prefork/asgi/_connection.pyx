"""One client connection serving an ASGI app: the same compiled step as WSGI
(prefork/http/_connection.pyx: reading, parsing, framing, timeouts, the
cache gate, batched writes), with the app called as a coroutine.

The app is called as soon as a request's head is parsed; its body streams to
receive() as it arrives, and the socket is read only while the app keeps up
(over BODY_HIGH_WATER unread bytes, reading pauses until receive() takes
them), so ``Expect: 100-continue`` is answered only when the app first asks
for the body. The coroutine runs in an asyncio Task that is stepped at once
(prefork/asgi/loop.py): receive() and send() return completed awaitables
(Done) when nothing has to wait, so a handler that awaits no I/O runs to
its end inside the batch that parsed its request, and its response goes out
with the batch's writes.

Invariants:
- send() and receive() never parse or start a request themselves: they run
  inside the app's task, where another task cannot be started; what they
  set in motion runs in the next iteration of prefork's loop (after_send,
  resume_body);
- a response is framed by the head builder the WSGI path uses; its head is
  built at the first body message, so a single-message body gets a
  Content-Length;
- after the client is gone, receive() gives http.disconnect and send()
  raises ClientDisconnected (an OSError), as the spec asks.
"""
import logging
import os
import time
from http import HTTPStatus

from prefork.asgi._scope cimport Done, ScopeBuilder, release
from prefork.cache._gate cimport CacheTicket
from prefork.http._connection cimport (Connection, HIGH_WATER, PHASE_APP, PHASE_APP_BODY,
                                       PHASE_RESPONSE)
from prefork._speedups cimport FieldSpan
from cpython.bytes cimport PyBytes_AS_STRING
from prefork.worker._loop cimport monotonic
from prefork.worker._service cimport HTTPService
from prefork._speedups cimport Request

from prefork.wsgi.filewrapper import FileWrapper

cdef extern from "sys/epoll.h":
    enum:
        EPOLLIN
        EPOLLRDHUP

cdef enum:
    # Request body bytes received and not yet taken by receive() past which
    # the socket is no longer read.
    BODY_HIGH_WATER = 65536

cdef bytes CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
cdef Done DONE = Done(None)
cdef dict DISCONNECT = {"type": "http.disconnect"}

log = logging.getLogger("prefork.error")


class ClientDisconnected(OSError):
    """send() after the client went away (asgiref spec 2.4)."""


cdef dict STATUS_TEXT = {}


cdef str status_text(object status):
    """ "200 OK" for the cache gate, which speaks WSGI's strings."""
    text = STATUS_TEXT.get(status)
    if text is None:
        try:
            phrase = HTTPStatus(status).phrase
        except ValueError:
            phrase = ""
        text = STATUS_TEXT[status] = f"{status} {phrase}"
    return text


def status_string(status):
    return status_text(status)


cdef bint has_upgrade(Request req):
    """The head has an Upgrade field (RFC 9110 §7.8): worth a closer look
    for a WebSocket handshake. A scan of the name lengths, no objects."""
    cdef Py_ssize_t i, j
    cdef FieldSpan *f
    cdef const unsigned char *raw
    cdef const char *name = b"upgrade"
    for i in range(req.nfields):
        f = &req.spans[i]
        if f.name_len == 7:
            raw = <const unsigned char *>PyBytes_AS_STRING(req.raw) + f.name_at
            for j in range(7):
                if raw[j] | 0x20 != name[j]:
                    break
            else:
                return True
    return False


cdef class Upgraded:
    """See _connection.pxd; prefork/asgi/_websocket.pyx implements it."""

    cdef int process(self) except -1:
        return 0

    cdef int flush(self) except -1:
        return 0

    cdef int drained(self) except -1:
        return 0

    cdef int peer_eof(self) except -1:
        return 0

    cdef int closed(self) except -1:
        return 0

    cdef int check_timeout(self, double now) except -1:
        return 0


cdef list str_headers(object headers):
    return [(bytes(n).decode("latin-1"), bytes(v).decode("latin-1")) for n, v in headers]


cdef class ASGIApp:

    def __init__(self, app, ScopeBuilder scopes, loop, start_task, wake, resolve=None,
                 websocket=None):
        self.app = app
        self.scopes = scopes
        self.loop = loop
        self.start_task = start_task
        self.wake = wake
        self.calls = set()
        self.resolve = resolve if resolve is not None else set_result
        self.websocket = websocket
        self.websockets = set()

    def refresh(self, gate, job, Request req, tuple client, tuple server_address):
        """A background cache refresh (the cache gate's stale-while-
        revalidate): run the app for the request's key in a task of its own,
        and hand what it answers to ``gate.refresh_done``."""
        from prefork.asgi.refresh import collect, refresh_scope
        scope = refresh_scope(self.scopes.build(req, client[0], client[1], True, server_address))

        def done(task):
            if task.cancelled():
                gate.refresh_done(job, None, None)
            elif task.exception() is not None:
                exc = task.exception()
                gate.refresh_done(job, None, (type(exc), exc, exc.__traceback__))
            else:
                gate.refresh_done(job, task.result(), None)

        self.loop.create_task(collect(self.app, scope, gate.max_entry)).add_done_callback(done)

    def cancel_all(self):
        """The graceful timeout passed: cancel every call still running."""
        cdef ASGICall call
        for call in list(self.calls):
            if call.task is not None and not call.task.done():
                call.task.cancel()
        for session in list(self.websockets):
            session.cancel()

    def going_away(self):
        """The worker drains: every open WebSocket is closed with 1001."""
        for session in list(self.websockets):
            session.going_away()


def set_result(future, value):
    if not future.done():
        future.set_result(value)


cdef class ASGICall:

    def __init__(self, ASGIConnection conn, ASGIApp host, bint has_body, bint continue_due):
        self.conn = conn
        self.host = host
        self.body = []
        self.queued = 0
        self.body_done = not has_body
        self.continue_due = continue_due

    # -- the request body, to receive() -----------------------------------

    cdef int push(self, bytes chunk) except -1:
        if self.complete or self.disconnected:
            return 0                        # answered already: the rest is dropped
        self.body.append(chunk)
        self.queued += len(chunk)
        if self.receiver is not None:
            self.resolve_receiver()
        return 0

    cdef int end_body(self) except -1:
        self.body_done = True
        if self.receiver is not None:
            self.resolve_receiver()
        return 0

    cdef int disconnect(self) except -1:
        self.disconnected = True
        if self.receiver is not None:
            self.resolve_receiver()
        drainer, self.drainer = self.drainer, None
        return release(drainer)

    cdef int drained(self) except -1:
        drainer, self.drainer = self.drainer, None
        return release(drainer)

    def resolve_receiver(self):
        message = self.next_message()
        if message is not None:
            receiver, self.receiver = self.receiver, None
            if not receiver.done():
                receiver.set_result(message)

    cdef dict next_message(self):
        cdef bytes chunk
        if self.body:
            chunk = self.body[0] if len(self.body) == 1 else b"".join(self.body)
            self.body = []
            self.queued = 0
            self.final_sent = self.body_done
            if not self.body_done and self.conn.phase == PHASE_APP_BODY \
                    and not self.conn.interest & EPOLLIN:
                self.resume()
            return {"type": "http.request", "body": chunk, "more_body": not self.body_done}
        if self.body_done and not self.final_sent:
            self.final_sent = True
            return {"type": "http.request", "body": b"", "more_body": False}
        if self.disconnected or (self.final_sent and self.complete):
            return DISCONNECT
        return None

    def resume(self):
        """Read the socket again, from prefork's loop (see the invariants)."""
        self.conn.loop.call_soon(self.conn.resume_body)
        self.host.wake()

    def receive(self):
        message = self.next_message()
        if message is not None:
            return Done(message)
        if self.receiver is not None:
            raise RuntimeError("receive() called again before the previous call returned")
        self.receiver = self.host.loop.create_future()
        if self.continue_due:
            # RFC 9110 §10.1.1: the body is wanted now.
            self.continue_due = False
            self.conn.queue(CONTINUE)
            self.conn.after_send()
        if not self.body_done and not self.conn.interest & EPOLLIN:
            self.resume()
        return self.receiver

    # -- the response, from send() -----------------------------------------

    def send(self, message):
        if self.disconnected:
            raise ClientDisconnected("the client closed the connection")
        kind = message["type"]
        if kind == "http.response.body":
            if not self.started:
                raise RuntimeError("http.response.body sent before http.response.start")
            if self.complete:
                raise RuntimeError("http.response.body sent after the response ended")
            body = message.get("body", b"")
            if type(body) is not bytes:
                body = bytes(body)
            self.conn.respond(self, body, message.get("more_body", False))
            if not self.complete and self.conn.out_bytes >= HIGH_WATER and not self.conn.closed:
                # Back-pressure: the app waits until the client has read.
                self.drainer = self.host.loop.create_future()
                return self.drainer
            return DONE
        if kind == "http.response.start":
            if self.started:
                raise RuntimeError("http.response.start sent twice")
            self.status = message["status"]
            self.headers = message.get("headers", ())
            self.started = True
            return DONE
        if kind == "http.response.pathsend":
            if not self.started or self.head_sent:
                raise RuntimeError("http.response.pathsend must follow http.response.start alone")
            self.conn.send_file(self, message["path"])
            return DONE
        raise RuntimeError(f"unexpected ASGI message type {kind!r}")

    # -- the end of the app's call -------------------------------------------

    def on_task_done(self, task):
        self.finished(task)

    cdef int finished(self, object task) except -1:
        cdef ASGIConnection conn = self.conn
        self.host.calls.discard(self)
        if self.timed_out:
            return 0                        # answered and logged at the deadline
        exc = None if not task.cancelled() else "cancelled"
        if exc is None:
            exc = task.exception()
        if conn.acall is not self or conn.closed:
            if exc is not None and exc != "cancelled" and not isinstance(exc, ClientDisconnected):
                log.error("error in the ASGI app", exc_info=exc)
            return 0
        if exc is not None:
            if exc == "cancelled":
                log.warning("ASGI app cancelled before the end of its response")
            else:
                log.error("error in the ASGI app", exc_info=exc)
        elif not self.complete:
            log.error("the ASGI app returned %s", "before the end of its response"
                      if self.head_sent else "without a response")
        else:
            return 0
        conn.service.mark_idle()
        if self.head_sent:
            # Cut: what the app sent goes out, then the connection closes, so
            # the client sees a short response (no last chunk, or fewer bytes
            # than the Content-Length).
            self.complete = True
            conn.write_out()
            conn.close()
        else:
            self.complete = True
            conn.send_error(500, "Internal Server Error")
        return 0


cdef class ASGIConnection(Connection):

    # -- requests in ---------------------------------------------------------

    cdef int on_head(self) except -1:
        cdef Request req = self.parser.request
        cdef ASGIApp host = <ASGIApp>self.service.app
        self.request = req
        self.body_chunks = None
        self.body_size = 0
        self.body_file = None
        self.since = self.loop.now
        self.find_client()      # for a WebSocket's scope and access log too
        if host.websocket is not None and has_upgrade(req) and host.websocket(self):
            return 0            # a WebSocket handshake (prefork/asgi/_websocket.pyx)
        if req.chunked or req.content_length > 0:
            self.phase = PHASE_APP_BODY
            self.deadline = self.loop.now + self.service.body_timeout
        else:
            self.phase = PHASE_APP
            self.deadline = 0
        return self.start_call()

    cdef int on_body(self, const unsigned char *data, Py_ssize_t length) except -1:
        self.body_size += length
        if self.acall is not None:
            self.acall.push((<const char *>data)[:length])
        return 0

    cdef int on_request(self) except -1:
        """The request's body is complete (EV_DONE)."""
        if self.acall is not None and not self.acall.body_done:
            self.acall.end_body()
        if self.phase == PHASE_APP_BODY:
            self.phase = PHASE_APP
            self.deadline = 0
        return 0

    cdef int start_call(self) except -1:
        cdef HTTPService service = self.service
        cdef Request req = self.request
        cdef ASGIApp host = <ASGIApp>service.app
        cdef bint has_body = self.phase == PHASE_APP_BODY
        self.requests += 1
        service.requests_served += 1
        # A graceful stop turns keep-alive off, except for a request already
        # sent behind this one (as on the WSGI path).
        self.keep_alive = req.keep_alive and (not service.keepalive_off or self.rstart < self.rend) \
            and not (service.max_keepalive_requests and self.requests >= service.max_keepalive_requests)
        self.started = time.time() if service.access_log is not None else 0.0
        self.acall = ASGICall(self, host, has_body,
                              has_body and req.expect_continue and self.rstart == self.rend)
        self.begin_metering()
        if service.probes and not has_body:
            # --health-path / --ready-path: answered here, the app never sees it.
            self.acall.complete = True
            if self.answer_probe():
                return 0
            self.acall.complete = False
        if service.gate is not None and not has_body:
            if self.ticket is None:
                self.ticket = CacheTicket(self.remote_addr, self.remote_port, self.server_address)
            answer = service.gate.before_app(self.ticket, req, self.client_addr,
                                             self.keep_alive, self.loop.now)
            if answer is not None:
                self.acall.complete = True
                self.serve_stored(answer)
                return 0
            if self.ticket.waiting:
                # Another request fills this key: wait for its response.
                service.gate.wait(self.ticket, self.resume_after_fill)
                return 0
        elif service.gate is not None and self.ticket is not None:
            self.ticket.state = None
        return self.call_app(None)

    cdef int call_app(self, object body) except -1:
        cdef HTTPService service = self.service
        cdef ASGIApp host = <ASGIApp>service.app
        cdef ASGICall call = self.acall
        scope = host.scopes.build(self.request, self.remote_addr, self.remote_port, self.tcp,
                                  self.server_address)
        if self.tls is not None:
            self.tls.apply_to_scope(scope)      # scheme https, the asgiref TLS extension
        if self.forwarded is not None:
            self.forwarded.apply_scope(scope)
        service.mark_busy(self.request)
        if service.deadlines is not None:
            self.start_deadline()
        try:
            task = host.start_task(host.app(scope, call.receive, call.send))
        except Exception:
            log.exception("error calling the ASGI app")
            call.complete = True
            service.mark_idle()
            self.send_error(500, "Internal Server Error")
            return 0
        call.task = task
        if task.done():
            call.finished(task)         # ran to its end without waiting: no callback
        else:
            host.calls.add(call)
            task.add_done_callback(call.on_task_done)
        return 0

    def on_deadline(self):
        """--request-timeout passed while the app's task runs: cancel it
        (CancelledError at its current await) and answer for it."""
        cdef ASGICall call = self.acall
        if self.closed or call is None or call.complete:
            return
        call.timed_out = True
        call.complete = True
        if call.task is not None and not call.task.done():
            call.task.cancel()
        self.time_out(call.head_sent, "its task was cancelled")

    def resume_body(self):
        """Read the request body again (receive() wants more), from prefork's
        loop, never from inside the app's task."""
        if self.closed or self.phase != PHASE_APP_BODY:
            return
        self.set_interest((self.interest | EPOLLIN) & ~EPOLLRDHUP)
        self.deadline = self.body_deadline()
        if self.rstart < self.rend:
            self.process()
            if not self.closed:
                self.service.defer_flush(self)

    cdef bint wants_body(self) except -1:
        return self.acall is None or self.acall.queued < BODY_HIGH_WATER

    # -- the response ------------------------------------------------------

    cdef int start_response(self, ASGICall call, long long known_length) except -1:
        cdef HTTPService service = self.service
        headers = call.headers
        if type(headers) is not list:
            headers = list(headers)
        if service.gate is not None and self.ticket is not None:
            headers = service.gate.on_head(self.ticket, self.request, status_text(call.status),
                                           str_headers(headers))
        head = service.heads.build(self.request.minor, call.status, headers, known_length,
                                   self.keep_alive and (not service.keepalive_off
                                                        or self.rstart < self.rend),
                                   self.request.method == b"HEAD")
        call.head_sent = True
        self.keep_alive = service.heads.keep_alive
        self.chunked = service.heads.chunked
        self.send_body = service.heads.send_body
        self.declared = service.heads.content_length
        self.status_code = service.heads.status_code
        self.broken = False
        self.sent = 0
        if self.phase == PHASE_APP:
            self.phase = PHASE_RESPONSE
        self.queue(head)
        return 0

    cdef int respond(self, ASGICall call, bytes body, bint more) except -1:
        if self.closed:
            return 0
        if not call.head_sent:
            self.start_response(call, -1 if more else len(body))
        if body:
            self.push_chunk(body)
        if not more:
            self.end_response(call)
        return self.after_send()

    cdef int send_file(self, ASGICall call, str path) except -1:
        """http.response.pathsend: the file goes out with sendfile()."""
        f = open(path, "rb")
        size = os.fstat(f.fileno()).st_size
        if self.ticket is not None:
            self.service.gate.abandon(self.ticket)      # sendfile bypasses capture()
            self.ticket = None
        self.start_response(call, size)
        call.complete = True
        self.sendfile_src = FileWrapper(f)
        self.sendfile_offset = 0
        self.sendfile_left = min(size, self.declared) if self.declared >= 0 else size
        if not self.send_body:
            self.sendfile_left = 0
        return self.after_send()            # flush() sends the file, then finishes

    cdef int end_response(self, ASGICall call) except -1:
        call.complete = True
        if self.ticket is not None and self.service.gate is not None:
            self.service.gate.on_finish(self.ticket, self.request, status_text(call.status),
                                        str_headers(call.headers), not self.broken, self.loop.now)
        self.finish_response()
        if call.receiver is not None:
            call.resolve_receiver()         # http.disconnect: the response is done
        return 0

    cdef int after_send(self) except -1:
        """Write what send() queued: with the batch when called from it (the
        app ran inside it), else in the next iteration of prefork's loop."""
        if self.closed:
            return 0
        self.service.defer_flush(self)
        if not self.loop.dispatching:
            (<ASGIApp>self.service.app).wake()
        return 0

    # -- hooks of the connection step ----------------------------------------

    cdef int on_drained(self) except -1:
        if self.acall is not None:
            self.acall.drained()
        elif self.upgraded is not None:
            self.upgraded.drained()
        return 0

    cdef int on_peer_eof(self) except -1:
        if self.acall is not None and not self.acall.complete:
            self.acall.disconnect()
        elif self.upgraded is not None:
            self.upgraded.peer_eof()
        return 0

    cdef int on_closed(self) except -1:
        if self.acall is not None:
            self.acall.disconnect()
        elif self.upgraded is not None:
            self.upgraded.closed()
        return 0

    # -- an upgraded connection speaks its new protocol ------------------------

    cdef int process(self) except -1:
        if self.upgraded is not None:
            return self.upgraded.process()
        return Connection.process(self)

    cdef int flush(self) except -1:
        if self.upgraded is not None:
            return self.upgraded.flush()
        return Connection.flush(self)

    cdef int check_timeout(self, double now) except -1:
        if self.upgraded is not None:
            return self.upgraded.check_timeout(now)
        return Connection.check_timeout(self, now)
