"""Fixtures for the end-to-end tests: binaries built once per session; every test module gets
its own stack on free ports."""

from __future__ import annotations

import pytest

from harness import build_binaries


@pytest.fixture(scope="session", autouse=True)
def binaries():
    build_binaries()
