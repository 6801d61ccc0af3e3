"""Operating the pipeline with `sensorctl`, end to end on the local stack.

`plan` on the demo's events, against the live (empty) registry, predicts the versions the
producer then registers, and registers nothing itself. A consumer reading schemas from the wrong
region dead-letters every reading (unknown schema version), one of them too large for the queue
(the letter leaves the record out); `dlq list` shows them by reason with their coordinates and
version ids; with the configuration fixed, `dlq redrive` stores them through the consumer's own
decoding (the large one read back from Kafka) and empties the queue; a second redrive stores
nothing; a record that can never be decoded stays in the queue with its reason.
"""

from __future__ import annotations

import json
import os
import subprocess

import avro.schema
import pytest
from avro.compatibility import ReaderWriterCompatibilityChecker, SchemaCompatibilityType

from harness import (ROOT, TARGET_DIR, EventSourceMapping, LambdaFunction, consumer_env, count_items,
                     produce_raw, producer_env, queue_depth, scan_items, start_stack,
                     wait_committed, wait_until)

EVENTS = ROOT / "producer-account" / "events"
DEMO = ["empty", "temperature", "empty"]
SENSORCTL = TARGET_DIR / "debug" / "sensorctl"
GROUP = "sensor-consumer-esm"


def sensorctl(env: dict, *args: str, stdin: str | None = None, expect: int = 0) -> subprocess.CompletedProcess:
    res = subprocess.run([str(SENSORCTL), *args], input=stdin, env={"PATH": os.environ["PATH"], **env},
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == expect, f"sensorctl {' '.join(args)} exited {res.returncode}:\n{res.stdout}\n{res.stderr}"
    return res


def operator_env(env: dict) -> dict:
    """The consumer's configuration with the consumer account's operator credentials (the
    function's own identity may only send to the queue)."""
    return consumer_env(env, AWS_ACCESS_KEY_ID=env["CONSUMER_ADMIN_ACCESS_KEY_ID"],
                        AWS_SECRET_ACCESS_KEY=env["CONSUMER_ADMIN_SECRET_ACCESS_KEY"])


def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def backward_compatible(new: str, old: str) -> bool:
    """Apache avro's reference checker: readers of `new` read data written with `old`."""
    result = ReaderWriterCompatibilityChecker().get_compatibility(avro.schema.parse(new), avro.schema.parse(old))
    return result.compatibility is SchemaCompatibilityType.compatible


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    s = start_stack(tmp_path_factory.mktemp("operations") / "stack")
    try:
        yield s
    finally:
        s.run("down", check=False, timeout=120)


def test_plan_then_poison_then_redrive(stack, tmp_path):
    env = stack.env
    glue = stack.client("glue", "producer_admin")
    schema_id = {"RegistryName": env["REGISTRY_NAME"], "SchemaName": env["SCHEMA_NAME"]}

    # --- plan: the demo's events, one per line, against the live registry
    events = [json.loads((EVENTS / f"{name}.json").read_text()) for name in DEMO]
    events_file = tmp_path / "demo-events.jsonl"
    events_file.write_text("".join(json.dumps(e) + "\n" for e in events))
    steps = json_lines(sensorctl(producer_env(env), "plan", "--json", str(events_file)).stdout)
    assert [(s["action"], s["version"]) for s in steps] == [("register", 1), ("register", 2), ("reuse", 2)]
    assert steps[1]["diff"] == ['+ temperature: ["null","long"] (default null)']
    assert backward_compatible(steps[1]["definition"], steps[0]["definition"])
    with pytest.raises(glue.exceptions.EntityNotFoundException):
        glue.get_schema(SchemaId=schema_id)  # planning registered nothing
    text = sensorctl(producer_env(env), "plan", str(events_file)).stdout
    assert "line 1: register v1 (BACKWARD), creating the schema" in text, text

    # --- the pipeline, with a consumer that reads schemas in the wrong region
    logs = tmp_path / "logs"
    producer = LambdaFunction("sensor-producer", "producer", producer_env(env), logs).start()
    consumer = LambdaFunction("sensor-consumer", "consumer", consumer_env(env, PRODUCER_REGION="eu-west-3"),
                              logs).start()
    esm = EventSourceMapping(env, consumer, logs, group_id=GROUP).start()
    try:
        answers = []
        for e in events:
            ok, body = producer.invoke(e)
            assert ok and body["statusCode"] == 200, body
            answers.append(body)
        # What the demo registers is what the plan said, to the byte.
        for n, step in ((1, steps[0]), (2, steps[1])):
            v = glue.get_schema_version(SchemaId=schema_id, SchemaVersionNumber={"VersionNumber": n})
            assert v["SchemaDefinition"] == step["definition"]
        assert [a["schemaVersionNumber"] for a in answers] == [1, 2, 2]
        with pytest.raises(glue.exceptions.EntityNotFoundException):
            glue.get_schema_version(SchemaId=schema_id, SchemaVersionNumber={"VersionNumber": 3})

        # A reading whose letter would not fit the queue (256 KiB): the letter leaves it out.
        ok, big = producer.invoke({"temperature": 31, "note": "x" * 220_000})
        assert ok and big["statusCode"] == 200, big
        answers.append(big)
        coordinates = [(r["partition"], r["offset"]) for a in answers for r in a["records"]]
        assert wait_committed(env, GROUP, coordinates, timeout=120)
        assert wait_until(lambda: queue_depth(stack, env["DEAD_LETTER_QUEUE_URL"]) == 4, 30)
    finally:
        esm.stop()
        consumer.stop()
    assert count_items(stack) == 0

    # --- dlq list: grouped by reason, coordinates and version ids
    operator = operator_env(env)
    listing = json.loads(sensorctl(operator, "dlq", "list", "--json").stdout)
    assert listing["total"] == 4 and listing["unreadable"] == []
    assert [c["class"] for c in listing["classes"]] == ["UnknownSchemaVersion"]
    letters = [e for r in listing["classes"][0]["reasons"] for e in r["letters"]]
    assert sorted((e["partition"], e["offset"]) for e in letters) == sorted(coordinates)
    by_offset = {(e["partition"], e["offset"]): e for e in letters}
    for a in answers:
        for r in a["records"]:
            entry = by_offset[(r["partition"], r["offset"])]
            assert entry["schemaVersionId"] == a["schemaVersionId"], (entry, listing)
    big_at = (big["records"][0]["partition"], big["records"][0]["offset"])
    assert [k for k, e in by_offset.items() if e["omitted"]] == [big_at]
    shown = json_lines(sensorctl(operator, "dlq", "show", "--partition", str(big_at[0])).stdout)
    assert any(s["offset"] == big_at[1] and s["class"] == "UnknownSchemaVersion" and s["value"] is None
               for s in shown), shown
    assert queue_depth(stack, env["DEAD_LETTER_QUEUE_URL"]) == 4, "listing gives every letter back"

    # --- redrive --dry-run: what would happen, nothing done
    dry = json.loads(sensorctl(operator, "dlq", "redrive", "--dry-run", "--json",
                               "--broker-secret-arn", env["BROKER_SECRET_ARN"]).stdout)
    assert (dry["stored"], dry["failing"], dry["fetched"]) == (4, 0, 1), dry
    assert count_items(stack) == 0
    assert queue_depth(stack, env["DEAD_LETTER_QUEUE_URL"]) == 4

    # --- redrive: the right region (the consumer's configuration), every reading stored
    report = json.loads(sensorctl(operator, "dlq", "redrive", "--json",
                                  "--broker-secret-arn", env["BROKER_SECRET_ARN"]).stdout)
    assert (report["selected"], report["stored"], report["failing"], report["skipped"]) == (4, 4, 0, 0), report
    assert [(o["partition"], o["offset"]) for o in report["outcomes"]] == sorted(coordinates)
    assert queue_depth(stack, env["DEAD_LETTER_QUEUE_URL"]) == 0
    items = scan_items(stack)
    assert sorted(i["_readingId"] for i in items) == sorted(r["readingId"] for a in answers for r in a["records"])
    by_id = {i["_readingId"]: i for i in items}
    for a, temperature in zip(answers, [None, 30, None, 31]):
        item = by_id[a["records"][0]["readingId"]]
        assert item["_schemaVersionId"] == a["schemaVersionId"]
        assert item.get("temperature") == temperature
    assert len(by_id[big["records"][0]["readingId"]]["note"]) == 220_000

    # --- a second redrive stores nothing
    again = json.loads(sensorctl(operator, "dlq", "redrive", "--json").stdout)
    assert (again["selected"], again["stored"]) == (0, 0), again
    assert scan_items(stack) == items

    # --- a record nothing can decode stays, with its reason
    consumer = LambdaFunction("sensor-consumer", "consumer", consumer_env(env), logs).start()
    esm = EventSourceMapping(env, consumer, logs, group_id=GROUP).start()
    try:
        [at] = produce_raw(env["KAFKA_BOOTSTRAP_SERVERS"], env["KAFKA_TOPIC"], [(b"000001", b"not an Avro record")])
        assert wait_committed(env, GROUP, [at], timeout=120)
        assert wait_until(lambda: queue_depth(stack, env["DEAD_LETTER_QUEUE_URL"]) == 1, 30)
    finally:
        esm.stop()
        consumer.stop()
        producer.stop()
    poison = json.loads(sensorctl(operator, "dlq", "redrive", "--json").stdout)
    assert [(o["partition"], o["offset"], o["result"]) for o in poison["outcomes"]] == [(*at, "failing")]
    assert poison["outcomes"][0]["reason"] == poison["outcomes"][0]["previousReason"]
    assert poison["outcomes"][0]["reason"].startswith("not Glue framing")
    listing = json.loads(sensorctl(operator, "dlq", "list", "--json", "--reason", "NotGlueFraming").stdout)
    assert listing["total"] == 1
    entry = listing["classes"][0]["reasons"][0]["letters"][0]
    assert (entry["partition"], entry["offset"]) == at
    assert scan_items(stack) == items

    # --- plan under the schema's own mode: the producer would widen long to double (BACKWARD);
    # with the schema set to FORWARD in the registry, the plan refuses what the registry would
    # (Apache avro's checker agrees), and registers nothing either way.
    latest = glue.get_schema_version(SchemaId=schema_id, SchemaVersionNumber={"LatestVersion": True})
    warmer = '{"temperature": 30.5}\n'
    [widen] = json_lines(sensorctl(producer_env(env), "plan", "--json", stdin=warmer).stdout)
    assert (widen["action"], widen["version"]) == ("register", latest["VersionNumber"] + 1), widen
    assert widen["diff"] == ['~ temperature: ["null","long"] (default null) → ["null","double"] (default null)']
    assert backward_compatible(widen["definition"], latest["SchemaDefinition"])
    assert not backward_compatible(latest["SchemaDefinition"], widen["definition"])  # not FORWARD
    glue.update_schema(SchemaId=schema_id, Compatibility="FORWARD")
    [refused] = json_lines(sensorctl(producer_env(env), "plan", "--json", stdin=warmer).stdout)
    assert (refused["action"], refused["refusal"], refused["compatibility"]) == ("refuse", "Incompatible", "FORWARD")
    assert "the schema's mode in the registry" in refused["reason"], refused
    after = glue.get_schema_version(SchemaId=schema_id, SchemaVersionNumber={"LatestVersion": True})
    assert after["SchemaVersionId"] == latest["SchemaVersionId"]
