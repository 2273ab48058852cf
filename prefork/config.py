"""The settings table: every setting is declared once, here.

From each declaration come its command-line flag, its ``PREFORK_*``
environment variable, its config-file key and its line in the README's
settings reference (``python -m prefork.config`` prints that reference).
Precedence: defaults < config file < environment < command line.

A bad value raises ConfigError with one line naming the setting, the value
and the expected form; nothing has been bound or started at that point.
"""
import grp
import os
import pwd
import re
import types

from prefork import hooks
from prefork.master.sockets import parse_address


class ConfigError(Exception):
    """A setting has a value of the wrong form."""


def positive_int(text):
    value = int(text)
    if value < 1 or isinstance(value, bool):
        raise ValueError
    return value


def non_negative_int(text):
    value = int(text)
    if value < 0:
        raise ValueError
    return value


def non_negative_float(text):
    value = float(text)
    if not value >= 0:
        raise ValueError
    return value


def positive_float(text):
    value = float(text)
    if not value > 0:
        raise ValueError
    return value


def non_negative_float(text):
    value = float(text)
    if not value >= 0 or value == float("inf"):
        raise ValueError
    return value


def boolean(text):
    if isinstance(text, bool):
        return text
    word = str(text).strip().lower()
    if word in ("1", "true", "yes", "on"):
        return True
    if word in ("0", "false", "no", "off", ""):
        return False
    raise ValueError


_SIZE = re.compile(r"^\s*(\d+)\s*(|b|k|kb|kib|m|mb|mib|g|gb|gib)\s*$", re.IGNORECASE)
_UNITS = {"": 1, "b": 1, "k": 1024, "kb": 1024, "kib": 1024, "m": 1 << 20, "mb": 1 << 20,
          "mib": 1 << 20, "g": 1 << 30, "gb": 1 << 30, "gib": 1 << 30}


def size(text):
    """Bytes, with an optional unit: 1048576, 64KB, 10MB, 1GB (powers of 1024)."""
    if isinstance(text, int) and not isinstance(text, bool):
        if text < 0:
            raise ValueError
        return text
    match = _SIZE.match(str(text))
    if not match:
        raise ValueError
    return int(match.group(1)) * _UNITS[match.group(2).lower()]


def app_cache_size(text):
    """0 (a store per process) or a size of at least 64KB."""
    value = size(text)
    if 0 < value < 64 << 10:
        raise ValueError
    return value


_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")


def field_name(text):
    """A header field name (RFC 9110 §5.1: a token)."""
    if not _TOKEN.match(str(text)):
        raise ValueError
    return str(text)


_REDIS_URL = re.compile(r"^(rediss?://[^/?#\s]+(/\d+)?(\?\S*)?|unix://\S+)$")


def redis_url(text):
    """redis://HOST:PORT/DB (rediss:// for TLS, unix://PATH), or empty; the
    redis package must be installed (the master checks; the relay imports it)."""
    text = str(text).strip()
    if not text:
        return ""
    if not _REDIS_URL.match(text):
        raise ValueError
    import importlib.util
    if importlib.util.find_spec("redis") is None:
        raise ValueError
    return text


def forwarded_allow_ips(text):
    """Comma-separated IP addresses and CIDR networks, * or unix (see
    prefork/http/_forwarded.pyx); normalized, so a typo stops the server."""
    from prefork.http._forwarded import normalize_allow_list
    return normalize_allow_list(text)


def log_level(text):
    level = str(text).lower()
    if level not in ("debug", "info", "warning", "error", "critical"):
        raise ValueError
    return level


def address(text):
    """A --bind value; checked here so a typo stops the server before binding."""
    parse_address(str(text))
    return str(text)


def file_mode(text):
    """Octal permission bits: 660, 0660 or 0o660; empty keeps the umask's."""
    if isinstance(text, int):
        value = text
    elif str(text) == "":
        return ""
    else:
        value = int(str(text).lower().removeprefix("0o"), 8)
    if not 0 <= value <= 0o777:
        raise ValueError
    return value


def user(text):
    """A user name or uid -> uid; empty keeps the current user."""
    if text in ("", None):
        return ""
    text = str(text)
    return int(text) if text.isdigit() else pwd.getpwnam(text).pw_uid   # KeyError: unknown


def group(text):
    if text in ("", None):
        return ""
    text = str(text)
    return int(text) if text.isdigit() else grp.getgrnam(text).gr_gid


