"""permessage-deflate (RFC 7692): the negotiation in the opening handshake,
and each message's compression and inflation with zlib.

The server accepts the first offer it can honour (§5.1) and answers with
the parameters that bind it:
- ``server_no_context_takeover`` offered: each message is compressed
  from a fresh state (§7.1.1.1), and the answer says so;
- ``client_no_context_takeover`` offered: echoed (§7.1.1.2); the inflater
  keeps its window anyway, which decodes either way;
- ``server_max_window_bits=N`` offered: the answer carries it and the
  compressor's window is at most N bits (§7.1.2.1); N=8 is declined, since
  zlib's raw deflate widens an 8-bit window to 9;
- ``client_max_window_bits``: the client's window is at most 15 bits,
  which the inflater always allows; the answer leaves it out (§7.1.2.2: MAY).
An offer with an unknown, repeated or malformed parameter is declined
(§7.1: "MUST decline"), and the next one is tried.

Invariants: the compressor uses at most a 4 KiB window and memLevel 5
unless the client asks for less (about 40 KiB per connection, not 256 KiB,
as the websockets library does); messages under MIN_COMPRESS bytes go out
uncompressed (RSV1 clear, which §6 allows), since deflate only makes them
longer.
"""
import zlib

from prefork.websocket._frames import ProtocolError

# §7.2.1: the empty stored block that ends each compressed message, which
# the sender strips and the receiver appends.
TAIL = b"\x00\x00\xff\xff"
SERVER_WINDOW_BITS = 12
MEM_LEVEL = 5
MIN_COMPRESS = 64
PARAMETERS = ("server_no_context_takeover", "client_no_context_takeover",
              "server_max_window_bits", "client_max_window_bits")


def parse_extensions(values):
    """Sec-WebSocket-Extensions values -> [(name, [(param, value or None)])]
    (RFC 6455 §9.1 grammar; a quoted value is unquoted)."""
    offers = []
    for value in values:
        for item in split_outside_quotes(value, ","):
            parts = split_outside_quotes(item, ";")
            name = parts[0].strip().lower()
            if not name:
                continue
            params = []
            for part in parts[1:]:
                key, eq, val = part.partition("=")
                val = val.strip()
                if len(val) >= 2 and val[0] == '"' and val[-1] == '"':
                    val = val[1:-1]
                params.append((key.strip().lower(), val if eq else None))
            offers.append((name, params))
    return offers


def split_outside_quotes(text, sep):
    parts, current, quoted = [], [], False
    for ch in text:
        if ch == '"':
            quoted = not quoted
        if ch == sep and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return parts


def window_bits(value):
    """8-15 without leading zeros (§7.1.2), else None."""
    if value is None or not value.isdigit() or value != str(int(value)):
        return None
    bits = int(value)
    return bits if 8 <= bits <= 15 else None


def negotiate(values):
    """The first acceptable permessage-deflate offer among the request's
    Sec-WebSocket-Extensions ``values``: (response value, PerMessageDeflate),
    or (None, None) when there is none."""
    for name, params in parse_extensions(values):
        if name != "permessage-deflate":
            continue
        agreed = accept_offer(params)
        if agreed is not None:
            return agreed
    return None, None


def accept_offer(params):
    names = [key for key, _ in params]
    if len(set(names)) != len(names) or any(key not in PARAMETERS for key in names):
        return None
    given = dict(params)
    answer = ["permessage-deflate"]
    server_bits = SERVER_WINDOW_BITS
    for flag in ("server_no_context_takeover", "client_no_context_takeover"):
        if flag in given:
            if given[flag] is not None:
                return None
            answer.append(flag)
    if "server_max_window_bits" in given:
        bits = window_bits(given["server_max_window_bits"])
        if bits is None or bits == 8:
            return None
        server_bits = min(server_bits, bits)
        answer.append(f"server_max_window_bits={bits}")
    if "client_max_window_bits" in given and given["client_max_window_bits"] is not None \
            and window_bits(given["client_max_window_bits"]) is None:
        return None
    return "; ".join(answer), PerMessageDeflate(server_bits, "server_no_context_takeover" in given)


class PerMessageDeflate:
    """One connection's compressor and inflater."""

    def __init__(self, window_bits=SERVER_WINDOW_BITS, no_context_takeover=False):
        self.window_bits = window_bits
        self.no_context_takeover = no_context_takeover
        self.compressor = None
        self.inflater = zlib.decompressobj(-15)

    def compress(self, data):
        """The message's compressed payload (tail stripped), or None when it
        goes out as it is."""
        if len(data) < MIN_COMPRESS:
            return None
        compressor = self.compressor
        if compressor is None or self.no_context_takeover:
            compressor = zlib.compressobj(6, zlib.DEFLATED, -self.window_bits, MEM_LEVEL)
            if not self.no_context_takeover:
                self.compressor = compressor
        out = compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH)
        return out[:-4] if out.endswith(TAIL) else out

    def decompress(self, data, room, final):
        """Inflate one frame's payload, at most ``room`` bytes; ``final``:
        the message's last frame. ProtocolError 1009 past ``room``, 1007
        for data that is not a deflate stream."""
        inflater = self.inflater
        try:
            out = inflater.decompress(data, room + 1)
            if final and len(out) <= room and not inflater.unconsumed_tail:
                out += inflater.decompress(TAIL, room + 1 - len(out))
        except zlib.error as exc:
            raise ProtocolError(1007, f"invalid compressed data: {exc}") from None
        if len(out) > room or inflater.unconsumed_tail:
            raise ProtocolError(1009, "message over the size limit once inflated")
        if inflater.eof:
            # The sender ended its stream (BFINAL): the next message starts a new one.
            self.inflater = zlib.decompressobj(-15)
        return out
