"""A WebSocket connection serving an ASGI app (asgiref "HTTP & WebSocket"
spec 2.4, websocket scope): the handshake's answer, receive() and send(),
and the close handshake, on a connection whose head asked for an upgrade
(prefork/asgi/_connection.pyx hands it over; frames are
prefork/websocket/_frames.pyx).

A session's states: CONNECTING until the app accepts (101) or denies (an
HTTP response: 403 for websocket.close, the app's own through the
websocket.http.response extension, 500 for an app that raised); OPEN;
CLOSING once our close frame is out and the peer's is awaited; CLOSED once
both are (or the peer broke the protocol). Then the server closes the TCP
connection (RFC 6455 §7.1.1: the server closes first): at once after a
close handshake; after a failure, our side is shut and what the peer still
sends is read and dropped until its FIN, for at most CLOSE_TIMEOUT.

Invariants:
- frames are read only while the app keeps up: past INBOX_MESSAGES or
  INBOX_BYTES waiting for receive(), the socket is left unread (the kernel's
  window then slows the client) until receive() takes them;
- send() waits (a Future) while more than HIGH_WATER bytes wait to be
  written, as the HTTP send() does;
- a message reaches the app only complete and valid; a protocol error closes
  with its §7.4.1 code, and the app hears websocket.disconnect with it;
- the app hears websocket.disconnect exactly once as its last message, after
  every message that arrived before; afterwards send() raises
  ClientDisconnected;
- receive() and send() never read the socket: they run in the app's task;
  reading resumes from prefork's loop (``resume``).
"""
import logging
import time
from collections import deque

from libc.stdlib cimport realloc

from prefork.asgi._connection cimport ASGIApp, ASGIConnection, Upgraded
from prefork.asgi._scope cimport Done, ScopeBuilder, release
from prefork.http._connection cimport HIGH_WATER, PHASE_IDLE, PHASE_UPGRADED
from prefork.worker._service cimport HTTPService
from prefork.websocket._frames cimport (CLOSE_ABNORMAL, CLOSE_GOING_AWAY, CLOSE_INTERNAL_ERROR,
                                        CLOSE_NO_STATUS, CLOSE_NORMAL, WS_BINARY, WS_CLOSE,
                                        WS_NONE, WS_PING, WS_PONG, WS_TEXT, FrameReader,
                                        build_frame, build_head)
from prefork._speedups cimport Request

from prefork.asgi._connection import ClientDisconnected
from prefork.http.errors import error_body
from prefork.websocket._frames import ProtocolError, close_payload
from prefork.websocket.deflate import negotiate
from prefork.websocket.handshake import HandshakeError, check_request

cdef extern from "sys/socket.h" nogil:
    int shutdown(int fd, int how)
    enum:
        SHUT_WR

cdef extern from "sys/epoll.h":
    enum:
        EPOLLIN
        EPOLLRDHUP

cdef enum:
    CONNECTING = 0
    OPEN = 1
    CLOSING = 2
    CLOSED = 3
    DENIED = 4
    # Messages (or bytes of them) waiting for receive() past which the
    # socket is no longer read; it is read again below half of each.
    INBOX_MESSAGES = 64
    INBOX_BYTES = 1 << 20
    READ_BUFFER = 65536

# How long the peer has to answer our close frame, or to close its side
# once the close handshake is over (websockets' close_timeout is 10 s;
# a drain should not wait on a peer that vanished for that long).
cdef double CLOSE_TIMEOUT = 5.0

cdef Done DONE = Done(None)
cdef dict EXTENSIONS = {"websocket.http.response": {}}
# Fields of the 101 answer that are the server's to write.
cdef frozenset RESERVED = frozenset((b"upgrade", b"connection", b"sec-websocket-accept",
                                     b"sec-websocket-protocol", b"sec-websocket-extensions"))

log = logging.getLogger("prefork.error")


