"""HUP: re-read the settings, rebind changed addresses, re-import a
preloaded app, and start a new generation of workers; the arbiter stops the
old generation only once every new worker accepts. If anything fails (bad
config, unbindable address, import error, a new worker dying before it is
ready) the reload is undone and the old workers keep serving.

Also the listeners' first opening, which shares the rebinding rules: sockets
from systemd or from an old master (USR2) are adopted, the rest are bound.
"""
import os
import sys
from collections import namedtuple

from prefork import exitcodes, hooks
from prefork.master import systemd
from prefork.cache.lifecycle import reload_cache
from prefork.config import ConfigError
from prefork.importer import AppImportError, import_app
from prefork.log import setup_logging
from prefork.master.sockets import BindError, adopt_fd, close_listener, open_listeners

INHERIT_ENV = "PREFORK_INHERIT_FDS"     # set by an old master for its successor (USR2)


# What a reload replaced, to restore it if the reload fails. `unused`: old
# listeners the new settings no longer bind.
Pending = namedtuple("Pending", "settings app listeners generation unused")


def open_initial_listeners(arbiter):
    """Bind or adopt the listeners; None on success, else the exit code."""
    inherited = [adopt_fd(int(fd)) for fd in os.environ.pop(INHERIT_ENV, "").split(",") if fd]
    if inherited:
        arbiter.predecessor = os.getppid()     # the old master, serving the same sockets
    activated = systemd.listen_fds()
    try:
        if activated:
            arbiter.listeners = [adopt_fd(fd) for fd in activated]
            arbiter.fixed_listeners = True
            arbiter.log.info("using %d sockets from systemd; --bind is ignored", len(activated))
            return None
        arbiter.listeners, unused = open_listeners(arbiter.settings.bind, arbiter.settings, inherited)
    except BindError as exc:
        arbiter.log.error("%s", exc)
        return exitcodes.BIND
    for sock in unused:
        sock.close()            # the old master still serves it; never unlink
    return None


def begin_reload(arbiter):
    log = arbiter.log
    try:
        settings = arbiter.reload_settings()
    except ConfigError as exc:
        log.error("reload failed: %s; the old workers keep serving", exc)
        return
    listeners, unused = arbiter.listeners, []
    if not arbiter.fixed_listeners:
        try:
            listeners, unused = open_listeners(settings.bind, settings, arbiter.listeners)
        except BindError as exc:
            log.error("reload failed: %s; the old workers keep serving", exc)
            return
    app = None
    if settings.preload:
        try:
            app = import_app_fresh(arbiter)
        except AppImportError as exc:
            log.error("reload failed: %s; the old workers keep serving", exc)
            _close_new(listeners, arbiter.listeners)
            return
    reload_cache(arbiter, settings)     # only once the reload can go ahead
    arbiter.reloading = Pending(arbiter.settings, arbiter.app, arbiter.listeners,
                                arbiter.generation, unused)
    _apply(arbiter, settings, app, listeners, arbiter.generation + 1)
    hooks.call(settings, "on_reload", arbiter)
    log.info("reloading: starting %d workers (generation %d)", settings.workers, arbiter.generation)


def _apply(arbiter, settings, app, listeners, generation):
    arbiter.settings, arbiter.app = settings, app
    arbiter.listeners, arbiter.generation = listeners, generation
    setup_logging(settings)


def _close_new(listeners, kept):
    for sock in listeners:
        if sock not in kept:
            close_listener(sock)


def commit_reload(arbiter):
    """The new generation accepts: close what the new settings dropped."""
    pending, arbiter.reloading = arbiter.reloading, None
    for sock in pending.unused:
        close_listener(sock)
    arbiter.log.info("reload complete: generation %d serving", arbiter.generation)
    arbiter.report.reload_finished(True)
    arbiter.set_title()


def revert_reload(arbiter, why):
    pending, arbiter.reloading = arbiter.reloading, None
    failed = arbiter.generation
    _close_new(arbiter.listeners, pending.listeners)
    _apply(arbiter, pending.settings, pending.app, pending.listeners, pending.generation)
    arbiter.log.error("reload failed: %s; the old workers keep serving", why)
    arbiter.report.reload_finished(False)
    for child in list(arbiter.children.values()):
        if child.generation == failed:
            arbiter.stop_worker(child, graceful=False)
    arbiter.set_title()


def import_app_fresh(arbiter, first=False):
    """Import the app in the master (--preload). On a reload, the modules the
    app loaded from outside the Python installation (the project's own code)
    are forgotten first so they are read again; libraries stay loaded. If the
    import fails, the previous modules are put back."""
    if first:
        arbiter.baseline_modules = set(sys.modules)
    installed = _installed_paths()
    saved = {name: module for name, module in sys.modules.items()
             if name not in arbiter.baseline_modules and _is_project_module(module, installed)}
    for name in saved:
        del sys.modules[name]
    try:
        return import_app(arbiter.app_spec)
    except AppImportError:
        sys.modules.update(saved)
        raise


def _installed_paths():
    # sysconfig is loaded on the first reload only, not into every worker.
    import sysconfig
    return tuple({sysconfig.get_paths()[key] for key in ("stdlib", "platstdlib", "purelib", "platlib")})


def _is_project_module(module, installed):
    path = getattr(module, "__file__", None) or ""
    name = getattr(module, "__name__", "")
    return bool(path) and not path.startswith(installed) and not name.startswith("prefork")
