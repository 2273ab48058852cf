"""The cache gate: where a connection meets the shared response cache.

A connection calls it at a few points of a request: before the app
(``before_app``: a stored answer, PURGE, the counters, a note to fill, or a
note to wait), to park a request that must wait (``wait``), when the app's
head is known (``on_head``: capture the body if the policy may store it),
per body chunk (``capture``) and at the end (``on_finish``: store, end the
fill, invalidate after unsafe methods, RFC 9111 §4.4). PURGE drops one URI,
or with the tag field (``--cache-tag-header``) every entry carrying one of
its tags. A hit is answered
from compiled code (prefork/cache/_lookup.pyx) before any environ is built;
the policy (prefork/cache/policy.py) runs only on misses.

Two things run here that no client waits on directly:
- request coalescing (nginx's proxy_cache_lock, Varnish's waiting list): a
  request that misses while another request, in any worker, fills its key
  is parked in the loop, not in the app. It looks at the store again on a
  timer (FIRST_POLL, doubling to MAX_POLL; at once when a fill in this
  worker ends) and is answered from the entry the fill stored. A fill that
  ends unstored releases it to call the app at once; past
  ``--cache-lock-timeout`` it calls the app and stores nothing (as nginx's
  proxy_cache_lock_timeout).
- background refresh (RFC 5861 §3): a request that finds its entry stale
  within stale-while-revalidate is answered stale at once; if it won the
  key's fill, one refresh follows, through the app, stored and sent to no
  one: in the loop after the batch's responses are written (inline mode,
  a zero-delay loop timer, which runs after the batch's writes), or on the
  thread pool (``--threads``).

Invariants: a fill taken by ``before_app`` or by a waiter is ended exactly
once (``on_finish``, ``abandon`` or ``store_refresh``); a ticket is in
``waiting`` exactly while ``t.waiting``, and its connection's resume() is
called at most once, unless ``abandon`` (the client left) comes first.
"""
import logging
import sys

from libc.errno cimport errno
from libc.stdint cimport uint64_t
from posix.time cimport CLOCK_MONOTONIC, itimerspec
from posix.unistd cimport close, read

from prefork.cache._lookup cimport (CACHE_BUSY, CACHE_HIT, CACHE_MISS, CACHE_STALE, EVENT_REFRESH,
                                    EVENT_WAIT, EVENT_WAIT_CANCEL, EVENT_WAIT_TIMEOUT,
                                    LOOKUP_FOR_ERROR, LOOKUP_RECHECK, LOOKUP_REQUEST, SharedCache,
                                    monotonic)
from prefork._speedups cimport Request
from prefork.wsgi._bridge cimport EnvironBuilder

from prefork.http.errors import error_body
from prefork.wsgi._bridge import collect_response

cdef extern from "sys/timerfd.h" nogil:
    int timerfd_create(int clockid, int flags)
    int timerfd_settime(int fd, int flags, const itimerspec *new_value, itimerspec *old_value)
    enum:
        TFD_NONBLOCK
        TFD_CLOEXEC
        TFD_TIMER_ABSTIME

cdef frozenset UNSAFE = frozenset([b"POST", b"PUT", b"PATCH", b"DELETE"])

# How often a waiting request looks at the store: a fill in another worker
# is seen within MAX_POLL of its end, for a lock and a lookup per look.
cdef double FIRST_POLL = 0.001
cdef double MAX_POLL = 0.016


cdef class CacheTicket:
    def __init__(self, str remote_addr="", int remote_port=0, tuple server=None):
        self.state = None
        self.remote_addr = remote_addr
        self.remote_port = remote_port
        self.server = server


cdef class Refresh:
    pass


cdef bint requests_no_cache(Request req):
    """RFC 9111 §5.2.1.4: the client asks to revalidate (honoured only when
    --cache-honor-no-cache is set, so reload floods cannot empty the cache)."""
    for name, value in req.headers:
        if (<bytes>name).lower() == b"cache-control" and b"no-cache" in (<bytes>value).lower():
            return True
    return False


