"""The worker's HTTP service: what its connections share, and how they come
and go.

HTTPService holds the app, the settings, the head builder, the environ
template and the cache gate; it accepts connections (Acceptor), writes the
responses of one batch of events together at its end, sweeps deadlines and
drains on a graceful stop. One connection's own work is in
prefork/http/_connection.pyx.

A graceful stop, in three steps the worker takes as the master asks
(prefork/worker/process.py):
- ``end_keepalive``: every response from now on says ``Connection: close``;
  a connection that is idle now, or that becomes idle after a response that
  promised to keep it open, lingers for ``DRAIN_LINGER`` seconds so that a
  request its client is sending right now is answered, then closes;
- ``stop_accepting``: the listeners are left to the other workers (a reload,
  a scale-down, a recycled worker);
- or ``accept_until_shut``: the server is stopping, and the worker keeps
  accepting until the master shuts the listening sockets down (new
  connections are then refused by the kernel at once), so no connection
  waits in a backlog that nobody accepts from.

Invariants:
- ``connections`` holds every open connection; at ``max_connections`` a new
  connection evicts the connection idle the longest, and accepting pauses
  only when none is idle;
- a connection is closed by the server only after a response that said
  ``Connection: close``, or once idle past its deadline (never just as its
  client may be sending the next request it was promised to send);
- a connection is in ``deferred`` at most once (its ``flush_pending``), and
  the list is empty whenever the loop waits (``end_batch``);
- a worker accepts one connection per wake-up and then moves to the back of
  the listener's queue, plus one per slow app call in a long batch.
"""
import logging

from libc.stdint cimport uint64_t
from libc.string cimport memcpy

from prefork.metrics._counters cimport C_CONNECTIONS_ACCEPTED, C_CONNECTIONS_OPEN, N_COUNTERS

from prefork.cache._gate cimport CacheGate
from prefork.worker._loop cimport BatchHook, EventLoop, Handler, monotonic
from prefork.http._response cimport HeadBuilder
from prefork._speedups cimport Request
from prefork.wsgi._bridge cimport EnvironBuilder
from prefork.worker._deadline cimport Deadlines
from prefork.http._forwarded cimport TrustedPeers

from prefork.wsgi._bridge import listener_address

cdef extern from "sys/socket.h" nogil:
    int setsockopt(int fd, int level, int name, const void *value, unsigned int size)
    int getsockopt(int fd, int level, int name, void *value, unsigned int *size)

cdef extern from "unistd.h" nogil:
    ssize_t c_read "read" (int fd, void *buf, size_t n)
    ssize_t c_write "write" (int fd, const void *buf, size_t n)

cdef extern from "poll.h" nogil:
    struct pollfd:
        int fd
        short events
        short revents
    int poll(pollfd *fds, unsigned long nfds, int timeout)
    enum:
        POLLIN
        POLLHUP
        POLLERR
        POLLNVAL

cdef extern from "errno.h":
    enum:
        EINVAL

cdef extern from "netinet/in.h":
    enum:
        IPPROTO_TCP

cdef extern from "netinet/tcp.h":
    enum:
        TCP_NODELAY
        TCP_INFO
    struct tcp_info:
        unsigned int tcpi_unacked   # of a listener: connections queued, not accepted

cdef extern from "fcntl.h" nogil:
    int fcntl(int fd, int cmd, ...)
    enum:
        F_GETFL
        F_SETFL
        O_NONBLOCK

cdef extern from "sys/epoll.h":
    enum:
        EPOLLIN
        EPOLLERR
        EPOLLHUP
        EPOLLEXCLUSIVE

# At max_connections, a request head or body that has been arriving for
# this long may be cut to let a new connection in (see evictable()).
cdef double EVICT_SLOW = 1.0
# ... and a connection that has not sent its first byte yet is left alone
# this long after it was accepted: its client may just be about to send
# (accepted before its request arrived), and evicting it would cut a
# normal client in the middle of an attack of fresh connections.
cdef double EVICT_FRESH = 0.1

