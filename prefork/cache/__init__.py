"""The shared RFC 9111 response cache: the entry store in shared memory
(``_store``), keys, lookups and hits (``_lookup``), the gate a connection
meets before and after the app (``_gate``), what may be stored (``policy``)
and the master's side of it (``lifecycle``).
"""
