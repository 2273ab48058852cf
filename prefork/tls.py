"""TLS: the server's contexts, built from the settings, and what a TLS
connection tells the app.

The context is built in the master, as part of reading the settings
(prefork/config.py ``load``), so that a bad certificate, key or password is
a bad setting: one line and exit code 2 at start, and on HUP a failed reload
that keeps the old workers (and their certificate) serving. Workers forked
after a reload get the new context; connections already open keep theirs.
Built before forking, one context serves every worker: they share its
session ticket keys, so a client resumes its session on any worker (the
keys are new with each reload).

Which listeners speak TLS: prefork/master/sockets.py ``listener_roles``.

Invariants: this module is imported only when TLS is configured (a plain
server never loads ``ssl``); the key is never read through OpenSSL's
terminal prompt (a password callback is always given, so an encrypted key
without ``--keyfile-password-file`` is an error, not a hung start).
"""
import ssl

from prefork.config import ConfigError
from prefork.master.sockets import bind_scheme

_VERSIONS = {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}
_CLIENT_CERT = {"none": ssl.CERT_NONE, "optional": ssl.CERT_OPTIONAL, "required": ssl.CERT_REQUIRED}
# The asgiref TLS extension's tls_version: the protocol's own number.
_VERSION_NUMBERS = {"TLSv1.2": 0x0303, "TLSv1.3": 0x0304}
# RFC 4514 §3 short names of the attribute types Python reports by long name.
_DN_NAMES = {"commonName": "CN", "localityName": "L", "stateOrProvinceName": "ST",
             "organizationName": "O", "organizationalUnitName": "OU", "countryName": "C",
             "streetAddress": "STREET", "domainComponent": "DC", "userId": "UID"}


class TLSConfig:
    """What every TLS connection of a generation of workers shares."""

    def __init__(self, context, server_cert_pem):
        self.context = context
        self.server_cert_pem = server_cert_pem      # the asgiref extension's server_cert
        # Exceptions of the non-blocking calls, looked up here so that the
        # compiled stream (prefork/http/_tls.pyx) never imports ssl itself.
        self.want_read = ssl.SSLWantReadError
        self.closed_errors = (ssl.SSLZeroReturnError, ssl.SSLEOFError)
        self.error = ssl.SSLError
        # The cipher suite's IANA number, for the asgiref TLS extension.
        self.cipher_ids = {c["name"]: c["id"] & 0xFFFF for c in context.get_ciphers()}

    def connection_environ(self, sslobj):
        return connection_environ(sslobj, self)

    def connection_scope_tls(self, sslobj):
        return connection_scope_tls(sslobj, self)


def load_tls(settings):
    """The TLSConfig the settings ask for, or None; ConfigError, naming the
    setting, for anything that cannot serve."""
    https_binds = [text for text in settings.bind if bind_scheme(text) == "https"]
    if not settings.certfile:
        for name in ("keyfile", "keyfile_password", "keyfile_password_file", "ca_certs"):
            if getattr(settings, name):
                raise ConfigError(f"--{name.replace('_', '-')}: given without --certfile; "
                                  "expected --certfile with it")
        if settings.client_cert != "none":
            raise ConfigError(f"--client-cert: {settings.client_cert!r} without --certfile; "
                              "expected --certfile and --ca-certs with it")
        if https_binds:
            raise ConfigError(f"--bind: {https_binds[0]!r} needs a certificate; expected "
                              "--certfile (and --keyfile) with an https:// address")
        return None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = _VERSIONS[settings.ssl_min_version]
    context.options |= ssl.OP_NO_RENEGOTIATION      # TLS 1.2: a client cannot make us redo the work
    try:
        context.set_ciphers(settings.ssl_ciphers)
    except ssl.SSLError:
        raise ConfigError(f"--ssl-ciphers: no cipher can be selected from {settings.ssl_ciphers!r}; "
                          "expected an OpenSSL cipher list such as ECDHE+AESGCM") from None
    _load_certificate(context, settings)
    _load_client_ca(context, settings)
    context.set_alpn_protocols(["http/1.1"])
    return TLSConfig(context, _first_certificate(settings.certfile))


def _load_certificate(context, settings):
    password = _read_password(settings.keyfile_password_file)
    if password is None and settings.keyfile_password:
        password = settings.keyfile_password.encode()
    asked = []

    def give_password():
        # Always a callback: without one OpenSSL would prompt on the terminal.
        asked.append(True)
        if password is None:
            raise ConfigError("--keyfile: the key is encrypted; expected its password "
                              "in --keyfile-password-file (or --keyfile-password)")
        return password

    keyfile = settings.keyfile or None
    try:
        context.load_cert_chain(settings.certfile, keyfile, password=give_password)
    except ConfigError:
        raise
    except FileNotFoundError as exc:
        which = "--keyfile" if keyfile and exc.filename == keyfile else "--certfile"
        raise ConfigError(f"{which}: file {exc.filename or settings.certfile!r} not found; "
                          "expected a PEM file") from None
    except (ssl.SSLError, OSError) as exc:
        raise ConfigError(_certificate_error(settings, exc, bool(asked))) from None