cdef enum:
    # Connections accepted per wake-up: one (nginx's multi_accept off), then
    # the worker goes to the back of the listener's queue (Acceptor.on_events),
    # so a burst of connections is shared among idle workers.
    ACCEPT_BATCH = 1
    # ... or this many when no other worker accepts.
    ACCEPT_ALONE = 64

# The scoreboard (prefork/master/scoreboard.py): an entry per worker.
cdef enum:
    BOARD_HEADER = 64
    BOARD_ENTRY = 64
    BOARD_STATE = 4             # the server's state, a byte the master writes
    SERVER_READY = 1            # (SERVER_* in prefork/master/scoreboard.py)
# A worker leaves connections to its idle siblings for at most this long
# while an imbalance lasts, stepping aside STEP_ASIDE at a time. Long enough
# for a woken sibling to be scheduled on a loaded machine (a few ms on 2
# idle cores, but over 20 ms seen with the run queue 2-3 deep per core),
# short enough that a sibling that only looks idle (stopped) costs little.
cdef double YIELD_LIMIT = 0.1
# A sibling whose batch began longer ago than this is busy (in an app call).
cdef double BUSY_LIMIT = 0.002
cdef double STEP_ASIDE = 0.001

# How long a connection idle at the start of a graceful stop (or idle
# after a response sent before it) may still bring a request: a client
# under load sends its next one within milliseconds, and gets it answered
# with ``Connection: close`` instead of an empty reply.
cdef double DRAIN_LINGER = 1.0

# Responses deferred to the end of a batch (HTTPService.defer_flush) wait
# at most about this long: past it, the next readable connection sends
# them before its own app call (flush_if_late). Under the 1 ms a slow
# client notices, and long enough for a batch of fast app calls to go out
# together.
cdef double DEFER_LIMIT = 0.001


cdef class ServedConnection(Handler):
    """The part of a connection the service drives; prefork.http._connection's
    Connection implements it."""

    cdef int flush(self) except -1:
        raise NotImplementedError

    cdef int close(self) except -1:
        raise NotImplementedError

    cdef int check_timeout(self, double now) except -1:
        raise NotImplementedError

    cdef bint idle(self) except -1:
        raise NotImplementedError

    cdef double waiting_since(self):
        raise NotImplementedError

    cdef bint untouched(self) except -1:
        raise NotImplementedError

    cdef int evict(self) except -1:
        raise NotImplementedError

    cdef int start_tls(self, object config) except -1:
        raise NotImplementedError

    cdef int start_proxy(self, double timeout) except -1:
        raise NotImplementedError


