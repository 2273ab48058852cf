"""``prefork-serve MODULE:APP [flags]``: argv -> Settings -> Arbiter.

Every flag comes from the settings table (prefork/config.py). Errors are one
line naming the flag, the value and the expected form, with a named exit
code (prefork/exitcodes.py).
"""
import argparse
import sys

from prefork import __version__, config, exitcodes
from prefork.log import setup_logging
from prefork.sockets import BindError, bind_socket


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        # One line, not argparse's usage block: scripts and logs stay readable.
        self.exit(exitcodes.USAGE, f"{self.prog}: error: {message}\n")


def build_parser():
    parser = _Parser(prog="prefork-serve",
                     description="Serve a WSGI application with pre-forked worker processes.")
    parser.add_argument("app", metavar="MODULE:APP", help="the WSGI application, e.g. myproject.wsgi:app")
    parser.add_argument("--version", action="version", version=f"prefork {__version__}")
    config.add_arguments(parser)
    return parser


def load_settings(argv):
    parser = build_parser()
    namespace = parser.parse_args(argv)
    settings = config.Settings()
    try:
        config.from_environment(settings)
        config.from_arguments(settings, namespace)
    except config.ConfigError as exc:
        parser.exit(exitcodes.USAGE, f"prefork-serve: error: {exc}\n")
    return namespace.app, settings


def main(argv=None):
    app_spec, settings = load_settings(sys.argv[1:] if argv is None else argv)
    log = setup_logging(settings)
    try:
        listeners = [bind_socket(address, settings.backlog) for address in settings.bind]
    except BindError as exc:
        log.error("%s", exc)
        return exitcodes.BIND
    from prefork.arbiter import Arbiter
    return Arbiter(app_spec, settings, listeners).run()


if __name__ == "__main__":
    sys.exit(main())