def directory(text):
    if text and not os.path.isdir(text):
        raise ValueError
    return str(text)


def readable_file(text):
    """A path that exists (whether it holds what it should is checked when
    the TLS context is built, prefork/tls.py), or empty."""
    text = str(text)
    if text and not os.path.isfile(text):
        raise ValueError
    return text


def metrics_address(text):
    """A --metrics-bind value: HOST:PORT, [IPV6]:PORT or unix:PATH, or empty."""
    text = str(text).strip()
    if text and (text.startswith("fd://") or parse_address(text) is None):
        raise ValueError
    return text


def tls_version(text):
    word = str(text).strip().lower().removeprefix("tlsv")
    if word not in ("1.2", "1.3"):
        raise ValueError
    return word


# Mozilla's "intermediate" TLS 1.2 suites (prefork/tls.py builds the context).
TLS12_CIPHERS = ("ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
                 "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
                 "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
                 "DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:DHE-RSA-CHACHA20-POLY1305")


def probe_path(text):
    """An absolute path such as /healthz (matched without the query), or empty."""
    text = str(text).strip()
    if text and (not text.startswith("/") or any(c in text for c in " ?#")):
        raise ValueError
    return text


def choice(*options):
    def parse(text):
        word = str(text).strip().lower()
        if word not in options:
            raise ValueError
        return word
    return parse


def access_format(text):
    """combined, common, json, or a template of {field} names (see prefork/log.py)."""
    from prefork.log import check_access_format
    return check_access_format(str(text))


class Setting:
    """One setting. A plain class, not a dataclass: dataclasses and typing
    would load inspect, ast and dis into the master, and every forked worker
    would carry them in its resident set."""

    __slots__ = ("name", "default", "parse", "expected", "help", "section",
                 "multiple", "short", "switch", "shown")

    def __init__(self, name, default, parse, expected, help, section,
                 multiple=False, short=None, switch=False, shown=None):
        self.name = name            # attribute name; flag is --name-with-dashes
        self.default = default
        self.parse = parse          # text (or a config file's value) -> value; ValueError if bad
        self.expected = expected    # the expected form, for error messages
        self.help = help
        self.section = section
        self.multiple = multiple    # the flag may be repeated
        self.short = short
        self.switch = switch        # a flag without a value (on/off)
        self.shown = shown          # the default as documented, when it depends on the machine

    def __repr__(self):
        return f"Setting({self.name!r})"

    @property
    def flag(self):
        return "--" + self.name.replace("_", "-")

    @property
    def env(self):
        return "PREFORK_" + self.name.upper()


def S(*args, **kwargs):
    return Setting(*args, **kwargs)


