#!/usr/bin/env python3
"""A TCP port forwarder that moves, like a virtual IP after a failover (tests only).
usage: tcpforward.py LISTEN_PORT TARGET_FILE
Every new connection goes to 127.0.0.1:PORT, PORT read from TARGET_FILE at that moment. When the
file names another port, every open connection is closed (the address moved).
"""
import os
import socket
import sys
import threading
import time

conns = []
lock = threading.Lock()


def target(path):
    try:
        return int(open(path).read().strip())
    except (OSError, ValueError):
        return None


def pipe(a, b):
    try:
        while True:
            data = a.recv(65536)
            if not data:
                break
            b.sendall(data)
    except OSError:
        pass
    for s in (a, b):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def watch(path):
    last = target(path)
    while True:
        time.sleep(0.1)
        now = target(path)
        if now != last:
            with lock:
                for s in conns:
                    try:
                        s.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
                conns.clear()
            last = now


def main():
    port, path = int(sys.argv[1]), sys.argv[2]
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", port))
    srv.listen(64)
    threading.Thread(target=watch, args=(path,), daemon=True).start()
    print("listening", flush=True)
    while True:
        c, _ = srv.accept()
        t = target(path)
        try:
            u = socket.create_connection(("127.0.0.1", t), timeout=5)
            u.settimeout(None)
        except (OSError, TypeError):
            c.close()
            continue
        with lock:
            conns.extend([c, u])
        threading.Thread(target=pipe, args=(c, u), daemon=True).start()
        threading.Thread(target=pipe, args=(u, c), daemon=True).start()


if __name__ == "__main__":
    main()
