"""Prometheus metrics: counters each worker keeps in shared memory
(``_counters``), summed by the master across workers and reloads and
served on ``--metrics-bind`` (``exposition``, ``listener``)."""