def refresh_in_thread(post, done, Refresh job, app, Py_ssize_t limit):
    """On an app thread: produce a refresh's response, hand it to the loop
    (``post`` is its call_soon_threadsafe, ``done`` CacheGate.refresh_done)."""
    try:
        outcome = collect_response(app, job.environ, limit)
    except BaseException:
        post(done, job, None, sys.exc_info())
        return
    post(done, job, outcome, None)


cdef class CacheGate:

    def __init__(self, SharedCache cache, settings, loop=None, app=None,
                 EnvironBuilder environ=None, executor=None):
        # PERF (memory): the policy module (and json) load only when the
        # cache is on, so a worker without a cache stays smaller.
        from prefork.cache import policy
        self.cache = cache
        self.decide = policy.decide
        self.invalidated_uris = policy.invalidated_uris
        self.allow = frozenset(settings.cache_purge_allow)
        self.stats_path = settings.cache_stats_path.encode("latin-1")
        self.honor_no_cache = settings.cache_honor_no_cache
        self.x_header = settings.cache_x_header
        self.max_entry = settings.cache_max_entry
        self.lock_timeout = settings.cache_lock_timeout
        self.tag_name = cache.tag_name
        self.tag_field = cache.tag_name.encode("latin-1") if cache.tag_name else None
        self.strip_tags = cache.tag_name is not None and not cache.keep_tags
        self.loop = loop
        self.app = app
        self.environ = environ
        self.executor = executor
        self.log = logging.getLogger("prefork.error")
        self.waiting = []
        self.timer_fd = -1
        self.timer_at = 0
        if loop is not None:
            self.timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC)
            if self.timer_fd < 0:
                raise OSError(errno, "timerfd_create failed")
            loop.add_reader(self.timer_fd, self.on_timer)

    def __dealloc__(self):
        if self.timer_fd >= 0:
            close(self.timer_fd)

    cdef object before_app(self, CacheTicket t, Request req, str remote, bint keep_alive, double now):
        """A complete response to send instead of calling the app, or None:
        then call the app, unless ``t.waiting`` (call wait() instead)."""
        cdef SharedCache cache = self.cache
        self.abandon(t)
        t.state = None
        if req.method == b"PURGE" or (self.stats_path and req.path == self.stats_path):
            return self.answer_control(req, remote, keep_alive)
        if req.method != b"GET" and req.method != b"HEAD":
            t.state = "BYPASS"
            return None
        if self.honor_no_cache and requests_no_cache(req):
            t.state = "BYPASS"
            return None
        answer = cache.lookup_request(req, keep_alive, now, LOOKUP_REQUEST)
        status = cache.status
        if answer is not None:
            if status == CACHE_HIT:
                t.state = "HIT"
            else:
                t.state = "STALE"
                if cache.fill_won:
                    # RFC 5861 §3: this request has its stale answer now; the
                    # refresh follows with no client in front of it.
                    self.start_refresh(t, req)
            return answer
        t.state = "MISS"
        if status == CACHE_BUSY and self.timer_fd >= 0 and self.lock_timeout > 0:
            # Another request is filling this key: wait for its response.
            t.waiting = True
            t.request = req
            t.keep_alive = keep_alive
            t.key_hash = cache.key_hash
        elif status == CACHE_MISS:
            if cache.fill_won:
                self.take_fill(t)
        elif status != CACHE_BUSY:
            t.state = "BYPASS"
        return None

    cdef int take_fill(self, CacheTicket t) except -1:
        cdef SharedCache cache = self.cache
        t.fill = True
        t.key_hash = cache.key_hash
        t.fill_seq = cache.fill_seq
        t.fill_generation = cache.fill_generation
        return 0

    # -- request coalescing ------------------------------------------------

    cdef int wait(self, CacheTicket t, object resume) except -1:
        """Park the request before_app marked ``waiting``: ``resume(answer)``
        is called later from the loop, with the stored response to send, or
        None to call the app (then ``t.fill`` says whether it fills)."""
        cdef double now = monotonic()
        t.resume = resume
        t.wait_until = now + self.lock_timeout
        t.interval = FIRST_POLL
        t.next_check = now + FIRST_POLL
        self.waiting.append(t)
        self.cache.count(EVENT_WAIT)
        self.arm(t.next_check)
        return 0

    def on_timer(self):
        """The timerfd fired: the waiting requests that are due look again."""
        cdef uint64_t expirations
        read(self.timer_fd, &expirations, 8)
        self.timer_at = 0
        try:
            self.check_waiting()
        finally:
            self.rearm()

    cdef int check_waiting(self) except -1:
        cdef CacheTicket t
        cdef SharedCache cache = self.cache
        cdef double now = monotonic()
        # Inline, a released request calls the app in the loop: one per turn
        # of the loop, so that the others' events (and the batch's writes)
        # come in between, as they would between connections' requests.
        cdef bint app_called = False
        for t in list(self.waiting):
            if not t.waiting or now < t.next_check:
                continue
            if app_called and self.executor is None:
                break
            if now >= t.wait_until:
                # Given up on the fill (--cache-lock-timeout, nginx's
                # proxy_cache_lock_timeout): call the app and store nothing.
                cache.count(EVENT_WAIT_TIMEOUT)
                app_called = True
                self.resume(t, None)
                continue
            answer = cache.lookup_request(t.request, t.keep_alive, now, LOOKUP_RECHECK)
            status = cache.status
            if answer is None and status == CACHE_BUSY:
                t.interval = min(t.interval * 2, MAX_POLL)
                t.next_check = min(now + t.interval, t.wait_until)
                continue
            app_called = answer is None
            if answer is not None:
                t.state = "HIT" if status == CACHE_HIT else "STALE"
                if status == CACHE_STALE and cache.fill_won:
                    self.start_refresh(t, t.request)
            elif status == CACHE_MISS:
                # The fill ended without an entry for this request: it was
                # not storable (then fill_won without a marker: call the app
                # unwaited), or stored another variant, or was invalidated
                # (then this request may have become the key's filler).
                if cache.fill_won:
                    self.take_fill(t)
            else:
                t.state = "BYPASS"      # e.g. the entry may not answer its Authorization
            self.resume(t, answer)
        return 0

    cdef int resume(self, CacheTicket t, object answer) except -1:
        resume = t.resume
        t.resume = None
        t.waiting = False
        t.request = None
        self.waiting.remove(t)
        try:
            resume(answer)
        except Exception:
            # The connection closes itself on its own errors; this is a backstop.
            self.log.exception("error resuming a request that waited for the cache")
        return 0

    cdef int arm(self, double at) except -1:
        """Have the timer fire at monotonic time ``at`` (0: at once) unless it
        fires sooner already."""
        cdef itimerspec spec
        if self.timer_fd < 0 or (self.timer_at > 0 and self.timer_at <= at):
            return 0
        if at <= 0:
            at = 1e-9       # a time long past fires at once; 0 would disarm
        self.timer_at = at
        spec.it_interval.tv_sec = 0
        spec.it_interval.tv_nsec = 0
        spec.it_value.tv_sec = <long>at
        spec.it_value.tv_nsec = <long>((at - <long>at) * 1e9)
        if timerfd_settime(self.timer_fd, TFD_TIMER_ABSTIME, &spec, NULL) < 0:
            raise OSError(errno, "timerfd_settime failed")
        return 0

    cdef int rearm(self) except -1:
        """Set the timer for the first waiting request due, or disarm it."""
        cdef CacheTicket t
        cdef double at = 0, due
        cdef itimerspec spec
        for t in self.waiting:
            due = t.next_check if t.next_check < t.wait_until else t.wait_until
            if at == 0 or due < at:
                at = due if due > 0 else 1e-9
        self.timer_at = 0
        if at > 0:
            return self.arm(at)
        spec.it_interval.tv_sec = spec.it_interval.tv_nsec = 0
        spec.it_value.tv_sec = spec.it_value.tv_nsec = 0
        timerfd_settime(self.timer_fd, 0, &spec, NULL)
        return 0

    # -- stale-while-revalidate --------------------------------------------

    cdef int start_refresh(self, CacheTicket t, Request req) except -1:
        """Refresh the stale entry whose fill the last lookup won."""
        cdef SharedCache cache = self.cache
        cdef Refresh job = Refresh()
        job.request = req
        job.key_hash = cache.key_hash
        job.fill_seq = cache.fill_seq
        job.fill_generation = cache.fill_generation
        if self.loop is None:
            self.end_fill(job.key_hash, job.fill_seq, False)
            return 0
        cache.count(EVENT_REFRESH)
        if self.environ is None:
            # An ASGI app (prefork/asgi/_connection.pyx, ASGIApp.refresh).
            self.app.refresh(self, job, req, (t.remote_addr, t.remote_port), t.server)
            return 0
        job.environ = self.environ.build_refresh(req, t.remote_addr, t.remote_port, t.server)
        if self.executor is None:
            # Runs once this batch's responses (this stale one among them)
            # are written: the loop runs due timers after its batch hook.
            self.loop.call_later(0, self.refresh_inline, job)
        else:
            try:
                self.executor.submit(refresh_in_thread, self.loop.call_soon_threadsafe,
                                     self.refresh_done, job, self.app, self.max_entry)
            except RuntimeError:        # the pool is shut down: the worker is exiting
                self.end_fill(job.key_hash, job.fill_seq, False)
        return 0

    def refresh_inline(self, Refresh job):
        try:
            outcome = collect_response(self.app, job.environ, self.max_entry)
        except Exception:
            self.log.exception("error in the app (background refresh of %r)",
                               job.request.target.decode("latin-1"))
            outcome = None
        self.store_refresh(job, outcome)

    def refresh_done(self, Refresh job, outcome, exc_info):
        """Back on the loop thread: a refresh's app call ended on the pool."""
        if exc_info is not None:
            self.log.error("error in the app (background refresh of %r)",
                           job.request.target.decode("latin-1"), exc_info=exc_info)
            exc_info = None
        self.store_refresh(job, outcome)

    cdef int store_refresh(self, Refresh job, object outcome) except -1:
        """Store what a refresh brought, if the policy allows; end its fill."""
        cdef Request req = job.request
        cdef bint stored = False
        try:
            if outcome is not None and outcome[2] is not None:
                status, headers, body = outcome
                decision = self.decide(b"GET", req.headers, status, headers)
                stored = self.cache.put(req.host, req.target, req.headers, decision, status,
                                        list(headers), body, monotonic(), True, job.fill_seq,
                                        job.fill_generation) == 1
        finally:
            self.end_fill(job.key_hash, job.fill_seq, stored)
        return 0

    # -- after the app ------------------------------------------------------

    cdef list on_head(self, CacheTicket t, Request req, object status, list headers):
        """The app's head is known: start capturing its body if it may be
        stored; returns the headers to send (with X-Cache when asked)."""
        if t.fill:
            decision = self.decide(req.method, req.headers, status, headers) \
                if req.method == b"GET" else None
            if decision is not None and decision.store:
                t.decision = decision
                t.body = []
                t.size = 0
                t.capturing = True
            else:
                self.abandon(t)     # not storable: the waiters go to the app now
        if self.strip_tags:
            # The tag field is for this cache (and tag purges), not for
            # clients; on_finish still reads it from the app's own list.
            for name, value in headers:
                if name.lower() == self.tag_name:
                    headers = [(n, v) for n, v in headers if n.lower() != self.tag_name]
                    break
        if self.x_header and t.state is not None:
            return headers + [("X-Cache", t.state)]
        return headers

    cdef object stale_for_error(self, CacheTicket t, Request req, bint keep_alive, double now):
        """stale-if-error (RFC 5861 §4): a stored answer to send instead of
        the app's error, or None."""
        if req.method != b"GET" and req.method != b"HEAD":
            return None
        answer = self.cache.lookup_request(req, keep_alive, now, LOOKUP_FOR_ERROR)
        if answer is not None:
            self.abandon(t)
            t.state = "STALE"
        return answer

    cdef int capture(self, CacheTicket t, bytes data) except -1:
        t.size += len(data)
        if t.size > self.max_entry:
            self.abandon(t)     # streamed past the entry limit: not stored
        else:
            t.body.append(data)
        return 0

    cdef int on_finish(self, CacheTicket t, Request req, object status, list headers,
                       bint complete, double now) except -1:
        cdef SharedCache cache = self.cache
        cdef bint stored = False
        if t.capturing and complete:
            body = t.body[0] if len(t.body) == 1 else b"".join(t.body)
            stored = cache.put_request(req, t.decision, status, headers, body, now,
                                       t.fill_seq, t.fill_generation) == 1
        self.abandon(t, stored)
        if req.method in UNSAFE:
            for host, target in self.invalidated_uris(req.method, req.host or b"", req.target,
                                                      status, headers):
                cache.drop(host.encode("latin-1"), target.encode("latin-1"), False)
        return 0

    cdef int abandon(self, CacheTicket t, bint stored=False) except -1:
        """Forget the ticket's request: stop capturing, end its fill, and
        unpark it if it waits (its client left)."""
        t.capturing = False
        t.body = None
        t.decision = None
        if t.waiting:
            t.waiting = False
            t.resume = None
            t.request = None
            self.waiting.remove(t)
            self.cache.count(EVENT_WAIT_CANCEL)
        if t.fill:
            t.fill = False
            self.end_fill(t.key_hash, t.fill_seq, stored)
        return 0

    cdef int end_fill(self, uint64_t key_hash, uint64_t seq, bint stored) except -1:
        """End a fill; this worker's requests waiting for it look again at
        once (those of other workers at their next look)."""
        cdef CacheTicket t
        cdef bint due = False
        self.cache.release_fill(key_hash, seq, stored)
        for t in self.waiting:
            if t.key_hash == key_hash:
                t.next_check = 0
                due = True
        if due:
            self.arm(0)
        return 0

    # -- the server's own answers -------------------------------------------

    cdef list request_tags(self, Request req):
        """The tags a PURGE names in its tag field, or None without one."""
        cdef list tags = None
        if self.tag_field is None:
            return None
        for name, value in req.headers:
            if (<bytes>name).lower() == self.tag_field:
                tags = (tags or []) + [value]
        return tags

    cdef object answer_control(self, Request req, str remote, bint keep_alive):
        """PURGE of one URI or of tags, and the counters, for allowed
        addresses only."""
        if remote not in self.allow:
            return self.simple(req, 403, b"403 Forbidden\n", "text/plain", keep_alive)
        tags = self.request_tags(req) if req.method == b"PURGE" else None
        if tags is not None:
            # Varnish xkey's purge: every entry carrying one of the tags, in
            # every worker (and host); the target is not looked at.
            dropped = self.cache.purge_tags(tags)
            return self.simple(req, 200, b'{"purged": %d}\n' % dropped, "application/json",
                               keep_alive)
        if req.method == b"PURGE":
            dropped = self.cache.drop(req.host or b"", req.target, True)
            if not dropped:
                return self.simple(req, 404, b'{"purged": 0}\n', "application/json", keep_alive)
            return self.simple(req, 200, b'{"purged": %d}\n' % dropped, "application/json",
                               keep_alive)
        import json
        body = (json.dumps(self.cache.stats(), sort_keys=True) + "\n").encode()
        return self.simple(req, 200, body, "application/json", keep_alive)

    cdef bytes simple(self, Request req, int code, bytes body, str content_type, bint keep_alive):
        status = error_body(code)[0]
        head = [b"HTTP/1.1 " if req.minor else b"HTTP/1.0 ", status.encode(), b"\r\n",
                b"Content-Type: ", content_type.encode(), b"\r\n",
                b"Content-Length: %d\r\n" % len(body), b"Cache-Control: no-store\r\n",
                self.cache.date()]
        if not keep_alive:
            head.append(b"Connection: close\r\n")
        elif not req.minor:
            head.append(b"Connection: keep-alive\r\n")
        head.append(b"\r\n")
        if req.method != b"HEAD":
            head.append(body)
        return b"".join(head)
