"""The PROXY protocol header (HAProxy's doc/proxy-protocol.txt, versions 1
and 2) that a load balancer (HAProxy ``send-proxy``, an AWS NLB, nginx
``proxy_protocol on``) puts before the first byte of a connection, on a
listener configured for it (``--proxy-protocol``, or ``proxy+`` on a
``--bind``): the spec forbids guessing whether it is there.

The reader takes the header's bytes and not one byte more, so the socket
is left holding exactly what follows it, for the TLS handshake or the HTTP
parser to read as if the header had never been there:
- the first 15 bytes are always header (the shortest one, "PROXY
  UNKNOWN\\r\\n", has 15; a version 2 header has at least 16);
- a version 2 header says its length in bytes 15-16;
- a version 1 line is peeked at (MSG_PEEK) and consumed up to its LF.

Invariants: a connection on such a listener is served only after a valid
header; anything else (another signature, a malformed line, an unknown
version, command, family or protocol, a TLV running past the end, a wrong
CRC32C, a header over the limits) closes it; ``client_addr`` is None when
the header says to keep the connection's own endpoints (version 1
UNKNOWN, version 2 LOCAL, an UNSPEC or AF_UNIX family).
"""
from libc.errno cimport EAGAIN, EINTR, errno
from libc.string cimport memcmp, memset

cdef extern from "sys/socket.h" nogil:
    ssize_t recv(int fd, void *buf, size_t n, int flags)
    enum:
        MSG_PEEK
        AF_INET
        AF_INET6

cdef extern from "arpa/inet.h" nogil:
    int inet_pton(int af, const char *src, void *dst)
    const char *inet_ntop(int af, const void *src, char *dst, int size)

# §2.2: the version 2 signature (a NUL at its fifth byte: not a C string).
cdef bytes V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"
cdef bytes V1_SIGNATURE = b"PROXY "

cdef enum:
    SHORTEST = 15           # "PROXY UNKNOWN\r\n"
    V2_FIXED = 16           # signature, version and command, family, length
    # §2.2 address families (high nibble of byte 14) and their block sizes
    FAMILY_UNSPEC = 0
    FAMILY_INET = 1
    FAMILY_INET6 = 2
    FAMILY_UNIX = 3
    # §2.2.3
    PP2_TYPE_CRC32C = 0x03


cdef unsigned int crc32c(const unsigned char *data, Py_ssize_t n) nogil:
    """CRC-32C (Castagnoli, RFC 4960 appendix B), bit by bit: a header is
    checked once per connection, so no table."""
    cdef unsigned int crc = <unsigned int>0xFFFFFFFFu
    cdef unsigned int poly = <unsigned int>0x82F63B78u
    cdef Py_ssize_t i
    cdef int bit
    for i in range(n):
        crc ^= data[i]
        for bit in range(8):
            if crc & 1:
                crc = (crc >> 1) ^ poly
            else:
                crc >>= 1
    return ~crc


cdef bint canonical_port(bytes text):
    """§2.1: a decimal in [0..65535], no leading zero."""
    if not 1 <= len(text) <= 5 or not text.isdigit() or (len(text) > 1 and text[0] == 48):
        return False
    return int(text) <= 65535


cdef str canonical_address(bytes text, int family):
    """§2.1: an address in its canonical form for ``family``, or None.
    inet_pton refuses leading zeros in IPv4 (no octal ambiguity); an IPv6
    address is given back in inet_ntop's form."""
    cdef unsigned char raw[16]
    cdef char out[48]
    if not text or len(text) > 45 or inet_pton(family, text, raw) != 1:
        return None
    if family == AF_INET:
        for part in text.split(b"."):
            if len(part) > 1 and part[0] == 48:
                return None
    if inet_ntop(family, raw, out, sizeof(out)) == NULL:
        return None
    return out.decode("ascii")