SETTINGS = [
    S("config", "", str, "a Python file path",
      "Config file: module-level names are setting names (and hooks).", "server", short="-c"),
    S("bind", ["127.0.0.1:8000"], address,
      "HOST:PORT, [IPV6]:PORT, unix:PATH or fd://N; https://HOST:PORT for TLS, http://HOST:PORT "
      "for plain whatever --certfile says; proxy+ before any of them for a PROXY protocol header",
      "Address to listen on; repeat for several. With --certfile, TCP addresses without a "
      "scheme are TLS.", "server", multiple=True, short="-b"),
    S("workers", os.cpu_count() or 1, positive_int, "an integer >= 1",
      "Number of worker processes.", "server", short="-w", shown="the number of CPUs"),
    S("threads", 1, positive_int, "an integer >= 1",
      "App threads per worker; 1 runs the app inline in the event loop (WSGI only).", "server"),
    S("interface", "auto", choice("auto", "wsgi", "asgi", "asgi2"), "auto, wsgi, asgi or asgi2",
      "The app's interface; auto takes an async def app(scope, receive, send) for ASGI 3.",
      "server"),
    S("lifespan", "auto", choice("auto", "on", "off"), "auto, on or off",
      "ASGI lifespan events: on requires them, auto uses them if the app speaks them.", "server"),
    S("loop", "auto", choice("auto", "asyncio", "uvloop"), "auto, asyncio or uvloop",
      "The event loop of ASGI workers; auto takes uvloop when it is installed.", "server"),
    S("preload", False, boolean, "a switch (true/false in env and config file)",
      "Import the app in the master before forking (HUP re-imports it).", "server", switch=True),
    S("backlog", 2048, positive_int, "an integer >= 1",
      "Listen queue length.", "server"),
    S("reuse_port", False, boolean, "a switch (true/false in env and config file)",
      "Each worker opens its own SO_REUSEPORT socket per TCP address.", "server", switch=True),
    S("unix_socket_mode", "", file_mode, "octal permission bits such as 660, or empty",
      "Permissions of unix: sockets (empty: as the umask leaves them).", "server"),
    S("max_connections", 1000, positive_int, "an integer >= 1",
      "Open connections per worker; when full, a new one evicts the longest idle.", "server"),
    S("max_keepalive_requests", 0, non_negative_int, "an integer >= 0",
      "Requests served on one connection before it is closed (0: no limit).", "server"),
    S("root_path", "", str, "a path such as /api",
      "SCRIPT_NAME for the app when it is mounted below the site root.", "server"),
    S("forwarded_allow_ips", "127.0.0.1,::1", forwarded_allow_ips,
      "comma-separated IP addresses or CIDR networks, * for any peer, unix for unix-socket "
      "peers, or empty for none",
      "Peers whose X-Forwarded-For/-Proto/-Host/-Port and Forwarded fields are believed "
      "(the client address, scheme, host and port the app sees).", "server"),
    S("max_pending", 0, non_negative_int, "an integer >= 0",
      "With --threads: requests that may wait for an app thread; one more is answered 503 "
      "with Retry-After at once (0: no bound).", "server"),
    S("server_header", "", str, "a product name, or empty for none",
      "Value of the Server response header (empty: no header).", "server"),
    S("certfile", "", readable_file, "a PEM file: the certificate, then its chain; or empty",
      "Serve TLS with this certificate (on every TCP --bind without http://). HUP reads it "
      "again.", "tls"),
    S("keyfile", "", readable_file, "a PEM file, or empty when the key is in --certfile",
      "The certificate's private key.", "tls"),
    S("keyfile_password", "", str, "a password, or empty",
      "Password of an encrypted --keyfile; prefer --keyfile-password-file or "
      "PREFORK_KEYFILE_PASSWORD (a command line is visible to every user in ps).", "tls"),
    S("keyfile_password_file", "", readable_file,
      "a file whose first line is the password, or empty",
      "Password of an encrypted --keyfile (a file, so it is never on a command line).", "tls"),
    S("ca_certs", "", readable_file, "a PEM file of CA certificates, or empty",
      "CAs that sign the client certificates --client-cert asks for.", "tls"),
    S("client_cert", "none", choice("none", "optional", "required"), "none, optional or required",
      "Ask TLS clients for a certificate (mutual TLS): optional verifies one if sent, required "
      "refuses the handshake without one.", "tls"),
    S("ssl_min_version", "1.2", tls_version, "1.2 or 1.3",
      "Oldest TLS version accepted.", "tls"),
    S("ssl_ciphers", TLS12_CIPHERS, str, "an OpenSSL cipher list",
      "TLS 1.2 cipher suites (TLS 1.3 uses OpenSSL's).", "tls",
      shown="Mozilla's intermediate list (ECDHE with AES-GCM or ChaCha20)"),
    S("proxy_protocol", False, boolean, "a switch (true/false in env and config file)",
      "Every listener expects a PROXY protocol header (v1 or v2) before each connection's first "
      "byte; proxy+ on a --bind asks it of that listener only.", "proxy", switch=True),
    S("proxy_protocol_timeout", 5.0, positive_float, "seconds > 0",
      "Time allowed for the PROXY protocol header (the connection is closed after it).", "proxy"),
    S("pid", "", str, "a file path, or empty for none",
      "Write the master's pid to this file.", "process"),
    S("user", "", user, "a user name or uid, or empty",
      "Switch to this user after binding.", "process"),
    S("group", "", group, "a group name or gid, or empty",
      "Switch to this group after binding.", "process"),
    S("chdir", "", directory, "an existing directory, or empty",
      "Change to this directory before loading the app.", "process"),
    S("timeout", 30.0, positive_float, "seconds > 0",
      "A worker whose loop is stuck this long is killed and replaced.", "process"),
    S("graceful_timeout", 30.0, positive_float, "seconds > 0",
      "How long a graceful shutdown waits for in-flight requests.", "process"),
    S("shutdown_delay", 0.0, non_negative_float, "seconds >= 0",
      "After TERM, keep accepting and serving (with Connection: close) this long before "
      "the drain starts, so a load balancer can take the server out first.", "process"),
    S("max_requests", 0, non_negative_int, "an integer >= 0",
      "Replace a worker after this many requests (0: never).", "process"),
    S("max_requests_jitter", 0, non_negative_int, "an integer >= 0",
      "Add a random 0..N to max-requests per worker, so they do not restart together.",
      "process"),
    S("max_worker_memory", 0, size, "a size such as 512MB, or 0 for no limit",
      "Replace a worker whose resident memory exceeds this.", "process"),
    S("keepalive_timeout", 5.0, positive_float, "seconds > 0",
      "Idle time after which a keep-alive connection is closed.", "timeouts"),
    S("header_timeout", 10.0, positive_float, "seconds > 0",
      "Time allowed to receive a whole request head (408 after it).", "timeouts"),
    S("body_timeout", 30.0, positive_float, "seconds > 0",
      "Time allowed between two reads of a request body (408 after it).", "timeouts"),
    S("body_min_rate", 1024, non_negative_int, "bytes per second, or 0 for no minimum",
      "Slowest average rate a request body may arrive at, after a grace of body-timeout "
      "seconds (408 below it).", "timeouts"),
    S("send_timeout", 30.0, positive_float, "seconds > 0",
      "Time allowed between two writes of a response before the connection is closed.",
      "timeouts"),
    S("request_timeout", 0.0, non_negative_float, "seconds >= 0 (0: none)",
      "A request whose app is still running this long is answered 504 (or cut if its "
      "response began) and logged; the worker serves on.", "timeouts"),
    S("limit_request_line", 8190, positive_int, "an integer >= 1",
      "Longest request line in bytes (414 beyond).", "limits"),
    S("limit_request_field_size", 8190, positive_int, "an integer >= 1",
      "Longest header field line in bytes (431 beyond).", "limits"),
    S("limit_request_headers_size", 65536, positive_int, "an integer >= 1",
      "Largest request head in bytes (431 beyond).", "limits"),
    S("limit_request_fields", 100, positive_int, "an integer >= 1",
      "Most header fields in a request (431 beyond).", "limits"),
    S("limit_request_body", 1 << 30, size, "a size such as 10MB, or 0 for no limit",
      "Largest request body (413 beyond).", "limits"),
    S("body_spool_threshold", 1 << 20, size, "a size such as 1MB",
      "Request bodies larger than this wait in a temporary file.", "limits"),
    S("cache_size", 0, size, "a size such as 64MB, or 0 for no cache",
      "Shared-memory response cache for all workers (RFC 9111 shared cache).", "cache"),
    S("cache_max_entry", 1 << 20, size, "a size such as 1MB",
      "Largest response the cache stores (key, head and body).", "cache"),
    S("cache_lock_timeout", 5.0, non_negative_float, "seconds >= 0 (0: no coalescing)",
      "Requests that miss while another fills the same key wait this long for its response, "
      "then call the app.", "cache"),
    S("cache_purge_on_reload", False, boolean, "a switch (true/false in env and config file)",
      "Empty the cache on HUP reload (it survives reloads otherwise).", "cache", switch=True),
    S("cache_honor_no_cache", False, boolean, "a switch (true/false in env and config file)",
      "Let a request's Cache-Control: no-cache bypass the cache (ignored by default).",
      "cache", switch=True),
    S("cache_x_header", False, boolean, "a switch (true/false in env and config file)",
      "Add X-Cache: HIT, STALE, MISS or BYPASS to responses.", "cache", switch=True),
    S("cache_purge_allow", ["127.0.0.1", "::1"], str, "an IP address",
      "Clients allowed to send PURGE and read the cache counters; repeat for several.",
      "cache", multiple=True),
    S("cache_stats_path", "", str, "a path such as /_prefork/cache, or empty for none",
      "Path where allowed clients read the cache counters as JSON.", "cache"),
    S("app_cache_size", 16 << 20, app_cache_size,
      "a size such as 16MB (at least 64KB), or 0 for a store per process",
      "Shared-memory store for application data (prefork.shared, @shared_lru_cache, the "
      "Django and Flask-Caching backends), apart from the response cache's.", "cache"),
    S("cache_tag_header", "Cache-Tag", field_name, "a header field name",
      "Response field whose tags (comma or space separated) an entry is purged by: PURGE with "
      "this field, or prefork.shared.purge_tag().", "cache"),
    S("cache_tag_keep", False, boolean, "a switch (true/false in env and config file)",
      "Send the tag field on to clients (it is stripped otherwise).", "cache", switch=True),
    S("cache_redis", "", redis_url,
      "redis://HOST:PORT/DB (or rediss://, unix://PATH) with the redis package installed "
      "(pip install 'prefork[redis]'), or empty",
      "Publish every invalidation (unsafe methods, PURGE, tag purges, prefork.shared writes and "
      "clears) to the other hosts through Redis, and apply theirs.", "cache"),
    S("cache_redis_channel", "prefork:invalidations", str, "a Redis channel name",
      "The channel the hosts of one site share for --cache-redis.", "cache"),
    S("ws", True, boolean, "on or off",
      "Serve WebSocket handshakes to ASGI apps (off: they reach the app as plain HTTP).",
      "websocket"),
    S("ws_max_message_size", 16 << 20, size, "a size such as 16MB",
      "Largest message a client may send, once reassembled and inflated (close 1009 "
      "beyond).", "websocket"),
    S("ws_max_frame_size", 16 << 20, size, "a size such as 1MB",
      "Largest single frame a client may send (close 1009 beyond).", "websocket"),
    S("ws_ping_interval", 20.0, non_negative_float, "seconds >= 0 (0: no pings)",
      "Ping every open WebSocket this often.", "websocket"),
    S("ws_ping_timeout", 20.0, positive_float, "seconds > 0",
      "A ping unanswered this long closes the WebSocket with 1011.", "websocket"),
    S("ws_per_message_deflate", True, boolean, "on or off",
      "Accept permessage-deflate compression (RFC 7692) when the client offers it.",
      "websocket"),
    S("metrics_bind", "", metrics_address, "HOST:PORT, [IPV6]:PORT or unix:PATH, or empty for none",
      "Serve Prometheus metrics (GET /metrics) on this separate listener, from the master.",
      "operations"),
    S("health_path", "", probe_path, "a path such as /healthz, or empty for none",
      "Liveness probe: answered 200 by the worker's loop, without calling the app.",
      "operations"),
    S("ready_path", "", probe_path, "a path such as /readyz, or empty for none",
      "Readiness probe: 200 while the server serves; 503 while it starts, or once it stops "
      "(--shutdown-delay included).", "operations"),
    S("log_level", "info", log_level, "debug, info, warning, error or critical",
      "Error log level.", "logging"),
    S("access_log", "", str, "a file path, - for stdout, or empty for none",
      "Where to write the access log.", "logging"),
    S("access_log_format", "combined", access_format,
      "combined, common, json, or a template of {field} names",
      "Access log line format.", "logging"),
    S("error_log", "-", str, "a file path or - for stderr",
      "Where to write the error log.", "logging"),
]

