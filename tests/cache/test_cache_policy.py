"""The cache policy (prefork/cache/policy.py) one RFC 9111 rule per test, and the
rules the compiled lookup enforces with it (HEAD, Vary, conditionals, Age)."""
import pytest

from prefork.cache._lookup import BUSY, BYPASS, HIT, MISS, SharedCache
from prefork.http._fields import http_date
from prefork.cache.policy import decide, invalidated_uris, parse_cache_control, split_list

HOST = b"example.com"
DATE = "Sun, 06 Nov 1994 08:49:37 GMT"


def hdrs(**fields):
    return [(name.replace("_", "-"), value) for name, value in fields.items()]


@pytest.fixture
def cache():
    return SharedCache(1 << 20, 1 << 16, lru_interval=0)


def fill(cache, headers, body=b"body", request_headers=(), status="200 OK", target=b"/r", now=100.0):
    """Decide like the connection will, and store when allowed."""
    decision = decide("GET", request_headers, status, headers)
    assert decision.store, decision.reason
    assert cache.store(HOST, target, request_headers, decision, status, headers, body, now=now)
    return decision


def get(cache, request_headers=(), method=b"GET", target=b"/r", now=101.0, **kw):
    return cache.lookup(method, HOST, target, list(request_headers), now=now, **kw)


# -- freshness (RFC 9111 §4.2.1) ----------------------------------------------------

def test_s_maxage_beats_max_age():
    assert decide("GET", [], 200, hdrs(Cache_Control="max-age=10, s-maxage=99")).ttl == 99


def test_max_age_beats_expires():
    headers = hdrs(Cache_Control="max-age=10", Date=DATE, Expires="Sun, 06 Nov 1994 09:49:37 GMT")
    assert decide("GET", [], 200, headers).ttl == 10


def test_expires_minus_date_without_max_age():
    headers = hdrs(Date=DATE, Expires="Sun, 06 Nov 1994 08:50:37 GMT")
    assert decide("GET", [], 200, headers).ttl == 60


def test_expires_without_date_counts_from_the_date_sent_now():
    """RFC 9110 §6.6.1: no Date means the time of the response, which is
    the Date prefork sends with it."""
    import time
    from email.utils import formatdate
    decision = decide("GET", [], 200, hdrs(Expires=formatdate(time.time() + 60, usegmt=True)))
    assert decision.store, decision.reason
    assert 58 <= decision.ttl <= 60
    assert decision.date is None       # stored with the time of the store


def test_expires_with_an_invalid_date_counts_from_now():
    import time
    from email.utils import formatdate
    headers = hdrs(Date="yesterday", Expires=formatdate(time.time() + 60, usegmt=True))
    assert 58 <= decide("GET", [], 200, headers).ttl <= 60


@pytest.mark.parametrize("value", ["0", "-1", "never", ""])
def test_invalid_expires_means_already_expired_and_is_not_stored(value):
    """RFC 9111 §5.3; not stored even with stale windows (see freshness_lifetime)."""
    assert not decide("GET", [], 200, hdrs(Date=DATE, Expires=value)).store
    swr = hdrs(Date=DATE, Expires=value, Cache_Control="stale-while-revalidate=60, stale-if-error=60")
    assert not decide("GET", [], 200, swr).store


def test_expires_in_the_past_is_not_stored():
    assert not decide("GET", [], 200, hdrs(Date=DATE, Expires="Sun, 06 Nov 1994 08:48:37 GMT")).store


def test_explicit_freshness_is_required():
    decision = decide("GET", [], 200, hdrs(Content_Type="text/plain", Last_Modified=DATE))
    assert not decision.store and "freshness" in decision.reason


def test_conflicting_max_age_is_not_stored():
    assert not decide("GET", [], 200, [("Cache-Control", "max-age=5"), ("Cache-Control", "max-age=50")]).store


def test_duplicate_equal_max_age_is_accepted():
    assert decide("GET", [], 200, hdrs(Cache_Control="max-age=5, MAX-AGE=5")).ttl == 5


def test_invalid_max_age_is_not_stored():
    assert not decide("GET", [], 200, hdrs(Cache_Control="max-age=-1")).store
    assert not decide("GET", [], 200, hdrs(Cache_Control="max-age=soon")).store


def test_quoted_max_age_is_accepted():
    assert decide("GET", [], 200, hdrs(Cache_Control='max-age="30"')).ttl == 30


def test_huge_max_age_is_capped():
    assert decide("GET", [], 200, hdrs(Cache_Control="max-age=99999999999999")).ttl == 2147483648


def test_age_header_counts_against_lifetime():
    assert decide("GET", [], 200, hdrs(Cache_Control="max-age=60", Age="20")).age == 20
    assert not decide("GET", [], 200, hdrs(Cache_Control="max-age=60", Age="60")).store


