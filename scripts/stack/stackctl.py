#!/usr/bin/env python3
"""Process and readiness helpers for scripts/stack.sh (standard library + confluent-kafka).

    stackctl.py ports-free PORT...                  exit 1 naming each port taken on 127.0.0.1
    stackctl.py spawn --pidfile F --log L -- CMD... start CMD in its own session (process group)
    stackctl.py alive --pidfile F [--pidfile F...]  print the pid of each recorded process that
                                                    still runs; exit 0 if one does, else 1
    stackctl.py stop --pidfile F [--timeout S]      TERM the process group, wait, KILL if needed
    stackctl.py wait-http --url U [WAIT OPTIONS]        poll until HTTP 200
    stackctl.py wait-tcp --port P [WAIT OPTIONS]        poll until connectable
    stackctl.py kafka-topic --bootstrap B --topic T [--partitions N] [--recreate] [WAIT OPTIONS]
        wait for broker metadata, create the topic (fine if it exists; --recreate deletes it
        first, for an empty topic), wait until every partition has a leader
    WAIT OPTIONS: --timeout S [--since EPOCH_MS] [--pidfile F --log L]: ready within S seconds
        of --since (default: now), or it fails, even if the process is ready after that
    stackctl.py http-post --url U [--data D] [--timeout S]   POST, print the body, exit 1 unless 2xx

Pid files hold "PID STARTTIME": the start time (from /proc) guards against a recycled pid.
Readiness polls use a deadline and fail early, with the tail of the log, if the process dies.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request


class Failed(Exception):
    pass


# ---------------------------------------------------------------------------- processes

def _stat_fields(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            data = f.read()
    except OSError:
        return None
    # comm may contain spaces and parentheses: split after the last ')'.
    rest = data[data.rindex(")") + 2:].split()
    return rest  # rest[0] = state (field 3), rest[2] = pgrp (5), rest[19] = starttime (22)


def _start_time(pid: int) -> str | None:
    f = _stat_fields(pid)
    return f[19] if f else None


def read_pidfile(path: str) -> tuple[int, str] | None:
    try:
        with open(path) as f:
            parts = f.read().split()
        return int(parts[0]), parts[1]
    except (OSError, ValueError, IndexError):
        return None


def is_alive(path: str) -> int | None:
    """The pid recorded in `path` if that very process still runs (not a zombie)."""
    rec = read_pidfile(path)
    if rec is None:
        return None
    pid, start = rec
    fields = _stat_fields(pid)
    if fields is None or fields[19] != start or fields[0] in ("Z", "X"):
        return None
    return pid


def group_members(pgid: int) -> list[int]:
    members = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        f = _stat_fields(int(name))
        if f and int(f[2]) == pgid and f[0] not in ("Z", "X"):
            members.append(int(name))
    return members


def spawn(pidfile: str, log: str, cmd: list[str], cwd: str | None) -> int:
    env = dict(os.environ)
    for k in ("MOTO_ACCOUNT_ID", "INITIAL_NO_AUTH_ACTION_COUNT"):  # would change moto's behaviour
        env.pop(k, None)
    os.makedirs(os.path.dirname(os.path.abspath(log)), exist_ok=True)
    with open(log, "ab") as out, open(os.devnull, "rb") as devnull:
        out.write(f"==== {time.strftime('%Y-%m-%dT%H:%M:%S')} start: {' '.join(cmd)}\n".encode())
        out.flush()
        proc = subprocess.Popen(cmd, stdin=devnull, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True, close_fds=True, cwd=cwd, env=env)
    start = None
    for _ in range(100):  # /proc entry appears at once; be defensive anyway
        start = _start_time(proc.pid)
        if start:
            break
        time.sleep(0.001)
    if start is None:
        raise Failed(f"{cmd[0]} exited at once; see {log}")
    tmp = f"{pidfile}.tmp"
    with open(tmp, "w") as f:
        f.write(f"{proc.pid} {start}\n")
    os.replace(tmp, pidfile)
    return proc.pid


def stop(pidfile: str, timeout: float) -> bool:
    """Stop the process group recorded in pidfile. True if something was running."""
    pid = is_alive(pidfile)
    if pid is None:
        rec = read_pidfile(pidfile)
        # The leader is gone; stragglers of its group may still run.
        if rec is None or not group_members(rec[0]):
            _unlink(pidfile)
            return False
        pid = rec[0]
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if not group_members(pid):
                _unlink(pidfile)
                return True
            time.sleep(0.02)
    raise Failed(f"process group {pid} ({pidfile}) still alive after SIGKILL")


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


# ---------------------------------------------------------------------------- readiness

def _log_tail(log: str | None, lines: int = 25) -> str:
    if not log:
        return ""
    try:
        with open(log, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 8192))
            tail = f.read().decode(errors="replace").splitlines()[-lines:]
        return f"\n--- last lines of {log} ---\n" + "\n".join(tail)
    except OSError:
        return ""


class Deadline:
    """`timeout` seconds from `since_ms` (epoch milliseconds, e.g. when stack.sh began waiting;
    default now), on the monotonic clock."""

    def __init__(self, timeout: float, since_ms: int | None = None):
        self.timeout = timeout
        elapsed = 0.0 if since_ms is None else max(0.0, time.time() - since_ms / 1000)
        self.at = time.monotonic() + timeout - elapsed

    def passed(self) -> bool:
        return time.monotonic() >= self.at


def poll(what: str, probe, deadline: Deadline, pidfile: str | None, log: str | None, interval=0.05):
    """probe() until it returns something true, before the deadline: a probe that succeeds
    after the deadline fails all the same, so a timeout means the same however slowly this
    helper started."""
    last_err = None
    while True:
        if pidfile and is_alive(pidfile) is None:
            raise Failed(f"{what}: the process exited before it was ready{_log_tail(log)}")
        try:
            result = probe()
            if result:
                if not deadline.passed():
                    return result
                last_err = "ready only after the deadline"
        except Failed:
            raise
        except Exception as e:  # noqa: BLE001 - any other failure means "not yet"
            last_err = e
        if deadline.passed():
            raise Failed(f"{what}: not ready after {deadline.timeout:g} s (last error: {last_err})"
                         f"{_log_tail(log)}")
        time.sleep(interval)
        interval = min(interval * 1.5, 0.5)


def port_free(port: int) -> bool:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    # Same option the servers use, so a port in TIME_WAIT counts as free.
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def http_ok(url: str) -> bool:
    with urllib.request.urlopen(url, timeout=2) as resp:
        return resp.status == 200


def tcp_ok(port: int) -> bool:
    with socket.create_connection(("127.0.0.1", port), timeout=1):
        return True


def kafka_topic(bootstrap: str, topic: str, partitions: int, deadline: Deadline,
                pidfile: str | None, log: str | None, recreate: bool = False) -> None:
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap, "socket.connection.setup.timeout.ms": 2000,
                         "log_level": 3})
    poll(f"kafka broker at {bootstrap}", lambda: admin.list_topics(timeout=2).brokers, deadline,
         pidfile, log)
    if recreate:
        def gone():
            if topic not in admin.list_topics(timeout=2).topics:
                return True
            try:
                admin.delete_topics([topic], operation_timeout=10)[topic].result()
            except KafkaException as e:
                if e.args[0].name() != "UNKNOWN_TOPIC_OR_PART":
                    raise
            return False

        poll(f"deleting topic {topic}", gone, deadline, pidfile, log)
    replaced = [0]

    def create():
        futures = admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)],
                                      operation_timeout=10, request_timeout=15)
        try:
            futures[topic].result()
            return True
        except KafkaException as e:
            if e.args[0].name() != "TOPIC_ALREADY_EXISTS":
                raise
        md = admin.list_topics(topic=topic, timeout=2).topics.get(topic)
        if md is not None and md.error is None and len(md.partitions) == partitions:
            return True
        # tansu creates a missing topic (4 partitions) when a client asks for its metadata:
        # a client that reconnected first won the race. Replace that topic with ours.
        replaced[0] += 1
        if replaced[0] > 20:
            raise Failed(f"clients keep re-creating topic {topic} with the broker's default partition "
                         "count; stop them during the reset, or run the stack with KAFKA_PROXY_PORT")
        admin.delete_topics([topic], operation_timeout=10)[topic].result()
        return False

    poll(f"creating topic {topic}", create, deadline, pidfile, log)

    def topic_ready():
        md = admin.list_topics(topic=topic, timeout=2).topics.get(topic)
        if md is None or md.error is not None or len(md.partitions) != partitions:
            return False
        return all(p.leader >= 0 and p.error is None for p in md.partitions.values())

    poll(f"topic {topic} with {partitions} partitions", topic_ready, deadline, pidfile, log)


# ---------------------------------------------------------------------------- main

def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="helpers for scripts/stack.sh")
    sub = p.add_subparsers(dest="cmd", required=True)

    s = sub.add_parser("ports-free")
    s.add_argument("ports", nargs="+", type=int)

    s = sub.add_parser("spawn")
    s.add_argument("--pidfile", required=True)
    s.add_argument("--log", required=True)
    s.add_argument("--cwd")
    s.add_argument("command", nargs=argparse.REMAINDER)

    s = sub.add_parser("alive")
    s.add_argument("--pidfile", action="append", required=True)

    s = sub.add_parser("stop")
    s.add_argument("--pidfile", required=True)
    s.add_argument("--timeout", type=float, default=10)

    for name in ("wait-http", "wait-tcp", "kafka-topic"):
        s = sub.add_parser(name)
        s.add_argument("--timeout", type=float, default=60)
        s.add_argument("--since", type=int, metavar="EPOCH_MS")
        s.add_argument("--pidfile")
        s.add_argument("--log")
        if name == "wait-http":
            s.add_argument("--url", required=True)
        elif name == "wait-tcp":
            s.add_argument("--port", type=int, required=True)
        else:
            s.add_argument("--bootstrap", required=True)
            s.add_argument("--topic", required=True)
            s.add_argument("--partitions", type=int, default=3)
            s.add_argument("--recreate", action="store_true")

    s = sub.add_parser("http-post")
    s.add_argument("--url", required=True)
    s.add_argument("--data", default="")
    s.add_argument("--content-type", default="text/plain")
    s.add_argument("--timeout", type=float, default=10)

    a = p.parse_args(argv)
    try:
        if a.cmd == "ports-free":
            taken = [port for port in a.ports if not port_free(port)]
            if taken:
                print("port(s) already in use on 127.0.0.1: " + ", ".join(map(str, taken)),
                      file=sys.stderr)
                return 1
        elif a.cmd == "spawn":
            cmd = a.command[1:] if a.command[:1] == ["--"] else a.command
            if not cmd:
                p.error("spawn needs a command after --")
            print(spawn(a.pidfile, a.log, cmd, a.cwd))
        elif a.cmd == "alive":
            pids = [pid for pid in map(is_alive, a.pidfile) if pid is not None]
            for pid in pids:
                print(pid)
            if not pids:
                return 1
        elif a.cmd == "stop":
            stop(a.pidfile, a.timeout)
        elif a.cmd == "wait-http":
            poll(a.url, lambda: http_ok(a.url), Deadline(a.timeout, a.since), a.pidfile, a.log)
        elif a.cmd == "wait-tcp":
            poll(f"127.0.0.1:{a.port}", lambda: tcp_ok(a.port), Deadline(a.timeout, a.since),
                 a.pidfile, a.log)
        elif a.cmd == "kafka-topic":
            kafka_topic(a.bootstrap, a.topic, a.partitions, Deadline(a.timeout, a.since), a.pidfile,
                        a.log, recreate=a.recreate)
        elif a.cmd == "http-post":
            req = urllib.request.Request(a.url, data=a.data.encode(), method="POST",
                                         headers={"Content-Type": a.content_type})
            try:
                with urllib.request.urlopen(req, timeout=a.timeout) as resp:
                    sys.stdout.write(resp.read().decode(errors="replace"))
            except urllib.error.HTTPError as e:
                print(f"POST {a.url}: HTTP {e.code}: {e.read().decode(errors='replace')}",
                      file=sys.stderr)
                return 1
    except Failed as e:
        print(f"stackctl {a.cmd}: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
