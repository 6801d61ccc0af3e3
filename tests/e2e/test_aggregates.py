"""Windowed aggregates and the publish envelope through the whole pipeline: producer Lambda →
Kafka → local event source mapping → consumer Lambda (through the AWS fault proxy) → readings and
aggregates tables.

The aggregates are checked against a reference computed from the readings table itself
(`harness.assert_aggregates_match`).
"""

from __future__ import annotations

import json

import pytest

from harness import (EventSourceMapping, FaultProxy, LambdaFunction, assert_aggregates_match,
                     committed_offsets, consumer_env, count_items, producer_env, read_topic,
                     rewind_group, scan_items, stop_function_tree, wait_committed, wait_until)

GROUP = "sensor-consumer-esm"
BASE_TS = 1_790_000_000_000
DEVICES = 7


def readings(start: int, n: int) -> list[dict]:
    """Readings start..start+n-1 over DEVICES devices and, 97 ms apart, 17 one-minute windows;
    `temperature` is a long in the first 5,000 and a double after (a new schema version),
    `humidity` is in every third."""
    out = []
    for i in range(start, start + n):
        e = {"deviceId": f"dev-{i % DEVICES}", "timestamp": BASE_TS + i * 97}
        e["temperature"] = i % 41 - 10 if i < 5000 else (i % 97) / 4 - 3.3
        if i % 3 == 0:
            e["humidity"] = round(0.305 + (i % 50) / 100, 3)
        out.append(e)
    return out


# The stack (conftest) with the HTTP fault proxy in front of moto.
STACK_PROXY_PORTS = ("MOTO_PROXY_PORT",)


@pytest.fixture
def run(stack, tmp_path):
    stack.run("reset", timeout=300)
    # AWS authorises SendMessageBatch as sqs:SendMessage; moto checks an action of its own.
    user = stack.env["CONSUMER_LAMBDA_USER_ARN"].rsplit("/", 1)[1]
    stack.client("iam", "consumer_admin").put_user_policy(
        UserName=user, PolicyName="moto-sqs-send-message-batch",
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "sqs:SendMessageBatch", "Resource": "*"}]}))
    started: list = []
    yield stack, tmp_path / "logs", started
    FaultProxy(stack.env).reset()
    for p in reversed(started):
        stop_function_tree(p) if isinstance(p, LambdaFunction) else p.stop()


def start_esm(env, consumer, logs, started, name):
    esm = EventSourceMapping(env, consumer, logs / name, batch_size=250, window_ms=200,
                             group_id=GROUP, aws_endpoint=env["AWS_PROXY_ENDPOINT_URL"])
    esm.args += ["--function-timeout-ms", "30000"]
    started.append(esm)
    return esm.start()


