"""An app that drives prefork.shared from inside the workers (tests/cache/test_shared_*.py).

Every reply is JSON and names the worker's pid, so a test can tell which
worker answered and ask until every worker has.

- ``/get?key=K``, ``/set?key=K&value=V[&ttl=T]``, ``/add?key=K&value=V``,
  ``/delete?key=K``, ``/incr?key=K[&delta=D]``, ``/clear``, ``/stats``:
  the API, values as str;
- ``/square?n=N``: ``square(n)``, a @shared_lru_cache(maxsize=64) function
  that sleeps SQUARE_SLEEP seconds and counts its calls in this process;
  ``/calls``: those counts; ``/square-info``, ``/square-clear``: its
  cache_info() and cache_clear();
- ``/local-square?n=N``: the same with functools.lru_cache (the benchmark's
  comparison);
- ``/purge-tag?tag=T``: prefork.shared.purge_tag(T);
- ``/tagged/...``: a cacheable response carrying ``Cache-Tag: $TAGS``
  (the ``tags`` query parameter, spaces as ``+``; the field's name is
  $TAG_HEADER when set).
"""
import functools
import json
import os
import time
from urllib.parse import parse_qs

from prefork import shared

SQUARE_SLEEP = float(os.environ.get("SQUARE_SLEEP", "0.2"))
TAG_HEADER = os.environ.get("TAG_HEADER", "Cache-Tag")
VALUE_SIZE = int(os.environ.get("SQUARE_VALUE_SIZE", "0"))
calls = {}


@shared.shared_lru_cache(maxsize=int(os.environ.get("SQUARE_MAXSIZE", "64")))
def square(n):
    calls[n] = calls.get(n, 0) + 1
    time.sleep(SQUARE_SLEEP)
    return {"n": n, "square": n * n, "by": os.getpid(), "pad": "x" * VALUE_SIZE}


@functools.lru_cache(maxsize=int(os.environ.get("SQUARE_MAXSIZE", "64")))
def local_square(n):
    calls[n] = calls.get(n, 0) + 1
    time.sleep(SQUARE_SLEEP)
    return {"n": n, "square": n * n, "by": os.getpid(), "pad": "x" * VALUE_SIZE}


def run(path, q):
    key = q.get("key")
    if path == "/get":
        return {"value": shared.get(key)}
    if path == "/set":
        ttl = float(q["ttl"]) if "ttl" in q else None
        return {"stored": shared.set(key, q["value"], ttl=ttl)}
    if path == "/add":
        return {"added": shared.add(key, q["value"])}
    if path == "/delete":
        return {"deleted": shared.delete(key)}
    if path == "/incr":
        return {"value": shared.incr(key, int(q.get("delta", "1")))}
    if path == "/clear":
        shared.clear()
        return {}
    if path == "/stats":
        return {"stats": shared.stats()}
    if path == "/square":
        return {"value": square(int(q["n"]))}
    if path == "/local-square":
        return {"value": local_square(int(q["n"]))}
    if path == "/calls":
        return {"calls": {str(n): c for n, c in calls.items()}, "rss": rss()}
    if path == "/square-info":
        return {"info": list(square.cache_info())}
    if path == "/square-clear":
        square.cache_clear()
        return {}
    if path == "/purge-tag":
        return {"purged": shared.purge_tag(*q["tag"].split())}
    return None


def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def app(environ, start_response):
    path = environ["PATH_INFO"]
    q = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
    if path.startswith("/tagged/"):
        body = f"{path} from {os.getpid()} at {time.time()}".encode()
        start_response("200 OK", [("Content-Type", "text/plain"),
                                  ("Cache-Control", "max-age=60"),
                                  (TAG_HEADER, q.get("tags", "")),
                                  ("Content-Length", str(len(body)))])
        return [body]
    try:
        reply = run(path, q)
    except Exception as exc:
        reply = {"error": f"{type(exc).__name__}: {exc}"}
    status = "404 Not Found" if reply is None else "200 OK"
    body = json.dumps(dict(reply or {}, pid=os.getpid())).encode()
    start_response(status, [("Content-Type", "application/json"), ("Cache-Control", "no-store"),
                            ("Content-Length", str(len(body)))])
    return [body]
