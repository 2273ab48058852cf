"""Response cache policy: whether a response may be stored by a shared cache,
for how long, under which Vary, and which URIs an unsafe request invalidates.

RFC 9111 §3 says what a shared cache may store; on top of it we keep the safe
defaults of Varnish's built-in rules and nginx's proxy_cache: store nothing
that sets a cookie, nothing without explicit freshness, and treat every
doubtful header (conflicting or invalid freshness, Vary: *) as "do not store".

The compiled side (prefork/cache/_lookup.pyx) does keys, lookups and hits; this
module runs once per response that might be stored, so it is plain Python.
Header lists are [(name, value)] of bytes (the parser's request headers) or
str (the app's WSGI response headers); names are matched case-insensitively.
"""
import time
from dataclasses import dataclass
from typing import Iterable, List, Optional, Sequence, Tuple, Union
from urllib.parse import urljoin, urlsplit

from prefork.http._fields import http_date

Headers = Iterable[Tuple[Union[str, bytes], Union[str, bytes]]]

# RFC 9110 §15.1: heuristically cacheable statuses. 206 is left out (no
# range assembly here); explicit freshness is required for all of them.
CACHEABLE_STATUSES = frozenset({200, 203, 204, 300, 301, 308, 404, 405, 410, 414, 501})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})    # RFC 9110 §9.2.1
DELTA_SECONDS_MAX = 2147483648      # RFC 9111 §1.2.2: larger values mean this


@dataclass(frozen=True)
class Decision:
    """What to do with one response. ``store`` False says why in ``reason``."""
    store: bool
    reason: str = ""
    ttl: float = 0.0                        # freshness lifetime, seconds
    stale_while_revalidate: float = 0.0     # RFC 5861 §3
    stale_if_error: float = 0.0             # RFC 5861 §4
    vary: Tuple[str, ...] = ()              # lowercase request field names
    etag: Optional[str] = None
    last_modified: Optional[float] = None   # epoch seconds
    date: Optional[float] = None            # the response's Date, epoch seconds
    age: float = 0.0                        # Age the response already had
    shared_auth: bool = False               # may answer requests with Authorization


def refuse(reason: str) -> Decision:
    return Decision(False, reason)


def text(value: Union[str, bytes]) -> str:
    return value.decode("latin-1") if isinstance(value, bytes) else value


def field_values(headers: Headers, name: str) -> List[str]:
    """Every value of the field `name` (lowercase), in order."""
    return [text(v) for n, v in headers if text(n).lower() == name]


def split_list(value: str) -> List[str]:
    """The elements of a comma-separated list (RFC 9110 §5.6.1), OWS
    trimmed, empty elements dropped, commas inside quoted strings kept."""
    items, current, quoted, escaped = [], [], False, False
    for ch in value:
        if escaped:
            escaped = False
        elif quoted and ch == "\\":
            escaped = True
        elif ch == '"':
            quoted = not quoted
        elif ch == "," and not quoted:
            items.append("".join(current).strip(" \t"))
            current = []
            continue
        current.append(ch)
    items.append("".join(current).strip(" \t"))
    return [item for item in items if item]


def parse_cache_control(values: Sequence[str]) -> dict:
    """Cache-Control directives (RFC 9111 §5.2) of every field line:
    {lowercase name: [argument or None, one per occurrence]}. Arguments may
    be tokens or quoted strings (unquoted here)."""
    directives: dict = {}
    for value in values:
        for item in split_list(value):
            name, eq, arg = item.partition("=")
            name = name.strip(" \t").lower()
            arg = arg.strip(" \t")
            if len(arg) >= 2 and arg[0] == '"' and arg[-1] == '"':
                arg = arg[1:-1].replace('\\"', '"').replace("\\\\", "\\")
            directives.setdefault(name, []).append(arg if eq else None)
    return directives


def delta_seconds(directives: dict, name: str) -> Optional[float]:
    """The directive's delta-seconds (RFC 9111 §1.2.2); None if absent.
    Raises ValueError when invalid or given twice with different values
    (§4.2.1 allows treating the response as stale: we do not store it)."""
    args = directives.get(name)
    if not args:
        return None
    if len(set(args)) > 1:
        raise ValueError(f"conflicting {name}: {args!r}")
    arg = args[0]
    if arg is None or not arg.isdigit() or not arg.isascii():
        raise ValueError(f"invalid {name}: {arg!r}")
    return float(min(int(arg), DELTA_SECONDS_MAX))


