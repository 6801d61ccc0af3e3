#!/usr/bin/env python3
"""Fault-injecting proxies for outage tests against the local stack (standard library only).

HTTP mode, a reverse proxy in front of the moto endpoint:

    faultproxy.py http --listen 127.0.0.1:45670 --upstream http://127.0.0.1:45660 [--control 127.0.0.1:C]

  Point an AWS client at http://127.0.0.1:45670 instead of moto. Requests are forwarded
  unchanged (Host header included, so SigV4 signatures stay valid). Every request gets a
  label "service:Operation", e.g. glue:GetSchemaVersion, dynamodb:BatchWriteItem,
  sts:AssumeRole, secretsmanager:GetSecretValue, sqs:SendMessage: the service comes from
  the SigV4 credential scope, the operation from X-Amz-Target or the query Action.
  Modes:
    pass      forward (default)
    throttle  HTTP 400 throttling error, never forwarded. JSON-protocol requests (those with
              X-Amz-Target: Glue, DynamoDB, Secrets Manager, SQS) get
              {"__type":"ThrottlingException","message":"Rate exceeded"} with header
              x-amzn-ErrorType: ThrottlingException; query-protocol requests (STS, IAM) get
              the XML error with code "Throttling". Both codes are in the AWS SDKs' throttling
              lists (Rust: aws_runtime::retries::classifiers::THROTTLING_ERRORS; botocore too).
              "code" overrides the error code (e.g. ProvisionedThroughputExceededException).
    503       HTTP 503 ServiceUnavailable (a transient server error for the SDKs)
    refuse    read the request, then reset the connection without an answer
    delay     wait "delay_ms" before forwarding (client timeouts)
  The control endpoint is served on the proxy port itself (and on --control if given):
    POST /__fault__            {"mode": "throttle", "match": "dynamodb", "count": 3}
                               "match": pattern or list of patterns, case-insensitive:
                                 a service name ("dynamodb", "glue", "sts"), a glob on the
                                 label ("glue:Get*", "glue:GetSchemaVersion"), or on the
                                 X-Amz-Target ("AWSGlue.GetSchemaVersion"); absent = all
                               "count": fault only the next N matching requests
                               "for_seconds": fault matching requests for S seconds
                               after either runs out the mode goes back to "pass"
    GET  /__fault__            current fault and counters
    GET  /__fault__/counters   {"passed": {label: n}, "faulted": {label: n}, ...}
    POST /__fault__/reset      mode pass, counters zero
  Requests under /moto-api/ always pass and are not counted.

TCP mode, a plain TCP proxy (e.g. in front of the Kafka broker):

    faultproxy.py tcp --listen 127.0.0.1:P --upstream 127.0.0.1:Q --control 127.0.0.1:C

  Same control endpoint on the --control port. Modes: "pass"; "refuse" closes every open
  connection and the listening socket, so new connections are refused (ECONNREFUSED), until
  "for_seconds" has passed or mode "pass" is set; "drop" closes every open connection once
  and goes on accepting. Counters: connections accepted, refused/dropped, open, bytes.
  Kafka clients connect to the broker's *advertised* address after bootstrapping, so the
  broker must advertise the proxy's address: `KAFKA_PROXY_PORT=P scripts/stack.sh up`
  starts tansu advertising 127.0.0.1:P and this proxy on P.

Both modes print one line "faultproxy ready ..." when listening, and stop on SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import fnmatch
import http.client
import json
import re
import signal
import socket
import struct
import sys
import threading
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HTTP_MODES = ("pass", "throttle", "503", "refuse", "delay")
TCP_MODES = ("pass", "refuse", "drop")
CONTROL = "/__fault__"
_SCOPE = re.compile(r"Credential=[^/,\s]+/\d{8}/[^/]+/([^/]+)/aws4_request")

# Services that sign with one name but whose X-Amz-Target prefix differs.
_TARGET_SERVICE = {"awsglue": "glue", "secretsmanager": "secretsmanager", "amazonsqs": "sqs",
                   "awssecuritytokenservicev20110615": "sts"}


def parse_hostport(s: str) -> tuple[str, int]:
    host, _, port = s.rpartition(":")
    if host not in ("127.0.0.1", "localhost"):
        raise argparse.ArgumentTypeError(f"{s}: only 127.0.0.1 is allowed")
    return "127.0.0.1", int(port)


class Fault:
    """The current fault and the counters; thread-safe."""

    def __init__(self, modes: tuple[str, ...]):
        self.modes = modes
        self.lock = threading.Lock()
        self.listeners: list = []  # callbacks run (outside the lock) when the mode changes
        self.gauges: dict = {}  # name -> callable, reported with the counters
        self.after_configure = None  # called by the control API once a change is applied
        self.allow_count = True
        self._set_pass()
        self.passed: dict[str, int] = {}
        self.faulted: dict[str, int] = {}
        self.extra: dict[str, int] = {}

    def _set_pass(self):
        self.mode, self.match, self.remaining, self.until = "pass", None, None, None
        self.delay_ms, self.code = 0, None

    def configure(self, spec: dict) -> dict:
        mode = str(spec.get("mode", "pass"))
        if mode not in self.modes:
            raise ValueError(f"mode must be one of {', '.join(self.modes)}")
        match = spec.get("match")
        if isinstance(match, str):
            match = [match]
        if match is not None and not (isinstance(match, list) and all(isinstance(m, str) for m in match)):
            raise ValueError("match must be a string or a list of strings")
        count = spec.get("count")
        if count is not None and (not isinstance(count, int) or count < 0):
            raise ValueError("count must be a non-negative integer")
        if count is not None and not self.allow_count:
            raise ValueError("count is not supported here: use for_seconds")
        secs = spec.get("for_seconds")
        if secs is not None and (not isinstance(secs, (int, float)) or secs < 0):
            raise ValueError("for_seconds must be a non-negative number")
        delay_ms = spec.get("delay_ms", 1000)
        if not isinstance(delay_ms, (int, float)) or delay_ms < 0:
            raise ValueError("delay_ms must be a non-negative number")
        with self.lock:
            self._set_pass()
            if mode != "pass" and count != 0:
                self.mode = mode
                self.match = [m.lower() for m in match] if match else None
                self.remaining = count
                self.until = time.monotonic() + secs if secs is not None else None
                self.delay_ms = int(delay_ms)
                self.code = spec.get("code")
            state = self._state_locked()
        for cb in list(self.listeners):
            cb(mode)
        return state

    def expire(self) -> bool:
        """Back to pass if the time ran out. True if that happened now."""
        with self.lock:
            if self.mode != "pass" and self.until is not None and time.monotonic() >= self.until:
                self._set_pass()
                changed = True
            else:
                changed = False
        if changed:
            for cb in list(self.listeners):
                cb("pass")
        return changed

    def matches(self, label: str, target: str) -> bool:
        if self.match is None:
            return True
        service = label.split(":", 1)[0]
        for m in self.match:
            if ":" not in m and "." not in m and not any(c in m for c in "*?[") and m == service:
                return True
            if fnmatch.fnmatchcase(label.lower(), m) or (target and fnmatch.fnmatchcase(target.lower(), m)):
                return True
        return False

    def decide(self, label: str, target: str = "") -> tuple[str, int, str | None]:
        """(mode, delay_ms, code) for one request, counting it."""
        self.expire()
        with self.lock:
            mode = "pass"
            if self.mode != "pass" and self.matches(label, target):
                mode = self.mode
                if self.remaining is not None:
                    self.remaining -= 1
                    if self.remaining <= 0:
                        delay, code = self.delay_ms, self.code
                        self._set_pass()
                        self._count(label, mode)
                        return mode, delay, code
            self._count(label, mode)
            return mode, self.delay_ms, self.code

    def _count(self, label: str, mode: str):
        # "delay" still forwards: count it as passed (and as faulted).
        if mode in ("pass", "delay"):
            self.passed[label] = self.passed.get(label, 0) + 1
        if mode != "pass":
            self.faulted[label] = self.faulted.get(label, 0) + 1

    def bump(self, key: str, n: int = 1):
        with self.lock:
            self.extra[key] = self.extra.get(key, 0) + n

    def reset(self) -> dict:
        self.configure({"mode": "pass"})
        with self.lock:
            self.passed.clear()
            self.faulted.clear()
            self.extra.clear()
            return self._state_locked()

    def _state_locked(self) -> dict:
        left = None
        if self.until is not None:
            left = max(0.0, round(self.until - time.monotonic(), 3))
        return {"mode": self.mode, "match": self.match, "remaining": self.remaining,
                "seconds_left": left, "delay_ms": self.delay_ms if self.mode == "delay" else None,
                **self._counters_locked()}

    def _counters_locked(self) -> dict:
        return {"passed": dict(self.passed), "faulted": dict(self.faulted),
                "total_passed": sum(self.passed.values()),
                "total_faulted": sum(self.faulted.values()), **dict(self.extra),
                **{name: gauge() for name, gauge in self.gauges.items()}}

    def state(self) -> dict:
        self.expire()
        with self.lock:
            return self._state_locked()

    def counters(self) -> dict:
        with self.lock:
            return self._counters_locked()


# ---------------------------------------------------------------------------- control API

class ControlMixin:
    """Serves /__fault__ on a BaseHTTPRequestHandler. Returns True if it handled the request."""

    fault: Fault

    def _json(self, status: int, obj) -> None:
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def handle_control(self, body: bytes) -> bool:
        path = urllib.parse.urlsplit(self.path).path.rstrip("/")
        if path != CONTROL and not path.startswith(CONTROL + "/"):
            return False
        try:
            if self.command == "GET" and path == CONTROL:
                self._json(200, self.fault.state())
            elif self.command == "GET" and path == CONTROL + "/counters":
                self._json(200, self.fault.counters())
            elif self.command == "POST" and path == CONTROL:
                spec = json.loads(body or b"{}")
                if not isinstance(spec, dict):
                    raise ValueError("body must be a JSON object")
                self.fault.configure(spec)
                if self.fault.after_configure:
                    self.fault.after_configure()
                self._json(200, self.fault.state())
            elif self.command == "POST" and path in (CONTROL + "/reset", CONTROL + "/counters/reset"):
                self.fault.reset()
                if self.fault.after_configure:
                    self.fault.after_configure()
                self._json(200, self.fault.state())
            else:
                self._json(404, {"error": f"no {self.command} {path}"})
        except ValueError as e:
            self._json(400, {"error": str(e)})
        return True


class ControlOnlyHandler(ControlMixin, BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _any(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        if not self.handle_control(body):
            self._json(404, {"error": "control endpoint is " + CONTROL})

    do_GET = do_POST = do_PUT = do_DELETE = _any


# ---------------------------------------------------------------------------- HTTP proxy

_HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te",
               "trailer", "upgrade", "proxy-authenticate", "proxy-authorization"}


def classify(method: str, headers, path: str, body: bytes) -> tuple[str, str]:
    """(label "service:Operation", raw X-Amz-Target)."""
    target = headers.get("X-Amz-Target") or ""
    m = _SCOPE.search(headers.get("Authorization") or "")
    service = m.group(1).lower() if m else ""
    op = ""
    if target:
        prefix, _, op = target.rpartition(".")
        if not service:
            p = prefix.split("_")[0].lower()
            service = _TARGET_SERVICE.get(p, p)
    else:
        query = urllib.parse.urlsplit(path).query
        form = {}
        if "x-www-form-urlencoded" in (headers.get("Content-Type") or "") and body:
            form = urllib.parse.parse_qs(body.decode(errors="replace"))
        action = form.get("Action") or urllib.parse.parse_qs(query).get("Action")
        op = action[0] if action else ""
    if not op:
        op = f"{method} {urllib.parse.urlsplit(path).path}"
    return f"{service or 'unknown'}:{op}", target


class ProxyHandler(ControlMixin, BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    upstream: tuple[str, int]
    timeout = 300  # idle keep-alive connections

    def log_message(self, *args):
        pass

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def _handle(self):
        body = self._read_body()
        if self.handle_control(body):
            return
        if self.path.startswith("/moto-api"):
            self._forward(body)
            return
        label, target = classify(self.command, self.headers, self.path, body)
        mode, delay_ms, code = self.fault.decide(label, target)
        if mode == "refuse":
            self._reset_connection()
        elif mode == "throttle":
            self._error(400, code or ("ThrottlingException" if target else "Throttling"),
                        "Rate exceeded", target)
        elif mode == "503":
            self._error(503, code or ("ServiceUnavailableException" if target else "ServiceUnavailable"),
                        "Service is unavailable", target)
        else:
            if mode == "delay":
                time.sleep(delay_ms / 1000)
            self._forward(body)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = _handle

    def _reset_connection(self):
        self.close_connection = True
        try:
            # SO_LINGER 0: close sends RST, the client sees "connection reset".
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass

    def _error(self, status: int, code: str, message: str, target: str):
        request_id = str(uuid.uuid4())
        if target:  # JSON protocols
            ctype = self.headers.get("Content-Type") or ""
            if "x-amz-json" not in ctype:
                ctype = "application/x-amz-json-1.1"
            body = json.dumps({"__type": code, "message": message}).encode()
            headers = {"Content-Type": ctype, "x-amzn-ErrorType": code, "x-amzn-RequestId": request_id}
        else:  # query protocol (STS, IAM, SQS query)
            kind = "Sender" if status < 500 else "Receiver"
            body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<ErrorResponse><Error><Type>{kind}</Type>'
                    f"<Code>{code}</Code><Message>{message}</Message></Error>"
                    f"<RequestId>{request_id}</RequestId></ErrorResponse>").encode()
            headers = {"Content-Type": "text/xml", "x-amzn-RequestId": request_id}
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _forward(self, body: bytes):
        conn = http.client.HTTPConnection(*self.upstream, timeout=120)
        try:
            conn.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
            for k, v in self.headers.items():
                if k.lower() in _HOP_BY_HOP or k.lower() == "content-length":
                    continue
                conn.putheader(k, v)
            if body or self.command in ("POST", "PUT", "PATCH"):
                conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body or None)
            resp = conn.getresponse()
            data = resp.read()
        except OSError as e:
            msg = f"faultproxy: upstream {self.upstream[0]}:{self.upstream[1]} failed: {e}"
            self.send_response(502)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(msg)))
            self.end_headers()
            self.wfile.write(msg.encode())
            return
        finally:
            conn.close()
        self.send_response_only(resp.status, resp.reason)
        for k, v in resp.getheaders():
            if k.lower() in _HOP_BY_HOP or k.lower() == "content-length":
                continue
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


def run_http(args) -> int:
    fault = Fault(HTTP_MODES)
    up = urllib.parse.urlsplit(args.upstream)
    if up.scheme != "http" or up.hostname not in ("127.0.0.1", "localhost"):
        raise SystemExit("--upstream must be http://127.0.0.1:PORT")
    handler = type("Handler", (ProxyHandler,), {"fault": fault, "upstream": ("127.0.0.1", up.port or 80)})
    servers = [Server(args.listen, handler)]
    if args.control:
        servers.append(Server(args.control, type("C", (ControlOnlyHandler,), {"fault": fault})))
    for s in servers[1:]:
        threading.Thread(target=s.serve_forever, daemon=True).start()
    print(f"faultproxy ready http 127.0.0.1:{servers[0].server_address[1]} -> {args.upstream}"
          + (f" control 127.0.0.1:{servers[1].server_address[1]}" if args.control else ""), flush=True)
    _serve_until_signal(servers)
    return 0


def _serve_until_signal(servers):
    def stop(*_):
        # shutdown() blocks until serve_forever returns: call it from another thread.
        threading.Thread(target=servers[0].shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    servers[0].serve_forever(poll_interval=0.2)
    for s in servers:
        s.server_close()


# ---------------------------------------------------------------------------- TCP proxy

class TcpProxy:
    def __init__(self, listen: tuple[str, int], upstream: tuple[str, int], fault: Fault):
        self.listen_addr, self.upstream, self.fault = listen, upstream, fault
        self.lock = threading.Lock()
        self.conns: set[socket.socket] = set()
        self.listener: socket.socket | None = None
        self.stopping = threading.Event()
        self.wake = threading.Event()
        fault.allow_count = False
        fault.listeners.append(self._on_mode)
        fault.after_configure = self.settle
        fault.gauges["open"] = self.open_connections

    def _open_listener(self):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(self.listen_addr)
        s.listen(128)
        s.settimeout(0.1)
        self.listener = s

    def _drop_all(self) -> int:
        with self.lock:
            conns = list(self.conns)
            self.conns.clear()
        for c in conns:
            try:
                c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            c.close()
        return len(conns) // 2  # two sockets per proxied connection

    def _on_mode(self, mode: str):
        """Runs after every mode change (control thread or the serve loop)."""
        if mode in ("refuse", "drop"):
            self.fault.bump("dropped", self._drop_all())
        if mode == "drop":  # one-shot
            with self.fault.lock:
                self.fault._set_pass()
        self.wake.set()

    def settle(self, timeout: float = 2.0):
        """Wait until the listening socket matches the mode, so that a control call that
        returned means: refused from now on / accepting again."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if (self.fault.mode == "refuse") == (self.listener is None):
                return
            time.sleep(0.005)

    def serve(self):
        while not self.stopping.is_set():
            self.fault.expire()
            if self.fault.mode == "refuse":
                if self.listener is not None:
                    s, self.listener = self.listener, None
                    s.close()  # pending connections in the backlog are reset, new ones refused
                self.wake.wait(0.05)
                self.wake.clear()
                continue
            if self.listener is None:
                self._open_listener()
            try:
                client, _ = self.listener.accept()
            except OSError:  # timeout included
                continue
            if self.fault.mode == "refuse":
                client.close()
                continue
            self.fault.bump("accepted")
            threading.Thread(target=self._connect, args=(client,), daemon=True).start()
        if self.listener is not None:
            self.listener.close()
            self.listener = None
        self._drop_all()

    def _connect(self, client: socket.socket):
        try:
            server = socket.create_connection(self.upstream, timeout=10)
        except OSError:
            self.fault.bump("upstream_failed")
            client.close()
            return
        server.settimeout(None)
        client.settimeout(None)
        with self.lock:
            self.conns.update((client, server))
        if self.fault.mode == "refuse":  # a fault came in while we were connecting
            self.fault.bump("dropped", self._drop_all())
            return
        for a, b, key in ((client, server, "bytes_up"), (server, client, "bytes_down")):
            threading.Thread(target=self._pump, args=(a, b, key), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, key: str):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
                self.fault.bump(key, len(data))
        except OSError:
            pass
        finally:
            with self.lock:
                self.conns.discard(src)
                self.conns.discard(dst)
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()

    def open_connections(self) -> int:
        with self.lock:
            return len(self.conns) // 2


