"""Which roots the functions' AWS calls trust (TLS_TRUST_STORE): by default only the Amazon Trust
Services roots built into the bootstrap, so an endpoint with a certificate from another CA is
refused even when the machine trusts that CA; with `system` the machine's store decides
(SSL_CERT_FILE honoured), and by default no certificate file is read at all. The endpoint is an
HTTPS server on 127.0.0.1 with a certificate from a CA made here; it counts the requests that got
through the handshake."""

from __future__ import annotations

import datetime
import os
import http.server
import ipaddress
import ssl
import subprocess
import threading
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from runtime_api import RuntimeApi
from test_bootstraps import CONSUMER, PRODUCER, Run, glue_frame, kafka_event


def _cert(subject: str, key, issuer_name, issuer_key, ca: bool) -> x509.Certificate:
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (x509.CertificateBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
               .issuer_name(issuer_name)
               .public_key(key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5))
               .not_valid_after(now + datetime.timedelta(days=1))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if not ca:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory):
    """(URL, CA bundle path, request counter) of an HTTPS server that answers every request 500."""
    tmp = tmp_path_factory.mktemp("tls")
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sensor-stream test CA")])
    ca = _cert("sensor-stream test CA", ca_key, ca_name, ca_key, ca=True)
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = _cert("127.0.0.1", key, ca_name, ca_key, ca=False)
    ca_pem = tmp / "ca.pem"
    ca_pem.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    chain = tmp / "server.pem"
    chain.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                        serialization.PrivateFormat.PKCS8,
                                        serialization.NoEncryption())
                      + leaf.public_bytes(serialization.Encoding.PEM))
    seen: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (http.server's naming)
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            # Glue names its operation in a header, STS (query protocol) in the form body.
            seen.append(self.headers.get("X-Amz-Target") or body.decode(errors="replace"))
            self.send_response(500)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(chain)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{server.server_address[1]}", ca_pem, seen
    server.shutdown()
    server.server_close()


FUNCTIONS = {
    # The consumer's first AWS call is STS (the schema reader role), the producer's Glue.
    "consumer": (CONSUMER, lambda: kafka_event([glue_frame()])),
    "producer": (PRODUCER, lambda: {"temperature": 21.5}),
}


def _invoke(binary: Path, env: dict, payload) -> tuple[bool, dict]:
    run = Run(binary, env)
    try:
        ok, answer, _ = run.invoke(payload)
    finally:
        run.lines()
    return ok, answer


@pytest.mark.parametrize("function", sorted(FUNCTIONS))
def test_by_default_only_the_built_in_roots_are_trusted(bootstraps, endpoint, function, tmp_path):
    url, ca_pem, seen = endpoint
    env, payload = FUNCTIONS[function]
    before = len(seen)
    # The machine trusts the endpoint's CA, and the function still refuses it.
    ok, error = _invoke(bootstraps[function],
                        {**env, "AWS_ENDPOINT_URL": url, "SSL_CERT_FILE": str(ca_pem),
                         "SSL_CERT_DIR": str(tmp_path)}, payload())
    assert not ok and error["errorType"] == "RegistryUnavailable", error
    assert len(seen) == before, f"a request got through the handshake: {seen[before:]}"


@pytest.mark.parametrize("function", sorted(FUNCTIONS))
def test_system_trusts_the_machines_store(bootstraps, endpoint, function, tmp_path):
    url, ca_pem, seen = endpoint
    env, payload = FUNCTIONS[function]
    before = len(seen)
    ok, error = _invoke(bootstraps[function],
                        {**env, "AWS_ENDPOINT_URL": url, "TLS_TRUST_STORE": "system",
                         "SSL_CERT_FILE": str(ca_pem), "SSL_CERT_DIR": str(tmp_path)}, payload())
    # The endpoint answers 500 to everything, so the call fails, but only after the handshake.
    assert not ok, error
    assert len(seen) > before, "no request reached the endpoint"
    expected = "Action=AssumeRole" if function == "consumer" else "AWSGlue."
    assert any(expected in s for s in seen[before:]), seen[before:]


def test_an_unknown_trust_store_stops_the_function_at_init(bootstraps):
    env = {**CONSUMER, "TLS_TRUST_STORE": "native"}
    api = RuntimeApi("consumer").start()
    proc = api.spawn([str(bootstraps["consumer"])], env, stdout=subprocess.PIPE,
                     stderr=subprocess.STDOUT)
    try:
        out, _ = proc.communicate(timeout=60)
    finally:
        api.stop()
    assert proc.returncode != 0
    assert b"TLS_TRUST_STORE" in out and b"native" in out, out


def _fifo_store(tmp_path: Path) -> dict[str, str]:
    """SSL_CERT_FILE and SSL_CERT_DIR whose certificate files are FIFOs without a writer: a
    process that opens one to read it blocks there."""
    store = tmp_path / "certs"
    store.mkdir()
    os.mkfifo(tmp_path / "bundle.pem")
    os.mkfifo(store / "0123abcd.0")
    return {"SSL_CERT_FILE": str(tmp_path / "bundle.pem"), "SSL_CERT_DIR": str(store)}


@pytest.mark.parametrize("function", sorted(FUNCTIONS))
def test_by_default_no_certificate_file_is_read(bootstraps, endpoint, function, tmp_path):
    """The README's "no certificate file is read at start", and none at the first AWS call."""
    url, _, _ = endpoint
    env, payload = FUNCTIONS[function]
    run = Run(bootstraps[function], {**env, "AWS_ENDPOINT_URL": url, **_fifo_store(tmp_path)})
    try:
        ok, error, _ = run.invoke(payload(), timeout=60)
    finally:
        run.lines()
    assert not ok and error["errorType"] == "RegistryUnavailable", error


def test_the_system_store_is_read_so_the_fifo_would_show_a_read(bootstraps, tmp_path):
    """The check above can fail: with `system` the consumer reads the machine's store at start,
    and blocks on the FIFO instead of asking for its first event."""
    env = {**CONSUMER, "TLS_TRUST_STORE": "system", **_fifo_store(tmp_path)}
    api = RuntimeApi("consumer").start()
    proc = api.spawn([str(bootstraps["consumer"])], env, stdout=subprocess.DEVNULL,
                     stderr=subprocess.DEVNULL)
    try:
        with pytest.raises(TimeoutError):
            api.wait_ready(timeout=10)
        assert proc.poll() is None, "the consumer exited instead of blocking on the store"
    finally:
        proc.kill()
        proc.wait(timeout=10)
        api.stop()