cdef class HTTPService(BatchHook):
    """State one worker's connections share: the app, settings, the head
    builder with its Date cache, and the environ template."""

    def __init__(self, EventLoop loop, app, settings, connection_type, *, bint multiprocess=False,
                 bint asgi=False):
        self.loop = loop
        # Called as connection_type(service, fd, remote_addr, remote_port, tcp)
        # for each accepted socket (prefork.http._connection.Connection).
        self.connection_type = connection_type
        self.app = app
        self.heads = HeadBuilder(settings.server_header or None)
        self.connections = set()
        self.acceptors = []
        self.log = logging.getLogger("prefork.error")
        self.access_log = logging.getLogger("prefork.access") if settings.access_log else None
        self.max_request_line = settings.limit_request_line
        self.max_field_size = settings.limit_request_field_size
        self.max_header_size = settings.limit_request_headers_size
        self.max_header_count = settings.limit_request_fields
        self.max_body_size = settings.limit_request_body
        self.spool_threshold = settings.body_spool_threshold
        self.keepalive_timeout = settings.keepalive_timeout
        self.header_timeout = settings.header_timeout
        self.proxy_timeout = settings.proxy_protocol_timeout
        self.body_timeout = settings.body_timeout
        self.send_timeout = settings.send_timeout
        self.body_min_rate = settings.body_min_rate
        self.max_connections = settings.max_connections
        self.max_keepalive_requests = settings.max_keepalive_requests
        self.accepting = False
        self.accept_stopped = False
        self.keepalive_off = False
        self.draining = False
        self.linger = DRAIN_LINGER
        self.requests_served = 0
        self.asgi = asgi                # app is an ASGIApp (prefork/asgi/_connection.pyx)
        if settings.threads > 1 and not asgi:
            from concurrent.futures import ThreadPoolExecutor
            self.executor = ThreadPoolExecutor(settings.threads, thread_name_prefix="prefork-app")
        else:
            self.executor = None
        self.environ = EnvironBuilder(settings, multiprocess)
        self.deferred = []
        self.forwarded = TrustedPeers(settings.forwarded_allow_ips)
        self.deadlines = Deadlines(loop, settings.request_timeout) if settings.request_timeout else None
        self.threads = settings.threads if self.executor is not None else 0
        self.max_pending = settings.max_pending if self.executor is not None else 0
        self.health_path = settings.health_path.encode("latin-1") if settings.health_path else None
        self.ready_path = settings.ready_path.encode("latin-1") if settings.ready_path else None
        self.probes = self.health_path is not None or self.ready_path is not None
        loop.batch_hook = self

    # -- responses out, a batch at a time ---------------------------------

    cdef int defer_flush(self, ServedConnection conn) except -1:
        """Write ``conn``'s responses at the end of this batch of events.

        Why: a response written while its client sleeps in epoll_wait wakes
        the client, and a wake-up across CPUs costs an interrupt, which in a
        virtual machine costs a trip through the hypervisor (about 15 µs per
        response here with a Flask app, a sixth of the worker's time). Written
        back to back, the batch's responses find most clients already awake.
        A batch of slow app calls does not hold responses back for long: see
        flush_if_late()."""
        if not conn.flush_pending:
            conn.flush_pending = True
            if not self.deferred:
                self.deferred_since = monotonic()
            self.deferred.append(conn)
        return 0

    cdef int flush_deferred(self) except -1:
        cdef ServedConnection conn
        # Until empty: the loop must never wait with a response still queued
        # here, whatever a flush goes on to do.
        while self.deferred:
            batch, self.deferred = self.deferred, []
            for conn in batch:
                conn.flush_pending = False
                if conn.closed:
                    continue
                try:
                    conn.flush()
                except Exception:
                    # As the loop does for an error in a handler.
                    self.log.exception("error writing to fd %d", conn.fd)
                    conn.abort()
        return 0

    cdef int begin_batch(self) except -1:
        if self.me != NULL:
            self.me.busy_since = self.loop.now
        return 0

    cdef int end_batch(self) except -1:
        self.flush_deferred()
        if self.accept_ready or self.slow_calls:
            self.accept_after_batch()
        if self.me != NULL:
            self.me.connections = len(self.connections)
            self.me.busy_since = 0
        return 0

    cdef int flush_if_late(self) except -1:
        """Called by a connection before it reads (and so before another app
        call) while responses are deferred: once this batch has run
        DEFER_LIMIT, send what is ready (and count a slow call)."""
        if self.deferred and monotonic() - self.deferred_since > DEFER_LIMIT:
            self.flush_deferred()
            self.slow_calls += 1
        return 0

    cdef int accept_after_batch(self) except -1:
        """Accept at the end of the batch, never in its middle: a worker
        accepts once it is done with the app calls of the batch, so a new
        connection never waits behind an app call that was about to start
        (it waits in the shared backlog for whichever worker is free first,
        and a busy worker's share of a burst goes to its idle siblings).
        One connection per batch (ACCEPT_BATCH), plus one per slow app call
        in a long batch: with 2 ms calls and 50 busy keep-alive connections
        a batch lasts 100 ms, and a burst of new connections otherwise took
        seconds to get in (bench: cacheable p99 1620 -> 229 ms). Busy
        workers accept at the same pace, so the balance between them holds."""
        cdef Acceptor acceptor
        cdef int allowance = ACCEPT_BATCH + self.slow_calls
        if not self.sibling_accepts():
            # Alone on the listeners (one worker, or the others stopped
            # accepting): nobody to share with, so take a burst at once.
            allowance = ACCEPT_ALONE
        self.accept_ready = False
        self.slow_calls = 0
        for acceptor in self.acceptors:
            if acceptor.registered:
                acceptor.accept(allowance)
        return 0

    # -- accepting -------------------------------------------------------

    def set_scoreboard(self, buffer, int index):
        """This worker's entry in the master's scoreboard (prefork/master/
        scoreboard.py), and its siblings' to read."""
        cdef unsigned char[::1] view = buffer
        self.board_buffer = buffer
        self.board = &view[0]
        self.board_index = index
        self.me = <ScoreEntry *>(self.board + BOARD_HEADER + BOARD_ENTRY * index)
        self.me.accepting = self.accepting
        self.me.connections = len(self.connections)

    cdef bint crowded(self) except -1:
        """True when an idle sibling (one waiting for events, or in a batch
        begun under BUSY_LIMIT ago: not in a long app call) holds fewer
        connections than this worker: a connection is better left to it
        (Acceptor.accept). A burst of connections wakes one worker, which
        would otherwise take it all, one per iteration, before its siblings
        even woke up, and serve the lot one after another. For at most
        YIELD_LIMIT while the imbalance lasts, so a sibling that looks idle
        but is not (SIGSTOP) cannot keep connections waiting."""
        cdef ScoreEntry *other
        cdef unsigned int used, i
        cdef Py_ssize_t mine = len(self.connections)
        cdef double now = monotonic()
        if self.me == NULL or self.kick is None or mine == 0:
            self.yield_since = 0
            return False
        used = (<unsigned int *>self.board)[0]
        for i in range(used):
            if i == self.board_index:
                continue
            other = <ScoreEntry *>(self.board + BOARD_HEADER + BOARD_ENTRY * i)
            if other.pid != 0 and other.accepting and other.connections < mine \
                    and (other.busy_since == 0 or now - other.busy_since < BUSY_LIMIT):
                if self.yield_since == 0 or now - self.yield_since > 10 * YIELD_LIMIT:
                    self.yield_since = now      # a new imbalance
                return now - self.yield_since < YIELD_LIMIT
        self.yield_since = 0
        return False

    cdef bint sibling_accepts(self) except -1:
        """Another worker accepts connections (so a kick can wake it)."""
        cdef ScoreEntry *other
        cdef unsigned int used, i
        if self.me == NULL:
            return True
        used = (<unsigned int *>self.board)[0]
        for i in range(used):
            other = <ScoreEntry *>(self.board + BOARD_HEADER + BOARD_ENTRY * i)
            if i != self.board_index and other.pid != 0 and other.accepting:
                return True
        return False

    def set_accept_kick(self, int read_fd, int write_fd):
        """A pipe every worker shares (the master makes it before forking):
        a worker that leaves connections queued on a listener writes to it,
        which wakes one sleeping sibling to accept them (AcceptKick)."""
        self.kick = AcceptKick(self, read_fd, write_fd)
        if self.accepting:
            self.kick.start()

    def listen(self, sock, tls=None, proxy=False):
        """Accept connections from a bound, listening socket; ``tls``: its
        connections speak TLS with this prefork.tls.TLSConfig; ``proxy``:
        they start with a PROXY protocol header (prefork/http/_proxy.pyx)."""
        sock.setblocking(False)
        acceptor = Acceptor(self, sock, tls, proxy)
        self.acceptors.append(acceptor)
        if self.accepting or len(self.acceptors) == 1:
            self.accepting = True
            acceptor.start()

    cdef int pause_accepting(self) except -1:
        if self.accepting:
            self.accepting = False
            if self.me != NULL:
                self.me.accepting = False
            for acceptor in self.acceptors:
                (<Acceptor>acceptor).stop()
            if self.kick is not None:
                self.kick.stop()
                if self.sibling_accepts():
                    # A wake-up the kernel gave this worker for a connection
                    # not yet accepted (EPOLLEXCLUSIVE wakes one worker per
                    # connection) would be lost with it, and the connection
                    # left in the backlog until another arrived: pass it on.
                    self.kick.wake()
        return 0

    cdef int resume_accepting(self) except -1:
        if not self.accepting and not self.accept_stopped:
            self.accepting = True
            if self.me != NULL:
                self.me.accepting = True
            for acceptor in self.acceptors:
                (<Acceptor>acceptor).start()
            if self.kick is not None:
                self.kick.start()
        return 0

    cdef int connection_closed(self, ServedConnection conn) except -1:
        self.connections.discard(conn)
        if self.counters != NULL:
            self.counters[<int>C_CONNECTIONS_OPEN] -= 1
        if not self.accepting and not self.accept_stopped \
                and len(self.connections) < self.max_connections:
            self.resume_accepting()
        return 0

    cdef double idle_deadline(self, double deadline):
        """The deadline of a connection that just became idle: while
        keep-alive is off, a short linger instead of the keep-alive timeout."""
        if self.keepalive_off:
            return min(deadline, monotonic() + self.linger)
        return deadline

    # -- lifecycle -------------------------------------------------------

    def sweep(self):
        """Close connections whose deadline passed; called once a second.
        A worker that paused accepting because it was full looks again: a
        connection may have become evictable since (a head trickling in for
        longer than EVICT_SLOW). Requests --max-pending refused since the
        last sweep are logged here as a count (the first one is logged as
        it happens)."""
        cdef double now = self.loop.now
        for conn in list(self.connections):
            (<ServedConnection>conn).check_timeout(now)
        if self.shed_unlogged > 1:
            self.log.warning("answered %d more requests 503: %d wait for an app thread "
                             "(--max-pending %d)", self.shed_unlogged - 1,
                             max(self.pool_tasks - self.threads, 0), self.max_pending)
        self.shed_unlogged = 0
        if not self.accepting and not self.accept_stopped and self.evictable() is not None:
            self.resume_accepting()

    def refuse_keepalive(self):
        """Responses from now on say ``Connection: close`` (a stop signal
        came; end_keepalive follows from the loop)."""
        self.keepalive_off = True

    def end_keepalive(self, bint draining=True):
        """From now on every response says ``Connection: close``; idle
        connections linger (DRAIN_LINGER) for a request already on its way,
        then close. ``draining``: the worker is stopping (otherwise only
        keep-alive ends: --shutdown-delay's first phase)."""
        cdef ServedConnection conn
        cdef double until = monotonic() + self.linger
        self.keepalive_off = True
        self.draining = self.draining or draining
        self.flush_deferred()       # settle what this batch has queued first
        for conn in list(self.connections):
            if conn.idle() and (conn.deadline == 0 or conn.deadline > until):
                conn.deadline = until

    def stop_accepting(self):
        """Leave the listeners to the other workers, for good."""
        self.accept_stopped = True
        self.pause_accepting()

    def accept_until_shut(self):
        """Keep accepting (the server is stopping: the master shuts the
        listening sockets down once every worker is draining); an acceptor
        stops when its listener is shut (see Acceptor.on_events)."""
        cdef Acceptor acceptor
        if self.accept_stopped:
            self.accept_stopped = False
            for acceptor in self.acceptors:
                acceptor.shut = False
        self.resume_accepting()

    def check_listeners(self):
        """Stop the acceptors whose listener was shut down (the master's
        shutdown wakes epoll with EPOLLHUP; this is the fallback for a
        worker that was busy when it happened)."""
        cdef Acceptor acceptor
        for acceptor in self.acceptors:
            if acceptor.registered and not acceptor.listening():
                acceptor.listener_shut()

    @property
    def listening(self):
        """True while an acceptor is registered with the loop."""
        cdef Acceptor acceptor
        for acceptor in self.acceptors:
            if acceptor.registered or acceptor.aside:
                return True
        return False

    def close_all(self):
        for conn in list(self.connections):
            (<ServedConnection>conn).close()
        for acceptor in self.acceptors:
            (<Acceptor>acceptor).stop()
        if self.executor is not None:
            self.executor.shutdown(wait=False, cancel_futures=True)

    @property
    def active(self):
        return len(self.connections)

    cdef ServedConnection evictable(self):
        """The connection to close so that a new one gets in when the worker
        is full: the one idle the longest (it never sent a byte, for over
        EVICT_FRESH, or it waits between keep-alive requests), else the
        slowest request head or body still arriving after EVICT_SLOW
        seconds; None if every connection is busy with a request (nginx,
        when it runs out of connections, reuses its idle keep-alive ones the
        same way)."""
        cdef ServedConnection conn, best = None, slow = None
        cdef double best_since = 0, slow_since = 0, since
        cdef double now = monotonic()
        cdef double limit = now - EVICT_SLOW
        for conn in self.connections:
            since = conn.waiting_since()
            if since < 0:
                continue
            if conn.idle():
                if since > now - EVICT_FRESH and conn.untouched():
                    continue
                if best is None or since < best_since:
                    best, best_since = conn, since
            elif since < limit and (slow is None or since < slow_since):
                slow, slow_since = conn, since
        return best if best is not None else slow

    def set_status_slot(self, buffer):
        """Give the service a writable buffer (e.g. a slice of the master's
        shared memory) where it keeps "METHOD target" of the request the app
        is running, NUL-terminated, and an empty string between requests."""
        cdef unsigned char[::1] view = buffer
        self.status_buffer = buffer
        self.status_size = view.shape[0]
        self.status_slot = &view[0] if self.status_size > 0 else NULL
        if self.status_slot != NULL:
            self.status_slot[0] = 0

    cdef int mark_busy(self, Request req) except -1:
        cdef Py_ssize_t n, m
        cdef const unsigned char *method = req.method
        cdef const unsigned char *target = req.target
        if self.status_slot == NULL:
            return 0
        n = min(len(req.method), self.status_size - 2)
        memcpy(self.status_slot, method, n)
        self.status_slot[n] = 32
        m = min(len(req.target), self.status_size - n - 2)
        if m > 0:
            memcpy(self.status_slot + n + 1, target, m)
        else:
            m = 0
        self.status_slot[n + 1 + m] = 0
        return 0

    cdef void mark_idle(self):
        if self.status_slot != NULL:
            self.status_slot[0] = 0

    # -- metrics and probes ----------------------------------------------

    def set_counters(self, buffer):
        """Count into ``buffer`` (this worker's block of the scoreboard,
        prefork/master/scoreboard.py): only the master reads it."""
        cdef unsigned char[::1] view = buffer
        if view.shape[0] < N_COUNTERS * 8:
            raise ValueError("counter block too small")
        self.counters_buffer = buffer
        self.counters = <uint64_t *>&view[0]
        self.counters[<int>C_CONNECTIONS_OPEN] = len(self.connections)

    cdef bytes probe_answer(self, Request req, bint keep_alive):
        """--health-path: 200 whenever the loop answers (liveness).
        --ready-path: 200 only while the master says the server serves
        (every worker of the first generation accepts, no stop begun: a
        reload keeps it ready), 503 otherwise (readiness). A worker without
        a master's scoreboard is ready until it stops."""
        cdef bytes path = req.path
        cdef bint ready
        if self.health_path is not None and path == self.health_path:
            return self.probe_response(req, keep_alive, True)
        if self.ready_path is not None and path == self.ready_path:
            if self.board != NULL:
                ready = self.board[BOARD_STATE] == SERVER_READY
            else:
                ready = not self.keepalive_off
            return self.probe_response(req, keep_alive, ready)
        return None

    def probe_response(self, Request req, bint keep_alive, bint ok):
        body = b"ok\n" if ok else b"unavailable\n"
        head = self.heads.build(req.minor, "200 OK" if ok else "503 Service Unavailable",
                                [("Content-Type", "text/plain; charset=utf-8"),
                                 ("Cache-Control", "no-store")],
                                len(body), keep_alive, req.method == b"HEAD")
        return head + body if self.heads.send_body else head

    def set_cache(self, cache, settings):
        """Answer from (and fill) the master's shared response cache."""
        if self.asgi:
            self.gate = CacheGate(cache, settings, self.loop, self.app, None, None)
        else:
            self.gate = CacheGate(cache, settings, self.loop, self.app, self.environ, self.executor)