BY_NAME = {setting.name: setting for setting in SETTINGS}


class Settings:
    """The effective settings: one attribute per declaration, and the hooks."""

    def __init__(self, **values):
        for setting in SETTINGS:
            default = setting.default
            setattr(self, setting.name, list(default) if isinstance(default, list) else default)
        self.hooks = hooks.defaults()
        self.tls = None             # the TLS context the tls settings make (load_tls), or None
        for name, value in values.items():
            setattr(self, name, value)

    def as_dict(self):
        return {setting.name: getattr(self, setting.name) for setting in SETTINGS}


def convert(setting, raw, source):
    """Parse one raw value; ConfigError names the setting and the form."""
    try:
        return setting.parse(raw)
    except (TypeError, ValueError, KeyError):
        raise ConfigError(f"{source}: invalid value {raw!r}; expected {setting.expected}") from None


def _convert_multiple(setting, raw, source):
    items = raw if isinstance(raw, (list, tuple)) else [raw]
    return [convert(setting, item, source) for item in items]


def from_file(settings, path):
    """Apply a Python config file: each module-level name is a setting or a hook."""
    try:
        import runpy                # only a master given a config file needs it
        namespace = runpy.run_path(path, run_name="__config__")
    except FileNotFoundError:
        raise ConfigError(f"--config: file {path!r} not found; expected a Python file path") from None
    except Exception as exc:
        raise ConfigError(f"config file {path!r} failed: {exc!r}") from None
    for name, value in namespace.items():
        if name in hooks.NAMES:
            if not callable(value):
                raise ConfigError(f"{path}: {name}: invalid value {value!r}; expected a function")
            settings.hooks[name] = value
        elif name in BY_NAME and name != "config":
            setting = BY_NAME[name]
            source = f"{path}: {name}"
            value = _convert_multiple(setting, value, source) if setting.multiple \
                else convert(setting, value, source)
            setattr(settings, name, value)
        elif not _is_helper(name, value):
            raise ConfigError(f"{path}: unknown setting {name!r}; expected one of the names "
                              "in `prefork-serve --print-config` or a hook")


