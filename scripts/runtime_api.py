"""A minimal Lambda Runtime API on 127.0.0.1, for running a function's bootstrap the way Lambda
does: the bootstrap polls `GET /2018-06-01/runtime/invocation/next`, answers with
`POST .../invocation/{id}/response` or `.../{id}/error`, and reports init failures to
`POST .../init/error`.

    api = RuntimeApi().start()
    proc = api.spawn(["target/release/consumer"], env)   # AWS_LAMBDA_* set, spawn time noted
    api.wait_ready()                                      # first /next: init done
    ok, body, seconds = api.invoke({"records": {}})
    api.stop(); proc.kill()

Used by scripts/bench-footprint.py and tests/functions/.
"""
from __future__ import annotations

import json
import os
import queue
import subprocess
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PREFIX = "/2018-06-01/runtime"


class RuntimeApi:
    def __init__(self, function_name: str = "function", deadline_s: float = 120):
        self.function_name = function_name
        self.deadline_s = deadline_s
        self.pending: queue.Queue[tuple[str, bytes]] = queue.Queue()
        self.results: dict[str, tuple[bool, bytes, float]] = {}
        self.done = threading.Condition()
        self.init_errors: list[dict] = []
        # time.monotonic() of every /next: when its connection was accepted for the first request
        # on a connection (a bootstrap connects to ask for its first event), else when it was read.
        self.next_calls: list[float] = []
        self._accepted: dict[int, float] = {}  # id(socket) → time.monotonic() of its accept
        self.ready = threading.Event()
        self.spawned_at: float | None = None
        self.sent_at: dict[str, float] = {}
        self.server: ThreadingHTTPServer | None = None

    # -- server ---------------------------------------------------------------------------------
    def start(self) -> "RuntimeApi":
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def setup(self):
                super().setup()
                # Python takes a millisecond or so to start this handler's thread and parse the
                # request; the accept, in the server's loop, is when the request arrived.
                self.arrived: float | None = api._accepted.pop(id(self.request), None)

            def _reply(self, status: int, body: bytes = b"", headers: dict | None = None):
                self.send_response(status)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _body(self) -> bytes:
                n = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(n) if n else b""

            def do_GET(self):
                arrived, self.arrived = self.arrived, None  # a connection's first request only
                if self.path != f"{PREFIX}/invocation/next":
                    return self._reply(404)
                api.next_calls.append(arrived if arrived is not None else time.monotonic())
                api.ready.set()
                request_id, payload = api.pending.get()
                api.sent_at[request_id] = time.monotonic()
                deadline = int((time.time() + api.deadline_s) * 1000)
                self._reply(200, payload, {
                    "Content-Type": "application/json",
                    "Lambda-Runtime-Aws-Request-Id": request_id,
                    "Lambda-Runtime-Deadline-Ms": str(deadline),
                    "Lambda-Runtime-Invoked-Function-Arn":
                        f"arn:aws:lambda:us-east-1:123456789012:function:{api.function_name}",
                    "Lambda-Runtime-Trace-Id": f"Root=1-{uuid.uuid4().hex[:8]}-{uuid.uuid4().hex[:24]};Sampled=0",
                })

            def do_POST(self):
                self.arrived = None
                body = self._body()
                parts = self.path[len(PREFIX):].strip("/").split("/")
                if parts == ["init", "error"]:
                    api.init_errors.append(_json(body))
                    return self._reply(202, b"{}")
                if len(parts) == 3 and parts[0] == "invocation" and parts[2] in ("response", "error"):
                    rid = parts[1]
                    elapsed = time.monotonic() - api.sent_at.get(rid, time.monotonic())
                    with api.done:
                        api.results[rid] = (parts[2] == "response", body, elapsed)
                        api.done.notify_all()
                    return self._reply(202, b"{}")
                self._reply(404)

        class Server(ThreadingHTTPServer):
            def get_request(self):
                request, address = super().get_request()
                api._accepted[id(request)] = time.monotonic()
                return request, address

            def handle_error(self, request, client_address):  # a bootstrap killed mid-request
                pass

        self.server = Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    @property
    def address(self) -> str:
        assert self.server is not None
        return f"127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        if self.server:
            self.server.shutdown()
            self.server.server_close()

    # -- function -------------------------------------------------------------------------------
    def lambda_env(self, memory_mb: int = 256) -> dict[str, str]:
        return {
            "AWS_LAMBDA_RUNTIME_API": self.address,
            "AWS_LAMBDA_FUNCTION_NAME": self.function_name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(memory_mb),
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{self.function_name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": "local",
        }

    def spawn(self, argv: list[str], env: dict[str, str], **popen) -> subprocess.Popen:
        full = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **self.lambda_env(), **env}
        self.spawned_at = time.monotonic()
        return subprocess.Popen(argv, env=full, **popen)

    def wait_ready(self, timeout: float = 30) -> float:
        """Seconds from spawn to the first /next (the function's init)."""
        if not self.ready.wait(timeout):
            raise TimeoutError(f"no /next within {timeout} s; init errors: {self.init_errors}")
        assert self.spawned_at is not None
        return self.next_calls[0] - self.spawned_at

    def invoke(self, payload, timeout: float = 60) -> tuple[bool, dict | str, float]:
        """(succeeded, answer or error document, seconds from /next's answer to the result)."""
        rid = str(uuid.uuid4())
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.pending.put((rid, data))
        with self.done:
            if not self.done.wait_for(lambda: rid in self.results, timeout):
                raise TimeoutError(f"no answer to {rid} within {timeout} s")
            ok, body, elapsed = self.results[rid]
        return ok, _json(body), elapsed


def _json(body: bytes):
    try:
        return json.loads(body)
    except ValueError:
        return body.decode(errors="replace")