cdef class Acceptor(Handler):
    """Accepts connections on one shared listening socket."""

    def __init__(self, HTTPService service, sock, tls=None, bint proxy=False):
        self.service = service
        self.sock = sock
        self.tls = tls
        self.proxy = proxy
        self.fd = sock.fileno()
        self.tcp = sock.family != 1     # AF_UNIX
        self.registered = False
        self.shut = False
        # SERVER_NAME/SERVER_PORT of the connections it accepts (a worker may
        # serve several listeners; see prefork/wsgi/_bridge.pyx).
        self.server_address = listener_address(sock.getsockname())

    cdef bint listening(self):
        """False once the listening socket was shut down: poll() reports a
        hang-up on a TCP or unix listener after shutdown(SHUT_RDWR)."""
        cdef pollfd entry
        entry.fd = self.fd
        entry.events = POLLIN
        entry.revents = 0
        if poll(&entry, 1, 0) < 0:
            return True
        return not entry.revents & (POLLHUP | POLLERR | POLLNVAL)

    cdef int serve(self, int fd, object addr) except -1:
        """Make an accepted socket a connection of this worker."""
        cdef HTTPService service = self.service
        cdef int one = 1
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL, 0) | O_NONBLOCK)
        if self.tcp:
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one))
            conn = service.connection_type(service, fd, addr[0], addr[1], True)
        else:
            conn = service.connection_type(service, fd, "", 0, False)
        (<ServedConnection>conn).server_address = self.server_address
        if self.proxy:
            (<ServedConnection>conn).start_proxy(service.proxy_timeout)   # before TLS
        if self.tls is not None:
            (<ServedConnection>conn).start_tls(self.tls)
        service.connections.add(conn)
        if service.counters != NULL:
            service.counters[<int>C_CONNECTIONS_ACCEPTED] += 1
            service.counters[<int>C_CONNECTIONS_OPEN] += 1
        service.loop.register(conn, EPOLLIN)
        return 0

    cdef int step_aside(self) except -1:
        """Stop watching the listener for STEP_ASIDE (its readiness would
        wake this loop again at once), so an idle sibling accepts."""
        if self.registered and not self.aside:
            self.aside = True
            self.stop()
            self.service.loop.call_later(STEP_ASIDE, self.step_back)
        return 0

    def step_back(self):
        if self.aside:
            self.aside = False
            if self.service.accepting:
                self.start()
        return 0

    cdef int listener_shut(self) except -1:
        """The master shut the listener down: nothing more to accept here."""
        self.shut = True
        self.aside = False
        self.stop()
        if not self.service.listening:
            self.service.accepting = False
            if self.service.me != NULL:
                self.service.me.accepting = False
            if self.service.kick is not None:
                self.service.kick.stop()
        return 0

    cdef bint has_queued(self):
        """A TCP listener still holds connections nobody accepted (a burst
        that arrived within one wake-up); unknown, so False, for unix ones."""
        cdef tcp_info info
        cdef unsigned int size = sizeof(info)
        if not self.tcp or getsockopt(self.fd, IPPROTO_TCP, TCP_INFO, &info, &size) < 0:
            return False
        return info.tcpi_unacked > 0

    def start(self):
        if not self.registered and not self.shut:
            # EPOLLEXCLUSIVE: one sleeping worker is woken per connection, not all.
            self.service.loop.register(self, EPOLLIN | EPOLLEXCLUSIVE)
            self.registered = True

    def stop(self):
        if self.registered:
            self.service.loop.unregister(self)
            self.registered = False

    cdef int on_events(self, uint32_t events) except -1:
        cdef HTTPService service = self.service
        accept = self.sock._accept
        if events & (EPOLLHUP | EPOLLERR) and not self.listening():
            # Shut down by the master. A unix listener still hands out the
            # connections queued before; a TCP one has reset them.
            while len(service.connections) < service.max_connections:
                try:
                    fd, addr = accept()
                except OSError:
                    break
                self.serve(fd, addr)
            return self.listener_shut()
        service.accept_ready = True     # at the end of the batch (accept_after_batch)
        if service.loop.batch_size > 1 and service.kick is not None and service.sibling_accepts():
            # This wake-up came with work (a request to serve, maybe for
            # seconds): pass it on, so an idle sibling accepts now.
            service.kick.wake()
        return 0

    cdef int accept(self, int allowance) except -1:
        """Accept up to ``allowance`` connections."""
        cdef HTTPService service = self.service
        cdef ServedConnection victim
        cdef int fd, i
        cdef bint accepted = False
        accept = self.sock._accept
        if service.crowded():
            service.kick.wake()     # an idle sibling with fewer connections takes it
            return self.step_aside()
        for i in range(allowance):
            if len(service.connections) >= service.max_connections:
                # Evict only for a connection that is there to take: a TCP
                # listener says so; a unix one only by being readable.
                if (self.tcp and not self.has_queued()) or (not self.tcp and i > 0):
                    break
                victim = service.evictable()
                if victim is None:
                    service.pause_accepting()
                    break
                victim.evict()
            try:
                fd, addr = accept()
            except (BlockingIOError, InterruptedError):
                break
            except OSError as exc:
                if exc.errno == EINVAL:
                    return self.listener_shut()     # shut down by the master
                # EMFILE and friends: log, and retry on the next wake-up.
                service.log.warning("accept failed: %s", exc)
                break
            self.serve(fd, addr)
            accepted = True
        if accepted and service.kick is not None and service.sibling_accepts() and self.has_queued():
            # EPOLLEXCLUSIVE woke this worker once for a whole burst, and the
            # others sleep on: pass the rest on to one of them.
            service.kick.wake()
        if accepted and self.registered:
            # EPOLLEXCLUSIVE wakes the first idle worker in the listener's wait
            # queue, and the queue's order is the order of registration: the
            # first worker would take every connection it is idle for (with a
            # CPU-heavy app, 2 workers then served like 1). Registering again
            # moves this worker to the back, so the next connection goes to
            # a sibling: round robin among idle workers, for two epoll_ctl calls.
            service.loop.unregister(self)
            service.loop.register(self, EPOLLIN | EPOLLEXCLUSIVE)
        return 0


cdef class AcceptKick(Handler):
    """The read end of the pipe that workers use to wake a sibling for the
    connections they left queued (see Acceptor.accept). Registered with
    EPOLLEXCLUSIVE like a listener, so one sleeping worker wakes per kick;
    it then accepts at the end of its batch, and kicks on if more remain."""

    def __init__(self, HTTPService service, int read_fd, int write_fd):
        self.service = service
        self.fd = read_fd
        self.write_fd = write_fd
        self.registered = False

    cdef int start(self) except -1:
        if not self.registered:
            self.service.loop.register(self, EPOLLIN | EPOLLEXCLUSIVE)
            self.registered = True
        return 0

    cdef int stop(self) except -1:
        if self.registered:
            self.service.loop.unregister(self)
            self.registered = False
        return 0

    cdef int wake(self) except -1:
        cdef char byte = 33
        c_write(self.write_fd, &byte, 1)       # a full pipe already wakes someone
        return 0

    cdef int on_events(self, uint32_t events) except -1:
        cdef char scratch[64]
        while c_read(self.fd, scratch, sizeof(scratch)) == sizeof(scratch):
            pass
        self.service.accept_ready = True
        return 0
