# C interface of the HTTP/1.1 request parser (prefork/_speedups.pyx).
# Other compiled modules (the connection) cimport this to drive the parser
# without Python-level calls.

# Events left in RequestParser.event by RequestParser.execute().
cdef enum ParseEvent:
    EV_NEED_MORE = 0   # every byte that can be used now was used; feed more
    EV_HEAD = 1        # a request head is complete: RequestParser.request is set
    EV_BODY = 2        # body bytes at data[body_start:body_start + body_len]
    EV_DONE = 3        # the message is complete; the parser is ready for the next one


# Where one header field lies in Request.raw (names and values as sent,
# values without their surrounding OWS).
cdef struct FieldSpan:
    unsigned int name_at
    unsigned int name_len
    unsigned int value_at
    unsigned int value_len


cdef class Request:
    cdef readonly bytes method          # b"GET"
    cdef readonly bytes target          # the request-target exactly as received
    cdef readonly bytes path            # path part (absolute-form: after the authority; "*" for OPTIONS *)
    cdef readonly bytes query           # raw bytes after "?", b"" when absent
    cdef readonly bytes http_version    # as sent: b"HTTP/1.1", b"HTTP/1.0", b"HTTP/1.2", ...
    cdef readonly int minor             # 0 for HTTP/1.0; 1 for HTTP/1.1 and higher (processed as 1.1)
    # PERF: header fields are kept as spans of the head's bytes; Python
    # objects are made only for who asks (the `headers` property, or the
    # environ builder decoding values straight to str).
    cdef readonly bytes raw             # the head as received (request line to blank line)
    cdef FieldSpan *spans               # nfields spans into raw
    cdef readonly Py_ssize_t nfields
    cdef list _headers                  # `headers`, once built
    cdef readonly list trailers         # [(name, value)] from a chunked body's trailer section
    cdef readonly bytes host            # Host value (or authority of an absolute-form target); None if absent
    cdef readonly long long content_length  # declared length; 0 when no body; -1 when chunked
    cdef readonly bint chunked
    cdef readonly bint keep_alive       # from the version and the Connection header
    cdef readonly bint expect_continue  # "Expect: 100-continue" was sent


cdef class RequestParser:
    cdef public int event               # a ParseEvent, set by every execute() call
    cdef public Request request         # the request being parsed (set at EV_HEAD)
    cdef public Py_ssize_t body_start   # with EV_BODY: offset of the bytes in the data given to execute()
    cdef public Py_ssize_t body_len     # with EV_BODY: their length

    # limits (set in __init__)
    cdef readonly Py_ssize_t max_request_line
    cdef readonly Py_ssize_t max_field_size
    cdef readonly Py_ssize_t max_header_size
    cdef readonly Py_ssize_t max_header_count
    cdef readonly long long max_body_size

    # Parse data[0:length], the bytes not yet consumed, and return how many
    # were consumed. At most one event per call; the caller drops the consumed
    # bytes and calls again until the event is EV_NEED_MORE. While a head is
    # incomplete, nothing is consumed (the caller keeps the bytes and appends
    # to them). Raises HTTPError on malformed input; the parser is unusable
    # afterwards. In a chunked body, complete framing (chunk-size lines,
    # CRLFs, trailer lines) is consumed as it arrives, even with EV_NEED_MORE.
    cdef Py_ssize_t execute(self, const unsigned char *data, Py_ssize_t length) except -1

    # --- private state (not part of the interface) ---
    cdef int _state                     # which part of a message is expected next
    cdef int _error_status              # non-zero once failed: the parser stays failed
    cdef str _error_reason
    cdef bytearray _buf                 # feed()'s unconsumed bytes
    cdef Request _req                   # the request whose head is being parsed
    cdef FieldSpan *_spans              # the head's fields so far (grows; reused)
    cdef Py_ssize_t _nspans, _spans_cap
    # head scanning; offsets are relative to data[0], which stays the first
    # unconsumed byte while a head is incomplete (nothing is consumed).
    cdef Py_ssize_t _pos                # start of the first line not yet parsed
    cdef Py_ssize_t _scan               # bytes already searched for LF
    cdef int _empty_lines               # leading CRLFs skipped before the request line
    cdef bint _have_request_line
    cdef bint _absolute_form
    cdef Py_ssize_t _field_count        # header + trailer fields of this message
    cdef long long _content_length      # -1: no Content-Length field
    cdef int _te_status                 # 0 none, 1 chunked, else the status to answer
    cdef bint _host_seen
    cdef bytes _host_header
    cdef bint _conn_close
    cdef bint _conn_keep_alive
    cdef bint _expect_continue
    cdef bint _expect_other
    # body
    cdef unsigned long long _left       # Content-Length bytes or chunk-data bytes left
    cdef unsigned long long _received   # chunked: body bytes declared so far
    cdef Py_ssize_t _line_scan          # chunk-size / trailer line: bytes searched for LF
    cdef Py_ssize_t _section_size       # head + trailer bytes, against max_header_size

    cdef int _fail(self, int status, str reason) except -1
    cdef void _start_message(self)
    cdef Py_ssize_t _parse_head(self, const unsigned char *data, Py_ssize_t length) except -1
    cdef int _check_partial_line(self, const unsigned char *data, Py_ssize_t length) except -1
    cdef int _parse_request_line(self, const unsigned char *data, Py_ssize_t start, Py_ssize_t end) except -1
    cdef int _parse_target(self, const unsigned char *data, Py_ssize_t start, Py_ssize_t end) except -1
    cdef int _parse_field_line(self, const unsigned char *data, Py_ssize_t start, Py_ssize_t end, bint trailer) except -1
    cdef int _add_span(self, Py_ssize_t name_at, Py_ssize_t name_len, Py_ssize_t value_at,
                       Py_ssize_t value_len) except -1
    cdef int _keep_head(self, const unsigned char *data, Py_ssize_t length) except -1
    cdef int _use_header(self, const unsigned char *name, Py_ssize_t name_len,
                         const unsigned char *value, Py_ssize_t value_len) except -1
    cdef int _use_connection(self, const unsigned char *s, Py_ssize_t n) except -1
    cdef int _finish_head(self) except -1
    cdef Py_ssize_t _parse_length_body(self, Py_ssize_t length) except -1
    cdef Py_ssize_t _parse_chunked(self, const unsigned char *data, Py_ssize_t length) except -1
    cdef Py_ssize_t _parse_chunk_size(self, const unsigned char *data, Py_ssize_t length) except -1
    cdef Py_ssize_t _parse_trailer_line(self, const unsigned char *data, Py_ssize_t length) except -1


# The shared bytes object for a common field name, or a new one.
cdef bytes field_name(const unsigned char *s, Py_ssize_t n)
