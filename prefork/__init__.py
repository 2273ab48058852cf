"""prefork: a pre-forking HTTP/1.1 server for WSGI applications.

The request path (parser, response head, connection step) is compiled with
Cython. The compiled modules are required: there is no pure-Python fallback,
because a silently slow server is worse than one that refuses to start.
"""

__version__ = "0.1.0"

try:
    # The request path; the cache modules load only when the cache is on.
    from prefork import _speedups  # noqa: F401
    from prefork.http import _connection, _response  # noqa: F401
    from prefork.worker import _loop, _service  # noqa: F401
    from prefork.wsgi import _bridge  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised only on a broken install
    raise ImportError(
        "prefork's compiled extension is missing or stale "
        f"({exc}); rebuild it with `pip install --force-reinstall --no-deps .` "
        "or `python setup.py build_ext --inplace` from the source tree."
    ) from exc

from prefork._speedups import HTTPError, RequestParser  # noqa: E402
# The shared cache for application code (prefork/shared.py).
from prefork import shared  # noqa: E402
from prefork.shared import purge_tag, shared_lru_cache  # noqa: E402

__all__ = ["HTTPError", "RequestParser", "__version__", "shared", "shared_lru_cache", "purge_tag"]
