"""Documentation of the proxy fields (prefork/http/_forwarded.pyx):
--forwarded-allow-ips and what a trusted peer's X-Forwarded-For, -Proto,
-Host, -Port and RFC 7239 Forwarded fields say about a request."""
from typing import Optional, Tuple

from prefork._speedups import Request

def normalize_allow_list(value: object) -> str:
    """The setting's value (text with commas, or a list) as normalized
    text: canonical addresses, ``ADDR/PREFIX`` networks with host bits
    cleared, ``*`` and ``unix``. ValueError for anything else."""

def parse_network(text: str) -> Tuple[int, int, int]:
    """``ADDR[/PREFIX]`` -> (address family, network as an int, prefix)."""

class Forwarded:
    """What a trusted proxy said about one request; None where it said
    nothing (or said it in the wrong form)."""
    client: Optional[str]       # REMOTE_ADDR / scope["client"][0]
    client_port: int            # REMOTE_PORT / scope["client"][1]; 0 when not said
    scheme: Optional[str]       # "http" or "https": wsgi.url_scheme / scope["scheme"]
    host: Optional[str]         # HTTP_HOST (and SERVER_NAME) / the host header
    port: Optional[str]         # SERVER_PORT / scope["server"][1]
    def as_dict(self) -> dict: ...

class TrustedPeers:
    """The peers --forwarded-allow-ips names (its normalized text)."""
    any_peer: bool              # "*": every peer, unix ones included
    unix_peers: bool            # "unix": unix-socket peers
    def __init__(self, spec: str) -> None: ...
    def trusts(self, address: str, tcp: bool = True) -> bool:
        """Whether a peer may speak for its clients (an IPv4-mapped IPv6
        address counts as its IPv4 address)."""
    def in_networks(self, address: str) -> bool: ...
    def resolve_request(self, req: Request) -> Optional[Forwarded]:
        """What a trusted peer's fields say about ``req`` (None: no field,
        or none in a usable form). X-Forwarded-* win over Forwarded."""
