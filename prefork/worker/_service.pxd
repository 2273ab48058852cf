# C interface of the worker's HTTP service (prefork/worker/_service.pyx).
from libc.stdint cimport uint32_t, uint64_t

from prefork.cache._gate cimport CacheGate
from prefork.worker._deadline cimport Deadlines
from prefork.worker._loop cimport BatchHook, EventLoop, Handler
from prefork.http._forwarded cimport TrustedPeers
from prefork.http._response cimport HeadBuilder
from prefork._speedups cimport Request
from prefork.wsgi._bridge cimport EnvironBuilder


cdef class AcceptKick


cdef struct ScoreEntry:
    # One worker's entry in the scoreboard (prefork/master/scoreboard.py).
    unsigned int pid
    unsigned int connections
    double busy_since
    unsigned char accepting


cdef class ServedConnection(Handler):
    """What the service needs of a connection (prefork.http._connection.Connection)."""
    cdef bint closed
    cdef bint flush_pending         # in service.deferred
    cdef tuple server_address       # (SERVER_NAME fallback, SERVER_PORT) of its listener
    # Write the queue out and go on with the response or the next request.
    cdef int flush(self) except -1
    cdef int close(self) except -1
    # Close it, or answer 408, if its deadline passed.
    cdef int check_timeout(self, double now) except -1
    cdef double deadline            # monotonic time its current phase ends (0: none)
    # Nothing in flight or waiting in the socket: a graceful stop may close it.
    cdef bint idle(self) except -1
    # Since when it waits on its client (idle, or a head or body arriving),
    # or -1 when the server is busy with it (app, response).
    cdef double waiting_since(self)
    # It has not sent a request yet (nothing read, none served).
    cdef bint untouched(self) except -1
    # Close it to make room for a new connection (408 for a request cut short).
    cdef int evict(self) except -1
    # Speak TLS (prefork.tls.TLSConfig), starting with the handshake.
    cdef int start_tls(self, object config) except -1
    # Read a PROXY protocol header first, within ``timeout`` seconds.
    cdef int start_proxy(self, double timeout) except -1


cdef class HTTPService(BatchHook):
    """Per-worker state shared by every connection."""
    cdef readonly EventLoop loop
    cdef object connection_type     # prefork.http._connection.Connection
    cdef readonly object app        # the WSGI app, or an ASGIApp
    cdef readonly bint asgi
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
    cdef double proxy_timeout       # --proxy-protocol-timeout
    cdef readonly double body_min_rate  # bytes/s, 0 for none
    cdef int max_connections
    cdef int max_keepalive_requests
    cdef bint accepting             # acceptors registered with the loop
    cdef bint accept_stopped        # for good: the listeners are left to others
    cdef readonly bint keepalive_off    # every response says Connection: close
    cdef readonly bint draining     # the worker is stopping
    cdef public double linger       # DRAIN_LINGER
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
    cdef bint accept_ready          # a listener was readable (or a sibling kicked) in this batch
    cdef AcceptKick kick            # or None
    cdef object board_buffer        # the master's scoreboard, or None
    cdef unsigned char *board
    cdef int board_index
    cdef ScoreEntry *me             # this worker's entry (NULL without a scoreboard)
    cdef double yield_since         # crowded() since then, 0 when not
    cdef int slow_calls             # app calls in this batch that ran past DEFER_LIMIT
    # --forwarded-allow-ips: the peers whose proxy fields are believed
    cdef readonly TrustedPeers forwarded
    # --request-timeout, or None when off
    cdef readonly Deadlines deadlines
    # --threads and --max-pending: tasks given to the pool and not yet back
    # (app calls and body blocks; threads left running past a deadline too),
    # so pool_tasks - threads of them wait for a thread.
    cdef readonly int threads
    cdef readonly int max_pending
    cdef public long long pool_tasks
    # Requests answered 503 because max_pending were waiting (exported by
    # the metrics), and those not yet in the error log.
    cdef readonly long long requests_shed
    cdef public long long shed_unlogged
    # This worker's counters in the scoreboard (prefork/metrics/_counters.pxd);
    # NULL when --metrics-bind is off: nothing is counted.
    cdef uint64_t *counters
    cdef object counters_buffer
    # --health-path / --ready-path, answered without the app (None: off)
    cdef readonly bint probes
    cdef bytes health_path
    cdef bytes ready_path
    # The answer to a probe request, or None when it is not one.
    cdef bytes probe_answer(self, Request req, bint keep_alive)

    cdef int defer_flush(self, ServedConnection conn) except -1
    cdef int flush_deferred(self) except -1
    cdef int end_batch(self) except -1
    cdef int flush_if_late(self) except -1
    cdef int accept_after_batch(self) except -1
    cdef int begin_batch(self) except -1
    cdef bint crowded(self) except -1
    cdef bint sibling_accepts(self) except -1
    cdef int mark_busy(self, Request req) except -1
    cdef void mark_idle(self)

    cdef int connection_closed(self, ServedConnection conn) except -1
    cdef double idle_deadline(self, double deadline)
    cdef ServedConnection evictable(self)
    cdef int pause_accepting(self) except -1
    cdef int resume_accepting(self) except -1


cdef class Acceptor(Handler):
    cdef HTTPService service
    cdef object sock
    cdef bint tcp
    cdef bint registered
    cdef bint shut                  # its listener was shut down
    cdef bint aside                 # stepped aside for an idle sibling (step_aside)
    cdef tuple server_address       # listener_address() of sock
    cdef object tls                 # prefork.tls.TLSConfig for a TLS listener, else None
    cdef bint proxy                 # its connections start with a PROXY protocol header
    cdef int on_events(self, uint32_t events) except -1
    cdef bint listening(self)
    cdef int accept(self, int allowance) except -1
    cdef int serve(self, int fd, object addr) except -1
    cdef int listener_shut(self) except -1
    cdef int step_aside(self) except -1
    cdef bint has_queued(self)


cdef class AcceptKick(Handler):
    cdef HTTPService service
    cdef int write_fd
    cdef bint registered
    cdef int start(self) except -1
    cdef int stop(self) except -1
    cdef int wake(self) except -1
    cdef int on_events(self, uint32_t events) except -1