# -- what is never stored (RFC 9111 §3) ---------------------------------------------

@pytest.mark.parametrize("directive", ["private", "no-store", "no-cache", 'no-cache="Set-Cookie"',
                                       'private="X-User"', "No-Store"])
def test_forbidding_directives_are_not_stored(directive):
    assert not decide("GET", [], 200, hdrs(Cache_Control=f"max-age=60, {directive}")).store


def test_set_cookie_is_not_stored():
    assert not decide("GET", [], 200, hdrs(Cache_Control="public, max-age=60", Set_Cookie="a=b")).store


def test_vary_star_is_not_stored():
    assert not decide("GET", [], 200, hdrs(Cache_Control="max-age=60", Vary="Accept, *")).store


def test_request_no_store_is_respected():
    assert not decide("GET", [(b"Cache-Control", b"no-store")], 200, hdrs(Cache_Control="max-age=60")).store


@pytest.mark.parametrize("method", ["HEAD", "POST", "PUT"])
def test_only_get_is_stored(method):
    assert not decide(method, [], 200, hdrs(Cache_Control="max-age=60")).store


@pytest.mark.parametrize("code", [201, 202, 206, 302, 307, 400, 403, 500, 502, 503])
def test_other_statuses_are_not_stored(code):
    assert not decide("GET", [], code, hdrs(Cache_Control="max-age=60")).store


@pytest.mark.parametrize("code", [200, 203, 204, 300, 301, 308, 404, 405, 410, 414, 501])
def test_cacheable_statuses_with_explicit_freshness(code):
    assert decide("GET", [], f"{code} X", hdrs(Cache_Control="max-age=60")).store


def test_cache_control_directive_in_quoted_string_is_not_a_directive():
    cc = parse_cache_control(['max-age=60, community="no-store, private"'])
    assert "no-store" not in cc and cc["community"] == ["no-store, private"]
    assert decide("GET", [], 200, hdrs(Cache_Control='max-age=60, community="no-store, private"')).store


def test_cache_control_across_field_lines_and_case():
    cc = parse_cache_control(["Max-Age=5", "PUBLIC ,  stale-if-error=9"])
    assert cc == {"max-age": ["5"], "public": [None], "stale-if-error": ["9"]}


def test_split_list_keeps_quoted_commas_and_drops_empty_elements():
    assert split_list(' a , "b,c" ,, d ') == ["a", '"b,c"', "d"]


# -- Authorization (RFC 9111 §3.5) --------------------------------------------------

AUTH = [(b"Authorization", b"Bearer t")]


def test_authorized_request_not_stored_by_default():
    assert not decide("GET", AUTH, 200, hdrs(Cache_Control="max-age=60")).store


@pytest.mark.parametrize("directive", ["public", "s-maxage=60", "must-revalidate"])
def test_authorized_request_stored_when_response_allows(directive):
    decision = decide("GET", AUTH, 200, hdrs(Cache_Control=f"max-age=60, {directive}"))
    assert decision.store and decision.shared_auth


def test_entry_without_permission_does_not_answer_authorized_request(cache):
    fill(cache, hdrs(Cache_Control="max-age=60"))
    assert get(cache, AUTH) is None and cache.status == BYPASS
    assert get(cache) is not None and cache.status == HIT


def test_public_entry_answers_authorized_request(cache):
    fill(cache, hdrs(Cache_Control="public, max-age=60"))
    assert get(cache, AUTH) is not None


# -- stale windows (RFC 5861, RFC 9111 §4.2.4) ---------------------------------------

def test_stale_windows_are_recorded():
    decision = decide("GET", [], 200, hdrs(Cache_Control="max-age=1, stale-while-revalidate=5, stale-if-error=9"))
    assert (decision.stale_while_revalidate, decision.stale_if_error) == (5, 9)


@pytest.mark.parametrize("directive", ["must-revalidate", "proxy-revalidate", "s-maxage=1"])
def test_no_stale_answers_when_revalidation_is_required(directive):
    decision = decide("GET", [], 200, hdrs(Cache_Control=f"max-age=1, {directive}, stale-while-revalidate=5, stale-if-error=9"))
    assert (decision.stale_while_revalidate, decision.stale_if_error) == (0, 0)


# -- lookups the policy relies on ------------------------------------------------------

def test_head_is_served_from_the_get_entry_without_body(cache):
    fill(cache, hdrs(Cache_Control="max-age=60"), body=b"0123456789")
    response = get(cache, method=b"HEAD")
    assert cache.status == HIT
    assert b"Content-Length: 10\r\n" in response and response.endswith(b"\r\n\r\n")


