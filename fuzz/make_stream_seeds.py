#!/usr/bin/env python3
"""Write seeds for the `stream` fuzz target: midstream pickups that the
reassembly's start correction restarts (forged first data, a deciding ACK,
then ordinary HTTP), so the fuzzer starts next to the restart paths of the
HTTP session instead of having to build a TCP conversation byte by byte.

Usage (from the repository root):
    python3 fuzz/make_stream_seeds.py fuzz/seeds/stream

Frame format of the target: u16 LE length, then a raw IPv4 packet.
Checksums are left zero: the decoder does not verify them.
"""
import hashlib
import os
import struct
import sys

CLIENT = bytes([10, 0, 0, 1])
SERVER = bytes([10, 0, 0, 2])
CPORT, SPORT = 40000, 80
C_ISN, S_ISN = 0x1000, 0x9000_0000
FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10


def packet(from_client, seq, ack, flags, payload=b""):
    src, dst = (CLIENT, SERVER) if from_client else (SERVER, CLIENT)
    sport, dport = (CPORT, SPORT) if from_client else (SPORT, CPORT)
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF,
                      ack & 0xFFFFFFFF, 5 << 4, flags, 65535, 0, 0)
    total = 20 + len(tcp) + len(payload)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, total, 0, 0, 64, 6, 0, src, dst)
    return ip + tcp + payload


class Conv:
    """One connection seen from its middle: `c` and `s` are the next
    sequence numbers of client and server."""

    def __init__(self):
        self.c, self.s = C_ISN, S_ISN
        self.frames = []

    def client(self, data, flags=PSH | ACK, seq=None, ack=None):
        at = self.c if seq is None else seq
        self.frames.append(packet(True, at, self.s if ack is None else ack, flags, data))
        if seq is None:
            self.c += len(data) + (1 if flags & FIN else 0)

    def server(self, data, flags=PSH | ACK, seq=None, ack=None):
        at = self.s if seq is None else seq
        self.frames.append(packet(False, at, self.c if ack is None else ack, flags, data))
        if seq is None:
            self.s += len(data) + (1 if flags & FIN else 0)

    def bytes(self):
        return b"".join(struct.pack("<H", len(f)) + f for f in self.frames)


ATTACK = b"GET /search?q=%27%20UNION%20SELECT%20password%20FROM%20users-- HTTP/1.1\r\nHost: a\r\n\r\n"
PLAIN = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"
RESP = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
FORGED_HEAD = b"POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 400\r\n\r\n"


def forged_client_head():
    """Forged client bytes far below the real request; the server's ACK
    of the real request restarts the client side."""
    v = Conv()
    v.client(FORGED_HEAD, seq=C_ISN - 5000)
    v.client(ATTACK)
    v.server(RESP)
    v.client(PLAIN)
    v.server(RESP, flags=PSH | ACK | FIN)
    v.client(b"", flags=ACK | FIN)
    return v


def forged_server_request():
    """Forged server-side first data that looks like a request (roles)."""
    v = Conv()
    v.server(b"GET /forged HTTP/1.1\r\nHost: a\r\n\r\n", seq=S_ISN - 9000)
    v.client(ATTACK)
    v.server(RESP)
    v.client(PLAIN)
    v.server(RESP)
    return v


def forged_connect():
    """A forged CONNECT before the real request, then the server's 200."""
    v = Conv()
    v.client(b"CONNECT evil:443 HTTP/1.1\r\nHost: evil\r\n\r\n", seq=C_ISN - 3000)
    v.client(ATTACK)
    v.server(b"HTTP/1.1 200 Connection established\r\n\r\n")
    v.client(PLAIN)
    v.server(RESP)
    return v


def restart_mid_chunked():
    """The real request is a chunked upload; forged data first."""
    v = Conv()
    v.client(b"GET /a HTTP/1.1\r\nHost: a\r\n\r\n", seq=C_ISN + 70000)
    v.client(b"POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n")
    v.client(b"5\r\nhello\r\n")
    v.server(b"", flags=ACK)
    v.client(b"1a\r\n<script>alert(1)</script>\r\n0\r\n\r\n")
    v.server(RESP)
    return v


def forged_server_response():
    """Forged server first data (a response), then the real answer."""
    v = Conv()
    v.client(PLAIN)
    v.server(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n", seq=S_ISN - 700)
    v.server(RESP)
    v.client(ATTACK)
    v.server(RESP)
    return v


def loss_at_pickup():
    """Capture loss: the second request is seen before the first."""
    v = Conv()
    first = PLAIN
    v.client(ATTACK, seq=C_ISN + len(first))
    v.client(first, seq=C_ISN)
    v.c = C_ISN + len(first) + len(ATTACK)
    v.server(RESP)
    v.server(RESP)
    return v


def pipelined_then_rst():
    """A provisional side sends an RST; its later data resumes the flow."""
    v = Conv()
    v.client(FORGED_HEAD, seq=C_ISN - 100)
    v.client(b"", flags=RST, seq=C_ISN - 100 + len(FORGED_HEAD))
    v.client(ATTACK + PLAIN)
    v.server(RESP + RESP)
    return v


SCENARIOS = [forged_client_head, forged_server_request, forged_connect,
             restart_mid_chunked, forged_server_response, loss_at_pickup,
             pipelined_then_rst]


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "fuzz/seeds/stream"
    os.makedirs(out, exist_ok=True)
    for make in SCENARIOS:
        seed = make().bytes()
        name = f"{make.__name__}-{hashlib.sha1(seed).hexdigest()[:8]}"
        with open(os.path.join(out, name), "wb") as f:
            f.write(seed)
        print(name, len(seed))


if __name__ == "__main__":
    main()
