"""The functions' debug bootstraps under a minimal Lambda Runtime API (scripts/runtime_api.py):
no stack, no network; AWS endpoints point at a closed port."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TARGET_DIR = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))


@pytest.fixture(scope="session")
def bootstraps() -> dict[str, Path]:
    subprocess.run(["cargo", "build", "--quiet", "-p", "sensor-producer", "-p", "sensor-consumer",
                    "--bin", "producer", "--bin", "consumer"], cwd=ROOT, check=True)
    return {name: TARGET_DIR / "debug" / name for name in ("producer", "consumer")}
