"""The master process: what only it does.

It binds the listeners (``sockets``), forks the workers (``children``) and
supervises them (``arbiter``: reaping, heartbeats in shared memory from
``heartbeat``, the worker count), reloads on HUP (``reload``), hands its
sockets to a new master on USR2 (``upgrade``), and keeps the pid file,
privileges, systemd's sockets and the process titles.
"""
