"""Side-by-side load benchmark of prefork against other Python servers.

Run it with ``python -m bench``; see bench/README.md. Every module here must
import with nothing but the standard library, because pytest collects bench/
in the main environment and the servers import ``bench.apps`` themselves.
"""
