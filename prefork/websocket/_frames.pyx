"""WebSocket frames (RFC 6455 §5), compiled and sans-IO: the server's reader
of client frames, the writer of server frames, close codes, and UTF-8
checked incrementally.

FrameReader.feed() takes the bytes the connection has not yet consumed and
returns how many it used, leaving at most one event (like the HTTP parser,
prefork/_speedups.pyx): a complete data message (text as str, binary as
bytes), a ping, a pong or a close. Payload bytes are consumed as they
arrive (unmasked straight into the message being assembled), so the
connection's read buffer never holds more than a frame head.

Invariants:
- every violation raises ProtocolError with the close code RFC 6455 §7.4.1
  names (1002 protocol, 1007 invalid payload data, 1009 too big); after it
  the reader is unusable, and no part of the offending message has been
  handed out: a message becomes an event only once it is complete and valid;
- text is valid UTF-8 (RFC 3629: no overlongs, no surrogates, nothing above
  U+10FFFF), checked as each fragment arrives, so a bad byte fails the
  message at once, not at its end;
- a compressed message (RSV1 on its first frame, RFC 7692 §6) is inflated
  frame by frame, and its inflated size counts against the message limit.
"""
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize
from cpython.unicode cimport PyUnicode_DecodeUTF8
from libc.stdint cimport uint16_t, uint32_t, uint64_t
from libc.stdlib cimport free, realloc
from libc.string cimport memcpy

cdef extern from *:
    """
    /* Bjoern Hoehrmann's UTF-8 DFA (http://bjoern.hoehrmann.de/utf-8/decoder/dfa/):
       bytes map to classes, (state, class) to the next state; 0 accepts,
       12 rejects. It refuses exactly what RFC 3629 refuses. */
    static const unsigned char prefork_utf8d[] = {
      0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,
      0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,
      0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,
      0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,
      1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,9,9,9,9,9,9,9,9,9,9,9,9,9,9,9,9,
      7,7,7,7,7,7,7,7,7,7,7,7,7,7,7,7,7,7,7,7,7,7,7,7,7,7,7,7,7,7,7,7,
      8,8,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,
      10,3,3,3,3,3,3,3,3,3,3,3,3,4,3,3,11,6,6,6,5,8,8,8,8,8,8,8,8,8,8,8,
      0,12,24,36,60,96,84,12,12,12,48,72,12,12,12,12,12,12,12,12,12,12,12,12,
      12,0,12,12,12,12,12,0,12,0,12,12,12,24,12,12,12,12,12,24,12,24,12,12,
      12,12,12,12,12,12,12,24,12,12,12,12,12,24,12,12,12,12,12,12,12,24,12,12,
      12,12,12,12,12,12,12,36,12,36,12,12,12,36,12,12,12,12,12,36,12,36,12,12,
      12,36,12,12,12,12,12,12,12,12,12,12,
    };
    """
    const unsigned char *prefork_utf8d

cdef enum:
    UTF8_ACCEPT = 0
    UTF8_REJECT = 12
    # Give up the accumulation buffer after a message this large, so one
    # big message does not pin memory for the connection's lifetime.
    KEEP_BUFFER = 65536


class ProtocolError(Exception):
    """The peer broke RFC 6455 (or a limit): close the connection with
    ``code`` (RFC 6455 §7.4.1) and ``reason``."""

    def __init__(self, code, reason):
        super().__init__(f"{code} {reason}")
        self.code = code
        self.reason = reason


cdef int utf8_check(uint32_t *state, const unsigned char *data, Py_ssize_t n):
    """Advance the DFA over data[0:n]; 0 once it rejects, 1 otherwise (the
    state says whether a sequence is left open). ASCII runs go 8 bytes at
    a time."""
    cdef Py_ssize_t i = 0
    cdef uint64_t word
    cdef uint32_t s = state[0]
    while i < n:
        if s == UTF8_ACCEPT:
            while i + 8 <= n:
                memcpy(&word, data + i, 8)
                if word & 0x8080808080808080ULL:
                    break
                i += 8
            if i >= n:
                break
        s = prefork_utf8d[256 + s + prefork_utf8d[data[i]]]
        if s == UTF8_REJECT:
            state[0] = s
            return 0
        i += 1
    state[0] = s
    return 1