def test_vary_separates_variants(cache):
    headers = hdrs(Cache_Control="max-age=60", Vary="Accept-Language")
    fill(cache, headers, b"english", [(b"Accept-Language", b"en")])
    fill(cache, headers, b"french", [(b"Accept-Language", b"fr")])
    assert get(cache, [(b"accept-language", b"en")]).endswith(b"english")
    assert get(cache, [(b"Accept-Language", b"fr")]).endswith(b"french")
    assert get(cache, [(b"Accept-Language", b"de")]) is None
    assert get(cache) is None      # absent matches only absent


def test_vary_value_normalisation_ignores_list_whitespace(cache):
    headers = hdrs(Cache_Control="max-age=60", Vary="Accept")
    fill(cache, headers, b"x", [(b"Accept", b"text/html, application/json")])
    assert get(cache, [(b"Accept", b"text/html,application/json")]) is not None
    assert get(cache, [(b"Accept", b"text/html"), (b"Accept", b"application/json")]) is not None


@pytest.mark.parametrize("stored,asked", [
    (b"gzip, deflate, br", b"br;q=1.0, gzip, deflate"),
    (b"gzip", b"x-gzip"),
    (b"br, gzip", b"gzip, br, sdch"),           # unknown codings do not split variants
    (b"", b"gzip;q=0"),                          # refused is absent
    (b"identity", b""),
    (b"*", b"br, deflate, gzip, zstd"),
])
def test_accept_encoding_is_normalised(cache, stored, asked):
    headers = hdrs(Cache_Control="max-age=60", Vary="Accept-Encoding")
    fill(cache, headers, b"v", [(b"Accept-Encoding", stored)] if stored else [])
    assert get(cache, [(b"Accept-Encoding", asked)] if asked else []) is not None


def test_accept_encoding_variants_stay_apart(cache):
    headers = hdrs(Cache_Control="max-age=60", Vary="Accept-Encoding")
    fill(cache, headers + [("Content-Encoding", "gzip")], b"gz", [(b"Accept-Encoding", b"gzip")])
    fill(cache, headers, b"plain", [])
    assert get(cache, [(b"Accept-Encoding", b"gzip;q=0.5")]).endswith(b"gz")
    assert get(cache, [(b"Accept-Encoding", b"gzip;q=0")]).endswith(b"plain")
    assert get(cache, [(b"Accept-Encoding", b"br")]) is None


def test_if_none_match_weak_comparison_answers_304(cache):
    fill(cache, hdrs(Cache_Control="max-age=60", ETag='"v1"', Content_Type="text/plain",
                     Vary="Accept", Expires=DATE, Content_Location="/r.txt"))
    response = get(cache, [(b"If-None-Match", b'"other", W/"v1"')])
    head = response.split(b"\r\n")
    assert head[0] == b"HTTP/1.1 304 Not Modified" and response.endswith(b"\r\n\r\n")
    for line in (b'ETag: "v1"', b"Cache-Control: max-age=60", b"Vary: Accept", b"Expires: " + DATE.encode(),
                 b"Content-Location: /r.txt"):
        assert line in head
    assert any(line.startswith(b"Date: ") for line in head)
    assert not any(line.startswith((b"Content-Type", b"Content-Length")) for line in head)


@pytest.mark.parametrize("value,code", [(b"*", b"304"), (b'"v2"', b"200"), (b'"a", "v1"', b"304"),
                                        (b'W/"v1"', b"304"), (b'"v1,x"', b"200")])
def test_if_none_match_lists_and_star(cache, value, code):
    fill(cache, hdrs(Cache_Control="max-age=60", ETag='W/"v1"'))
    assert get(cache, [(b"If-None-Match", value)]).startswith(b"HTTP/1.1 " + code)


@pytest.mark.parametrize("since,code", [
    ("Sun, 06 Nov 1994 08:49:37 GMT", b"304"),
    ("Sun, 06 Nov 1994 08:49:36 GMT", b"200"),
    ("Sunday, 06-Nov-94 09:00:00 GMT", b"304"),
    ("Sun Nov  6 09:00:00 1994", b"304"),
    ("not a date", b"200"),
])
def test_if_modified_since(cache, since, code):
    fill(cache, hdrs(Cache_Control="max-age=60", Last_Modified=DATE))
    assert get(cache, [(b"If-Modified-Since", since.encode())]).startswith(b"HTTP/1.1 " + code)


def test_if_none_match_overrides_if_modified_since(cache):
    fill(cache, hdrs(Cache_Control="max-age=60", Last_Modified=DATE, ETag='"v1"'))
    response = get(cache, [(b"If-None-Match", b'"v2"'), (b"If-Modified-Since", DATE.encode())])
    assert response.startswith(b"HTTP/1.1 200")


