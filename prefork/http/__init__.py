"""HTTP/1.1 on one connection: the read-parse-respond step (``_connection``),
response heads and framing (``_response``), the field grammar the cache
reads (``_fields``) and the server's own error bodies (``errors``). The
request parser itself is ``prefork._speedups``.
"""
