"""``prefork-serve MODULE:APP [flags]``: argv -> Settings -> Arbiter.

Every flag comes from the settings table (prefork/config.py). Errors are one
line naming the flag, the value and the expected form, with a named exit
code (prefork/exitcodes.py).
"""
import argparse
import os
import sys

from prefork import __version__, config, exitcodes
from prefork.log import setup_logging


class _HelpFormatter(argparse.HelpFormatter):
    """argparse's formatter, sized without importing shutil.

    argparse builds a formatter for every add_argument() call and its
    default width comes from shutil, which loads bz2, lzma and zlib: half a
    MiB that every forked worker would carry in its resident set.
    """

    def __init__(self, prog):
        try:
            width = int(os.environ.get("COLUMNS", "")) or os.get_terminal_size().columns
        except (ValueError, OSError):
            width = 80
        super().__init__(prog, width=max(width - 2, 40))


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        # One line, not argparse's usage block: scripts and logs stay readable.
        self.exit(exitcodes.USAGE, f"{self.prog}: error: {message}\n")


def build_parser():
    parser = _Parser(prog="prefork-serve", formatter_class=_HelpFormatter,
                     description="Serve a WSGI application with pre-forked worker processes.")
    parser.add_argument("app", metavar="MODULE:APP", help="the WSGI application, e.g. myproject.wsgi:app")
    parser.add_argument("--version", action="version", version=f"prefork {__version__}")
    parser.add_argument("--check-config", action="store_true",
                        help="Validate the settings and import the app, print nothing and exit 0 "
                             "(2 if a setting is bad, 4 if the app does not load).")
    parser.add_argument("--print-config", action="store_true",
                        help="Print the effective settings and exit.")
    config.add_arguments(parser)
    return parser


def load_settings(argv, environ=os.environ):
    """argv -> (namespace, Settings); ConfigError on a bad value."""
    namespace = build_parser().parse_args(argv)
    return namespace, config.load(namespace, environ)


def check_app(spec, settings):
    """--check-config: import the app as a worker would (from --chdir), so a
    deployment script learns of a broken import before it restarts anything."""
    from prefork.importer import AppImportError, import_app
    if settings.chdir:
        os.chdir(settings.chdir)
    try:
        import_app(spec)
    except AppImportError as exc:
        sys.stderr.write(f"prefork-serve: error: {exc}\n")
        return exitcodes.APP_LOAD
    return exitcodes.OK


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        namespace, settings = load_settings(argv)
    except config.ConfigError as exc:
        sys.stderr.write(f"prefork-serve: error: {exc}\n")
        return exitcodes.USAGE
    if namespace.check_config:
        return check_app(namespace.app, settings)
    if namespace.print_config:
        print(config.describe(settings))
        return exitcodes.OK
    setup_logging(settings)
    from prefork.master.arbiter import Arbiter
    arbiter = Arbiter(namespace.app, settings, reload_settings=lambda: load_settings(argv)[1],
                      argv=argv)
    return arbiter.run()


if __name__ == "__main__":
    sys.exit(main())
