"""The cache gate: where a connection meets the shared response cache.

A connection calls it at four points of a request: before the app
(``before_app``: a stored answer, PURGE, the counters, or a note to fill),
when the app's head is known (``on_head``: capture the body if the policy
may store it), per body chunk (``capture``) and at the end (``on_finish``:
store, end the fill, invalidate after unsafe methods, RFC 9111 §4.4). A hit
is answered from compiled code (prefork/cache/_lookup.pyx) before any environ is
built; the policy (prefork/cache/policy.py) runs only on misses.

Invariant: a fill marker taken by ``before_app`` is released exactly once,
by ``on_finish`` or ``abandon``.
"""
from prefork.cache._lookup cimport CACHE_BUSY, CACHE_HIT, CACHE_MISS, CACHE_STALE, SharedCache
from prefork._speedups cimport Request

from prefork.http.errors import error_body

cdef frozenset UNSAFE = frozenset([b"POST", b"PUT", b"PATCH", b"DELETE"])


cdef class CacheTicket:
    def __cinit__(self):
        self.state = None


cdef bint requests_no_cache(Request req):
    """RFC 9111 §5.2.1.4: the client asks to revalidate (honoured only when
    --cache-honor-no-cache is set, so reload floods cannot empty the cache)."""
    for name, value in req.headers:
        if (<bytes>name).lower() == b"cache-control" and b"no-cache" in (<bytes>value).lower():
            return True
    return False


cdef class CacheGate:

    def __init__(self, SharedCache cache, settings):
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

    cdef object before_app(self, CacheTicket t, Request req, str remote, bint keep_alive, double now):
        """A complete response to send instead of calling the app, or None."""
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
        answer = cache.lookup_request(req, keep_alive, now, False)
        status = cache.status
        if status == CACHE_STALE and cache.fill_won:
            # stale-while-revalidate: this request refreshes the entry while
            # the others keep getting the stale copy.
            t.fill = True
            t.key_hash = cache.key_hash
            t.fill_generation = cache.fill_generation
            t.state = "MISS"
            return None
        if answer is not None:
            t.state = "HIT" if status == CACHE_HIT else "STALE"
            return answer
        if status == CACHE_MISS or status == CACHE_BUSY:
            t.state = "MISS"
            if cache.fill_won:
                t.fill = True
                t.key_hash = cache.key_hash
                t.fill_generation = cache.fill_generation
        else:
            t.state = "BYPASS"
        return None

    cdef object answer_control(self, Request req, str remote, bint keep_alive):
        """PURGE of one URI and the counters, for allowed addresses only."""
        if remote not in self.allow:
            return self.simple(req, 403, b"403 Forbidden\n", "text/plain", keep_alive)
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
                self.abandon(t)
        if self.x_header and t.state is not None:
            return headers + [("X-Cache", t.state)]
        return headers

    cdef object stale_for_error(self, CacheTicket t, Request req, bint keep_alive, double now):
        """stale-if-error (RFC 5861 §4): a stored answer to send instead of
        the app's error, or None."""
        if req.method != b"GET" and req.method != b"HEAD":
            return None
        answer = self.cache.lookup_request(req, keep_alive, now, True)
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
        if t.capturing and complete:
            body = t.body[0] if len(t.body) == 1 else b"".join(t.body)
            cache.put_request(req, t.decision, status, headers, body, now, t.fill_generation)
        self.abandon(t)
        if req.method in UNSAFE:
            for host, target in self.invalidated_uris(req.method, req.host or b"", req.target,
                                                      status, headers):
                cache.drop(host.encode("latin-1"), target.encode("latin-1"), False)
        return 0

    cdef int abandon(self, CacheTicket t) except -1:
        t.capturing = False
        t.body = None
        t.decision = None
        if t.fill:
            t.fill = False
            self.cache.release_fill(t.key_hash)
        return 0
