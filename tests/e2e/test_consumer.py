"""The consumer Lambda on the local stack, IAM enforcement on: producer Lambda (or raw Kafka
records) → Kafka (tansu) → local event source mapping → consumer Lambda → DynamoDB / SQS.

Every test gets a table, dead-letter queue, topic, schema and consumer group of its own on the
module's stack, and its own producer, consumer and ESM processes. Outages are injected with the
HTTP fault proxy in front of moto (scripts/stack/faultproxy.py); moto itself is never restarted.

What moto cannot show: it does not evaluate cross-account trust policies or external ids, so a
wrong SCHEMA_READER_EXTERNAL_ID would be accepted. The tests show instead that the consumer's own
keys cannot see the producer's schemas, that the running consumer (its own keys plus the role ARN)
decodes records whose schemas only the producer account holds, and that a role which does not
exist, or may not read schemas, fails the batch until it is fixed.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aws_schema_registry.avro import AvroSchema
from aws_schema_registry.codec import encode as glue_frame
from botocore.exceptions import ClientError
from confluent_kafka import Producer as KafkaProducer

from harness import (EventSourceMapping, FaultProxy, LambdaFunction, Stack, consumer_env,
                     committed_offsets, count_table, create_queue, create_readings_table,
                     create_topic, free_ports, producer_env, queue_depth, receive_all, rewind_group,
                     start_stack, stop_started, wait_for_count, wait_until)

BASE_TS = 1_767_225_600_000
# The deliberate length of an injected outage; everything else waits on a condition.
OUTAGE_SECONDS = 4
FAILED_BATCH = "batch failed; the event source mapping will retry it"
ESM_RETRY = "invocation failed; retrying the batch"


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    s = start_stack(tmp_path_factory.mktemp("consumer") / "stack", MOTO_PROXY_PORT=free_ports(1)[0])
    try:
        allow_sqs_batch_in_moto(s)
        yield s
    finally:
        s.run("down", check=False, timeout=120)


def allow_sqs_batch_in_moto(stack: Stack) -> None:
    """AWS authorises SendMessageBatch with the sqs:SendMessage permission (there is no separate
    IAM action), and that is what the consumer's policy grants, here and in Terraform. moto
    checks "sqs:SendMessageBatch" instead, so the local identity gets that name as well."""
    user = stack.env["CONSUMER_LAMBDA_USER_ARN"].rsplit("/", 1)[1]
    stack.client("iam", "consumer_admin").put_user_policy(
        UserName=user, PolicyName="moto-sqs-send-message-batch",
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "sqs:SendMessageBatch", "Resource": "*"}]}))


@dataclass
class Lane:
    """One test's own resources and processes on the shared stack."""
    stack: Stack
    name: str
    logs: Path
    table: str = ""
    queue_url: str = ""
    topic: str = ""
    started: list = field(default_factory=list)

    @property
    def env(self) -> dict:
        return {**self.stack.env, "READINGS_TABLE": self.table, "DEAD_LETTER_QUEUE_URL": self.queue_url,
                "KAFKA_TOPIC": self.topic, "SCHEMA_NAME": f"sensor-readings-{self.name}"}

    @property
    def group(self) -> str:
        return f"esm-{self.name}"

    def start_producer(self) -> LambdaFunction:
        f = LambdaFunction("sensor-producer", "producer", producer_env(self.env), self.logs)
        self.started.append(f)
        f.start()
        # The first invocation starts the function (`cargo run`, which may wait for other
        # builds' lock). An empty batch is refused before any AWS or Kafka call.
        ok, body = f.invoke([], timeout=900)
        assert ok and body["statusCode"] == 400, body
        return f

    def start_consumer(self, aws_endpoint: str | None = None, **overrides: str) -> LambdaFunction:
        f = LambdaFunction("sensor-consumer", "consumer", consumer_env(self.env, aws_endpoint, **overrides),
                           self.logs)
        self.started.append(f)
        f.start()
        # Started before the ESM sends anything; an empty event makes no AWS call.
        ok, body = f.invoke({"eventSource": "SelfManagedKafka", "records": {}}, timeout=900)
        assert ok and body == {"received": 0, "stored": 0, "deadLettered": 0, "duplicates": 0,
                                "keyCollisions": 0, "aggregatesWritten": 0}, body
        return f

    def start_esm(self, consumer: LambdaFunction, batch_size: int = 100) -> EventSourceMapping:
        esm = EventSourceMapping(self.env, consumer, self.logs, batch_size=batch_size, window_ms=200,
                                 group_id=self.group)
        self.started.append(esm)
        return esm.start()

    def stop(self) -> None:
        stop_started(self.started)

    # -- what the consumer did ---------------------------------------------------------------
    def count(self) -> int:
        return count_table(self.stack, self.table)

    def wait_for(self, n: int, timeout: float = 180) -> int:
        return wait_for_count(self.stack, self.table, n, timeout)

    def wait_all_committed(self, sent: Counter, timeout: float = 120) -> bool:
        """The ESM has committed past every (partition, offset) in `sent`; it commits only after
        the function succeeded."""
        want: dict[int, int] = {}
        for p, o in sent:
            want[p] = max(want.get(p, 0), o + 1)

        def done():
            got = committed_offsets(self.stack.env["KAFKA_BOOTSTRAP_SERVERS"], self.group, self.topic)
            return all(got.get(p, -1) >= o for p, o in want.items())
        return wait_until(done, timeout, interval=0.5)

    def items(self, *attrs: str) -> list[dict]:
        ddb = self.stack.client("dynamodb", "consumer_admin")
        names = {f"#a{i}": a for i, a in enumerate(attrs)}
        kwargs = {"TableName": self.table, "ProjectionExpression": ", ".join(names),
                  "ExpressionAttributeNames": names}
        out = []
        while True:
            page = ddb.scan(**kwargs)
            out.extend({k: next(iter(v.values())) for k, v in i.items()} for i in page["Items"])
            if "LastEvaluatedKey" not in page:
                return out
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def stored_coordinates(self) -> Counter:
        """(partition, offset) of every stored item, with multiplicity."""
        return Counter((int(i["_kafkaPartition"]), int(i["_kafkaOffset"]))
                       for i in self.items("_kafkaPartition", "_kafkaOffset", "_kafkaTopic")
                       if i["_kafkaTopic"] == self.topic)

    def dead_letter_depth(self) -> int:
        return queue_depth(self.stack, self.queue_url)