def test_aggregates_equal_the_readings_under_throttling_and_a_restart_from_older_offsets(run):
    stack, logs, started = run
    env = stack.env
    aws = FaultProxy(env)
    producer = LambdaFunction("sensor-producer", "producer", producer_env(env), logs)
    consumer = LambdaFunction("sensor-consumer", "consumer",
                              consumer_env(env, env["AWS_PROXY_ENDPOINT_URL"]), logs)
    started += [producer.start(), consumer.start()]
    esm = start_esm(env, consumer, logs, started, "esm-1")

    acked = {}
    for b in range(10):
        ok, body = producer.invoke(readings(b * 1000, 1000))
        assert ok and body["statusCode"] == 200, body
        for i, d in enumerate(body["records"]):
            acked[b * 1000 + i] = (d["partition"], d["offset"])
    # Mid-run, by the consumer's progress: aggregate writes throttled after the readings went in
    # (more than the SDK's own retries absorb, so batches fail part way), then every DynamoDB
    # call, reads of the windows included.
    assert wait_until(lambda: aws.count("passed", "dynamodb:PutItem") >= 30, 120, interval=0.05)
    aws.fault("throttle", "dynamodb:PutItem", count=40)
    assert wait_until(lambda: aws.state()["mode"] == "pass", 120, interval=0.1)
    gets = aws.count("passed", "dynamodb:BatchGetItem")
    assert wait_until(lambda: aws.count("passed", "dynamodb:BatchGetItem") >= gets + 3, 120, interval=0.05)
    aws.fault("throttle", "dynamodb", count=40)
    assert wait_committed(env, GROUP, acked.values(), 300), committed_offsets(
        env["KAFKA_BOOTSTRAP_SERVERS"], GROUP, env["KAFKA_TOPIC"])
    faulted = aws.state()["faulted"]
    assert faulted.get("dynamodb:PutItem", 0) >= 40, faulted
    assert faulted.get("dynamodb:BatchGetItem", 0) + faulted.get("dynamodb:BatchWriteItem", 0) > 0, faulted
    failed = [ln for ln in (logs / "esm-1" / "local-esm.log").read_text().splitlines()
              if "invocation failed; retrying the batch" in ln]
    assert failed, "no batch failed part way"
    assert count_items(stack) == 10_000
    windows = assert_aggregates_match(stack)
    assert windows >= DEVICES * 16, windows

    # The mapping restarted 2,000 records back on every partition: the readings are written
    # again, the aggregates are read and left alone.
    esm.stop()
    back = rewind_group(env["KAFKA_BOOTSTRAP_SERVERS"], GROUP, env["KAFKA_TOPIC"], 2000)
    assert all(o > 0 for o in back.values()), back
    puts = aws.count("passed", "dynamodb:PutItem")
    writes = aws.count("passed", "dynamodb:BatchWriteItem")
    start_esm(env, consumer, logs, started, "esm-2")
    assert wait_committed(env, GROUP, acked.values(), 300)
    assert aws.count("passed", "dynamodb:BatchWriteItem") > writes, "the older records were handled again"
    assert aws.count("passed", "dynamodb:PutItem") == puts, "a redelivered reading changed an aggregate"
    assert count_items(stack) == 10_000
    assert assert_aggregates_match(stack) == windows


def test_envelope_key_and_headers_reach_kafka_and_the_item(run):
    stack, logs, started = run
    env = stack.env
    producer = LambdaFunction("sensor-producer", "producer",
                              producer_env(env, EVENT_ENVELOPE="true"), logs)
    consumer = LambdaFunction("sensor-consumer", "consumer", consumer_env(env), logs)
    started += [producer.start(), consumer.start()]
    start_esm(env, consumer, logs, started, "esm")

    # Refused with nothing produced.
    for bad in ({"body": {"t": 1}, "headers": {"attempt": 2}}, {"body": {"t": 1}, "key": ""},
                {"body": {"t": 1}, "partition": 1}):
        ok, body = producer.invoke(bad)
        assert ok and body["statusCode"] == 400 and body["message"].startswith("publish envelope: "), body
    headers = {"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
               "source": "gateway-3"}
    ok, body = producer.invoke({"body": [{"deviceId": "env-1", "t": 1}, {"deviceId": "env-2", "t": 2}],
                                "key": "site-3", "headers": headers})
    assert ok and body["statusCode"] == 200, body
    ok, plain = producer.invoke({"body": {"deviceId": "env-3", "t": 3}})
    assert ok and plain["statusCode"] == 200, plain
    acked = [(d["partition"], d["offset"]) for d in body["records"] + plain["records"]]
    assert wait_committed(env, GROUP, acked, 120)

    messages = read_topic(env["KAFKA_BOOTSTRAP_SERVERS"], env["KAFKA_TOPIC"])
    assert len(messages) == 3, "the refused envelopes produced nothing"
    keys = {(m.partition, m.offset): m.key for m in messages}
    assert [keys[c] for c in acked] == [b"site-3", b"site-3", b"env-3"]
    items = {i["deviceId"]: i for i in scan_items(stack)}
    assert items["env-1"]["_kafkaHeaders"] == headers
    assert items["env-2"]["_kafkaHeaders"] == headers
    assert "_kafkaHeaders" not in items["env-3"]
    assert "body" not in items["env-1"] and items["env-1"]["t"] == 1
    # The aggregates of each device's window came along.
    aggregates = scan_items(stack, env["AGGREGATES_TABLE"])
    assert sorted((a["deviceId"], a["count"], a["fields"]["t"]["sum"]) for a in aggregates) == [
        ("env-1", 1, 1), ("env-2", 1, 2), ("env-3", 1, 3)]
