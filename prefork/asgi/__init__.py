"""ASGI 3 (asgiref's "HTTP & WebSocket" spec, version 2.4, and "Lifespan"
2.0): each request's scope and the completed awaitables its receive/send
return when nothing has to wait (``_scope``), the connection step that runs
an ASGI app on the same compiled path as WSGI (``_connection``), the
asyncio loop the worker runs such an app on, with prefork's own loop inside
it (``loop``), and the lifespan protocol (``lifespan``).
"""
