"""Fixtures for the tests of the local stack: each test session starts its own stack on free
ports in a temporary STACK_DIR (with both fault proxies) and stops it at the end."""

import pytest

from stackhelpers import Stack, free_ports


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    names = ["MOTO_PORT", "KAFKA_PORT", "MOTO_PROXY_PORT", "KAFKA_PROXY_PORT", "KAFKA_PROXY_CONTROL_PORT"]
    s = Stack(tmp_path_factory.mktemp("stack"), dict(zip(names, free_ports(len(names)))))
    try:
        s.run("up")
        yield s
    finally:
        s.run("down", check=False, timeout=120)
