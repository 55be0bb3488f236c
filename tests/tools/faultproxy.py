#!/usr/bin/env python3
"""A fault-injecting HTTP/1.1 proxy for binvault's storage tests.

usage: faultproxy.py LISTEN_PORT UPSTREAM_HOST UPSTREAM_PORT CONTROL_FILE [CERT KEY]

With CERT and KEY it listens with TLS (a TLS front for a plain-HTTP store).

Forwards every request to the upstream store and relays the answer, except while the control
file asks for faults. The control file holds lines "MODE COUNT [ARG]"; each matching request
consumes one from the first line's COUNT (the file is rewritten), and a line reaching 0 is
removed. MODE is one of:

  status CODE     answer CODE (500, 503, 429 ...) with an S3-style XML error, without forwarding
  reset           read the request head and half the body, then reset the connection
  hang SECONDS    read the request, then say nothing for SECONDS (a stalled transfer)
  lost            forward the request (the store commits it), then close without answering
  slow BYTES/S    forward, but trickle the request body at BYTES per second

Only PUT, POST and GET requests are faulted when the line says so: "MODE COUNT [ARG] [METHOD]".
Counts of injected faults are appended to CONTROL_FILE.log, one line per fault.
"""
import os
import socket
import socketserver
import struct
import sys
import threading
import time

LOCK = threading.Lock()


def take_fault(control, method):
    """The fault for this request (mode, arg) or None; consumes one count."""
    with LOCK:
        try:
            lines = [l.split() for l in open(control).read().splitlines() if l.strip()]
        except FileNotFoundError:
            return None
        for i, parts in enumerate(lines):
            mode, count = parts[0], int(parts[1])
            arg = parts[2] if len(parts) > 2 and not parts[2].isalpha() else None
            want = parts[-1] if parts[-1].isalpha() and parts[-1].isupper() else None
            if want and want != method:
                continue
            count -= 1
            if count <= 0:
                del lines[i]
            else:
                parts[1] = str(count)
            with open(control + ".tmp", "w") as f:
                f.write("".join(" ".join(p) + "\n" for p in lines))
            os.replace(control + ".tmp", control)
            with open(control + ".log", "a") as f:
                f.write(f"{mode} {method}\n")
            return mode, arg
        return None


def read_head(rfile):
    line = rfile.readline(65536)
    if not line:
        return None, None
    headers = []
    while True:
        h = rfile.readline(65536)
        if h in (b"\r\n", b"\n", b""):
            break
        headers.append(h)
    return line, headers


def header(headers, name):
    name = name.lower().encode()
    for h in headers:
        k, _, v = h.partition(b":")
        if k.strip().lower() == name:
            return v.strip()
    return None


def read_body(rfile, headers):
    n = header(headers, "content-length")
    if n is not None:
        return rfile.read(int(n))
    if (header(headers, "transfer-encoding") or b"").lower() == b"chunked":
        out = b""
        while True:
            size = int(rfile.readline().split(b";")[0], 16)
            if size == 0:
                rfile.readline()
                return out
            out += rfile.read(size)
            rfile.readline()
    return b""


def reset(sock):
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


class Handler(socketserver.StreamRequestHandler):
    def handle(self):
        up = None
        try:
            while True:
                line, headers = read_head(self.rfile)
                if line is None:
                    return
                method = line.split()[0].decode()
                expect = header(headers, "expect")
                if expect and expect.lower() == b"100-continue":
                    self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
                    self.wfile.flush()
                    headers = [h for h in headers if not h.lower().startswith(b"expect:")]
                fault = take_fault(self.server.control, method)
                if fault and fault[0] == "reset":
                    n = header(headers, "content-length")
                    if n:
                        self.rfile.read(int(n) // 2)
                    reset(self.connection)
                    return
                body = read_body(self.rfile, headers)
                if fault and fault[0] == "status":
                    code = int(fault[1] or 503)
                    xml = (f"<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>"
                           f"{'SlowDown' if code in (429, 503) else 'InternalError'}</Code>"
                           f"<Message>injected by faultproxy</Message></Error>").encode()
                    self.wfile.write(f"HTTP/1.1 {code} Injected\r\nContent-Type: application/xml\r\n"
                                     f"Content-Length: {len(xml)}\r\n\r\n".encode() + xml)
                    self.wfile.flush()
                    continue
                if fault and fault[0] == "hang":
                    time.sleep(float(fault[1] or 30))
                    reset(self.connection)
                    return
                if up is None:
                    up = socket.create_connection((self.server.upstream_host, self.server.upstream_port))
                    upr = up.makefile("rb")
                head = line + b"".join(headers) + b"\r\n"
                if fault and fault[0] == "slow":
                    rate = max(1, int(fault[1] or 1024))
                    up.sendall(head)
                    for i in range(0, len(body), rate):
                        up.sendall(body[i:i + rate])
                        time.sleep(1)
                else:
                    up.sendall(head + body)
                rline, rheaders = read_head(upr)
                if rline is None:
                    reset(self.connection)
                    return
                code = int(rline.split()[1])
                if method == "HEAD" or code in (204, 304) or 100 <= code < 200:
                    rbody = b""
                else:
                    rbody = read_body(upr, rheaders)
                if fault and fault[0] == "lost":
                    reset(self.connection)
                    return
                out = [h for h in rheaders if not h.lower().startswith(b"transfer-encoding:")]
                if header(rheaders, "content-length") is None and method != "HEAD":
                    out.append(f"Content-Length: {len(rbody)}\r\n".encode())
                self.wfile.write(rline + b"".join(out) + b"\r\n" + rbody)
                self.wfile.flush()
        except (ConnectionError, OSError, ValueError):
            return
        finally:
            if up is not None:
                up.close()


class Server(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    port, uhost, uport, control = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]
    srv = Server(("127.0.0.1", port), Handler)
    if len(sys.argv) > 6:
        import ssl
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(sys.argv[5], sys.argv[6])
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    srv.upstream_host, srv.upstream_port, srv.control = uhost, uport, control
    print(f"faultproxy listening on 127.0.0.1:{srv.server_address[1]}", flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
