# C interface of the WebSocket frame reader and writer (prefork/websocket/_frames.pyx).
from libc.stdint cimport uint32_t


# Events left in FrameReader.event by FrameReader.feed(): the opcode of what
# was completed (RFC 6455 §5.2), or WS_NONE.
cdef enum:
    WS_NONE = -1
    WS_CONTINUATION = 0
    WS_TEXT = 1
    WS_BINARY = 2
    WS_CLOSE = 8
    WS_PING = 9
    WS_PONG = 10

# Close codes RFC 6455 §7.4.1 names for the failures the reader detects.
cdef enum:
    CLOSE_NORMAL = 1000
    CLOSE_GOING_AWAY = 1001
    CLOSE_PROTOCOL_ERROR = 1002
    CLOSE_NO_STATUS = 1005          # never on the wire: a close frame without a code
    CLOSE_ABNORMAL = 1006           # never on the wire: the TCP connection ended without one
    CLOSE_INVALID_DATA = 1007
    CLOSE_TOO_BIG = 1009
    CLOSE_INTERNAL_ERROR = 1011


cdef class FrameReader:
    # What the last feed() completed (WS_NONE: nothing yet, feed more).
    cdef readonly int event
    cdef readonly object message        # str (WS_TEXT), bytes (WS_BINARY, WS_PING, WS_PONG)
    cdef readonly int close_code        # WS_CLOSE: the code, CLOSE_NO_STATUS if none was sent
    cdef readonly str close_reason
    # limits
    cdef readonly long long max_message
    cdef readonly long long max_frame
    cdef object inflater                # prefork.websocket.deflate's, or None (RSV1 refused)
    # the frame being read
    cdef bint in_payload
    cdef int opcode
    cdef bint fin
    cdef bint rsv1
    cdef unsigned long long left        # payload bytes still to come
    cdef unsigned char mask[4]
    cdef unsigned int mask_at           # mask index of the next payload byte
    # the data message being assembled
    cdef int msg_opcode                 # WS_TEXT or WS_BINARY, 0 when none is in progress
    cdef bint compressed
    cdef unsigned char *acc             # its payload so far (compressed: this frame's)
    cdef Py_ssize_t acc_len, acc_cap
    cdef bytearray plain                # a compressed message's inflated bytes so far
    cdef uint32_t utf8_state
    # a control frame's payload (at most 125 bytes)
    cdef unsigned char ctrl[125]
    cdef Py_ssize_t ctrl_len

    cdef Py_ssize_t feed(self, const unsigned char *data, Py_ssize_t length) except -1
    cdef Py_ssize_t read_head(self, const unsigned char *data, Py_ssize_t length) except -1
    cdef int end_frame(self) except -1
    cdef int end_control(self) except -1
    cdef int inflate_frame(self) except -1
    cdef int reserve(self, Py_ssize_t more) except -1


cdef bytes build_frame(int opcode, bytes payload, bint rsv1)
cdef bytes build_head(int opcode, Py_ssize_t length, bint rsv1)
cdef bint valid_close_code(int code)
cdef int utf8_check(uint32_t *state, const unsigned char *data, Py_ssize_t n)
