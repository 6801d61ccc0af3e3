"""Helpers for the tests of the local stack (tests/stack): a handle on one stack started with
scripts/stack.sh, its AWS clients, free ports, process checks."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path

import boto3
from botocore.config import Config

ROOT = Path(__file__).resolve().parents[2]
STACK_SH = ROOT / "scripts" / "stack.sh"
STACK_PY = ROOT / "scripts" / "stack"


_handed_out: set[int] = set()


def free_ports(n: int) -> list[int]:
    """n distinct ports that are free on 127.0.0.1 right now and that no earlier call in this
    process returned: two calls' ports never coincide (the kernel may hand a port it just gave
    to a closed socket straight out again), so one stack's ports all differ."""
    socks, ports = [], []
    try:
        while len(ports) < n:
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)  # held open until the end, so this call sees each port once
            port = s.getsockname()[1]
            if port not in _handed_out:
                ports.append(port)
        _handed_out.update(ports)
        return ports
    finally:
        for s in socks:
            s.close()


def parse_env(path: Path) -> dict[str, str]:
    out = {}
    for line in path.read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        k, _, v = line.partition("=")
        if len(v) >= 2 and v[0] == v[-1] == "'":
            v = v[1:-1].replace("'\\''", "'")
        out[k] = v
    return out


def process_gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        return state in ("Z", "X")
    except FileNotFoundError:
        return True


def wait_until(predicate, timeout: float, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            return value
        time.sleep(interval)


class Stack:
    def __init__(self, stack_dir: Path, ports: dict[str, int], settings: dict[str, str] | None = None):
        """`settings`: more environment for stack.sh, e.g. KAFKA_BOOTSTRAP_SERVERS for an
        existing broker (never taken from this process's environment)."""
        self.dir = stack_dir
        self.ports = ports
        inherited = {k: v for k, v in os.environ.items() if k != "KAFKA_BOOTSTRAP_SERVERS"}
        self.proc_env = {**inherited, "STACK_DIR": str(stack_dir),
                         **{k: str(v) for k, v in ports.items()}, **(settings or {})}

    def run(self, *args: str, check: bool = True, timeout: float = 900, env: dict | None = None):
        res = subprocess.run([str(STACK_SH), *args], env=env or self.proc_env, cwd=ROOT,
                             capture_output=True, text=True, timeout=timeout)
        if check and res.returncode != 0:
            raise AssertionError(f"stack.sh {' '.join(args)} failed ({res.returncode}):\n"
                                 f"{res.stdout}\n{res.stderr}")
        return res

    @property
    def env(self) -> dict[str, str]:
        return parse_env(self.dir / "stack.env")

    def pids(self) -> dict[str, int]:
        out = {}
        for f in self.dir.glob("*.pid"):
            out[f.stem] = int(f.read_text().split()[0])
        return out

    # -- AWS clients -------------------------------------------------------------------
    def creds(self, who: str) -> dict:
        prefix = {"producer": "PRODUCER", "consumer": "CONSUMER",
                  "producer_admin": "PRODUCER_ADMIN", "consumer_admin": "CONSUMER_ADMIN"}[who]
        env = self.env
        return {"aws_access_key_id": env[f"{prefix}_ACCESS_KEY_ID"],
                "aws_secret_access_key": env[f"{prefix}_SECRET_ACCESS_KEY"]}

    def client(self, service: str, who: str | dict, *, via_proxy: bool = False, attempts: int = 1):
        creds = self.creds(who) if isinstance(who, str) else who
        env = self.env
        endpoint = env["AWS_PROXY_ENDPOINT_URL"] if via_proxy else env["AWS_ENDPOINT_URL"]
        return boto3.client(service, endpoint_url=endpoint, region_name=env["AWS_REGION"],
                            config=Config(retries={"mode": "standard", "total_max_attempts": attempts},
                                          connect_timeout=5, read_timeout=30),
                            **creds)

    def assume_reader_role(self, session_name: str = "stack-test") -> dict:
        env = self.env
        sts = self.client("sts", "consumer")
        c = sts.assume_role(RoleArn=env["SCHEMA_READER_ROLE_ARN"], RoleSessionName=session_name,
                            ExternalId=env["SCHEMA_READER_EXTERNAL_ID"], DurationSeconds=900)["Credentials"]
        return {"aws_access_key_id": c["AccessKeyId"], "aws_secret_access_key": c["SecretAccessKey"],
                "aws_session_token": c["SessionToken"]}