cdef inline void unmask_copy(unsigned char *dst, const unsigned char *src, Py_ssize_t n,
                             const unsigned char *mask, unsigned int at) noexcept nogil:
    """dst[i] = src[i] ^ mask[(at + i) % 4], a 64-bit word at a time (RFC 6455
    §5.3). The key is rotated to start at ``at``, then doubled into a word:
    the same in memory on either byte order."""
    cdef unsigned char key[8]
    cdef uint64_t word, key64
    cdef Py_ssize_t i = 0
    cdef int j
    for j in range(8):
        key[j] = mask[(at + j) & 3]
    memcpy(&key64, key, 8)
    while i + 8 <= n:
        memcpy(&word, src + i, 8)
        word ^= key64
        memcpy(dst + i, &word, 8)
        i += 8
    while i < n:
        dst[i] = src[i] ^ key[i & 7]
        i += 1


cdef bint valid_close_code(int code):
    """RFC 6455 §7.4: codes a close frame may carry. 1004-1006 and 1015 are
    reserved or never sent; 1012-2999 are unassigned here (Autobahn's
    reading of §7.4.2); 3000-4999 belong to libraries and apps."""
    return (1000 <= code <= 1003) or (1007 <= code <= 1011) or (3000 <= code <= 4999)


cdef class FrameReader:
    """Reads client frames (see the module's docstring and _frames.pyi)."""

    def __cinit__(self):
        self.acc = NULL

    def __init__(self, long long max_message=16 << 20, long long max_frame=16 << 20, inflater=None):
        self.max_message = max_message
        self.max_frame = max_frame
        self.inflater = inflater
        self.event = WS_NONE
        self.msg_opcode = 0

    def __dealloc__(self):
        if self.acc != NULL:
            free(self.acc)

    cdef int reserve(self, Py_ssize_t more) except -1:
        cdef Py_ssize_t cap = self.acc_cap
        cdef unsigned char *grown
        if self.acc_len + more <= cap:
            return 0
        cap = max(cap * 2, self.acc_len + more, 256)
        grown = <unsigned char *>realloc(self.acc, cap)
        if grown == NULL:
            raise MemoryError()
        self.acc = grown
        self.acc_cap = cap
        return 0

    cdef Py_ssize_t feed(self, const unsigned char *data, Py_ssize_t length) except -1:
        """Consume what can be used of data[0:length]; set ``event``."""
        cdef Py_ssize_t used = 0, take
        cdef uint32_t state
        self.event = WS_NONE
        if not self.in_payload:
            used = self.read_head(data, length)
            if not self.in_payload:
                return used         # an incomplete head, or an empty frame ended
        take = <Py_ssize_t>min(<unsigned long long>(length - used), self.left)
        if take > 0:
            if self.opcode >= 8:
                unmask_copy(self.ctrl + self.ctrl_len, data + used, take, self.mask, self.mask_at)
                self.ctrl_len += take
            else:
                self.reserve(take)
                unmask_copy(self.acc + self.acc_len, data + used, take, self.mask, self.mask_at)
                if self.msg_opcode == WS_TEXT and not self.compressed:
                    # §8.1: fail as soon as the bytes cannot be UTF-8.
                    if not utf8_check(&self.utf8_state, self.acc + self.acc_len, take):
                        raise ProtocolError(CLOSE_INVALID_DATA, "invalid UTF-8 in a text message")
                self.acc_len += take
            self.mask_at = (self.mask_at + take) & 3
            self.left -= take
            used += take
        if self.left == 0:
            self.end_frame()
        return used

    cdef Py_ssize_t read_head(self, const unsigned char *data, Py_ssize_t length) except -1:
        """Parse a frame head (RFC 6455 §5.2), checking each rule as soon as
        the bytes it needs are there; 0 while it is incomplete."""
        cdef int b0, b1, opcode, size
        cdef Py_ssize_t need
        cdef unsigned long long n
        cdef uint16_t n16
        cdef int i
        if length < 2:
            return 0
        b0 = data[0]
        b1 = data[1]
        opcode = b0 & 0x0F
        if opcode not in (WS_CONTINUATION, WS_TEXT, WS_BINARY, WS_CLOSE, WS_PING, WS_PONG):
            raise ProtocolError(CLOSE_PROTOCOL_ERROR, f"unknown opcode {opcode}")
        if b0 & 0x30 or (b0 & 0x40 and self.inflater is None):
            # §5.2: non-zero RSV bits without an extension that defines them.
            raise ProtocolError(CLOSE_PROTOCOL_ERROR, "reserved bits set")
        if b0 & 0x40 and opcode not in (WS_TEXT, WS_BINARY):
            # RFC 7692 §6.1: RSV1 marks a message's first frame only.
            raise ProtocolError(CLOSE_PROTOCOL_ERROR, "RSV1 on a control or continuation frame")
        if not b1 & 0x80:
            # §5.1: a server MUST close the connection on an unmasked frame.
            raise ProtocolError(CLOSE_PROTOCOL_ERROR, "client frames must be masked")
        size = b1 & 0x7F
        if opcode >= 8:
            # §5.5: control frames are never fragmented and carry <= 125 bytes.
            if not b0 & 0x80:
                raise ProtocolError(CLOSE_PROTOCOL_ERROR, "fragmented control frame")
            if size > 125:
                raise ProtocolError(CLOSE_PROTOCOL_ERROR, "control frame payload over 125 bytes")
        elif opcode == WS_CONTINUATION and self.msg_opcode == 0:
            raise ProtocolError(CLOSE_PROTOCOL_ERROR, "continuation frame without a message")
        elif opcode != WS_CONTINUATION and self.msg_opcode != 0:
            raise ProtocolError(CLOSE_PROTOCOL_ERROR, "new message before the last one ended")
        need = 6 if size < 126 else (8 if size == 126 else 14)
        if length < need:
            return 0
        if size == 126:
            memcpy(&n16, data + 2, 2)
            n = (n16 >> 8 | n16 << 8) & 0xFFFF         # network order
        elif size == 127:
            n = 0
            for i in range(2, 10):
                n = n << 8 | data[i]
            if n >> 63:
                raise ProtocolError(CLOSE_PROTOCOL_ERROR, "64-bit length with its top bit set")
        else:
            n = size
        if opcode < 8:
            if <long long>n > self.max_frame:
                raise ProtocolError(CLOSE_TOO_BIG, f"frame of {n} bytes over the limit")
            if opcode != WS_CONTINUATION:
                self.msg_opcode = opcode
                self.compressed = (b0 & 0x40) != 0
                self.utf8_state = UTF8_ACCEPT
                self.acc_len = 0
                if self.compressed:
                    self.plain = bytearray()
            if not self.compressed and self.acc_len + <long long>n > self.max_message:
                raise ProtocolError(CLOSE_TOO_BIG, "message over the size limit")
        memcpy(self.mask, data + need - 4, 4)
        self.mask_at = 0
        self.opcode = opcode
        self.fin = (b0 & 0x80) != 0
        self.left = n
        self.ctrl_len = 0
        self.in_payload = True
        if n == 0:
            self.end_frame()
        return need

    cdef int end_frame(self) except -1:
        cdef int opcode = self.msg_opcode
        self.in_payload = False
        if self.opcode >= 8:
            return self.end_control()
        if self.compressed:
            self.inflate_frame()
        if not self.fin:
            return 0
        self.msg_opcode = 0
        if self.compressed:
            data = bytes(self.plain)
            self.plain = None
            if opcode == WS_TEXT:
                try:
                    self.message = data.decode("utf-8")
                except UnicodeDecodeError:
                    raise ProtocolError(CLOSE_INVALID_DATA, "invalid UTF-8 in a text message")
            else:
                self.message = data
        elif opcode == WS_TEXT:
            if self.utf8_state != UTF8_ACCEPT:
                raise ProtocolError(CLOSE_INVALID_DATA, "text message ends inside a UTF-8 sequence")
            self.message = PyUnicode_DecodeUTF8(<char *>self.acc, self.acc_len, NULL)
        else:
            self.message = PyBytes_FromStringAndSize(<char *>self.acc, self.acc_len)
        self.event = opcode
        if self.acc_cap > KEEP_BUFFER:
            free(self.acc)
            self.acc = NULL
            self.acc_cap = 0
        self.acc_len = 0
        return 0

    cdef int inflate_frame(self) except -1:
        """RFC 7692 §7.2.2: inflate this frame's payload; after the last one
        the 0x00 0x00 0xff 0xff tail the sender removed."""
        cdef Py_ssize_t room = self.max_message - len(self.plain)
        # Raises ProtocolError: 1009 past ``room``, 1007 for a bad stream.
        out = self.inflater.decompress(PyBytes_FromStringAndSize(<char *>self.acc, self.acc_len),
                                       room, self.fin)
        self.acc_len = 0
        if self.msg_opcode == WS_TEXT and not utf8_check(
                &self.utf8_state, <const unsigned char *>PyBytes_AS_STRING(out), len(out)):
            raise ProtocolError(CLOSE_INVALID_DATA, "invalid UTF-8 in a text message")
        self.plain += out
        return 0

    cdef int end_control(self) except -1:
        cdef int code
        cdef uint32_t state = UTF8_ACCEPT
        if self.opcode != WS_CLOSE:
            self.message = PyBytes_FromStringAndSize(<char *>self.ctrl, self.ctrl_len)
            self.event = self.opcode
            return 0
        # §5.5.1: empty, or a 2-byte code then a UTF-8 reason.
        if self.ctrl_len == 0:
            code = CLOSE_NO_STATUS
            reason = ""
        elif self.ctrl_len == 1:
            raise ProtocolError(CLOSE_PROTOCOL_ERROR, "close frame with a 1-byte payload")
        else:
            code = self.ctrl[0] << 8 | self.ctrl[1]
            if not valid_close_code(code):
                raise ProtocolError(CLOSE_PROTOCOL_ERROR, f"invalid close code {code}")
            if not utf8_check(&state, self.ctrl + 2, self.ctrl_len - 2) or state != UTF8_ACCEPT:
                raise ProtocolError(CLOSE_INVALID_DATA, "invalid UTF-8 in a close reason")
            reason = PyUnicode_DecodeUTF8(<char *>self.ctrl + 2, self.ctrl_len - 2, NULL)
        self.close_code = code
        self.close_reason = reason
        self.event = WS_CLOSE
        return 0

    def feed_bytes(self, data):
        """Python-level feed() for tests: returns (used, event, message)."""
        cdef const unsigned char[::1] view = data
        used = self.feed(&view[0] if len(data) else NULL, len(data))
        if self.event == WS_CLOSE:
            return used, self.event, (self.close_code, self.close_reason)
        return used, self.event, self.message if self.event != WS_NONE else None