@pytest.fixture
def lane(stack, request, tmp_path):
    name = re.sub(r"[^a-z0-9]+", "-", request.node.name.removeprefix("test_").lower()).strip("-")
    if len(name) > 40:  # resource names have limits; keep parametrised tests apart
        name = f"{name[:33]}-{hashlib.sha1(name.encode()).hexdigest()[:6]}"
    ln = Lane(stack, name, tmp_path / "logs")
    ln.table = create_readings_table(stack, f"readings-{name}")
    ln.queue_url = create_queue(stack, f"dlq-{name}")
    ln.topic = create_topic(stack, f"readings-{name}")
    try:
        yield ln
    finally:
        FaultProxy(stack.env).heal()
        ln.stop()


def log_lines(fn: LambdaFunction | EventSourceMapping, text: str) -> list[str]:
    name = "local-esm" if isinstance(fn, EventSourceMapping) else fn.binary
    path = fn.log_dir / f"{name}.log"
    if not path.exists():
        return []
    return [ln for ln in path.read_text(errors="replace").splitlines() if text in ln]


def readings(start: int, n: int, shape: int) -> list[dict]:
    """Events start..start+n with distinct keys; shape 0..4 adds one field at a time, so each
    shape needs a new schema version."""
    out = []
    for i in range(start, start + n):
        e = {"deviceId": f"dev-{i % 97:03d}", "timestamp": BASE_TS + i,
             "temperature": round(15.25 + (i % 200) / 8, 2)}
        if shape >= 1:
            e["humidity"] = round(0.3 + (i % 50) / 100, 2)
        if shape >= 2:
            e["location"] = {"lat": 59.25 + (i % 10) / 100, "lon": 18.5}
        if shape >= 3:
            e["tags"] = ["indoor" if i % 2 else "outdoor"]
        if shape >= 4:
            e["pressure"] = 1013.25
        out.append(e)
    return out