def freshness_lifetime(directives: dict, headers: Headers, now: Optional[float] = None) -> float:
    """RFC 9111 §4.2.1 for a shared cache: s-maxage, then max-age, then
    Expires minus Date. Raises ValueError when none is usable.

    ``now`` (epoch seconds, default time.time()) stands in for a missing or
    invalid Date: RFC 9110 §6.6.1 has a recipient give such a response the
    time it was received, and the Date prefork sends with it is that time."""
    for name in ("s-maxage", "max-age"):
        seconds = delta_seconds(directives, name)
        if seconds is not None:
            return seconds
    expires = field_values(headers, "expires")
    if not expires:
        raise ValueError("no explicit freshness (s-maxage, max-age or Expires)")
    if len(set(expires)) > 1:
        raise ValueError(f"conflicting Expires: {expires!r}")
    expires_at = http_date(expires[0])
    if expires_at is None:
        # RFC 9111 §5.3: an invalid Expires ("0" included) means already
        # expired. Not stored, even with stale-while-revalidate or
        # stale-if-error: every request would find it stale, and the
        # origin said from the start that it was.
        raise ValueError(f"invalid Expires means already expired: {expires[0]!r}")
    dates = field_values(headers, "date")
    date = http_date(dates[0]) if dates else None
    if date is None:
        date = time.time() if now is None else now
    return expires_at - date


def status_code(status: Union[int, str, bytes]) -> int:
    if isinstance(status, int):
        return status
    head = text(status)[:3]
    return int(head) if head.isdigit() else 0


def refusal(method: str, code: int, cc: dict, request_cc: dict, request_headers: Headers,
            headers: Headers) -> Optional[str]:
    """Why the response must not be stored, or None (RFC 9111 §3, §3.5)."""
    if method != "GET":
        return f"method {method} is not stored (HEAD is served from GET)"
    if code not in CACHEABLE_STATUSES:
        return f"status {code} is not cacheable"
    for name in ("no-store", "private", "no-cache"):
        if name in cc:
            return f"Cache-Control: {name}"
    if "no-store" in request_cc:
        return "request Cache-Control: no-store"     # §5.2.1.5
    if field_values(headers, "set-cookie"):
        return "Set-Cookie"
    if field_values(request_headers, "authorization") and not (
            "public" in cc or "s-maxage" in cc or "must-revalidate" in cc):
        return "Authorization without public, s-maxage or must-revalidate"
    if any(item == "*" for v in field_values(headers, "vary") for item in split_list(v)):
        return "Vary: *"
    return None


def decide(method: Union[str, bytes], request_headers: Headers, status: Union[int, str, bytes],
           headers: Headers) -> Decision:
    """May this response to this request be stored, and how."""
    method, request_headers, headers = text(method).upper(), list(request_headers), list(headers)
    code = status_code(status)
    cc = parse_cache_control(field_values(headers, "cache-control"))
    request_cc = parse_cache_control(field_values(request_headers, "cache-control"))
    reason = refusal(method, code, cc, request_cc, request_headers, headers)
    if reason:
        return refuse(reason)
    try:
        ttl = freshness_lifetime(cc, headers)
        ages = field_values(headers, "age")
        age = float(min(int(ages[0]), DELTA_SECONDS_MAX)) if ages and ages[0].isdigit() else 0.0
        # §4.2.4: no stale answers under must-revalidate, proxy-revalidate or s-maxage.
        stale_ok = not ("must-revalidate" in cc or "proxy-revalidate" in cc or "s-maxage" in cc)
        swr = (delta_seconds(cc, "stale-while-revalidate") or 0.0) if stale_ok else 0.0
        sie = (delta_seconds(cc, "stale-if-error") or 0.0) if stale_ok else 0.0
    except ValueError as exc:
        return refuse(str(exc))
    if ttl <= age:
        return refuse(f"already stale: lifetime {ttl:g}s, age {age:g}s")
    etags = field_values(headers, "etag")
    modified = field_values(headers, "last-modified")
    dates = field_values(headers, "date")
    vary = tuple(dict.fromkeys(item.lower() for v in field_values(headers, "vary")
                               for item in split_list(v)))
    return Decision(
        True, ttl=ttl, stale_while_revalidate=swr, stale_if_error=sie, vary=vary,
        etag=etags[0].strip() if etags else None,
        last_modified=http_date(modified[0]) if modified else None,
        date=http_date(dates[0]) if dates else None, age=age,
        shared_auth="public" in cc or "s-maxage" in cc or "must-revalidate" in cc)


def invalidated_uris(method: Union[str, bytes], host: Union[str, bytes], target: Union[str, bytes],
                     status: Union[int, str, bytes], headers: Headers) -> List[Tuple[str, str]]:
    """The (host, target) pairs a cache must invalidate after this response
    (RFC 9111 §4.4): for an unsafe method answered with 2xx or 3xx, the
    target URI and the same-origin Location and Content-Location."""
    code = status_code(status)
    if text(method).upper() in SAFE_METHODS or not 200 <= code < 400:
        return []
    host, target = text(host or ""), text(target)
    base = target if "://" in target else f"http://{host}{target}"
    uris: List[Tuple[str, str]] = [(host, target)]
    for ref in field_values(headers, "location") + field_values(headers, "content-location"):
        parts = urlsplit(urljoin(base, ref.strip()))
        if parts.scheme != "http" or parts.netloc.lower() != host.lower():
            continue     # another origin: invalidating it would let one site purge another's
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        if (host, path) not in uris:
            uris.append((host, path))
    return uris