def run_tcp(args) -> int:
    if not args.control:
        raise SystemExit("tcp mode needs --control 127.0.0.1:PORT")
    fault = Fault(TCP_MODES)
    proxy = TcpProxy(args.listen, parse_hostport(args.upstream), fault)
    proxy._open_listener()  # here, so that a taken port fails the start
    control = Server(args.control, type("C", (ControlOnlyHandler,), {"fault": fault}))
    threading.Thread(target=control.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True).start()
    proxy_thread = threading.Thread(target=proxy.serve, daemon=True)
    proxy_thread.start()
    proxy.settle()
    print(f"faultproxy ready tcp 127.0.0.1:{args.listen[1]} -> {args.upstream}"
          f" control 127.0.0.1:{control.server_address[1]}", flush=True)

    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    while not done.wait(0.5):
        pass
    proxy.stopping.set()
    proxy_thread.join(5)
    control.shutdown()
    control.server_close()
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    sub = p.add_subparsers(dest="kind", required=True)
    h = sub.add_parser("http", help="HTTP reverse proxy in front of the moto endpoint")
    h.add_argument("--listen", type=parse_hostport, required=True, help="127.0.0.1:PORT")
    h.add_argument("--upstream", required=True, help="http://127.0.0.1:PORT")
    h.add_argument("--control", type=parse_hostport, help="extra control-only port (optional)")
    t = sub.add_parser("tcp", help="TCP proxy (e.g. Kafka broker)")
    t.add_argument("--listen", type=parse_hostport, required=True, help="127.0.0.1:PORT")
    t.add_argument("--upstream", required=True, help="127.0.0.1:PORT")
    t.add_argument("--control", type=parse_hostport, required=True, help="127.0.0.1:PORT")
    args = p.parse_args(argv)
    return run_http(args) if args.kind == "http" else run_tcp(args)


if __name__ == "__main__":
    sys.exit(main())
