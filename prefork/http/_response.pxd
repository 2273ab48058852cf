# C interface of the response head serializer (prefork/http/_response.pyx).

cdef class HeadBuilder:
    # Settings, fixed for a worker's lifetime.
    cdef bytes server_line          # b"Server: name\r\n" or b""
    # Date header cache: rebuilt at most once a second.
    cdef long date_second
    cdef bytes date_line

    # Results of the last build(), read by the connection.
    cdef public int status_code
    cdef public bint keep_alive      # the connection stays open after this response
    cdef public bint chunked         # the body must be sent with chunked coding
    cdef public bint send_body       # False for HEAD, 1xx, 204, 304
    cdef public long long content_length  # bytes the body must have; -1 if not declared

    cdef bytes build(self, int minor, object status, list headers,
                     long long known_length, bint keep_alive, bint head_request)
    cdef bytes date(self)
