"""Load the app named ``module:attribute``, with precise errors, and tell
which interface it speaks: WSGI (PEP 3333) or ASGI 3."""
import importlib
import sys


class AppImportError(Exception):
    """The app could not be loaded; the message says why, with the input."""


def import_app(spec):
    """``"package.module:app"`` -> the callable. Without ``:attribute``, the
    attribute ``application`` is used (the WSGI convention)."""
    module_name, _, attribute = spec.partition(":")
    attribute = attribute or "application"
    if not module_name or not all(part.isidentifier() for part in module_name.split(".")) \
            or not all(part.isidentifier() for part in attribute.split(".")):
        raise AppImportError(f"invalid app {spec!r}; expected MODULE:ATTRIBUTE, e.g. myproject.wsgi:app")
    if "" not in sys.path:
        sys.path.insert(0, "")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and (module_name == exc.name or module_name.startswith(exc.name + ".")):
            raise AppImportError(f"module {module_name!r} not found (from {spec!r})") from None
        raise AppImportError(f"importing {module_name!r} failed: {exc!r}") from exc
    except Exception as exc:
        raise AppImportError(f"importing {module_name!r} failed: {exc!r}") from exc
    app = module
    for part in attribute.split("."):
        try:
            app = getattr(app, part)
        except AttributeError:
            raise AppImportError(f"module {module_name!r} has no attribute {attribute!r} (from {spec!r})") from None
    if not callable(app):
        raise AppImportError(f"{spec!r} is not callable (it is a {type(app).__name__}); "
                             "expected a WSGI or ASGI application")
    return app


_CO_COROUTINE = 0x80


def is_coroutine_function(func):
    """``async def``, from the code object's CO_COROUTINE flag, through
    functools.partial and bound methods (inspect is not loaded for this: a
    WSGI worker need not carry it)."""
    while hasattr(func, "func") and hasattr(func, "args"):     # functools.partial
        func = func.func
    func = getattr(func, "__func__", func)                      # bound methods
    code = getattr(func, "__code__", None)
    return code is not None and bool(code.co_flags & _CO_COROUTINE)


def app_interface(app, spec, asked="auto"):
    """``"wsgi"`` or ``"asgi"`` for the app and ``--interface``: ``auto``
    takes an ``async def app(scope, receive, send)`` (or an object whose
    ``__call__`` is one) for ASGI 3 and anything else for WSGI. An ASGI 2
    app (``app(scope)`` returning a coroutine function) is served only with
    ``--interface asgi2``. A wrong choice raises AppImportError."""
    asgi3 = is_coroutine_function(app) or (
        not isinstance(app, type) and is_coroutine_function(getattr(type(app), "__call__", None)))
    if asked == "auto":
        return "asgi" if asgi3 else "wsgi"
    if asked == "asgi" and not asgi3:
        raise AppImportError(f"{spec!r} is not an ASGI 3 application: expected "
                             "`async def app(scope, receive, send)` (use --interface asgi2 for "
                             "an ASGI 2 app, or wsgi)")
    if asked == "wsgi" and asgi3:
        raise AppImportError(f"{spec!r} is an ASGI application (`async def`), not WSGI; "
                             "use --interface asgi or auto")
    return "asgi" if asked == "asgi2" else asked


def asgi2_to_asgi3(app):
    """ASGI 2's double callable, ``app(scope)`` then ``(receive, send)``, as
    an ASGI 3 app."""
    async def asgi3(scope, receive, send):
        instance = app(scope)
        await instance(receive, send)
    return asgi3
