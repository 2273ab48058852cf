"""Process titles, as ps and /proc/PID/cmdline show them:
``prefork-serve: master [module:app]``, ``prefork-serve: worker 2 [module:app]``,
with the state appended while it is not plain serving."""
try:
    from setproctitle import setproctitle
except ImportError:  # pragma: no cover - setproctitle is a runtime dependency
    def setproctitle(title):
        pass


def set_title(role, app_spec, state=""):
    title = f"prefork-serve: {role} [{app_spec}]"
    setproctitle(f"{title} ({state})" if state else title)
