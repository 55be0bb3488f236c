#!/usr/bin/env python3
"""Flood an HTTP endpoint with idle connections (issue 14): keep N connections open to HOST:PORT,
each having sent a partial request for /metrics and nothing more, reopening those the server
closes, for SECONDS. Prints "opened=N closed_by_server=N peak=N" at the end.

usage: http_flood.py HOST PORT N SECONDS
"""
import selectors
import socket
import sys
import time


def main():
    host, port, want, secs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
    sel = selectors.DefaultSelector()
    opened = closed = peak = 0
    live = set()
    end = time.monotonic() + secs
    while time.monotonic() < end:
        while len(live) < want:
            s = socket.socket()
            try:
                s.connect((host, port))
                s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
            except OSError:
                s.close()
                break
            s.setblocking(False)
            sel.register(s, selectors.EVENT_READ)
            live.add(s)
            opened += 1
        peak = max(peak, len(live))
        for key, _ in sel.select(timeout=0.1):
            s = key.fileobj
            try:
                data = s.recv(4096)
            except OSError:
                data = b""
            if not data:
                sel.unregister(s)
                s.close()
                live.discard(s)
                closed += 1
    for s in live:
        s.close()
    print("opened=%d closed_by_server=%d peak=%d" % (opened, closed, peak))


if __name__ == "__main__":
    main()
