"""A worker process: its epoll event loop (``_loop``), the HTTP service its
connections share (``_service``: accepting, batched writes, timeouts, the
drain) and the process around them (``process``: load the app, signals,
the heartbeat, exit codes).
"""