def produce(producer: LambdaFunction, events: list[dict]) -> dict:
    ok, body = producer.invoke(events)
    assert ok and body["statusCode"] == 200, body
    assert len(body["records"]) == len(events), body["message"]
    return body


def python_bodies(lane: Lane, vid: uuid.UUID):
    """body(i): the Avro body, written by the reference Python library with the writer schema of
    version `vid`, of reading i of device py-001 (temperature set, other fields null)."""
    definition = lane.stack.client("glue", "producer_admin").get_schema_version(
        SchemaVersionId=str(vid))["SchemaDefinition"]
    schema = AvroSchema(definition)
    names = [f["name"] for f in json.loads(definition)["fields"]]

    def body(i: int) -> bytes:
        r = {"deviceId": "py-001", "timestamp": BASE_TS + 50_000 + i, "temperature": 20.5 + i}
        return schema.write({f: r.get(f) for f in names})
    return body


def send_raw(lane: Lane, messages: list[tuple[str, bytes]]) -> dict[str, tuple[int, int, bytes]]:
    """Writes each (label, value) to the lane's topic, round-robin over three partitions, with
    key b"py-<n>" and a header; flushed together. Returns label -> (partition, offset, value)."""
    sent, errors = {}, []

    def delivered(label):
        def cb(err, msg):
            if err is not None:
                errors.append(err)
            else:
                sent[label] = (msg.partition(), msg.offset(), msg.value())
        return cb

    kp = KafkaProducer({"bootstrap.servers": lane.stack.env["KAFKA_BOOTSTRAP_SERVERS"],
                        "enable.idempotence": True, "linger.ms": 50})
    for n, (label, value) in enumerate(messages):
        kp.produce(lane.topic, value=value, key=f"py-{n}".encode(), partition=n % 3,
                   headers=[("source", b"test")], on_delivery=delivered(label))
    assert kp.flush(30) == 0 and not errors, errors
    assert len(sent) == len(messages)
    return sent


def coordinates(*answers: dict) -> Counter:
    return Counter((r["partition"], r["offset"]) for a in answers for r in a["records"])


# ---------------------------------------------------------------------------------------------
# Cross-account schema access


def test_schemas_are_read_only_through_the_assumed_role(lane):
    stack, env = lane.stack, lane.stack.env
    proxy = FaultProxy(env)
    proxy.reset()
    producer = lane.start_producer()
    # Through the (passing) proxy, so that every AWS call of the consumer is counted.
    consumer = lane.start_consumer(aws_endpoint=proxy.endpoint)
    lane.start_esm(consumer)
    answers = [produce(producer, readings(0, 60, 0)), produce(producer, readings(60, 40, 1))]
    versions = [a["schemaVersionId"] for a in answers]
    assert len(set(versions)) == 2

    # The consumer account cannot see the producer's schema versions with its own keys: the
    # Lambda identity is denied Glue altogether, and even the account's admin finds nothing,
    # by version id or by the schema's full ARN.
    own = stack.client("glue", "consumer")
    admin = stack.client("glue", "consumer_admin")
    for vid in versions:
        with pytest.raises(ClientError) as denied:
            own.get_schema_version(SchemaVersionId=vid)
        assert denied.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
        with pytest.raises(ClientError) as missing:
            admin.get_schema_version(SchemaVersionId=vid)
        assert missing.value.response["Error"]["Code"] == "EntityNotFoundException"
    producer_glue = stack.client("glue", "producer_admin")
    schema_arn = producer_glue.get_schema(SchemaId={"RegistryName": env["REGISTRY_NAME"],
                                                    "SchemaName": lane.env["SCHEMA_NAME"]})["SchemaArn"]
    with pytest.raises(ClientError) as missing:
        admin.get_schema_version(SchemaId={"SchemaArn": schema_arn},
                                 SchemaVersionNumber={"LatestVersion": True})
    assert missing.value.response["Error"]["Code"] == "EntityNotFoundException"
    # Through the role they are there, exactly as the producer registered them.
    through_role = stack.client("glue", stack.assume_reader_role())
    for vid in versions:
        assert (through_role.get_schema_version(SchemaVersionId=vid)["SchemaDefinition"]
                == producer_glue.get_schema_version(SchemaVersionId=vid)["SchemaDefinition"])

    # The running consumer holds its own keys and the role ARN, nothing of the producer's...
    assert consumer.env["AWS_ACCESS_KEY_ID"] == env["CONSUMER_ACCESS_KEY_ID"]
    producer_keys = {env["PRODUCER_ACCESS_KEY_ID"], env["PRODUCER_ADMIN_ACCESS_KEY_ID"]}
    assert not producer_keys & set(consumer.env.values())
    # ...and stores readings whose schemas live only in the producer account.
    assert lane.wait_for(100) == 100
    assert lane.wait_all_committed(coordinates(*answers))
    spread = Counter(i["_schemaVersionId"] for i in lane.items("_schemaVersionId"))
    assert spread == {versions[0]: 60, versions[1]: 40}
    assert lane.stored_coordinates() == coordinates(*answers)
    # It went through STS, then one Glue lookup per version (the cache answers the rest).
    assert proxy.count("passed", "sts:AssumeRole") >= 1
    assert proxy.count("passed", "glue:GetSchemaVersion") == 2
    assert proxy.count("passed", "glue:") == 2
    assert lane.dead_letter_depth() == 0


