"""RFC 6455 WebSocket for ASGI apps: frames and UTF-8 (``_frames``, compiled),
the opening handshake (``handshake``) and permessage-deflate, RFC 7692
(``deflate``). The ASGI side, one session per upgraded connection, is
prefork/asgi/_websocket.pyx."""