def _certificate_error(settings, exc, password_asked):
    reason = (getattr(exc, "reason", None) or "").upper()
    key = settings.keyfile or settings.certfile
    if reason == "KEY_VALUES_MISMATCH":
        return (f"--keyfile: the key in {key!r} does not match the certificate in "
                f"{settings.certfile!r}; expected the certificate's own key")
    if password_asked and reason in ("BAD_DECRYPT", "BAD_PASSWORD_READ", "PEM_LIB", ""):
        which = "--keyfile-password-file" if settings.keyfile_password_file else "--keyfile-password"
        return (f"{which}: the password does not decrypt the key in {key!r}; "
                "expected the key's own password")
    if isinstance(exc, PermissionError):
        return (f"--keyfile: cannot read {key!r} or {settings.certfile!r}: permission denied "
                "(after --user, HUP reads them as that user); expected readable PEM files")
    return (f"--certfile: cannot load the certificate {settings.certfile!r} with the key in "
            f"{key!r} ({exc.reason or exc}); expected PEM files with the certificate chain and "
            "its private key")


def _read_password(path):
    """The first line of the password file (nginx's ssl_password_file), or None."""
    if not path:
        return None
    try:
        with open(path, "rb") as f:
            return f.readline().rstrip(b"\r\n")
    except OSError as exc:
        raise ConfigError(f"--keyfile-password-file: cannot read {path!r} ({exc.strerror}); "
                          "expected a file whose first line is the key's password") from None


def _load_client_ca(context, settings):
    mode = settings.client_cert
    if settings.ca_certs:
        try:
            context.load_verify_locations(cafile=settings.ca_certs)
        except FileNotFoundError:
            raise ConfigError(f"--ca-certs: file {settings.ca_certs!r} not found; "
                              "expected a PEM file of CA certificates") from None
        except (ssl.SSLError, OSError) as exc:
            raise ConfigError(f"--ca-certs: cannot load {settings.ca_certs!r} "
                              f"({getattr(exc, 'reason', None) or exc}); "
                              "expected a PEM file of CA certificates") from None
    elif mode != "none":
        raise ConfigError(f"--client-cert: {mode!r} needs the CAs that sign client "
                          "certificates; expected --ca-certs FILE with it")
    context.verify_mode = _CLIENT_CERT[mode]


def _first_certificate(path):
    with open(path, "rb") as f:
        text = f.read().decode("ascii", "replace")
    begin = text.find("-----BEGIN CERTIFICATE-----")
    end = text.find("-----END CERTIFICATE-----", begin)
    if begin < 0 or end < 0:
        return None
    return text[begin:end + len("-----END CERTIFICATE-----")] + "\n"


# -- what the app sees of a TLS connection ------------------------------------

def connection_environ(sslobj, config):
    """The WSGI environ keys of a TLS connection, with the names Apache's
    mod_ssl (and so mod_wsgi) gives them: HTTPS, SSL_PROTOCOL, SSL_CIPHER,
    SSL_CLIENT_VERIFY and, with a client certificate, SSL_CLIENT_S_DN and
    SSL_CLIENT_I_DN (RFC 4514 strings, as nginx's $ssl_client_s_dn),
    SSL_CLIENT_M_SERIAL (hex) and SSL_CLIENT_CERT (PEM)."""
    cipher = sslobj.cipher()
    environ = {"wsgi.url_scheme": "https", "HTTPS": "on",
               "SSL_PROTOCOL": sslobj.version() or "", "SSL_CIPHER": cipher[0] if cipher else "",
               "SSL_CLIENT_VERIFY": "NONE"}
    cert = sslobj.getpeercert()
    if cert:
        environ.update(SSL_CLIENT_VERIFY="SUCCESS",
                       SSL_CLIENT_S_DN=dn_string(cert.get("subject", ())),
                       SSL_CLIENT_I_DN=dn_string(cert.get("issuer", ())),
                       SSL_CLIENT_M_SERIAL=cert.get("serialNumber", ""),
                       SSL_CLIENT_CERT=ssl.DER_cert_to_PEM_cert(sslobj.getpeercert(True)))
    return environ


def connection_scope_tls(sslobj, config):
    """``scope["extensions"]["tls"]`` (asgiref TLS extension 0.2). Python
    exposes the client's own certificate, not the chain it sent, so
    ``client_cert_chain`` holds that one certificate."""
    cert = sslobj.getpeercert()
    der = sslobj.getpeercert(True) if cert else None
    cipher = sslobj.cipher()
    return {
        "server_cert": config.server_cert_pem,
        "client_cert_chain": [ssl.DER_cert_to_PEM_cert(der)] if der else [],
        "client_cert_name": dn_string(cert.get("subject", ())) if cert else None,
        "client_cert_error": None,      # a certificate that fails verification fails the handshake
        "tls_version": _VERSION_NUMBERS.get(sslobj.version()),
        "cipher_suite": config.cipher_ids.get(cipher[0]) if cipher else None,
    }


def dn_string(rdns):
    """A distinguished name as ssl reports it (RDNs from the most general)
    -> its RFC 4514 string (the most specific first): "CN=client,O=Example"."""
    parts = []
    for rdn in reversed(rdns):
        parts.append("+".join(f"{_DN_NAMES.get(name, name)}={_dn_escape(value)}"
                              for name, value in rdn))
    return ",".join(parts)


def _dn_escape(value):
    """RFC 4514 §2.4."""
    out = []
    for i, ch in enumerate(value):
        if ch in ',+"\\<>;' or (ch == "#" and i == 0) or (ch == " " and i in (0, len(value) - 1)):
            out.append("\\" + ch)
        elif ch == "\0":
            out.append("\\00")
        else:
            out.append(ch)
    return "".join(out)
