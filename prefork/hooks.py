"""Lifecycle hooks: functions a config file may define, called by the
master or a worker at fixed points. A hook that raises is logged and the
server carries on."""
import logging

# name -> (where and when it is called, its arguments)
NAMES = {
    "on_starting": ("master, before binding", "arbiter"),
    "when_ready": ("master, once the first workers accept", "arbiter"),
    "pre_fork": ("master, before each fork", "arbiter, worker"),
    "post_fork": ("worker, right after fork", "arbiter, worker"),
    "post_worker_init": ("worker, once the app is loaded and it accepts", "worker"),
    "worker_exit": ("worker, just before it exits", "worker"),
    "on_reload": ("master, on HUP once the new config is read", "arbiter"),
    "on_exit": ("master, just before it exits", "arbiter"),
}


def _nothing(*args):
    return None


def defaults():
    return {name: _nothing for name in NAMES}


def is_default(hook):
    return hook is _nothing


def call(settings, name, *args):
    """Run one hook; log (do not raise) what it raises."""
    try:
        settings.hooks[name](*args)
    except Exception:
        logging.getLogger("prefork.error").exception("hook %s failed", name)
