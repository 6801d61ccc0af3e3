"""Each bootstrap as Lambda runs it: errors reach the Runtime API as named classes, logs follow
AWS_LAMBDA_LOG_FORMAT and AWS_LAMBDA_LOG_LEVEL with the request id on every invocation line,
and metrics are EMF lines."""

from __future__ import annotations

import base64
import json
import subprocess
import uuid
from pathlib import Path

import pytest

from runtime_api import RuntimeApi

ROOT = Path(__file__).resolve().parents[2]
CLOSED = "http://127.0.0.1:9"  # nothing listens: every AWS call is a connection failure

AWS = {"AWS_ENDPOINT_URL": CLOSED, "AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "AKIDTEST",
       "AWS_SECRET_ACCESS_KEY": "secret", "AWS_EC2_METADATA_DISABLED": "true",
       "AWS_MAX_ATTEMPTS": "2"}
CONSUMER = {**AWS, "SCHEMA_READER_ROLE_ARN": "arn:aws:iam::111111111111:role/reader",
            "SCHEMA_READER_EXTERNAL_ID": "x", "READINGS_TABLE": "readings", "AGGREGATES_TABLE": "aggregates",
            "DEAD_LETTER_QUEUE_URL": f"{CLOSED}/222222222222/dlq"}
PRODUCER = {**AWS, "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9", "REGISTRY_NAME": "r",
            "SCHEMA_NAME": "s", "DEVICE_ID": "d1", "DELIVERY_TIMEOUT_MS": "1000"}


def kafka_event(values: list[bytes]) -> dict:
    text = (ROOT / "consumer-account/tests/fixtures/self_managed_event.json").read_text()
    for i in range(3):
        v = values[i] if i < len(values) else values[-1]
        text = text.replace(f"__VALUE_{i}__", base64.b64encode(v).decode())
    return json.loads(text)


def glue_frame() -> bytes:
    return b"\x03\x00" + uuid.uuid4().bytes + b"\x02d\x02"


class Run:
    """One bootstrap, its invocations and its output lines."""

    def __init__(self, binary: Path, env: dict[str, str]):
        self.api = RuntimeApi(binary.name).start()
        self.proc = self.api.spawn([str(binary)], env, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT)
        self.init_seconds = self.api.wait_ready()
        self.request_ids: list[str] = []

    def invoke(self, payload, timeout: float = 90):
        before = set(self.api.results)
        out = self.api.invoke(payload, timeout)
        self.request_ids += [r for r in self.api.results if r not in before]
        return out

    def lines(self) -> list[str]:
        self.proc.kill()
        out, _ = self.proc.communicate(timeout=10)
        self.api.stop()
        return out.decode(errors="replace").splitlines()


def json_lines(lines: list[str]) -> tuple[list[dict], list[dict]]:
    """(log lines, EMF lines); fails on a line that is not JSON."""
    logs, emf = [], []
    for ln in lines:
        doc = json.loads(ln)
        (emf if "_aws" in doc else logs).append(doc)
    return logs, emf


def check_emf(doc: dict) -> None:
    directive = doc["_aws"]["CloudWatchMetrics"][0]
    assert directive["Namespace"] == "SensorPipeline"
    assert isinstance(doc["_aws"]["Timestamp"], int)
    for dims in directive["Dimensions"]:
        assert all(isinstance(doc[d], str) for d in dims), doc
    for m in directive["Metrics"]:
        assert isinstance(doc[m["Name"]], (int, float)), (m, doc)


def test_json_logs_carry_the_request_id_and_metrics_are_emf(bootstraps):
    run = Run(bootstraps["consumer"], {**CONSUMER, "AWS_LAMBDA_LOG_FORMAT": "JSON"})
    ok, answer, _ = run.invoke({"eventSource": "SelfManagedKafka", "records": {}})
    assert ok and answer["received"] == 0, answer
    logs, emf = json_lines(run.lines())
    ready = [d for d in logs if d["message"] == "consumer ready"]
    assert ready and ready[0]["level"] == "INFO" and "requestId" not in ready[0]
    stored = [d for d in logs if d["message"] == "batch stored"]
    assert len(stored) == 1, logs
    assert stored[0]["requestId"] == run.request_ids[0]
    assert stored[0]["level"] == "INFO" and stored[0]["received"] == 0
    assert stored[0]["timestamp"].endswith("Z")
    assert len(emf) == 1
    check_emf(emf[0])
    assert emf[0]["Function"] == "consumer" and emf[0]["Received"] == 0