def test_no_304_for_a_stored_404(cache):
    fill(cache, hdrs(Cache_Control="max-age=60", ETag='"v1"'), status="404 Not Found")
    assert get(cache, [(b"If-None-Match", b"*")]).startswith(b"HTTP/1.1 404")


def test_age_grows_with_time(cache):
    fill(cache, hdrs(Cache_Control="max-age=60"), now=100.0)
    assert b"\r\nAge: 0\r\n" in get(cache, now=100.4)
    assert b"\r\nAge: 7\r\n" in get(cache, now=107.9)


def test_initial_age_is_added(cache):
    fill(cache, hdrs(Cache_Control="max-age=60", Age="10"), now=100.0)
    assert b"\r\nAge: 15\r\n" in get(cache, now=105.0)
    assert get(cache, now=150.5) is None


def test_hit_drops_hop_by_hop_and_regenerated_fields(cache):
    fill(cache, hdrs(Cache_Control="max-age=60", Connection="close", Date=DATE, Age="1",
                     Content_Length="999", X_Cache="MISS", Keep_Alive="timeout=5"), body=b"abc")
    response = get(cache, keep_alive=True)
    assert b"Connection" not in response and b"Keep-Alive" not in response
    assert b"X-Cache" not in response and DATE.encode() not in response
    assert response.count(b"Content-Length: 3\r\n") == 1 and response.count(b"Age:") == 1


def test_connection_header_follows_the_connection(cache):
    fill(cache, hdrs(Cache_Control="max-age=60"))
    assert b"\r\nConnection: close\r\n" in get(cache, keep_alive=False)
    assert get(cache, minor=0).startswith(b"HTTP/1.0 200 OK\r\n")
    assert b"\r\nConnection: keep-alive\r\n" in get(cache, minor=0)


def test_x_cache_marks_hits_and_stale_hits():
    cache = SharedCache(1 << 20, 1 << 16, x_cache=True)
    fill(cache, hdrs(Cache_Control="max-age=10, stale-while-revalidate=10"), now=100.0)
    assert b"\r\nX-Cache: HIT\r\n" in get(cache, now=105.0)
    assert b"\r\nX-Cache: STALE\r\n" in get(cache, now=115.0)


def test_stale_if_error_only_when_asked(cache):
    fill(cache, hdrs(Cache_Control="max-age=10, stale-if-error=100"), now=100.0)
    assert get(cache, now=150.0) is None and cache.status in (MISS, BUSY)
    assert get(cache, now=150.0, for_error=True) is not None


def test_absolute_form_and_host_case_share_the_entry(cache):
    fill(cache, hdrs(Cache_Control="max-age=60"), target=b"/p?q=1")
    assert cache.lookup(b"GET", b"EXAMPLE.com", b"http://example.com/p?q=1", now=101.0) is not None


def test_query_is_part_of_the_key(cache):
    fill(cache, hdrs(Cache_Control="max-age=60"), target=b"/p?q=1")
    assert get(cache, target=b"/p?q=2") is None


# -- invalidation (RFC 9111 §4.4) -------------------------------------------------------

def test_unsafe_success_invalidates_target_and_same_origin_locations():
    uris = invalidated_uris("POST", "example.com", "/items/", 201,
                            hdrs(Location="/items/7", Content_Location="http://example.com/items/7?v=1"))
    assert uris == [("example.com", "/items/"), ("example.com", "/items/7"), ("example.com", "/items/7?v=1")]


def test_relative_location_resolves_against_the_target():
    assert invalidated_uris("PUT", "h", "/a/b", 204, hdrs(Location="c")) == [("h", "/a/b"), ("h", "/a/c")]


def test_other_origin_locations_are_not_invalidated():
    uris = invalidated_uris("DELETE", "example.com", "/x", 200, hdrs(Location="http://evil.example/x"))
    assert uris == [("example.com", "/x")]


@pytest.mark.parametrize("method,code", [("GET", 200), ("HEAD", 200), ("POST", 500), ("PUT", 404)])
def test_safe_methods_and_errors_invalidate_nothing(method, code):
    assert invalidated_uris(method, "h", "/x", code, []) == []


def test_invalidation_after_post_drops_the_entry(cache):
    fill(cache, hdrs(Cache_Control="max-age=60"))
    for host, target in invalidated_uris("POST", HOST, "/r", 200, []):
        cache.invalidate(host, target)
    assert get(cache) is None


def test_http_date_forms():
    assert http_date("Sun, 06 Nov 1994 08:49:37 GMT") == 784111777
    assert http_date("Sunday, 06-Nov-94 08:49:37 GMT") == 784111777
    assert http_date("Sun Nov  6 08:49:37 1994") == 784111777
    assert http_date("Sun, 06 Foo 1994 08:49:37 GMT") is None
