"""The client behind a proxy: ``--forwarded-allow-ips`` and the fields a
trusted proxy adds (X-Forwarded-For, -Proto, -Host, -Port; RFC 7239
Forwarded).

Invariants:
- a connection's peer is judged once, when its address is known
  (Connection.set_peer in prefork/http/_connection.pyx: at accept, or once
  a PROXY protocol header named the real peer); a request is looked at only
  when its peer is trusted, and then only by a scan of its field names in C;
  its values are parsed only when one of these fields is there;
- from any other peer the fields stay plain headers and change nothing;
- the client is the rightmost hop that is not itself a trusted proxy (each
  proxy appends the peer it saw, so hops left of an untrusted one may be
  forged by the client); when every hop is trusted, the leftmost;
- a hop that is not an IP address ("unknown", an obfuscated name, garbage)
  leaves the address as it was (the peer's): the app never gets a
  REMOTE_ADDR that does not parse;
- X-Forwarded-* and Forwarded are never mixed: when a request carries any
  X-Forwarded-* field, Forwarded is ignored (why: the note at the end).
"""
import re
from socket import AF_INET, AF_INET6, inet_ntop, inet_pton

from prefork._speedups cimport FieldSpan, Request

# The fields, by name length and lowercase spelling.
cdef enum:
    X_FOR = 1
    X_PROTO = 2
    X_HOST = 4
    X_PORT = 8
    RFC7239 = 16
    X_ANY = X_FOR | X_PROTO | X_HOST | X_PORT

# RFC 9110 §7.2 Host = uri-host [ ":" port ]; uri-host as RFC 3986 §3.2.2,
# kept to what names and literals use (no percent-encoding, no sub-delims).
_HOST = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._~-]+)(:[0-9]{1,5})?$")
# RFC 9110 §5.6.2 tchar, for RFC 7239's token values.
cdef str TCHARS = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
cdef frozenset TOKEN = frozenset(TCHARS)
cdef dict DEFAULT_PORTS = {"http": "80", "https": "443"}


