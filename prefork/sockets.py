"""Listening sockets: parse ``--bind`` addresses and bind them once, in the
master, before any worker is forked (workers inherit them)."""
import os
import socket
import stat


class BindError(Exception):
    """An address could not be bound; the message names it."""


def parse_address(text):
    """``host:port``, ``[v6]:port``, ``:port`` or ``unix:/path`` ->
    (family, address). ValueError if malformed."""
    if text.startswith("unix:"):
        path = text[5:]
        if not path:
            raise ValueError(text)
        return socket.AF_UNIX, path
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


def bind_socket(text, backlog):
    """Create, bind and listen on one address."""
    try:
        family, address = parse_address(text)
    except ValueError:
        raise BindError(f"--bind: invalid address {text!r}; expected HOST:PORT, [IPV6]:PORT "
                        "or unix:PATH") from None
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        if family == socket.AF_UNIX:
            try:
                if stat.S_ISSOCK(os.stat(address).st_mode):
                    os.unlink(address)      # a stale socket from an earlier run
            except FileNotFoundError:
                pass
        else:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind(address)
        sock.listen(backlog)
    except OSError as exc:
        sock.close()
        raise BindError(f"cannot listen on {text}: {exc.strerror or exc}") from None
    sock.set_inheritable(True)
    return sock


def describe(sock):
    """The address a socket listens on, as a --bind value."""
    address = sock.getsockname()
    if sock.family == socket.AF_UNIX:
        return "unix:" + address
    if sock.family == socket.AF_INET6:
        return f"[{address[0]}]:{address[1]}"
    return f"{address[0]}:{address[1]}"
