"""Load the WSGI app named ``module:attribute``, with precise errors."""
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
                             "expected a WSGI application")
    return app