def normalize_allow_list(value):
    """``--forwarded-allow-ips``: addresses and networks (``10.0.0.0/8``,
    ``fd00::/8``) separated by commas, ``*`` (every peer) or ``unix``
    (unix-socket peers); a list is taken as its items. Returns the
    normalized text; ValueError names nothing (config.py names the setting)."""
    items = value if isinstance(value, (list, tuple)) else [value]
    out = []
    for item in items:
        for part in str(item).split(","):
            part = part.strip()
            if not part:
                continue
            if part in ("*", "unix"):
                out.append(part)
                continue
            family, network, prefix = parse_network(part)
            bits = 32 if family == AF_INET else 128
            text = inet_ntop(family, network.to_bytes(bits // 8, "big"))
            out.append(text if prefix == bits else f"{text}/{prefix}")
    return ",".join(out)


def parse_network(text):
    """``ADDR`` or ``ADDR/PREFIX`` -> (family, network as int, prefix); host
    bits past the prefix are cleared."""
    addr, _, prefix_text = text.partition("/")
    family = AF_INET6 if ":" in addr else AF_INET
    try:
        packed = inet_pton(family, addr)
    except OSError:
        raise ValueError(text) from None
    bits = len(packed) * 8
    prefix = bits
    if prefix_text:
        if not prefix_text.isdigit() or int(prefix_text) > bits:
            raise ValueError(text)
        prefix = int(prefix_text)
    value = int.from_bytes(packed, "big")
    value = (value >> (bits - prefix)) << (bits - prefix) if prefix else 0
    return family, value, prefix


cdef tuple split_node(str text):
    """A hop as proxies write it: ``192.0.2.1``, ``192.0.2.1:4711``,
    ``2001:db8::1``, ``[2001:db8::1]:4711`` (RFC 7239 §6 node) ->
    (canonical address, port), or (None, 0) when it is not an IP address."""
    cdef str addr, rest = ""
    cdef int family, port = 0
    text = text.strip()
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            return None, 0
        addr, rest, family = text[1:end], text[end + 1:], AF_INET6
    elif text.count(":") == 1:
        addr, _, port_text = text.partition(":")
        rest, family = ":" + port_text, AF_INET
    else:
        addr, family = text, (AF_INET6 if ":" in text else AF_INET)
    try:
        addr = inet_ntop(family, inet_pton(family, addr))
    except (OSError, ValueError):
        return None, 0
    if rest.startswith(":") and rest[1:].isdigit() and 0 < int(rest[1:]) < 65536:
        port = int(rest[1:])
    return addr, port


cdef str host_part(str host):
    """``example.com:8443`` -> ``example.com``; ``[::1]:80`` -> ``[::1]``."""
    if host.startswith("["):
        return host[:host.find("]") + 1]
    return host.partition(":")[0]


cdef str port_part(str host):
    if host.startswith("["):
        host = host[host.find("]") + 1:]
    _, colon, port = host.rpartition(":")
    return port if colon else None


cdef list parse_forwarded(str text):
    """RFC 7239 §4: ``Forwarded = 1#forwarded-element``, each element
    ``forwarded-pair *( ";" forwarded-pair )``, a pair ``token "=" ( token /
    quoted-string )``. Returns one dict per element (names lowercased), or
    None when the field is malformed (then it is ignored whole)."""
    cdef list elements = []
    cdef dict pairs = {}
    cdef Py_ssize_t i = 0, j, n = len(text)
    while i < n:
        ch = text[i]
        if ch == " " or ch == "\t" or ch == ";":
            i += 1
            continue
        if ch == ",":
            elements.append(pairs)
            pairs = {}
            i += 1
            continue
        j = i
        while j < n and text[j] in TOKEN:
            j += 1
        if j == i or j >= n or text[j] != "=":
            return None
        name = text[i:j].lower()
        i = j + 1
        if i < n and text[i] == '"':
            i += 1
            chars = []
            while i < n and text[i] != '"':
                if text[i] == "\\" and i + 1 < n:
                    i += 1          # RFC 9110 §5.6.4 quoted-pair
                chars.append(text[i])
                i += 1
            if i >= n:
                return None         # unterminated quoted-string
            i += 1
            value = "".join(chars)
        else:
            j = i
            while j < n and text[j] in TOKEN:
                j += 1
            if j == i:
                return None
            value = text[i:j]
            i = j
        if name in pairs:
            return None             # §4: a parameter occurs once per element
        pairs[name] = value
        while i < n and (text[i] == " " or text[i] == "\t"):
            i += 1
        if i < n and text[i] != "," and text[i] != ";":
            return None
    elements.append(pairs)
    return elements


cdef inline bint same_lower(const unsigned char *p, const char *word, Py_ssize_t n) noexcept:
    """Field names are tokens (the parser checked), so ``| 0x20`` lowercases
    letters and leaves "-" as it is without matching anything else."""
    cdef Py_ssize_t i
    for i in range(n):
        if (p[i] | 0x20) != <unsigned char>word[i]:
            return False
    return True


cdef inline int field_kind(const unsigned char *p, Py_ssize_t n) noexcept:
    if n == 9:
        return RFC7239 if same_lower(p, b"forwarded", 9) else 0
    if not same_lower(p, b"x-forwarded-", 12):
        return 0
    if n == 15:
        return X_FOR if same_lower(p + 12, b"for", 3) else 0
    if n == 17:
        return X_PROTO if same_lower(p + 12, b"proto", 5) else 0
    if same_lower(p + 12, b"host", 4):
        return X_HOST
    return X_PORT if same_lower(p + 12, b"port", 4) else 0


cdef class Forwarded:

    def __cinit__(self):
        self.client_port = 0

    cdef int apply_environ(self, dict environ) except -1:
        if self.client is not None:
            environ["REMOTE_ADDR"] = self.client
            environ["REMOTE_PORT"] = str(self.client_port)
        if self.scheme is not None:
            environ["wsgi.url_scheme"] = self.scheme
        if self.host is not None:
            environ["HTTP_HOST"] = self.host
            environ["SERVER_NAME"] = host_part(self.host)
        if self.port is not None:
            environ["SERVER_PORT"] = self.port
        return 0

    cdef int apply_scope(self, dict scope) except -1:
        if self.client is not None:
            scope["client"] = (self.client, self.client_port)
        if self.scheme is not None:
            scope["scheme"] = self.scheme
        if self.host is not None or self.port is not None:
            name, port = scope["server"]
            if self.host is not None:
                name = host_part(self.host).strip("[]")
            if self.port is not None:
                port = int(self.port)
            scope["server"] = (name, port)
        if self.host is not None:
            host = self.host.encode("latin-1")
            headers = [(n, host if n == b"host" else v) for n, v in scope["headers"]]
            if not any(n == b"host" for n, _ in headers):
                headers.append((b"host", host))
            scope["headers"] = headers
        return 0

    def as_dict(self):
        return {"client": self.client, "client_port": self.client_port, "scheme": self.scheme,
                "host": self.host, "port": self.port}


cdef class TrustedPeers:

    def __init__(self, str spec):
        exact = set()
        self.networks = []
        self.seen = {}
        self.any_peer = self.unix_peers = False
        for part in spec.split(","):
            if not part:
                continue
            if part == "*":
                self.any_peer = True
            elif part == "unix":
                self.unix_peers = True
            else:
                family, network, prefix = parse_network(part)
                if prefix == (32 if family == AF_INET else 128):
                    exact.add(part)         # normalized already: canonical text
                else:
                    self.networks.append((family, network, prefix))
        self.exact = frozenset(exact)

    cpdef bint trusts(self, str address, bint tcp=True):
        """Whether the peer at ``address`` may speak for its clients. Unix
        peers (``tcp`` False) only with ``unix`` or ``*``; an IPv4-mapped
        IPv6 peer (a dual-stack listener) as its IPv4 address."""
        if self.any_peer:
            return True
        if not tcp:
            return self.unix_peers
        if address in self.exact:
            return True
        if address.startswith("::ffff:") and "." in address:
            address = address[7:]
            if address in self.exact:
                return True
        if not self.networks:
            return False
        found = self.seen.get(address)
        if found is None:
            found = self.in_networks(address)
            if len(self.seen) > 4096:
                self.seen.clear()           # random peers cannot grow it forever
            self.seen[address] = found
        return found

    def in_networks(self, str address):
        family = AF_INET6 if ":" in address else AF_INET
        try:
            value = int.from_bytes(inet_pton(family, address), "big")
        except OSError:
            return False
        bits = 32 if family == AF_INET else 128
        for net_family, network, prefix in self.networks:
            if net_family == family and value >> (bits - prefix) == network >> (bits - prefix):
                return True
        return False

    def resolve_request(self, Request req):
        """Python-level resolve(), for tests."""
        return self.resolve(req)

    cdef Forwarded resolve(self, Request req):
        """What the fields of a request from a trusted peer say, or None
        when it has none of them (the common case: a scan of the names)."""
        cdef const unsigned char *raw
        cdef FieldSpan *f
        cdef Py_ssize_t i
        cdef int kind, kinds = 0
        cdef dict values = None
        if not req.nfields:
            return None
        raw = <const unsigned char *>(<char *>req.raw)
        for i in range(req.nfields):
            f = &req.spans[i]
            if f.name_len != 9 and not 15 <= f.name_len <= 17:
                continue
            kind = field_kind(raw + f.name_at, f.name_len)
            if not kind:
                continue
            if values is None:
                values = {}
            text = (<char *>raw + f.value_at)[:f.value_len].decode("latin-1")
            # RFC 9110 §5.3: a field sent several times is one list, in order.
            values[kind] = values[kind] + "," + text if kind in values else text
            kinds |= kind
        if not kinds:
            return None
        fwd = Forwarded()
        if kinds & X_ANY:
            self.read_x_forwarded(fwd, values)
        else:
            self.read_forwarded(fwd, values[RFC7239])
        if fwd.port is None:
            # The port the client connected to: the one in its Host, else
            # the default of its scheme (so a URL rebuilt from the environ
            # says https://host/, not https://host:8000/).
            if fwd.host is not None and port_part(fwd.host) is not None:
                fwd.port = port_part(fwd.host)
            elif fwd.scheme is not None:
                fwd.port = DEFAULT_PORTS[fwd.scheme]
        if fwd.client is None and fwd.scheme is None and fwd.host is None and fwd.port is None:
            return None
        return fwd

    cdef int read_x_forwarded(self, Forwarded fwd, dict values) except -1:
        """X-Forwarded-For: the rightmost hop that is not a trusted proxy.
        -Proto, -Host, -Port: their rightmost value, the one our peer (the
        proxy we trust) wrote; a value of the wrong form is ignored."""
        hops = values.get(X_FOR)
        if hops is not None:
            fwd.client, fwd.client_port = self.pick_hop(hops.split(","))
        proto = values.get(X_PROTO)
        if proto is not None:
            proto = proto.rpartition(",")[2].strip().lower()
            if proto in DEFAULT_PORTS:
                fwd.scheme = proto
        host = values.get(X_HOST)
        if host is not None:
            host = host.rpartition(",")[2].strip()
            if _HOST.match(host):
                fwd.host = host
        port = values.get(X_PORT)
        if port is not None:
            port = port.rpartition(",")[2].strip()
            if port.isdigit() and 0 < int(port) < 65536:
                fwd.port = str(int(port))
        return 0

    cdef tuple pick_hop(self, list hops):
        cdef str hop
        for hop in reversed(hops):
            addr, port = split_node(hop)
            if addr is None or not self.trusts(addr):
                return addr, port
        return split_node(hops[0])

    cdef int read_forwarded(self, Forwarded fwd, str value) except -1:
        """RFC 7239: each proxy appends an element about the connection it
        received (for: its peer, proto: that connection's scheme, host: the
        Host it was sent). The element whose ``for`` is the client, found
        as for X-Forwarded-For, gives all three together."""
        cdef dict chosen = None
        elements = parse_forwarded(value)
        if not elements:
            return 0
        for element in reversed(elements):
            addr = split_node(element["for"])[0] if "for" in element else None
            if addr is None or not self.trusts(addr):
                chosen = element
                break
        if chosen is None:
            chosen = elements[0]
        if "for" in chosen:
            fwd.client, fwd.client_port = split_node(chosen["for"])
        proto = chosen.get("proto", "").lower()
        if proto in DEFAULT_PORTS:
            fwd.scheme = proto
        host = chosen.get("host")
        if host is not None and _HOST.match(host):
            fwd.host = host
        return 0


# Why X-Forwarded-* win over Forwarded when a request carries both: the proxies people run (nginx, AWS ALB, Traefik,
# Caddy, HAProxy's default option forwardfor) write X-Forwarded-For and pass
# a Forwarded field from the client through untouched; taking Forwarded
# there would let any client choose its address. A proxy that writes
# Forwarded only must drop X-Forwarded-* from its clients (documented).
