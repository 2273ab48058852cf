"""Listening sockets: parse ``--bind`` addresses and bind them once, in the
master, before any worker is forked (workers inherit them).

Sources, in the order the master looks for them: sockets inherited from an
old master on USR2 (``PREFORK_INHERIT_FDS``), systemd socket activation
(``LISTEN_FDS``, see prefork/systemd.py), ``fd://N`` binds, and addresses
bound here. In ``--reuse-port`` mode the master only binds (to hold the
port) and each worker opens its own listening socket (``reuse_port_copy``).
"""
import os
import socket
import stat


class BindError(Exception):
    """An address could not be bound; the message names it."""


PROXY_PREFIX = "proxy+"


def bind_proxy(text):
    """Whether a bind asks for the PROXY protocol header (``proxy+`` before
    any form: ``proxy+https://HOST:PORT``, ``proxy+unix:PATH``...)."""
    return text.startswith(PROXY_PREFIX)


def bind_scheme(text):
    """"https" or "http" for a bind that names its scheme (``https://HOST:PORT``:
    TLS, ``http://HOST:PORT``: plain, whatever --certfile says), else None."""
    text = text.removeprefix(PROXY_PREFIX)
    for scheme in ("https", "http"):
        if text.startswith(scheme + "://"):
            return scheme
    return None


def parse_address(text):
    """``host:port``, ``[v6]:port``, ``:port``, ``unix:/path`` or ``fd://N``,
    the TCP forms optionally after ``http://`` or ``https://`` -> (family,
    address); family is None for ``fd://``; any of them after ``proxy+``.
    ValueError if malformed."""
    text = text.removeprefix(PROXY_PREFIX)
    scheme = bind_scheme(text)
    if scheme is not None:
        text = text[len(scheme) + 3:]
        if text.startswith(("unix:", "fd://")) or "/" in text:
            raise ValueError(text)      # a scheme names TCP addresses only
    if text.startswith("unix:"):
        path = text[5:]
        if not path:
            raise ValueError(text)
        return socket.AF_UNIX, path
    if text.startswith("fd://"):
        if not text[5:].isdigit():
            raise ValueError(text)
        return None, int(text[5:])
    if text.startswith("["):
        host, sep, port = text[1:].partition("]:")
        if not sep:
            raise ValueError(text)
        family = socket.AF_INET6
    else:
        host, sep, port = text.rpartition(":")
        if not sep:
            host, port = text, "8000"
        family = socket.AF_INET
        if ":" in host:
            raise ValueError(text)
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(text)
    return family, (host or "0.0.0.0", int(port))


def bind_socket(text, backlog, unix_mode="", reuse_port=False):
    """Create, bind and listen on one address (``fd://N``: adopt it)."""
    try:
        family, address = parse_address(text)
    except ValueError:
        raise BindError(f"--bind: invalid address {text!r}; expected [http:// or https://]HOST:PORT, "
                        "[IPV6]:PORT, unix:PATH or fd://N") from None
    if family is None:
        return adopt_fd(address, text)
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        if family == socket.AF_UNIX:
            _remove_stale(address)
        else:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if reuse_port:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind(address)
        if family == socket.AF_UNIX and unix_mode != "":
            os.chmod(address, unix_mode)
        # In reuse-port mode a listening master socket would get its share of
        # connections and never accept them; it only holds the port.
        if not (reuse_port and family != socket.AF_UNIX):
            sock.listen(backlog)
    except OSError as exc:
        sock.close()
        raise BindError(f"cannot listen on {text}: {exc.strerror or exc}") from None
    sock.set_inheritable(True)
    return sock


def _remove_stale(path):
    try:
        if stat.S_ISSOCK(os.stat(path).st_mode):
            os.unlink(path)      # a stale socket from an earlier run
    except FileNotFoundError:
        pass


def adopt_fd(fd, text=None):
    """A listening stream socket passed in as an open descriptor."""
    text = text or f"fd://{fd}"
    try:
        sock = socket.socket(fileno=fd)
    except OSError as exc:
        raise BindError(f"cannot use {text}: {exc.strerror or exc}") from None
    if sock.type != socket.SOCK_STREAM or \
            not sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN):
        sock.detach()
        raise BindError(f"cannot use {text}: not a listening stream socket")
    sock.set_inheritable(True)
    return sock


def reuse_port_copy(sock, backlog):
    """A worker's own SO_REUSEPORT listening socket on the master's address.
    Unix sockets are shared as they are (SO_REUSEPORT does not apply)."""
    if sock.family == socket.AF_UNIX:
        return sock
    own = socket.socket(sock.family, socket.SOCK_STREAM)
    own.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    own.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    if sock.family == socket.AF_INET6:
        own.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    own.bind(sock.getsockname()[:2])
    own.listen(backlog)
    return own


def listener_roles(settings, listeners):
    """For each listening socket, (tls, proxy): whether its connections
    speak TLS, and whether they start with a PROXY protocol header.
    ``https://`` binds are TLS, ``http://`` binds plain, and a bind without
    a scheme is TLS when there is a certificate and the socket is TCP
    (gunicorn's rule: with a certificate, every TCP address is TLS); unix
    sockets are plain. ``proxy+`` binds, or every bind with
    --proxy-protocol, read the PROXY header."""
    by_key, by_fd = {}, {}
    for text in settings.bind:
        family, address = parse_address(text)
        role = (bind_scheme(text), bind_proxy(text))
        if family is None:
            by_fd[address] = role
        else:
            by_key[address_key(text)] = role
    roles = []
    for sock in listeners:
        scheme, proxy = by_key.get(socket_key(sock), by_fd.get(sock.fileno(), (None, False)))
        tcp = sock.family in (socket.AF_INET, socket.AF_INET6)
        tls = tcp and (scheme == "https" or (scheme is None and settings.tls is not None))
        roles.append((tls, proxy or settings.proxy_protocol))
    return roles