def test_the_log_level_filters_and_outages_are_named_classes(bootstraps):
    env = {**CONSUMER, "AWS_LAMBDA_LOG_FORMAT": "JSON", "AWS_LAMBDA_LOG_LEVEL": "ERROR",
           "RUST_LOG": "debug"}
    run = Run(bootstraps["consumer"], env)
    # STS is unreachable: the assumed role's credentials cannot be fetched.
    ok, error, _ = run.invoke(kafka_event([glue_frame()]))
    assert not ok
    assert error["errorType"] == "RegistryUnavailable", error
    assert error["errorMessage"].startswith("retryable: schema registry: registry unavailable: "
                                            "GetSchemaVersion: "), error
    assert "::" not in error["errorType"]
    logs, emf = json_lines(run.lines())
    assert logs, "the failure is logged"
    assert {d["level"] for d in logs} == {"ERROR"}, logs
    failed = [d for d in logs if d["message"].startswith("batch failed")]
    assert failed[0]["requestId"] == run.request_ids[0]
    assert failed[0]["error_type"] == "RegistryUnavailable"
    assert [d["ErrorType"] for d in emf] == ["RegistryUnavailable"]
    check_emf(emf[0])
    assert emf[0]["Failed"] == 1


@pytest.mark.parametrize("fmt", [None, "Text"])
def test_text_logs_name_the_request_in_their_span(bootstraps, fmt):
    env = {**CONSUMER, **({"AWS_LAMBDA_LOG_FORMAT": fmt} if fmt else {})}
    run = Run(bootstraps["consumer"], env)
    assert run.invoke({"eventSource": "SelfManagedKafka", "records": {}})[0]
    lines = run.lines()
    stored = [ln for ln in lines if "batch stored" in ln]
    assert len(stored) == 1, lines
    assert stored[0].lstrip().startswith("INFO"), stored[0]
    assert f'requestId="{run.request_ids[0]}"' in stored[0], stored[0]
    with pytest.raises(ValueError):
        json.loads(stored[0])
    assert sum(ln.startswith("{") and "_aws" in json.loads(ln) for ln in lines) == 1


def test_fatal_keeps_errors_only(bootstraps):
    run = Run(bootstraps["consumer"], {**CONSUMER, "AWS_LAMBDA_LOG_LEVEL": "FATAL",
                                       "AWS_LAMBDA_LOG_FORMAT": "JSON"})
    assert run.invoke({"eventSource": "SelfManagedKafka", "records": {}})[0]
    logs, emf = json_lines(run.lines())
    assert logs == [] and len(emf) == 1


def test_the_producer_names_a_registry_outage_and_counts_its_invocations(bootstraps):
    run = Run(bootstraps["producer"], {**PRODUCER, "AWS_LAMBDA_LOG_FORMAT": "JSON"})
    ok, error, _ = run.invoke({"temperature": 21.5})
    assert not ok
    assert error["errorType"] == "RegistryUnavailable", error
    assert error["errorMessage"].startswith("retryable: "), error
    ok, answer, _ = run.invoke("not an object")
    assert ok and answer["statusCode"] == 400, answer
    logs, emf = json_lines(run.lines())
    failed = [d for d in logs if d["message"] == "invocation failed"]
    assert failed and failed[0]["requestId"] == run.request_ids[0]
    for doc in emf:
        check_emf(doc)
    assert [d.get("ErrorType") for d in emf if "Failed" in d] == ["RegistryUnavailable"]
    main = [d for d in emf if "Readings" in d]
    assert main and main[0]["Readings"] == 0 and main[0]["Refused"] == 1
    assert main[0]["Batches"] == 1 and main[0]["RegistryCalls"] == 0
    assert [d["Reason"] for d in emf if "Reason" in d] == ["Shape"]
