"""The schema-evolution scenario through the real pipeline: producer Lambda → Glue registry (moto)
→ Kafka (tansu) → local event source mapping → consumer Lambda (assumed role) → DynamoDB."""

from __future__ import annotations

import json

import pytest

from harness import (ROOT, EventSourceMapping, LambdaFunction, consumer_env, producer_env,
                     start_stack, wait_for_items)

EVENTS = ROOT / "producer-account" / "events"


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    d = tmp_path_factory.mktemp("pipeline")
    stack = start_stack(d / "stack")
    env = stack.env
    producer = LambdaFunction("sensor-producer", "producer", producer_env(env), d / "logs").start()
    consumer = LambdaFunction("sensor-consumer", "consumer", consumer_env(env), d / "logs").start()
    esm = EventSourceMapping(env, consumer, d / "logs").start()
    yield stack, producer, consumer, esm
    esm.stop()
    consumer.stop()
    producer.stop()
    stack.run("down")


def test_schema_evolution_scenario(pipeline):
    stack, producer, _consumer, _esm = pipeline
    answers = []
    for name in ["empty", "temperature", "empty"]:
        ok, body = producer.invoke(json.loads((EVENTS / f"{name}.json").read_text()))
        assert ok, body
        assert body["statusCode"] == 200, body
        answers.append(body)
    assert [a["schemaVersionNumber"] for a in answers] == [1, 2, 2]
    assert answers[1]["schemaVersionId"] == answers[2]["schemaVersionId"]

    env = stack.env
    glue = stack.client("glue", "producer_admin")
    schema_id = {"RegistryName": env["REGISTRY_NAME"], "SchemaName": env["SCHEMA_NAME"]}
    latest = glue.get_schema_version(SchemaId=schema_id, SchemaVersionNumber={"LatestVersion": True})
    assert latest["VersionNumber"] == 2
    v1 = json.loads(glue.get_schema_version(SchemaId=schema_id,
                                            SchemaVersionNumber={"VersionNumber": 1})["SchemaDefinition"])
    v2 = json.loads(latest["SchemaDefinition"])
    assert [f["name"] for f in v1["fields"]] == ["deviceId", "timestamp"]
    assert [f["name"] for f in v2["fields"]] == ["deviceId", "timestamp", "temperature"]

    assert wait_for_items(stack, 3, timeout=90) == 3
    ddb = stack.client("dynamodb", "consumer_admin")
    items = ddb.scan(TableName=env["READINGS_TABLE"])["Items"]
    items.sort(key=lambda i: int(i["timestamp"]["N"]))
    assert [i.get("temperature", {}).get("N") for i in items] == [None, "30", None]
    assert [i["_schemaVersionId"]["S"] for i in items] == [a["schemaVersionId"] for a in answers]
    assert all(i["deviceId"]["S"] == "000001" for i in items)
