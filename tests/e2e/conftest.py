"""Fixtures for the end-to-end tests: binaries built once per session; every test module gets
its own stack on free ports (`stack`, with the fault proxies whose ports the module names in
`STACK_PROXY_PORTS`), and `clean` resets it for each test and stops what the test started."""

from __future__ import annotations

import pytest

from harness import build_binaries, free_ports, start_stack, stop_started


@pytest.fixture(scope="session", autouse=True)
def binaries():
    build_binaries()


@pytest.fixture(scope="module")
def stack(request, tmp_path_factory):
    names = getattr(request.module, "STACK_PROXY_PORTS", ())
    proxies = dict(zip(names, free_ports(len(names)))) if names else {}
    s = start_stack(tmp_path_factory.mktemp(request.module.__name__) / "stack", **proxies)
    try:
        yield s
    finally:
        s.run("down", check=False, timeout=120)


@pytest.fixture
def clean(stack, tmp_path):
    """A reset stack, its logs folder and a list: the processes a test appends to it are stopped
    after the test."""
    stack.run("reset", timeout=300)
    started: list = []
    yield stack, tmp_path / "logs", started
    stop_started(started)