cdef class WebSockets:
    """The worker's WebSocket settings; called by an ASGI connection with a
    head that has an Upgrade field: True when it took the request (a
    session started, or the handshake was refused), False for plain HTTP."""
    cdef long long max_message, max_frame
    cdef double ping_interval, ping_timeout
    cdef bint per_message_deflate

    def __init__(self, settings):
        self.max_message = settings.ws_max_message_size
        self.max_frame = settings.ws_max_frame_size
        self.ping_interval = settings.ws_ping_interval
        self.ping_timeout = settings.ws_ping_timeout
        self.per_message_deflate = settings.ws_per_message_deflate

    def __call__(self, ASGIConnection conn):
        cdef Request req = conn.request
        cdef ASGIApp host = <ASGIApp>conn.service.app
        cdef ScopeBuilder scopes = host.scopes
        cdef list headers = scopes.headers(req)
        try:
            handshake = check_request(req.method, req.minor, headers,
                                      req.chunked or req.content_length > 0)
        except HandshakeError as exc:
            refuse(conn, exc)
            return True
        if handshake is None:
            return False
        start_session(conn, host, handshake, self, headers)
        return True


cdef int refuse(ASGIConnection conn, object exc) except -1:
    """Answer a handshake that breaks RFC 6455 §4.2.1 and close."""
    cdef HTTPService service = conn.service
    service.log.info("refused WebSocket handshake from %s: %d %s", conn.remote_addr,
                     exc.status, exc.reason)
    body = (error_body(exc.status)[1].decode() + exc.reason + "\n").encode()
    head = service.heads.build(conn.request.minor, exc.status,
                               exc.headers + [("Content-Type", "text/plain; charset=utf-8")],
                               len(body), False, False)
    conn.status_code = exc.status
    conn.queue(head)
    conn.queue(body)
    conn.closing = True
    conn.phase = PHASE_IDLE
    conn.flush()
    return 0


cdef int start_session(ASGIConnection conn, ASGIApp host, object handshake, WebSockets config,
                       list headers) except -1:
    cdef HTTPService service = conn.service
    cdef Request req = conn.request
    cdef WebSocketSession session = WebSocketSession(conn, host, handshake, config)
    conn.upgraded = session
    conn.phase = PHASE_UPGRADED
    conn.deadline = 0
    conn.keep_alive = False
    conn.requests += 1
    service.requests_served += 1
    conn.started = time.time() if service.access_log is not None else 0.0
    service.mark_busy(req)
    scope = host.scopes.build(req, conn.remote_addr, conn.remote_port, conn.tcp,
                              conn.server_address)
    scope["type"] = "websocket"
    scope["extensions"] = EXTENSIONS
    if conn.tls is not None:
        conn.tls.apply_to_scope(scope)          # the asgiref TLS extension, scheme wss
    if conn.forwarded is not None:
        conn.forwarded.apply_scope(scope)       # from a trusted proxy (--forwarded-allow-ips)
    scope["scheme"] = "wss" if scope["scheme"] in ("https", "wss") else "ws"
    del scope["method"]
    scope["subprotocols"] = handshake.subprotocols
    host.websockets.add(session)
    if service.draining:
        session.going = True
    try:
        task = host.start_task(host.app(scope, session.receive, session.send))
    except Exception:
        log.exception("error calling the ASGI app")
        session.deny(500, [], error_body(500)[1])
        return 0
    session.task = task
    if task.done():
        session.finished(task)
    else:
        task.add_done_callback(session.on_task_done)
    return 0


