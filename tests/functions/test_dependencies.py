"""What each function links, read from the lock file with `cargo tree` (each crate resolved on its
own, as `make lambdas` builds it): one TLS stack for AWS (rustls 0.23 on ring, no aws-lc, no
legacy hyper 0.14 client), OpenSSL only under librdkafka, and no Kafka client in the consumer;
and what each bootstrap needs of the runtime (scripts/check-bootstrap.py): only libraries and
symbol versions that provided.al2023 has, and panics that unwind."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def packages(crate: str) -> dict[str, set[str]]:
    """Package name → versions in `crate`'s normal (non-dev, non-build) dependency graph."""
    out = subprocess.run(
        ["cargo", "tree", "--locked", "-p", crate, "-e", "normal", "--prefix", "none",
         "--format", "{p}"],
        cwd=ROOT, check=True, capture_output=True, text=True).stdout
    found: dict[str, set[str]] = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[1].startswith("v"):
            found.setdefault(parts[0], set()).add(parts[1])
    return found


def dependents(crate: str, dependency: str) -> set[str]:
    """The packages that depend directly on `dependency` in `crate`'s graph."""
    out = subprocess.run(
        ["cargo", "tree", "--locked", "-p", crate, "-e", "normal", "-i", dependency,
         "--depth", "1", "--prefix", "none", "--format", "{p}"],
        cwd=ROOT, check=True, capture_output=True, text=True).stdout
    names = {line.split()[0] for line in out.splitlines() if line.strip()}
    return names - {dependency}


@pytest.mark.parametrize("crate", ["sensor-producer", "sensor-consumer"])
def test_one_tls_stack_for_aws(crate):
    found = packages(crate)
    assert "aws-smithy-http-client" in found, "the graph was read"
    for absent in ("aws-lc-rs", "aws-lc-sys", "aws-lc-fips-sys", "s2n-tls", "native-tls"):
        assert absent not in found, f"{crate} links {absent}"
    assert len(found["rustls"]) == 1 and min(found["rustls"]).startswith("v0.23."), found["rustls"]
    assert all(v.startswith("v0.27.") for v in found["hyper-rustls"]), found["hyper-rustls"]
    assert "ring" in found, "rustls' crypto provider"
    assert all(v.startswith("v1.") for v in found["hyper"]), f"legacy hyper in {crate}: {found['hyper']}"


def test_openssl_only_under_librdkafka():
    producer = packages("sensor-producer")
    assert "rdkafka-sys" in producer
    assert dependents("sensor-producer", "openssl-sys") == {"rdkafka-sys"}
    assert "openssl" not in producer, "no Rust OpenSSL bindings: the SDK talks rustls"


def test_the_consumer_links_no_kafka_client():
    consumer = packages("sensor-consumer")
    assert "aws-sdk-dynamodb" in consumer, "the graph was read"
    for absent in ("rdkafka", "rdkafka-sys", "openssl-sys", "aws-sdk-lambda", "clap"):
        assert absent not in consumer, absent


CHECK = ROOT / "scripts/check-bootstrap.py"


def check(*paths: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(CHECK), *map(str, paths)], capture_output=True,
                          text=True)


def test_the_bootstraps_need_only_what_provided_al2023_has(bootstraps):
    result = check(bootstraps["producer"], bootstraps["consumer"])
    assert result.returncode == 0, result.stderr
    producer_line = next(l for l in result.stdout.splitlines() if "producer" in l)
    assert "libssl.so.3" in producer_line, "librdkafka's TLS is the runtime's OpenSSL 3"
    consumer_line = next(l for l in result.stdout.splitlines() if "consumer" in l)
    assert "libssl" not in consumer_line and "libz" not in consumer_line, consumer_line


def test_a_library_or_symbol_the_runtime_lacks_is_refused(tmp_path):
    # arc4random is glibc 2.36's (the runtime has 2.34); libextra.so is nowhere in the runtime.
    (tmp_path / "extra.c").write_text("int extra(void) { return 1; }\n")
    subprocess.run(["gcc", "-shared", "-fPIC", "-o", str(tmp_path / "libextra.so"),
                    str(tmp_path / "extra.c")], check=True)
    source = tmp_path / "newer.c"
    source.write_text("#include <stdlib.h>\nint extra(void);\n"
                      "int main(void) { return (int)(arc4random() & 1) + extra(); }\n")
    binary = tmp_path / "newer"
    subprocess.run(["gcc", "-O1", "-o", str(binary), str(source), f"-L{tmp_path}", "-lextra"],
                   check=True)
    result = check(binary)
    assert result.returncode == 1
    assert "asks libc.so.6 for GLIBC_2.36; provided.al2023 has GLIBC 2.34" in result.stderr, result.stderr
    assert "needs libextra.so, which provided.al2023 does not have" in result.stderr, result.stderr
    # A C program never unwinds, as a Rust bootstrap built with panic = "abort" would not.
    assert "never unwinds (panic = \"abort\")" in result.stderr, result.stderr


def test_a_zip_is_checked_by_its_bootstrap(tmp_path, bootstraps):
    import zipfile
    archive = tmp_path / "consumer" / "bootstrap.zip"
    archive.parent.mkdir()
    with zipfile.ZipFile(archive, "w") as z:
        z.write(bootstraps["consumer"], "bootstrap")
    result = check(archive)
    assert result.returncode == 0, result.stderr
    assert str(archive) in result.stdout


def test_the_release_profile_says_unwind():
    # `cargo lambda build --release` applies panic = "abort" where the profile says nothing.
    import tomllib
    profile = tomllib.loads((ROOT / "Cargo.toml").read_text())["profile"]["release"]
    assert profile.get("panic") == "unwind", profile