def describe(sock, tls=False, proxy=False):
    """The address a socket listens on, as a --bind value (``https://`` for
    a TLS listener, ``proxy+`` for a PROXY protocol one)."""
    address = sock.getsockname()
    if proxy:
        return PROXY_PREFIX + describe(sock, tls)
    if tls:
        return "https://" + describe(sock)
    if sock.family == socket.AF_UNIX:
        return "unix:" + (address if isinstance(address, str) else repr(address))
    if sock.family == socket.AF_INET6:
        return f"[{address[0]}]:{address[1]}"
    return f"{address[0]}:{address[1]}"


# -- stopping a listener without losing what it queued ----------------------
#
# shutdown() of a listening TCP socket makes the kernel refuse new
# connections at once, but it also resets the connections queued and not
# yet accepted, whose clients may have sent a request. So the master first
# closes the door: a socket filter drops SYNs (a client connecting now
# retries after a second and is then refused), the handshakes under way
# complete, the workers accept what is queued; then the socket is shut
# down. A unix socket keeps its queue through shutdown(), so it is shut at
# once.

# Classic BPF, run on each TCP segment the listener receives (at the TCP
# header): drop a segment whose flags are SYN without ACK, keep the rest.
_DROP_SYN = ((0x30, 0, 0, 13),          # ldb [13]            TCP flags
             (0x54, 0, 0, 0x12),        # and #(SYN|ACK)
             (0x15, 0, 1, 0x02),        # jeq #SYN            -> drop
             (0x06, 0, 0, 0),           # ret #0              drop
             (0x06, 0, 0, 0xFFFFFFFF))  # ret #-1             keep
_SO_ATTACH_FILTER = 26
_TCP_INFO_UNACKED = 24                  # struct tcp_info: queued connections of a listener


def close_door(sock):
    """Stop taking new TCP connections, keeping the queued ones; False for
    a socket this does not apply to (unix)."""
    if sock.family == socket.AF_UNIX:
        return False
    import array
    import struct
    code = array.array("B", b"".join(struct.pack("HBBI", *op) for op in _DROP_SYN))
    program = struct.pack("HL", len(_DROP_SYN), code.buffer_info()[0])
    try:
        sock.setsockopt(socket.SOL_SOCKET, _SO_ATTACH_FILTER, program)
    except OSError:
        return False
    return True


def queued_connections(sock):
    """Connections a TCP listener has queued and no worker accepted yet."""
    if sock.family == socket.AF_UNIX:
        return 0
    try:
        info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 104)
    except OSError:
        return 0
    return int.from_bytes(info[_TCP_INFO_UNACKED:_TCP_INFO_UNACKED + 4], "little")


def shut_listener(sock):
    """Every process sharing the socket sees it at once: the kernel refuses
    new connections (workers see EPOLLHUP and stop accepting)."""
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass            # a --reuse-port holder that never listened


def close_listener(sock, unlink=True):
    """Close a listener; remove a unix socket's file unless another master
    (after USR2) still uses it."""
    if unlink and sock.family == socket.AF_UNIX:
        try:
            os.unlink(sock.getsockname())
        except (OSError, TypeError):
            pass
    sock.close()


def address_key(text):
    """A comparable key for a --bind value (None for fd://N)."""
    family, address = parse_address(text)
    if family is None:
        return None
    if family == socket.AF_UNIX:
        return (family, os.path.abspath(address))
    try:
        # An ASCII host goes as bytes: a str would load the idna codec
        # (with unicodedata) into the master and so into every worker.
        host = address[0].encode("ascii") if address[0].isascii() else address[0]
        info = socket.getaddrinfo(host, address[1], family, socket.SOCK_STREAM)
        return (family, info[0][4][0], address[1])
    except OSError:
        return (family, address[0], address[1])


def socket_key(sock):
    address = sock.getsockname()
    if sock.family == socket.AF_UNIX:
        return (sock.family, os.path.abspath(address) if isinstance(address, str) else address)
    return (sock.family, address[0], address[1])


def open_listeners(addresses, settings, existing=()):
    """Listeners for ``addresses``, reusing sockets in ``existing`` (the
    running set on HUP, or the old master's on USR2) whose address matches.
    Returns (listeners, the existing sockets no longer wanted).
    BindError names the first address that fails; sockets bound by this
    call are closed then."""
    spare = {socket_key(sock): sock for sock in existing}
    listeners, fresh = [], []
    try:
        for text in addresses:
            key = address_key(text)
            if key is not None and key in spare:
                listeners.append(spare.pop(key))
                continue
            sock = bind_socket(text, settings.backlog, settings.unix_socket_mode,
                               settings.reuse_port)
            fresh.append(sock)
            listeners.append(sock)
    except BindError:
        for sock in fresh:
            close_listener(sock)
        raise
    return listeners, list(spare.values())
