"""Build the compiled hot path. Compiler directives live here, in one place."""
from Cython.Build import cythonize
from setuptools import Extension, setup

# Every compiled module of the package; each .pyx has a .pxd (its C interface)
# and a .pyi (its documentation for readers and type checkers).
MODULES = [
    "_speedups",
    "http._response", "http._fields", "http._forwarded", "http._tls", "http._proxy",
    "http._connection",
    "worker._loop", "worker._deadline", "worker._service",
    "wsgi._bridge",
    "asgi._scope", "asgi._connection", "asgi._host", "asgi._websocket",
    "websocket._frames",
    "cache._store", "cache._tags", "cache._lookup", "cache._gate", "cache._appstore",
    "metrics._counters",
]

DIRECTIVES = {
    "language_level": 3,
    "boundscheck": False,
    "wraparound": False,
    "initializedcheck": False,
    "cdivision": True,
    "embedsignature": True,
    # Nothing here is picklable (sockets, shared memory, loop state): no
    # generated __reduce__ code in every module and every worker.
    "auto_pickle": False,
}

extensions = [
    Extension(f"prefork.{name}", [f"prefork/{name.replace('.', '/')}.pyx"], extra_compile_args=["-O2"])
    for name in MODULES
]

setup(ext_modules=cythonize(extensions, compiler_directives=DIRECTIVES, annotate=False))