cdef bytes build_head(int opcode, Py_ssize_t length, bint rsv1):
    """A server frame's head (unmasked, §5.1), FIN set."""
    cdef unsigned char head[10]
    cdef Py_ssize_t n
    cdef int i
    head[0] = 0x80 | (0x40 if rsv1 else 0) | opcode
    if length < 126:
        head[1] = length
        n = 2
    elif length < 65536:
        head[1] = 126
        head[2] = length >> 8
        head[3] = length & 0xFF
        n = 4
    else:
        head[1] = 127
        for i in range(8):
            head[2 + i] = (length >> (8 * (7 - i))) & 0xFF
        n = 10
    return PyBytes_FromStringAndSize(<char *>head, n)


cdef bytes build_frame(int opcode, bytes payload, bint rsv1):
    """A whole server frame, head and payload in one bytes object."""
    cdef bytes head = build_head(opcode, len(payload), rsv1)
    cdef Py_ssize_t h = len(head), n = len(payload)
    cdef bytes frame = PyBytes_FromStringAndSize(NULL, h + n)
    cdef char *out = PyBytes_AS_STRING(frame)
    memcpy(out, PyBytes_AS_STRING(head), h)
    memcpy(out + h, PyBytes_AS_STRING(payload), n)
    return frame


def encode_frame(int opcode, bytes payload, bint rsv1=False):
    """Python-level build_frame() for tests and the session."""
    return build_frame(opcode, payload, rsv1)


def close_payload(int code, str reason=""):
    """A close frame's payload (§5.5.1); ValueError for a code that may not
    be sent or a reason over 123 bytes of UTF-8."""
    if not valid_close_code(code):
        raise ValueError(f"close code {code} may not be sent (1000-1003, 1007-1011, 3000-4999)")
    data = reason.encode("utf-8")
    if len(data) > 123:
        raise ValueError(f"close reason is {len(data)} bytes of UTF-8; at most 123 fit")
    return bytes((code >> 8, code & 0xFF)) + data


def is_valid_close_code(int code):
    return valid_close_code(code)


def is_utf8(data):
    """The incremental validator over one buffer (for tests)."""
    cdef uint32_t state = UTF8_ACCEPT
    cdef const unsigned char[::1] view = data
    if len(data) == 0:
        return True
    return bool(utf8_check(&state, &view[0], len(data))) and state == UTF8_ACCEPT