cdef class WebSocketSession(Upgraded):

    def __init__(self, ASGIConnection conn, ASGIApp host, handshake, WebSockets config):
        self.conn = conn
        self.host = host
        self.handshake = handshake
        self.state = CONNECTING
        self.inbox = deque()
        self.ping_interval = config.ping_interval
        self.ping_timeout = config.ping_timeout
        self.deflate_answer = None
        if config.per_message_deflate:
            self.deflate_answer, self.deflate = negotiate(handshake.extensions)
        self.reader = FrameReader(config.max_message, config.max_frame,
                                  self.deflate if self.deflate is not None else None)

    # -- frames in (from prefork's loop) ---------------------------------------

    cdef bint reading(self):
        return self.state != CONNECTING and self.state != DENIED and not self.paused \
            and not self.conn.peer_eof

    cdef int process(self) except -1:
        cdef ASGIConnection conn = self.conn
        cdef FrameReader reader = self.reader
        cdef Py_ssize_t used
        cdef int event
        if not self.reading():
            if not conn.closed and not conn.peer_eof:
                # Keep the bytes for later; hear a hang-up meanwhile.
                conn.set_interest((conn.interest & ~EPOLLIN) | EPOLLRDHUP)
            return 0
        while conn.rstart < conn.rend and not conn.closed:
            if self.state == CLOSED:
                conn.rstart = conn.rend     # after the close, nothing more is read (§5.5.1)
                break
            if len(self.inbox) >= INBOX_MESSAGES or self.inbox_bytes >= INBOX_BYTES:
                self.pause()
                break
            try:
                used = reader.feed(conn.buf + conn.rstart, conn.rend - conn.rstart)
            except ProtocolError as exc:
                conn.rstart = conn.rend
                conn.service.log.info("WebSocket from %s closed: %d %s", conn.remote_addr,
                                      exc.code, exc.reason)
                self.fail(exc.code, exc.reason)
                break
            conn.rstart += used
            event = reader.event
            if event != WS_NONE:
                self.on_message(event)
            elif used == 0:
                break
        if conn.rstart == conn.rend:
            conn.rstart = conn.rend = 0
        return 0

    cdef int on_message(self, int event) except -1:
        message = self.reader.message
        if event == WS_TEXT:
            if self.state == OPEN:
                self.deliver({"type": "websocket.receive", "text": message}, len(message))
        elif event == WS_BINARY:
            if self.state == OPEN:
                self.deliver({"type": "websocket.receive", "bytes": message}, len(message))
        elif event == WS_PING:
            if self.state == OPEN:          # §5.5.2: answered with its payload, at once
                self.conn.queue(build_frame(WS_PONG, message, False))
                self.conn.after_send()
        elif event == WS_PONG:
            if message == self.ping_payload:
                self.pong_due = 0
        elif event == WS_CLOSE:
            self.on_close_frame()
        return 0

    cdef int on_close_frame(self) except -1:
        """§5.5.1: answer a close with a close (echoing its code), unless it
        answers ours; then the TCP connection ends."""
        cdef int code = self.reader.close_code
        if self.state == OPEN:
            self.conn.queue(build_frame(WS_CLOSE, b"" if code == CLOSE_NO_STATUS
                                        else close_payload(code, ""), False))
        self.state = CLOSED
        self.close_received = True
        self.until = self.conn.loop.now + CLOSE_TIMEOUT
        self.tell_app(code, self.reader.close_reason)
        self.conn.after_send()
        return 0

    cdef int deliver(self, dict message, Py_ssize_t size) except -1:
        if self.receiver is not None:
            receiver, self.receiver = self.receiver, None
            self.host.resolve(receiver, message)    # the app's task steps at once
        else:
            self.inbox.append(message)
            self.inbox_bytes += size
        return 0

    cdef int pause(self) except -1:
        self.paused = True
        self.conn.set_interest((self.conn.interest & ~EPOLLIN) | EPOLLRDHUP)
        return 0

    def resume(self):
        """Read again (receive() took the backlog), from prefork's loop."""
        cdef ASGIConnection conn = self.conn
        if not self.paused or conn.closed:
            return
        self.paused = False
        if not conn.peer_eof:
            conn.set_interest((conn.interest | EPOLLIN) & ~EPOLLRDHUP)
        if conn.rstart < conn.rend:
            self.process()
        if not conn.closed:
            conn.service.defer_flush(conn)

    # -- the app's receive() and send() ------------------------------------------

    def receive(self):
        if not self.connected:
            self.connected = True
            return Done({"type": "websocket.connect"})
        if self.inbox:
            message = self.inbox.popleft()
            self.inbox_bytes -= len(message.get("text") or message.get("bytes") or b"")
            if self.paused and len(self.inbox) <= INBOX_MESSAGES // 2 \
                    and self.inbox_bytes <= INBOX_BYTES // 2:
                self.conn.loop.call_soon(self.resume)
                self.host.wake()
            return Done(message)
        if self.farewell is not None:
            return Done(self.farewell)
        if self.receiver is not None:
            raise RuntimeError("receive() called again before the previous call returned")
        self.receiver = self.host.loop.create_future()
        return self.receiver

    def send(self, message):
        kind = message["type"]
        if kind == "websocket.send":
            if self.state != OPEN or self.conn.closed:
                if self.state == CONNECTING and not self.conn.closed:
                    raise RuntimeError("websocket.send before websocket.accept")
                raise ClientDisconnected("the WebSocket is closed")
            text = message.get("text")
            if text is not None:
                self.send_frame(WS_TEXT, text.encode("utf-8"))
            else:
                data = message.get("bytes")
                if data is None:
                    raise RuntimeError("websocket.send needs 'bytes' or 'text'")
                self.send_frame(WS_BINARY, data if type(data) is bytes else bytes(data))
            if self.conn.out_bytes >= HIGH_WATER and not self.conn.closed:
                # Back-pressure: the app waits until the client has read.
                self.drainer = self.host.loop.create_future()
                return self.drainer
            return DONE
        if kind == "websocket.close":
            if self.state == CONNECTING and self.denial is None and not self.conn.closed:
                self.deny(403, [], b"")     # asgiref: a close before accept is a 403
            elif self.state == OPEN:
                self.start_close(message.get("code") or CLOSE_NORMAL, message.get("reason") or "")
            return DONE
        if self.conn.closed:
            raise ClientDisconnected("the client closed the connection")
        if kind == "websocket.accept":
            if self.state != CONNECTING or self.denial is not None:
                raise RuntimeError("websocket.accept after the handshake was answered")
            self.accept(message)
            return DONE
        if kind == "websocket.http.response.start":
            if self.state != CONNECTING or self.denial is not None:
                raise RuntimeError("websocket.http.response.start after the handshake was answered")
            self.denial = [message["status"], list(message.get("headers") or ()), []]
            return DONE
        if kind == "websocket.http.response.body":
            if self.state != CONNECTING or self.denial is None:
                raise RuntimeError("websocket.http.response.body without its start")
            self.denial[2].append(bytes(message.get("body", b"")))
            if not message.get("more_body", False):
                self.deny(self.denial[0], self.denial[1], b"".join(self.denial[2]))
            return DONE
        raise RuntimeError(f"unexpected ASGI message type {kind!r} on a WebSocket")

    cdef int accept(self, dict message) except -1:
        """§4.2.2: the 101 answer, with the app's subprotocol and headers."""
        cdef ASGIConnection conn = self.conn
        cdef HTTPService service = conn.service
        handshake = self.handshake
        subprotocol = message.get("subprotocol")
        if subprotocol is not None and subprotocol not in handshake.subprotocols:
            raise RuntimeError(f"subprotocol {subprotocol!r} was not offered by the client "
                               f"(it offered {handshake.subprotocols})")
        headers = [("Upgrade", "websocket"), ("Sec-WebSocket-Accept", handshake.accept)]
        if subprotocol is not None:
            headers.append(("Sec-WebSocket-Protocol", subprotocol))
        if self.deflate_answer is not None:
            headers.append(("Sec-WebSocket-Extensions", self.deflate_answer))
        for name, value in message.get("headers") or ():
            lower = (name if type(name) is bytes else str(name).encode("latin-1")).lower()
            if lower in RESERVED:
                raise RuntimeError(f"the {name!r} header of a WebSocket handshake is the server's")
            headers.append((name, value))
        head = service.heads.build(1, 101, headers, -1, True, False)
        cut = head.index(b"\r\n") + 2
        conn.queue(head[:cut] + b"Connection: Upgrade\r\n" + head[cut:])
        conn.status_code = 101
        self.state = OPEN
        if conn.rcap < READ_BUFFER:
            # PERF: the connection reads at most what its buffer holds, and
            # an HTTP connection keeps 8 KiB; frames are consumed as they
            # arrive, so 64 KiB is all a WebSocket ever holds (16 KB
            # messages, 100 connections, 16 in flight: 13.7k -> see
            # bench/RESULTS.md).
            grown = <unsigned char *>realloc(conn.buf, READ_BUFFER)
            if grown == NULL:
                raise MemoryError()
            conn.buf = grown
            conn.rcap = READ_BUFFER
        service.mark_idle()
        conn.log_access()
        if self.ping_interval > 0:
            self.next_ping = conn.loop.now + self.ping_interval
        if self.going:
            self.going_away()
        conn.after_send()
        return 0

    cdef int deny(self, object status, list headers, bytes body) except -1:
        """An HTTP answer in place of the handshake's, then close."""
        cdef ASGIConnection conn = self.conn
        cdef HTTPService service = conn.service
        head = service.heads.build(conn.request.minor, status, headers, len(body), False, False)
        conn.queue(head)
        if body and service.heads.send_body:
            conn.queue(body)
        conn.status_code = service.heads.status_code
        conn.sent = len(body)
        self.state = DENIED
        conn.closing = True
        service.mark_idle()
        conn.log_access()
        conn.after_send()
        return 0

    cdef int send_frame(self, int opcode, bytes payload) except -1:
        cdef bint rsv1 = False
        if self.deflate is not None:
            compressed = self.deflate.compress(payload)
            if compressed is not None:
                payload = compressed
                rsv1 = True
        if len(payload) <= 65536:
            self.conn.queue(build_frame(opcode, payload, rsv1))
        else:
            self.conn.queue(build_head(opcode, len(payload), rsv1))
            self.conn.queue(payload)
        self.conn.after_send()
        return 0

    # -- closing ---------------------------------------------------------------

    cdef int start_close(self, int code, str reason) except -1:
        """Send our close frame (§5.5.1) and wait for the peer's."""
        if self.state != OPEN:
            return 0
        payload = close_payload(code, reason)       # ValueError for a code that may not be sent
        self.conn.queue(build_frame(WS_CLOSE, payload, False))
        self.state = CLOSING
        self.until = self.conn.loop.now + CLOSE_TIMEOUT
        self.conn.after_send()
        return 0

    cdef int fail(self, int code, str reason) except -1:
        """§7.1.7 Fail the WebSocket Connection: our close frame with the
        code, then the TCP connection ends; input after it is dropped."""
        if self.state == CLOSED or self.state == DENIED:
            return 0
        if self.state == OPEN:
            self.conn.queue(build_frame(WS_CLOSE, close_payload(code, reason[:120]), False))
        self.state = CLOSED
        self.until = self.conn.loop.now + CLOSE_TIMEOUT
        self.tell_app(code, reason)
        self.conn.after_send()
        return 0

    def going_away(self):
        """The worker drains: 1001 Going Away now (README, "WebSocket")."""
        self.going = True
        if self.state == OPEN:
            self.start_close(CLOSE_GOING_AWAY, "server shutting down")
            self.tell_app(CLOSE_GOING_AWAY, "server shutting down")

    def cancel(self):
        if self.task is not None and not self.task.done():
            self.task.cancel()

    cdef int tell_app(self, int code, str reason) except -1:
        """websocket.disconnect, once, after the messages already queued."""
        if self.farewell is not None:
            return 0
        self.farewell = {"type": "websocket.disconnect", "code": code, "reason": reason}
        if self.receiver is not None and not self.inbox:
            receiver, self.receiver = self.receiver, None
            if not receiver.done():
                receiver.set_result(self.farewell)
        self.drained()
        return 0

    # -- hooks of the connection -------------------------------------------------

    cdef int flush(self) except -1:
        cdef ASGIConnection conn = self.conn
        conn.write_out()
        if conn.closed or conn.out:
            return 0
        if self.state == DENIED:
            conn.close()
            return 0
        if self.state == CLOSED and not self.shut:
            # §7.1.1: the server ends the TCP connection first. After the
            # peer's close frame nothing more comes: close now. After a
            # failure the peer may still be sending, and a close() with
            # unread bytes would reset the connection, destroying our close
            # frame before it is read: shut our side and read until the
            # peer's FIN (CLOSE_TIMEOUT at most).
            if self.close_received and not conn.has_unread_bytes():
                conn.close()
                return 0
            self.shut = True
            shutdown(conn.fd, SHUT_WR)
        if conn.peer_eof:
            conn.close()
            return 0
        if self.reading():
            conn.set_interest(EPOLLIN)
            if conn.rstart < conn.rend:
                self.process()
                if not conn.closed and conn.out:
                    conn.service.defer_flush(conn)
        else:
            conn.set_interest(EPOLLRDHUP)
        return 0

    cdef int drained(self) except -1:
        drainer, self.drainer = self.drainer, None
        return release(drainer)

    cdef int peer_eof(self) except -1:
        """The client closed its side: without a close frame, 1006 (§7.1.5)."""
        self.tell_app(CLOSE_ABNORMAL, "")
        if not self.conn.out:
            self.conn.close()
        return 0

    cdef int closed(self) except -1:
        self.host.websockets.discard(self)
        if self.state == CONNECTING:
            (<HTTPService>self.conn.service).mark_idle()     # gone before an answer
        self.tell_app(CLOSE_ABNORMAL, "")
        return 0

    cdef int check_timeout(self, double now) except -1:
        """Once a second: a peer that reads nothing, a ping left unanswered,
        a close handshake that does not end."""
        cdef ASGIConnection conn = self.conn
        if conn.closed:
            return 0
        if conn.out and conn.deadline and now >= conn.deadline:
            conn.close()            # --send-timeout: the peer reads nothing
            return 0
        if self.state == OPEN:
            if self.pong_due and now >= self.pong_due:
                conn.service.log.info("WebSocket from %s: no pong within %.1f s",
                                      conn.remote_addr, self.ping_timeout)
                self.fail(CLOSE_INTERNAL_ERROR, "keepalive ping timeout")
            elif self.next_ping and now >= self.next_ping and not self.pong_due:
                self.pings += 1
                self.ping_payload = self.pings.to_bytes(4, "big")
                conn.queue(build_frame(WS_PING, self.ping_payload, False))
                self.pong_due = now + self.ping_timeout
                self.next_ping = now + self.ping_interval
            else:
                return 0
            conn.flush()            # (timers run after the batch's writes)
        elif (self.state == CLOSING or self.state == CLOSED) and now >= self.until:
            conn.close()
        return 0

    # -- the end of the app's call -------------------------------------------------

    def on_task_done(self, task):
        self.finished(task)

    def finished(self, task):
        cdef ASGIConnection conn = self.conn
        exc = None if not task.cancelled() else "cancelled"
        if exc is None:
            exc = task.exception()
        if exc is not None and exc != "cancelled" and not isinstance(exc, ClientDisconnected):
            log.error("error in the ASGI app (WebSocket %s)", self.state_name(), exc_info=exc)
        if conn.closed:
            return
        if self.state == CONNECTING:
            if self.denial is not None:
                conn.close()        # its own response, cut short
            elif exc is None:
                log.warning("the ASGI app returned without accepting the WebSocket: 403")
                self.deny(403, [], b"")
            else:
                self.deny(500, [("Content-Type", "text/plain; charset=utf-8")], error_body(500)[1])
        elif self.state == OPEN:
            # §7.4.1: 1011 for an app that failed; 1000 for one that is done.
            self.start_close(CLOSE_INTERNAL_ERROR if exc is not None else CLOSE_NORMAL, "")

    def state_name(self):
        return ("connecting", "open", "closing", "closed", "denied")[self.state]