cdef class ProxyHeader:
    """The PROXY header of one connection, read and checked (see the module
    docstring)."""

    def __init__(self):
        self.have = 0
        self.version = 0
        self.client_addr = None
        self.client_port = 0

    cdef int read(self, int fd) except -1:
        """Read what the socket holds of the header: PROXY_WANT, PROXY_DONE
        or PROXY_FAILED."""
        cdef ssize_t r
        cdef Py_ssize_t want, i, total
        while True:
            if self.have < SHORTEST:
                r = recv(fd, self.buf + self.have, SHORTEST - self.have, 0)
            elif self.version == 2:
                total = V2_FIXED
                if self.have >= V2_FIXED:
                    total += self.buf[14] << 8 | self.buf[15]
                if total > PROXY_V2_LIMIT:
                    return self.fail(f"a version 2 header of {total} bytes (the limit is "
                                     f"{PROXY_V2_LIMIT})")
                if self.have == total:
                    return self.parse_v2()
                r = recv(fd, self.buf + self.have, total - self.have, 0)
            else:       # version 1: peek for the LF, take the line through it
                for i in range(self.have):
                    if self.buf[i] == 10:
                        return self.parse_v1()
                if self.have >= PROXY_V1_LIMIT:
                    return self.fail("no CRLF in the first 107 bytes of a version 1 line")
                r = recv(fd, self.buf + self.have, PROXY_V1_LIMIT - self.have, MSG_PEEK)
                if r > 0:
                    want = r
                    for i in range(r):
                        if self.buf[self.have + i] == 10:
                            want = i + 1
                            break
                    r = recv(fd, self.buf + self.have, want, 0)    # the peeked bytes, taken
            if r > 0:
                self.have += r
                if self.version == 0 and not self.check_signature():
                    return PROXY_FAILED
            elif r == 0:
                return self.fail("the connection closed before the end of the header")
            elif errno == EINTR:
                continue
            elif errno == EAGAIN:
                return PROXY_WANT
            else:
                return self.fail(f"recv failed: errno {errno}")

    cdef bint check_signature(self) except -1:
        """Tell the version from the first bytes, or refuse them at once
        (§2.2: neither signature, drop the connection)."""
        cdef Py_ssize_t n = min(self.have, 12)
        if memcmp(self.buf, <const char *>V2_SIGNATURE, n) == 0:
            if n == 12:
                self.version = 2
            return True
        n = min(self.have, 6)
        if memcmp(self.buf, <const char *>V1_SIGNATURE, n) == 0:
            if n == 6:
                self.version = 1
            return True
        self.fail("no PROXY protocol signature")
        return False

    cdef int parse_v1(self) except -1:
        """§2.1: "PROXY" SP ("TCP4" | "TCP6") SP src SP dst SP sport SP dport
        CRLF, or "PROXY UNKNOWN" and anything up to the CRLF."""
        line = (<char *>self.buf)[:self.have]
        if not line.endswith(b"\r\n") or b"\r" in line[:-2]:
            return self.fail("a version 1 line not ended by CRLF")
        parts = line[:-2].split(b" ")
        if len(parts) >= 2 and parts[1] == b"UNKNOWN":
            return PROXY_DONE       # the connection's own endpoints
        if len(parts) != 6 or parts[1] not in (b"TCP4", b"TCP6"):
            return self.fail(f"a malformed version 1 line {line!r}")
        family = AF_INET if parts[1] == b"TCP4" else AF_INET6
        source = canonical_address(parts[2], family)
        if source is None or canonical_address(parts[3], family) is None \
                or not canonical_port(parts[4]) or not canonical_port(parts[5]):
            return self.fail(f"a malformed version 1 line {line!r}")
        self.client_addr = source
        self.client_port = int(parts[4])
        return PROXY_DONE

    cdef int parse_v2(self) except -1:
        """§2.2: the version, command, family and protocol bytes, the
        address block, then TLVs to the end of the header."""
        cdef int command = self.buf[12] & 0x0F
        cdef int family = self.buf[13] >> 4
        cdef int protocol = self.buf[13] & 0x0F
        cdef Py_ssize_t size = 0
        cdef char out[48]
        if self.buf[12] >> 4 != 2:
            return self.fail(f"version {self.buf[12] >> 4} (expected 2)")
        if command > 1:
            return self.fail(f"an unassigned command {command}")
        if family > FAMILY_UNIX or protocol > 2:
            return self.fail(f"an unassigned family or protocol byte 0x{self.buf[13]:02x}")
        if family == FAMILY_INET:
            size = 12
        elif family == FAMILY_INET6:
            size = 36
        elif family == FAMILY_UNIX:
            size = 216
        if V2_FIXED + size > self.have:
            if command == 0 or protocol == 0:
                size = 0        # LOCAL or UNSPEC: the addresses are ignored
            else:
                return self.fail(f"an address block shorter than family {family} needs")
        if self.check_tlvs(V2_FIXED + size, self.have) != 0:
            return PROXY_FAILED
        # LOCAL (a health check), UNSPEC and AF_UNIX keep the socket's peer.
        if command == 0 or protocol == 0 or family == FAMILY_UNSPEC or family == FAMILY_UNIX:
            return PROXY_DONE
        if family == FAMILY_INET:
            inet_ntop(AF_INET, self.buf + 16, out, sizeof(out))
            self.client_port = self.buf[24] << 8 | self.buf[25]
        else:
            inet_ntop(AF_INET6, self.buf + 16, out, sizeof(out))
            self.client_port = self.buf[48] << 8 | self.buf[49]
        self.client_addr = out.decode("ascii")
        return PROXY_DONE

    cdef int check_tlvs(self, Py_ssize_t start, Py_ssize_t end) except -1:
        """§2.2: type, 16-bit length, value, to exactly the header's end.
        CRC32C (§2.2.3) is checked over the header with its value zeroed;
        every other type is skipped (§2.2: "a receiver may choose to skip
        over and ignore the TLVs it is not interested in"). 0, or
        PROXY_FAILED."""
        cdef Py_ssize_t at = start, length
        cdef unsigned int sent, computed
        while at < end:
            if end - at < 3:
                return self.fail("a truncated TLV")
            length = self.buf[at + 1] << 8 | self.buf[at + 2]
            if at + 3 + length > end:
                return self.fail("a TLV longer than the header")
            if self.buf[at] == PP2_TYPE_CRC32C:
                if length != 4:
                    return self.fail("a CRC32C TLV that is not 4 bytes")
                sent = (self.buf[at + 3] << 24 | self.buf[at + 4] << 16
                        | self.buf[at + 5] << 8 | self.buf[at + 6])
                memset(self.buf + at + 3, 0, 4)
                computed = crc32c(self.buf, end)
                if computed != sent:
                    return self.fail("a wrong CRC32C")
            at += 3 + length
        return 0

    cdef int fail(self, str why) except -1:
        self.error = why
        return PROXY_FAILED