def test_a_role_that_cannot_be_used_fails_the_batch_until_fixed(lane):
    stack, env = lane.stack, lane.stack.env
    iam = stack.client("iam", "producer_admin")
    role = f"reader-{lane.name}"[:64]
    with pytest.raises(ClientError):
        iam.get_role(RoleName=role)
    producer = lane.start_producer()
    consumer = lane.start_consumer(
        SCHEMA_READER_ROLE_ARN=f"arn:aws:iam::{env['PRODUCER_ACCOUNT_ID']}:role/{role}")
    esm = lane.start_esm(consumer)
    answer = produce(producer, readings(0, 150, 0))

    def failures() -> list[str]:
        return log_lines(consumer, FAILED_BATCH)

    # 1. The role does not exist. (AWS: STS refuses AssumeRole with AccessDenied; moto hands out
    # credentials anyway and answers the Glue call with a 500.) Either way the invocation fails and
    # the ESM retries the batch: nothing stored, nothing dead-lettered.
    assert wait_until(lambda: log_lines(esm, ESM_RETRY), 180, interval=0.3), "the ESM never retried"
    assert failures()
    assert lane.count() == 0
    assert lane.dead_letter_depth() == 0

    # 2. The role appears but may not read schemas: Glue denies it (enforced by moto); still a
    # failed batch, still not a poison record.
    trust = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": env["CONSUMER_LAMBDA_USER_ARN"]}, "Action": "sts:AssumeRole",
        "Condition": {"StringEquals": {"sts:ExternalId": env["SCHEMA_READER_EXTERNAL_ID"]}}}]}
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps(trust))
    assert wait_until(lambda: "access denied" in failures()[-1], 120, interval=0.3), failures()[-1]
    assert lane.count() == 0
    assert lane.dead_letter_depth() == 0

    # 3. Fixed: the next retry of the very same batch stores every record.
    iam.put_role_policy(RoleName=role, PolicyName="read-schemas", PolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": ["glue:GetSchemaVersion"], "Resource": "*"}]}))
    assert lane.wait_for(150) == 150
    assert lane.wait_all_committed(coordinates(answer))
    assert lane.count() == 150
    assert lane.stored_coordinates() == coordinates(answer)
    assert lane.dead_letter_depth() == 0


# ---------------------------------------------------------------------------------------------
# Volume and schema evolution


def test_ten_thousand_records_over_five_schema_versions(lane):
    producer = lane.start_producer()
    consumer = lane.start_consumer()
    lane.start_esm(consumer, batch_size=500)
    answers = []
    for k in range(10):  # shapes 0,0,1,1,...,4,4: a new schema version every other batch
        answers.append(produce(producer, readings(k * 1000, 1000, k // 2)))
    assert [a["schemaVersionNumber"] for a in answers] == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    expected_spread = Counter()
    for a in answers:
        expected_spread[a["schemaVersionId"]] += len(a["records"])
    assert len(expected_spread) == 5

    assert lane.wait_for(10_000, timeout=300) == 10_000
    assert lane.wait_all_committed(coordinates(*answers))
    assert lane.count() == 10_000
    items = lane.items("timestamp", "_schemaVersionId", "_kafkaPartition", "_kafkaOffset", "location", "tags")
    assert Counter(i["_schemaVersionId"] for i in items) == expected_spread
    # Each reading with the version of its own batch's shape.
    wrong = [i for i in items
             if i["_schemaVersionId"] != answers[(int(i["timestamp"]) - BASE_TS) // 1000]["schemaVersionId"]]
    assert not wrong, f"{len(wrong)} items with another version than their shape's, e.g. {wrong[:3]}"
    assert Counter((int(i["_kafkaPartition"]), int(i["_kafkaOffset"])) for i in items) == coordinates(*answers)
    # Nested records and lists arrive as M and L.
    assert sum("location" in i for i in items) == 6000
    assert sum("tags" in i for i in items) == 4000
    assert lane.dead_letter_depth() == 0


# ---------------------------------------------------------------------------------------------
# Poison records


def test_corrupt_records_are_dead_lettered_with_reason_and_coordinates(lane):
    stack = lane.stack
    producer = lane.start_producer()
    consumer = lane.start_consumer()
    lane.start_esm(consumer)
    first = produce(producer, readings(0, 100, 0))
    vid = uuid.UUID(first["schemaVersionId"])
    body = python_bodies(lane, vid)
    # Good frames written with the reference Python library, and four that can never be read.
    good = [glue_frame(body(i), vid) for i in range(4)] + [glue_frame(body(4), vid, compression=True)]
    poison = {
        "raw": (b"plain text, not a Glue frame", "not Glue framing"),
        "unknown-version": (glue_frame(body(10), uuid.uuid4()), "not found"),
        "truncated-body": (glue_frame(body(11), vid)[:-3], "corrupt body"),
        "broken-zlib": (bytes([3, 5]) + vid.bytes + b"\x78\x9cnot deflate", "zlib"),
        # 300 KB of noise: 400 KB in base64, more than the queue takes in one message.
        "huge": (b"\x00" + os.urandom(300_000), "not Glue framing"),
    }
    mixed = [("good", good[0]), ("raw", None), ("good", good[1]), ("unknown-version", None),
             ("good", good[2]), ("truncated-body", None), ("good", good[3]), ("broken-zlib", None),
             ("huge", None), ("good", good[4])]
    sent = send_raw(lane, [(f"{label}-{n}", frame if frame is not None else poison[label][0])
                           for n, (label, frame) in enumerate(mixed)])
    # A record DynamoDB would refuse in a BatchWriteItem call (and so block the partition): an
    # empty partition key, written by another producer (ours refuses it with a 400), is poison.
    ok, refused = producer.invoke({"deviceId": "", "timestamp": BASE_TS + 90_000, "temperature": 20.5})
    assert ok and refused["statusCode"] == 400 and "deviceId must be 1 to 2048 bytes" in refused["message"]
    empty_key = send_raw(lane, [("empty-key", glue_frame(
        AvroSchema(stack.client("glue", "producer_admin").get_schema_version(
            SchemaVersionId=str(vid))["SchemaDefinition"]).write(
            {"deviceId": "", "timestamp": BASE_TS + 90_000, "temperature": 20.5}), vid))])
    # A number out of DynamoDB's range is left out of the item, as NaN is.
    edge = produce(producer, [{"deviceId": "dev-huge", "timestamp": BASE_TS + 90_001, "temperature": 1e300}])
    last = produce(producer, readings(100, 100, 0))

    expected = 200 + len(good) + 1
    assert lane.wait_for(expected) == expected
    assert lane.wait_all_committed(coordinates(first, edge, last)
                                   + Counter((p, o) for p, o, _ in [*sent.values(), *empty_key.values()]))
    assert wait_until(lambda: lane.dead_letter_depth() >= len(poison) + 1, 60)
    letters = receive_all(stack, lane.queue_url)
    assert len(letters) == len(poison) + 1
    by_coordinates = {(d["partition"], d["offset"]): d for d in letters}
    empty = by_coordinates[empty_key["empty-key"][:2]]
    assert "deviceId must be 1 to 2048 bytes" in empty["reason"], empty["reason"]
    huge = stack.client("dynamodb", "consumer_admin").get_item(
        TableName=lane.table, Key={"deviceId": {"S": "dev-huge"},
                                   "_readingId": {"S": edge["records"][0]["readingId"]}})["Item"]
    assert "temperature" not in huge and huge["_schemaVersionId"]["S"] == str(vid)
    for label, (partition, offset, value) in sent.items():
        kind = label.rsplit("-", 1)[0]
        if kind == "good":
            assert (partition, offset) not in by_coordinates
            continue
        letter = by_coordinates[(partition, offset)]
        assert poison[kind][1] in letter["reason"], (kind, letter["reason"])
        assert letter["topic"] == lane.topic
        if kind == "huge":
            assert (letter["value"], letter["key"], letter["headers"]) == (None, None, []), sorted(letter)
            assert "read the record from Kafka" in letter["omitted"]
            continue
        assert "omitted" not in letter
        assert base64.b64decode(letter["value"]) == value
        assert base64.b64decode(letter["key"]) == f"py-{label.rsplit('-', 1)[1]}".encode()
        assert letter["headers"] == [{"source": list(b"test")}]
    # The rest is stored, each record once; nothing more arrives in the queue.
    assert lane.count() == expected
    good_coordinates = Counter((p, o) for label, (p, o, _) in sent.items() if label.startswith("good"))
    stored = coordinates(first, last, edge) + good_coordinates
    assert lane.stored_coordinates() == stored
    assert lane.dead_letter_depth() == len(poison) + 1


# ---------------------------------------------------------------------------------------------
# Outages: retried by the ESM, never dead-lettered, nothing lost or doubled


@pytest.mark.parametrize("mode", ["throttle", "refuse"])
def test_dynamodb_outage_mid_run_loses_and_duplicates_nothing(lane, mode):
    proxy = FaultProxy(lane.stack.env)
    proxy.reset()
    producer = lane.start_producer()
    consumer = lane.start_consumer(aws_endpoint=proxy.endpoint)
    esm = lane.start_esm(consumer)
    answers = [produce(producer, readings(k * 100, 100, 0)) for k in range(3)]
    assert lane.wait_for(300) == 300
    vid = uuid.UUID(answers[0]["schemaVersionId"])
    body = python_bodies(lane, vid)

    proxy.fault(mode, "dynamodb")
    try:
        # The first batch of the outage: good records and one poison record, written together.
        raw = send_raw(lane, [(f"good-{i}", glue_frame(body(i), vid)) for i in range(5)]
                       + [("poison", b"not a Glue frame")]
                       + [(f"good-{i}", glue_frame(body(i), vid)) for i in range(5, 10)])
        assert wait_until(lambda: proxy.count("faulted", "dynamodb:BatchWriteItem") > 0, 120, interval=0.2)
        # More records keep flowing while DynamoDB is down.
        answers += [produce(producer, readings(k * 100, 100, 0)) for k in range(3, 7)]
        time.sleep(OUTAGE_SECONDS)
        assert proxy.state()["mode"] == mode
        assert lane.count() == 300, "nothing is written while DynamoDB is down"
    finally:
        proxy.heal()
    answers += [produce(producer, readings(k * 100, 100, 0)) for k in range(7, 10)]

    sent = coordinates(*answers) + Counter((p, o) for p, o, _ in raw.values())
    assert lane.wait_for(1010) == 1010
    assert lane.wait_all_committed(sent)
    assert lane.count() == 1010
    poison = raw.pop("poison")
    assert lane.stored_coordinates() == sent - Counter([poison[:2]])
    # The outage did fail invocations, and the ESM retried them...
    assert log_lines(consumer, FAILED_BATCH)
    assert log_lines(esm, ESM_RETRY)
    # ...but the poison record of a failed batch was dead-lettered once, when its batch went
    # through, not once per attempt; the outage itself left nothing in the queue.
    letters = receive_all(lane.stack, lane.queue_url)
    assert [(d["partition"], d["offset"]) for d in letters] == [poison[:2]]
    assert "not Glue framing" in letters[0]["reason"]


def test_sts_and_glue_outage_before_the_schema_cache_is_warm(lane):
    proxy = FaultProxy(lane.stack.env)
    proxy.reset()
    producer = lane.start_producer()
    consumer = lane.start_consumer(aws_endpoint=proxy.endpoint)
    esm = lane.start_esm(consumer)

    # 1. Cold consumer, STS and Glue refuse connections: no credentials for the role yet.
    proxy.fault("refuse", ["sts", "glue"])
    try:
        first = produce(producer, readings(0, 200, 0))
        assert wait_until(lambda: proxy.count("faulted", "sts:AssumeRole") > 0, 180, interval=0.2)
        time.sleep(OUTAGE_SECONDS)
        assert lane.count() == 0
        assert lane.dead_letter_depth() == 0, "an outage is not a poison record"
        assert proxy.count("passed", "sts:") + proxy.count("passed", "glue:") == 0
    finally:
        proxy.heal()
    assert lane.wait_for(200) == 200
    assert proxy.count("passed", "sts:AssumeRole") >= 1

    # 2. Credentials cached; a new schema version arrives while Glue alone throttles.
    proxy.fault("throttle", "glue")
    try:
        second = produce(producer, readings(200, 200, 1))
        assert second["schemaVersionId"] != first["schemaVersionId"]
        assert wait_until(lambda: proxy.count("faulted", "glue:GetSchemaVersion") > 0, 120, interval=0.2)
        time.sleep(OUTAGE_SECONDS)
        assert lane.count() == 200
        assert lane.dead_letter_depth() == 0
    finally:
        proxy.heal()

    assert lane.wait_for(400) == 400
    assert lane.wait_all_committed(coordinates(first, second))
    assert lane.count() == 400
    assert lane.stored_coordinates() == coordinates(first, second)
    spread = Counter(i["_schemaVersionId"] for i in lane.items("_schemaVersionId"))
    assert spread == {first["schemaVersionId"]: 200, second["schemaVersionId"]: 200}
    assert lane.dead_letter_depth() == 0
    assert len(log_lines(consumer, FAILED_BATCH)) >= 2
    retries = log_lines(esm, ESM_RETRY)
    assert retries
    # What the mapping got back names the class of the outage, not a Rust type.
    assert all('"errorType":"RegistryUnavailable"' in ln.replace("\\", "") for ln in retries), \
        retries[:2]
    assert not any("alloc::" in ln for ln in retries)
    # One successful Glue lookup per version, however many attempts the outage cost.
    assert proxy.count("passed", "glue:GetSchemaVersion") == 2


# ---------------------------------------------------------------------------------------------
# A reading's identity: (deviceId, _readingId), one item per Kafka record


def query_device(lane: Lane, device: str, t0: int, t1: int) -> list[dict]:
    """The readings of `device` with t0 <= timestamp < t1, by the table's key alone."""
    ddb = lane.stack.client("dynamodb", "consumer_admin")
    out, kwargs = [], {"TableName": lane.table,
                       "KeyConditionExpression": "deviceId = :d AND #r BETWEEN :a AND :b",
                       "ExpressionAttributeNames": {"#r": "_readingId"},
                       "ExpressionAttributeValues": {":d": {"S": device}, ":a": {"S": f"{t0:013d}"},
                                                     ":b": {"S": f"{t1:013d}"}}}
    while True:
        page = ddb.query(**kwargs)
        out.extend(page["Items"])
        if "LastEvaluatedKey" not in page:
            return out
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def test_a_batch_without_timestamps_is_stored_reading_by_reading(lane):
    producer = lane.start_producer()
    lane.start_esm(lane.start_consumer(), batch_size=500)
    answer = produce(producer, [{"temperature": 20 + i % 7} for i in range(1000)])
    stamps = {r["timestamp"] for r in answer["records"]}
    assert len(answer["records"]) == 1000
    assert lane.wait_for(1000) == 1000
    assert lane.wait_all_committed(coordinates(answer))
    items = lane.items("deviceId", "_readingId", "timestamp", "temperature")
    assert len(items) == 1000
    assert {i["_readingId"] for i in items} == {r["readingId"] for r in answer["records"]}
    assert {int(i["timestamp"]) for i in items} == stamps
    # Queried back by device and time.
    assert len(query_device(lane, "000001", min(stamps), max(stamps) + 1)) == 1000
    assert lane.dead_letter_depth() == 0


def test_two_producers_with_one_device_id_lose_nothing(lane):
    from concurrent.futures import ThreadPoolExecutor

    first = lane.start_producer()
    second = LambdaFunction("sensor-producer", "producer", producer_env(lane.env), lane.logs / "second")
    lane.started.append(second)
    second.start()
    lane.start_esm(lane.start_consumer(), batch_size=500)

    def invoke_1000(fn: LambdaFunction) -> list[dict]:
        return [produce(fn, {"temperature": 20})["records"][0] for _ in range(1000)]

    with ThreadPoolExecutor(2) as pool:
        answers = [r for rs in pool.map(invoke_1000, [first, second]) for r in rs]
    assert len(answers) == 2000
    assert lane.wait_for(2000, timeout=300) == 2000
    assert lane.wait_all_committed(Counter((r["partition"], r["offset"]) for r in answers))
    items = lane.items("deviceId", "_readingId", "timestamp")
    assert len(items) == 2000 and {i["deviceId"] for i in items} == {"000001"}
    assert {i["_readingId"] for i in items} == {r["readingId"] for r in answers}
    shared = sum(n - 1 for n in Counter(int(i["timestamp"]) for i in items).values() if n > 1)
    print(f"{shared} reading(s) share a millisecond with another and are stored all the same")
    assert lane.dead_letter_depth() == 0


def test_a_mapping_restarted_from_older_offsets_duplicates_nothing(lane):
    producer = lane.start_producer()
    consumer = lane.start_consumer()
    esm = lane.start_esm(consumer)
    answers = [produce(producer, readings(k * 100, 100, 0)) for k in range(3)]
    assert lane.wait_for(300) == 300
    assert lane.wait_all_committed(coordinates(*answers))
    before = {i["_readingId"]: i for i in lane.items("_readingId", "temperature", "_kafkaOffset")}
    esm.stop()
    processed = len(log_lines(esm, "batch processed, offsets committed"))
    back = rewind_group(lane.stack.env["KAFKA_BOOTSTRAP_SERVERS"], lane.group, lane.topic, by=40)
    assert back
    lane.start_esm(consumer)
    later = produce(producer, readings(300, 10, 0))
    assert lane.wait_all_committed(coordinates(*answers, later))
    assert wait_until(lambda: lane.count() == 310, 60)
    # The rewound records went through the function again, and overwrote their own items.
    assert len(log_lines(esm, "batch processed, offsets committed")) > processed
    after = {i["_readingId"]: i for i in lane.items("_readingId", "temperature", "_kafkaOffset")}
    assert len(after) == 310 and all(after[k] == v for k, v in before.items())
    assert lane.stored_coordinates() == coordinates(*answers, later)
    assert lane.dead_letter_depth() == 0


def test_a_foreign_record_on_the_key_of_a_stored_reading_overwrites_nothing(lane):
    producer = lane.start_producer()
    lane.start_esm(lane.start_consumer())
    ts = BASE_TS + 7_000
    ours = produce(producer, [{"deviceId": "dev-x", "timestamp": ts, "temperature": 21.5}])
    assert lane.wait_for(1) == 1
    # Another producer's record for the same device and millisecond, with another value.
    definition = lane.stack.client("glue", "producer_admin").get_schema_version(
        SchemaVersionId=ours["schemaVersionId"])["SchemaDefinition"]
    frame = glue_frame(AvroSchema(definition).write({"deviceId": "dev-x", "timestamp": ts, "temperature": -4.0}),
                       uuid.UUID(ours["schemaVersionId"]))
    theirs = send_raw(lane, [("foreign", frame)])["foreign"]
    assert lane.wait_for(2) == 2
    assert lane.wait_all_committed(coordinates(ours) + Counter([theirs[:2]]))
    both = query_device(lane, "dev-x", ts, ts + 1)
    assert sorted(float(i["temperature"]["N"]) for i in both) == [-4.0, 21.5]
    assert {(int(i["_kafkaPartition"]["N"]), int(i["_kafkaOffset"]["N"])) for i in both} == {
        (ours["records"][0]["partition"], ours["records"][0]["offset"]), theirs[:2]}
    assert lane.dead_letter_depth() == 0
