"""Runs the real pipeline on the local stack: the two Lambda binaries under `cargo lambda watch`
(one process per function, each with its own account's credentials), and the local event source
mapping (`local-esm`). Used by the end-to-end tests, the demo and the pipeline benchmark."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "stack"))

from stackhelpers import Stack, free_ports, wait_until  # noqa: E402

VENV_BIN = ROOT / ".venv" / "bin"
TARGET_DIR = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))

__all__ = ["Stack", "free_ports", "wait_until", "build_binaries", "start_stack", "LambdaFunction",
           "EventSourceMapping", "producer_env", "consumer_env", "count_items", "wait_for_items", "ROOT"]


def build_binaries() -> None:
    """Builds the two functions and the local ESM once, so no invoke waits for a compile."""
    subprocess.run(["cargo", "build", "--quiet", "-p", "sensor-producer", "-p", "sensor-consumer",
                    "--bins"], cwd=ROOT, check=True)


def start_stack(stack_dir: Path, **extra_ports: int) -> Stack:
    """A fresh stack on free ports; extra ports (MOTO_PROXY_PORT, KAFKA_PROXY_PORT) on request."""
    moto, kafka = free_ports(2)
    ports = {"MOTO_PORT": moto, "KAFKA_PORT": kafka, **extra_ports}
    s = Stack(stack_dir, ports)
    s.run("up")
    return s


def _wait_port(port: int, timeout: float) -> None:
    def up():
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return True
        except OSError:
            return False
    if not wait_until(up, timeout):
        raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


def producer_env(env: dict, aws_endpoint: str | None = None, **overrides: str) -> dict:
    out = {
        "AWS_ENDPOINT_URL": aws_endpoint or env["AWS_ENDPOINT_URL"],
        "AWS_REGION": env["AWS_REGION"],
        "AWS_ACCESS_KEY_ID": env["PRODUCER_ACCESS_KEY_ID"],
        "AWS_SECRET_ACCESS_KEY": env["PRODUCER_SECRET_ACCESS_KEY"],
        "KAFKA_BOOTSTRAP_SERVERS": env["KAFKA_BOOTSTRAP_SERVERS"],
        "KAFKA_SECURITY_PROTOCOL": "PLAINTEXT",
        "KAFKA_TOPIC": env["KAFKA_TOPIC"],
        "REGISTRY_NAME": env["REGISTRY_NAME"],
        "SCHEMA_NAME": env["SCHEMA_NAME"],
        "DEVICE_ID": "000001",
    }
    out.update(overrides)
    return out


def consumer_env(env: dict, aws_endpoint: str | None = None, **overrides: str) -> dict:
    out = {
        "AWS_ENDPOINT_URL": aws_endpoint or env["AWS_ENDPOINT_URL"],
        "AWS_REGION": env["AWS_REGION"],
        "AWS_ACCESS_KEY_ID": env["CONSUMER_ACCESS_KEY_ID"],
        "AWS_SECRET_ACCESS_KEY": env["CONSUMER_SECRET_ACCESS_KEY"],
        "PRODUCER_ROLE_ARN": env["PRODUCER_ROLE_ARN"],
        "PRODUCER_ROLE_EXTERNAL_ID": env["PRODUCER_ROLE_EXTERNAL_ID"],
        "PRODUCER_REGION": env["AWS_REGION"],
        "READINGS_TABLE": env["READINGS_TABLE"],
        "DEAD_LETTER_QUEUE_URL": env["DEAD_LETTER_QUEUE_URL"],
    }
    out.update(overrides)
    return out


class LambdaFunction:
    """One function under `cargo lambda watch`, invoked through the Lambda Invoke API."""

    def __init__(self, package: str, binary: str, env: dict, log_dir: Path):
        self.package, self.binary, self.env = package, binary, env
        self.log_dir = log_dir
        self.port = free_ports(1)[0]
        self.proc: subprocess.Popen | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 120) -> "LambdaFunction":
        self.log_dir.mkdir(parents=True, exist_ok=True)
        env_file = self.log_dir / f"{self.binary}.env"
        env_file.write_text("".join(f"{k}={v}\n" for k, v in self.env.items()))
        log = open(self.log_dir / f"{self.binary}.log", "ab")
        proc_env = {**os.environ, "PATH": f"{VENV_BIN}:{os.environ['PATH']}", "RUST_LOG": "info"}
        self.proc = subprocess.Popen(
            [str(VENV_BIN / "cargo-lambda"), "lambda", "watch", "-p", self.package, "--bin",
             self.binary, "-A", "127.0.0.1", "-P", str(self.port), "--ignore-changes",
             "--env-file", str(env_file)],
            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=proc_env, start_new_session=True)
        _wait_port(self.port, timeout)
        return self

    def invoke(self, payload, timeout: float = 180) -> tuple[bool, dict | list | str]:
        """(succeeded, answer): a function error comes back as (False, error document)."""
        data = payload if isinstance(payload, (bytes, str)) else json.dumps(payload)
        if isinstance(data, str):
            data = data.encode()
        req = urllib.request.Request(
            f"{self.endpoint}/2015-03-31/functions/{self.binary}/invocations", data=data,
            method="POST", headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                body = r.read().decode()
                failed = r.headers.get("X-Amz-Function-Error") is not None
        except urllib.error.HTTPError as e:
            body, failed = e.read().decode(), True
        try:
            doc = json.loads(body)
        except ValueError:
            doc = body
        return (not failed, doc)

    def function_pids(self) -> list[int]:
        """The running function processes (children of the watch)."""
        out = subprocess.run(["pgrep", "-f", f"{TARGET_DIR}/debug/{self.binary}$"],
                             capture_output=True, text=True)
        return [int(p) for p in out.stdout.split()]

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        for pid in self.function_pids():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


class EventSourceMapping:
    """The local event source mapping, reading brokers from the producer's broker-map secret."""

    def __init__(self, env: dict, consumer: LambdaFunction, log_dir: Path, *, batch_size: int = 100,
                 window_ms: int = 300, group_id: str = "sensor-consumer-esm",
                 aws_endpoint: str | None = None):
        self.env, self.consumer, self.log_dir = env, consumer, log_dir
        self.args = ["--lambda-endpoint", consumer.endpoint, "--function", consumer.binary,
                     "--broker-secret-arn", env["BROKER_SECRET_ARN"],
                     "--role-arn", env["PRODUCER_ROLE_ARN"],
                     "--external-id", env["PRODUCER_ROLE_EXTERNAL_ID"],
                     "--topic", env["KAFKA_TOPIC"], "--group-id", group_id,
                     "--batch-size", str(batch_size), "--batching-window-ms", str(window_ms)]
        self.proc_env = {**os.environ,
                         "AWS_ENDPOINT_URL": aws_endpoint or env["AWS_ENDPOINT_URL"],
                         "AWS_REGION": env["AWS_REGION"],
                         "AWS_ACCESS_KEY_ID": env["CONSUMER_ACCESS_KEY_ID"],
                         "AWS_SECRET_ACCESS_KEY": env["CONSUMER_SECRET_ACCESS_KEY"]}
        self.proc: subprocess.Popen | None = None

    def start(self) -> "EventSourceMapping":
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.log_dir / "local-esm.log", "ab")
        self.proc = subprocess.Popen([str(TARGET_DIR / "debug" / "local-esm"), *self.args],
                                     cwd=ROOT, env=self.proc_env, stdout=log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        return self

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def count_items(stack: Stack) -> int:
    ddb = stack.client("dynamodb", "consumer_admin")
    env = stack.env
    n, kwargs = 0, {"TableName": env["READINGS_TABLE"], "Select": "COUNT"}
    while True:
        page = ddb.scan(**kwargs)
        n += page["Count"]
        if "LastEvaluatedKey" not in page:
            return n
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def wait_for_items(stack: Stack, n: int, timeout: float) -> int:
    """Polls the readings table until it holds at least n items (or the timeout); returns the count."""
    deadline = time.monotonic() + timeout
    while True:
        c = count_items(stack)
        if c >= n or time.monotonic() > deadline:
            return c
        time.sleep(0.3)