def _is_helper(name, value):
    """Names a config file may define for itself: private, CONSTANT, imports, functions."""
    return (name.startswith("_") or name.isupper()
            or isinstance(value, (types.ModuleType, types.FunctionType, type)))


def from_environment(settings, environ=os.environ):
    for setting in SETTINGS:
        raw = environ.get(setting.env)
        if raw is None:
            continue
        if setting.multiple:
            value = [convert(setting, part, setting.env) for part in raw.split(",") if part]
        else:
            value = convert(setting, raw, setting.env)
        setattr(settings, setting.name, value)


def add_arguments(parser):
    """Add one flag per setting to an argparse parser."""
    for setting in SETTINGS:
        names = [setting.flag] + ([setting.short] if setting.short else [])
        shown = setting.shown or repr(setting.default)
        help_text = f"{setting.help} Default: {shown}.".replace("%", "%%")
        if setting.switch:
            parser.add_argument(*names, dest=setting.name, action="store_const", const=True,
                                default=None, help=help_text)
        else:
            parser.add_argument(*names, dest=setting.name, metavar=setting.name.upper(),
                                action="append" if setting.multiple else "store",
                                default=None, help=help_text)


def from_arguments(settings, namespace):
    for setting in SETTINGS:
        raw = getattr(namespace, setting.name, None)
        if raw is None:
            continue
        if setting.multiple:
            value = [convert(setting, item, setting.flag) for item in raw]
        else:
            value = convert(setting, raw, setting.flag)
        setattr(settings, setting.name, value)


