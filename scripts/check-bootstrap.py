#!/usr/bin/env python3
"""Checks that a bootstrap needs no shared library, and no symbol version, that Lambda's
provided.al2023 runtime (Amazon Linux 2023) does not have.

    python3 scripts/check-bootstrap.py BOOTSTRAP|ZIP [...]

A zip is read for its `bootstrap`. What the runtime has, by library (its `NEEDED` name) and the
newest symbol version a bootstrap may ask of it: glibc 2.34, libgcc of GCC 11, zlib 1.2.11 and
OpenSSL 3 (`openssl-libs`: 3.0.8 in the first AL2023 releases, 3.2.2 since AL2023.7, so only
symbols of the 3.0.0 ABI). It also refuses a bootstrap built with panic = "abort" (one without
Rust's unwinding panic runtime), in which a handler's panic would end the process instead of
failing the invocation. `scripts/build-lambdas.sh` (make lambdas) runs it on both zips.
Exit 0 when every bootstrap fits, 1 otherwise, each problem on its own line.
"""
from __future__ import annotations

import re
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

GLIBC = ("GLIBC", (2, 34))
RUNTIME: dict[str, tuple[str, tuple[int, ...]]] = {
    "libc.so.6": GLIBC,
    "libm.so.6": GLIBC,
    "libpthread.so.0": GLIBC,
    "libdl.so.2": GLIBC,
    "librt.so.1": GLIBC,
    "ld-linux-x86-64.so.2": GLIBC,
    "libgcc_s.so.1": ("GCC", (11, 0)),
    "libz.so.1": ("ZLIB", (1, 2, 11)),
    "libssl.so.3": ("OPENSSL", (3, 0, 0)),
    "libcrypto.so.3": ("OPENSSL", (3, 0, 0)),
}


def readelf(flag: str, binary: Path) -> str:
    return subprocess.run(["readelf", "-W", flag, str(binary)], check=True,
                          capture_output=True, text=True).stdout


def needed(binary: Path) -> list[str]:
    return re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", readelf("-d", binary))


def version_needs(binary: Path) -> dict[str, list[str]]:
    """Library → the symbol versions the binary asks of it (`.gnu.version_r`)."""
    needs: dict[str, list[str]] = {}
    current = None
    for line in readelf("-V", binary).splitlines():
        m = re.search(r"File: (\S+)", line)
        if m:
            current = needs.setdefault(m.group(1), [])
            continue
        m = re.search(r"Name: (\S+)", line)
        if m and current is not None:
            current.append(m.group(1))
    return needs


def unwinds(binary: Path) -> bool:
    """Whether panics unwind: the binary holds Rust's unwinding panic runtime (`panic_unwind`,
    which aborts on a foreign exception with this message; a panic = "abort" build has none)."""
    return b"Rust cannot catch foreign exceptions" in binary.read_bytes()


def parse_version(tag: str, prefix: str) -> tuple[int, ...] | None:
    m = re.fullmatch(re.escape(prefix) + r"_([0-9][0-9.]*)", tag)
    return tuple(int(p) for p in m.group(1).split(".") if p) if m else None


def problems(binary: Path, libs: list[str]) -> list[str]:
    """What `binary`, which needs `libs`, asks of the runtime that it does not have."""
    found = []
    for lib in libs:
        if lib not in RUNTIME:
            found.append(f"{binary}: needs {lib}, which provided.al2023 does not have")
    if not unwinds(binary):
        found.append(f"{binary}: never unwinds (panic = \"abort\"): a panic would end the "
                     "process instead of failing the invocation")
    for lib, tags in version_needs(binary).items():
        if lib not in RUNTIME:
            continue  # reported above
        prefix, newest = RUNTIME[lib]
        for tag in tags:
            version = parse_version(tag, prefix)
            if version is None:
                found.append(f"{binary}: asks {lib} for {tag}, not a {prefix}_ version")
            elif version > newest:
                have = ".".join(map(str, newest))
                found.append(f"{binary}: asks {lib} for {tag}; provided.al2023 has {prefix} {have}")
    return found


def main(paths: list[str]) -> int:
    if not paths:
        print("usage: " + __doc__.strip().splitlines()[3].strip(), file=sys.stderr)
        return 2
    found = []
    with tempfile.TemporaryDirectory() as tmp:
        for path in map(Path, paths):
            binary = path
            if path.suffix == ".zip":
                binary = Path(tmp) / f"{path.parent.name}-bootstrap"
                with zipfile.ZipFile(path) as z:
                    binary.write_bytes(z.read("bootstrap"))
            libs = needed(binary)
            mine = problems(binary, libs)
            found += mine
            if not mine:
                print(f"{path}: needs only {', '.join(libs) or 'nothing'}")
    for line in found:
        print(line, file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