def load(namespace, environ=os.environ):
    """defaults < config file < environment < command line."""
    settings = Settings()
    path = namespace.config if namespace.config is not None else environ.get("PREFORK_CONFIG", "")
    if path:
        from_file(settings, path)
    from_environment(settings, environ)
    from_arguments(settings, namespace)
    settings.tls = load_tls(settings)
    return settings


def load_tls(settings):
    """The TLS context (prefork/tls.py), built while the settings are read, so
    an unusable certificate, key or password is a bad setting: exit code 2 at
    start, a failed reload that keeps the old workers on HUP. ``ssl`` is
    loaded only when a TLS setting or an https:// bind asks for it."""
    from prefork.master.sockets import bind_scheme
    asked = (settings.certfile, settings.keyfile, settings.ca_certs, settings.keyfile_password,
             settings.keyfile_password_file, settings.client_cert != "none",
             any(bind_scheme(text) == "https" for text in settings.bind))
    if not any(asked):
        return None
    from prefork import tls
    return tls.load_tls(settings)


# Settings --print-config masks.
SECRETS = ("keyfile_password",)


def shown_value(settings, name):
    value = getattr(settings, name)
    return "********" if name in SECRETS and value else value


def describe(settings):
    """The effective settings as config-file lines (--print-config)."""
    lines = [f"{s.name} = {shown_value(settings, s.name)!r}" for s in SETTINGS if s.name != "config"]
    for name in hooks.NAMES:
        hook = settings.hooks[name]
        if not hooks.is_default(hook):
            lines.append(f"{name} = {getattr(hook, '__qualname__', hook)!r}")
    return "\n".join(lines)


def reference():
    """The settings reference, as Markdown (for the README)."""
    lines = ["| flag | environment | default | expected | meaning |",
             "|---|---|---|---|---|"]
    for s in SETTINGS:
        flag = f"`{s.flag}`" + (f", `{s.short}`" if s.short else "")
        default = s.shown or f"`{s.default!r}`"
        lines.append(f"| {flag} | `{s.env}` | {default} | {s.expected} | {s.help} |")
    lines += ["", "Hooks (config file only):", "", "| hook | called | arguments |", "|---|---|---|"]
    for name, (where, args) in hooks.NAMES.items():
        lines.append(f"| `{name}` | {where} | `{args}` |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(reference())
