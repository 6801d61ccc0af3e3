"""Tests of the local stack (scripts/stack.sh, scripts/stack/*): accounts, permissions, Kafka,
fault proxies, reset and down. The stack is started by the `stack` fixture (conftest.py) on
free ports with both fault proxies; the tests run in file order and the last one stops it."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

import pytest
from botocore.exceptions import ClientError, ConnectionClosedError
from confluent_kafka import Consumer, Producer, TopicPartition

from stackhelpers import ROOT, STACK_PY, Stack, free_ports, process_gone, wait_until

ROLE_ACTIONS = {"glue:GetSchemaVersion", "glue:GetSchemaByDefinition", "glue:GetSchema",
                "glue:GetRegistry", "glue:ListSchemaVersions", "secretsmanager:GetSecretValue"}

SCHEMA_V1 = json.dumps({"type": "record", "name": "Reading", "namespace": "test",
                        "fields": [{"name": "deviceId", "type": "string"}]})
SCHEMA_V2 = json.dumps({"type": "record", "name": "Reading", "namespace": "test",
                        "fields": [{"name": "deviceId", "type": "string"},
                                   {"name": "t", "type": ["null", "double"], "default": None}]})


def contract_keys_from_doc() -> list[str]:
    """Keys listed under the stack.env paragraph of scripts/CONTRACT.md: the contract itself."""
    keys, inside = [], False
    for line in (ROOT / "scripts" / "CONTRACT.md").read_text().splitlines():
        if "stack.env` holds" in line:
            inside = True
            continue
        if inside:
            if not line.strip():
                break
            keys += re.findall(r"\b[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+\b", line)
    return keys


def listening_addresses(port: int) -> set[str]:
    """Local addresses with a listening TCP socket on `port` (from /proc/net/tcp, tcp6)."""
    found = set()
    for table, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        try:
            lines = open(table).read().splitlines()[1:]
        except FileNotFoundError:
            continue
        for line in lines:
            fields = line.split()
            addr, _, hexport = fields[1].partition(":")
            if fields[3] == "0A" and int(hexport, 16) == port:  # 0A = LISTEN
                if width == 8:
                    found.add(socket.inet_ntop(socket.AF_INET, bytes.fromhex(addr)[::-1]))
                else:
                    raw = b"".join(bytes.fromhex(addr[i:i + 8])[::-1] for i in range(0, 32, 8))
                    found.add(socket.inet_ntop(socket.AF_INET6, raw))
    return found


def denied(excinfo) -> bool:
    """moto's IAM denial: HTTP 403 with an AccessDenied XML body (also for JSON services)."""
    err = excinfo.value.response
    return err["ResponseMetadata"]["HTTPStatusCode"] == 403 and "AccessDenied" in json.dumps(err)


def control(url: str, spec: dict | None = None, path: str = "") -> dict:
    data = json.dumps(spec).encode() if spec is not None else None
    req = urllib.request.Request(url + path, data=data, method="POST" if data is not None else "GET")
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())


def kafka_conf(env: dict, **extra) -> dict:
    return {"bootstrap.servers": env["KAFKA_BOOTSTRAP_SERVERS"], "log_level": 0, **extra}


def consumer_conf(env: dict, group: str) -> dict:
    return kafka_conf(env, **{"group.id": group, "auto.offset.reset": "earliest",
                              "session.timeout.ms": 6000, "heartbeat.interval.ms": 500,
                              "enable.auto.commit": False})


def consume(consumer: Consumer, keep, n: int, timeout: float) -> list:
    """Messages for which keep(msg) holds, until there are n of them or the time is up."""
    got, deadline = [], time.monotonic() + timeout
    while len(got) < n and time.monotonic() < deadline:
        m = consumer.poll(0.2)
        if m is not None and m.error() is None and keep(m):
            got.append(m)
    return got


# ------------------------------------------------------------------------------ start-up

def test_up_writes_every_contract_key(stack: Stack):
    env = stack.env
    keys = contract_keys_from_doc()
    assert {"AWS_ENDPOINT_URL", "KAFKA_BOOTSTRAP_SERVERS", "SCHEMA_READER_ROLE_ARN", "STACK_LOG_DIR"} <= set(keys), keys
    missing = sorted(k for k in keys if not env.get(k))
    assert not missing, f"stack.env lacks {missing}"
    # The contract's keys come first, in the document's order.
    assert list(env)[: len(keys)] == keys
    assert env["MOTO_PORT"] == str(stack.ports["MOTO_PORT"])
    assert env["KAFKA_PORT"] == str(stack.ports["KAFKA_PORT"])
    assert env["AWS_ENDPOINT_URL"] == f"http://127.0.0.1:{stack.ports['MOTO_PORT']}"
    # Kafka goes through the fault proxy: the broker advertises the proxy's port.
    assert env["KAFKA_BOOTSTRAP_SERVERS"] == f"127.0.0.1:{stack.ports['KAFKA_PROXY_PORT']}"
    assert env["PRODUCER_ACCOUNT_ID"] == "111111111111"
    assert env["CONSUMER_ACCOUNT_ID"] == "222222222222"
    assert env["SCHEMA_READER_ROLE_ARN"] == "arn:aws:iam::111111111111:role/sensor-schema-reader"
    assert env["BROKER_SECRET_ARN"].startswith("arn:aws:secretsmanager:eu-west-1:111111111111:secret:sensor/broker-map")
    assert "/222222222222/sensor-readings-dlq" in env["DEAD_LETTER_QUEUE_URL"]
    assert (env["REGISTRY_NAME"], env["SCHEMA_NAME"], env["READINGS_TABLE"], env["KAFKA_TOPIC"]) == (
        "sensor-registry", "sensor-readings", "sensor-readings", "sensor-readings")
    assert len(env["SCHEMA_READER_EXTERNAL_ID"]) >= 16
    logs = {p.name for p in (stack.dir / "logs").iterdir()}
    assert env["STACK_LOG_DIR"] == str(stack.dir / "logs")
    assert {"moto.log", "tansu.log", "aws-proxy.log", "kafka-proxy.log"} <= logs
    # Everything listens on 127.0.0.1 only.
    for port in stack.ports.values():
        addrs = listening_addresses(port)
        assert addrs == {"127.0.0.1"}, f"port {port} listens on {addrs}"


def test_status_and_second_up(stack: Stack):
    res = stack.run("status")
    assert res.stdout.count(" running ") == 4, res.stdout
    before = stack.pids()
    env_before = stack.env
    res = stack.run("up")
    assert "already up" in res.stderr
    assert stack.pids() == before
    assert stack.env == env_before
    assert stack.run("env").stdout == (stack.dir / "stack.env").read_text()


def test_up_fails_clearly_when_a_port_is_taken(stack: Stack, tmp_path):
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen(1)
    taken = holder.getsockname()[1]
    other = Stack(tmp_path / "other", dict(zip(["MOTO_PORT", "KAFKA_PORT"], [taken, free_ports(1)[0]])))
    try:
        t0 = time.monotonic()
        res = other.run("up", check=False)
        assert res.returncode != 0
        assert str(taken) in res.stderr and "in use" in res.stderr, res.stderr
        assert time.monotonic() - t0 < 30
        assert not (other.dir / "stack.env").exists()
        assert not list(other.dir.glob("*.pid"))
    finally:
        holder.close()


def test_a_failed_up_stops_what_it_started(stack: Stack, tmp_path):
    other = Stack(tmp_path / "failing", dict(zip(["MOTO_PORT", "KAFKA_PORT"], free_ports(2))))
    env = {**other.proc_env, "STACK_TIMEOUT": "0.01"}  # moto cannot be ready that fast
    res = other.run("up", check=False, env=env)
    assert res.returncode != 0 and "not ready" in res.stderr, res.stderr
    assert "up failed; stopping what was started" in res.stderr
    assert not (other.dir / "stack.env").exists()
    assert not list(other.dir.glob("*.pid"))
    for port in other.ports.values():
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=2)


# ------------------------------------------------------------------------------ accounts

def test_cross_account_schema_access(stack: Stack):
    env = stack.env
    registry = env["REGISTRY_NAME"]
    name = f"stack-test-{uuid.uuid4().hex[:8]}"

    producer = stack.client("glue", "producer")
    created = producer.create_schema(RegistryId={"RegistryName": registry}, SchemaName=name,
                                     DataFormat="AVRO", Compatibility="BACKWARD", SchemaDefinition=SCHEMA_V1)
    v1 = created["SchemaVersionId"]
    v2 = producer.register_schema_version(SchemaId={"RegistryName": registry, "SchemaName": name},
                                          SchemaDefinition=SCHEMA_V2)["SchemaVersionId"]
    assert v1 != v2
    schema_arn = created["SchemaArn"]
    assert ":111111111111:" in schema_arn

    # The consumer's own identity: denied, even by full ARN.
    own = stack.client("glue", "consumer")
    with pytest.raises(ClientError) as e:
        own.get_schema_version(SchemaVersionId=v1)
    assert denied(e)
    with pytest.raises(ClientError) as e:
        own.get_schema_by_definition(SchemaId={"SchemaArn": schema_arn}, SchemaDefinition=SCHEMA_V1)
    assert denied(e)
    # Even an all-powerful identity of the consumer account cannot see the producer's schemas.
    admin = stack.client("glue", "consumer_admin")
    with pytest.raises(ClientError) as e:
        admin.get_schema_version(SchemaVersionId=v1)
    assert e.value.response["Error"]["Code"] == "EntityNotFoundException"

    # Through the cross-account role: read works ...
    role = stack.assume_reader_role()
    ident = stack.client("sts", role).get_caller_identity()
    assert ident["Account"] == env["PRODUCER_ACCOUNT_ID"]
    assert ":assumed-role/sensor-schema-reader/" in ident["Arn"]
    reader = stack.client("glue", role)
    got = reader.get_schema_version(SchemaVersionId=v2)
    assert got["SchemaDefinition"] == SCHEMA_V2 and got["VersionNumber"] == 2
    assert reader.get_schema_by_definition(SchemaId={"RegistryName": registry, "SchemaName": name},
                                           SchemaDefinition=SCHEMA_V1)["SchemaVersionId"] == v1
    assert reader.get_schema(SchemaId={"SchemaArn": schema_arn})["SchemaName"] == name
    assert reader.get_registry(RegistryId={"RegistryName": registry})["RegistryName"] == registry

    # ... and nothing can be created or changed.
    attempts = {
        "CreateSchema": lambda: reader.create_schema(RegistryId={"RegistryName": registry}, SchemaName=name + "-x",
                                                     DataFormat="AVRO", SchemaDefinition=SCHEMA_V1),
        "RegisterSchemaVersion": lambda: reader.register_schema_version(
            SchemaId={"RegistryName": registry, "SchemaName": name},
            SchemaDefinition=SCHEMA_V2.replace("double", "float")),
        "CreateRegistry": lambda: reader.create_registry(RegistryName="other-registry"),
        "UpdateSchema": lambda: reader.update_schema(SchemaId={"SchemaArn": schema_arn}, Compatibility="NONE"),
        "PutSchemaVersionMetadata": lambda: reader.put_schema_version_metadata(
            SchemaVersionId=v1, MetadataKeyValue={"MetadataKey": "k", "MetadataValue": "v"}),
    }
    for op, call in attempts.items():
        with pytest.raises(ClientError) as e:
            call()
        assert denied(e), op
    # Nothing was registered by the denied calls.
    assert producer.get_schema(SchemaId={"SchemaArn": schema_arn})["LatestSchemaVersion"] == 2


def test_role_reads_the_broker_map_secret(stack: Stack):
    env = stack.env
    secret = json.loads(stack.client("secretsmanager", stack.assume_reader_role())
                        .get_secret_value(SecretId=env["BROKER_SECRET_ARN"])["SecretString"])
    assert set(secret) == {"bootstrap_servers", "security_protocol", "topic", "brokers"}
    assert secret["bootstrap_servers"] == env["KAFKA_BOOTSTRAP_SERVERS"]
    assert secret["security_protocol"] == "PLAINTEXT"
    assert secret["topic"] == env["KAFKA_TOPIC"]
    assert secret["brokers"] == [{"broker_id": 1, "endpoint_url": "127.0.0.1",
                                  "broker_port": stack.ports["KAFKA_PROXY_PORT"], "service_name": "local"}]
    with pytest.raises(ClientError) as e:
        stack.client("secretsmanager", "consumer").get_secret_value(SecretId=env["BROKER_SECRET_ARN"])
    assert denied(e)


def test_role_is_configured_as_documented(stack: Stack):
    """moto does not evaluate cross-account trust policies, so check what was written."""
    env = stack.env
    iam = stack.client("iam", "producer_admin")
    role = iam.get_role(RoleName="sensor-schema-reader")["Role"]
    assert role["MaxSessionDuration"] == 3600
    trust = role["AssumeRolePolicyDocument"]
    if isinstance(trust, str):
        trust = json.loads(urllib.parse.unquote(trust))
    [stmt] = trust["Statement"]
    assert stmt["Principal"] == {"AWS": "arn:aws:iam::222222222222:user/sensor-consumer-lambda"}
    assert stmt["Condition"] == {"StringEquals": {"sts:ExternalId": env["SCHEMA_READER_EXTERNAL_ID"]}}
    [policy_name] = iam.list_role_policies(RoleName="sensor-schema-reader")["PolicyNames"]
    doc = iam.get_role_policy(RoleName="sensor-schema-reader", PolicyName=policy_name)["PolicyDocument"]
    if isinstance(doc, str):
        doc = json.loads(doc)
    actions = set()
    for st in doc["Statement"]:
        assert st["Effect"] == "Allow"
        actions |= set([st["Action"]] if isinstance(st["Action"], str) else st["Action"])
    assert actions == ROLE_ACTIONS


def test_lambda_identities_have_only_their_permissions(stack: Stack):
    env = stack.env
    table, queue = env["READINGS_TABLE"], env["DEAD_LETTER_QUEUE_URL"]
    ddb = stack.client("dynamodb", "consumer")
    desc = ddb.describe_table(TableName=table)["Table"]
    assert {k["AttributeName"]: k["KeyType"] for k in desc["KeySchema"]} == {"deviceId": "HASH", "_readingId": "RANGE"}
    assert {a["AttributeName"]: a["AttributeType"] for a in desc["AttributeDefinitions"]} == {"deviceId": "S", "_readingId": "S"}
    assert desc["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    item = {"deviceId": {"S": "perm-test"}, "_readingId": {"S": "0000000000001#t#0#0"}}
    ddb.put_item(TableName=table, Item=item)
    assert ddb.get_item(TableName=table, Key=item)["Item"] == item
    with pytest.raises(ClientError) as e:
        ddb.scan(TableName=table)
    assert denied(e)

    sqs = stack.client("sqs", "consumer")
    assert sqs.get_queue_url(QueueName="sensor-readings-dlq")["QueueUrl"].endswith("/222222222222/sensor-readings-dlq")
    sqs.send_message(QueueUrl=queue, MessageBody="poison")
    with pytest.raises(ClientError) as e:
        sqs.receive_message(QueueUrl=queue)
    assert denied(e)
    with pytest.raises(ClientError) as e:
        stack.client("glue", "consumer").get_registry(RegistryId={"RegistryName": env["REGISTRY_NAME"]})
    assert denied(e)

    for service, call in {
        "dynamodb": lambda c: c.put_item(TableName=table, Item=item),
        "sqs": lambda c: c.send_message(QueueUrl=queue, MessageBody="x"),
    }.items():
        with pytest.raises(ClientError) as e:
            call(stack.client(service, "producer"))
        assert denied(e), service
    # A wrong secret key is refused: signatures are checked.
    bad = {**stack.creds("consumer"), "aws_secret_access_key": "0" * 40}
    with pytest.raises(ClientError) as e:
        stack.client("dynamodb", bad).describe_table(TableName=table)
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


# ------------------------------------------------------------------------------ Kafka

def test_kafka_round_trip(stack: Stack):
    env = stack.env
    topic = env["KAFKA_TOPIC"]
    run = uuid.uuid4().hex[:8]
    producer = Producer(kafka_conf(env, **{"enable.idempotence": True}))
    md = producer.list_topics(topic, timeout=10).topics[topic]
    assert md.error is None and len(md.partitions) == 3
    sent = {f"{run}-{i}": f"reading-{i}".encode() for i in range(30)}
    for key, value in sent.items():
        producer.produce(topic, key=key, value=value, headers={"run": run})
    assert producer.flush(15) == 0

    consumer = Consumer(consumer_conf(env, f"round-trip-{run}"))
    consumer.subscribe([topic])
    try:
        got = consume(consumer, lambda m: dict(m.headers() or []).get("run") == run.encode(), len(sent), 60)
    finally:
        consumer.close()
    assert {m.key().decode(): m.value() for m in got} == sent
    assert len({m.partition() for m in got}) > 1  # keys spread over the partitions


# ------------------------------------------------------------------------------ fault proxies

def test_aws_faultproxy_throttles_fails_refuses_and_recovers(stack: Stack):
    env = stack.env
    ctl = env["AWS_PROXY_CONTROL_URL"]
    control(ctl, {}, "/reset")
    table = env["READINGS_TABLE"]
    ddb = stack.client("dynamodb", "consumer", via_proxy=True)
    ddb_retrying = stack.client("dynamodb", "consumer", via_proxy=True, attempts=5)
    glue = stack.client("glue", "producer", via_proxy=True)
    sts = stack.client("sts", "consumer", via_proxy=True)

    ddb.describe_table(TableName=table)
    assert control(ctl, path="/counters")["passed"] == {"dynamodb:DescribeTable": 1}

    # Throttle only DynamoDB, twice.
    state = control(ctl, {"mode": "throttle", "match": "dynamodb", "count": 2})
    assert state["mode"] == "throttle" and state["remaining"] == 2
    with pytest.raises(ClientError) as e:
        ddb.describe_table(TableName=table)
    r = e.value.response
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert r["Error"]["Code"] == "ThrottlingException" and r["Error"]["Message"] == "Rate exceeded"
    assert r["ResponseMetadata"]["HTTPHeaders"]["x-amzn-errortype"] == "ThrottlingException"
    assert glue.get_registry(RegistryId={"RegistryName": env["REGISTRY_NAME"]})  # Glue unaffected
    ok = ddb_retrying.describe_table(TableName=table)  # the SDK retries the throttle away
    assert ok["ResponseMetadata"]["RetryAttempts"] == 1
    c = control(ctl, path="/counters")
    assert c["faulted"] == {"dynamodb:DescribeTable": 2}
    assert c["passed"]["dynamodb:DescribeTable"] == 2 and c["passed"]["glue:GetRegistry"] == 1
    assert control(ctl)["mode"] == "pass"  # count used up

    # Query protocol (STS): XML error with code Throttling.
    control(ctl, {"mode": "throttle", "match": "sts:AssumeRole", "count": 1})
    assert sts.get_caller_identity()["Account"] == env["CONSUMER_ACCOUNT_ID"]  # other operation passes
    with pytest.raises(ClientError) as e:
        sts.assume_role(RoleArn=env["SCHEMA_READER_ROLE_ARN"], RoleSessionName="throttled",
                        ExternalId=env["SCHEMA_READER_EXTERNAL_ID"])
    assert e.value.response["Error"]["Code"] == "Throttling"

    # 503 for Glue, by glob on the label.
    control(ctl, {"mode": "503", "match": ["glue:Get*"], "count": 1})
    with pytest.raises(ClientError) as e:
        glue.get_registry(RegistryId={"RegistryName": env["REGISTRY_NAME"]})
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503

    # Refuse: the connection is reset without an answer.
    control(ctl, {"mode": "refuse", "match": "AWSGlue.GetRegistry", "count": 1})
    with pytest.raises(ConnectionClosedError):
        glue.get_registry(RegistryId={"RegistryName": env["REGISTRY_NAME"]})
    assert glue.get_registry(RegistryId={"RegistryName": env["REGISTRY_NAME"]})["RegistryName"] == env["REGISTRY_NAME"]

    # A timed outage of everything ends by itself.
    t0 = time.monotonic()
    control(ctl, {"mode": "503", "for_seconds": 1.0})
    with pytest.raises(ClientError):
        ddb.describe_table(TableName=table)

    def recovered():
        try:
            return ddb.describe_table(TableName=table)
        except ClientError:
            return None
    assert wait_until(recovered, 10)
    assert time.monotonic() - t0 >= 0.9

    # Delay: forwarded late.
    control(ctl, {"mode": "delay", "delay_ms": 300, "match": "dynamodb", "count": 1})
    t0 = time.monotonic()
    ddb.describe_table(TableName=table)
    assert time.monotonic() - t0 >= 0.3

    # Counting calls: exactly one passed request per call.
    control(ctl, {}, "/reset")
    for _ in range(3):
        glue.get_registry(RegistryId={"RegistryName": env["REGISTRY_NAME"]})
    assert control(ctl, path="/counters")["passed"] == {"glue:GetRegistry": 3}

    # Bad control requests are refused, state unchanged.
    with pytest.raises(urllib.error.HTTPError) as e:
        control(ctl, {"mode": "explode"})
    assert e.value.code == 400
    assert control(ctl)["mode"] == "pass"


def test_kafka_faultproxy_outage_and_recovery(stack: Stack):
    env = stack.env
    ctl, topic, run = env["KAFKA_PROXY_CONTROL_URL"], env["KAFKA_TOPIC"], uuid.uuid4().hex[:8]
    producer = Producer(kafka_conf(env, **{"enable.idempotence": True, "message.timeout.ms": 30000}))
    producer.produce(topic, key=run, value=b"before")
    assert producer.flush(15) == 0
    assert control(ctl, path="/counters")["open"] >= 1

    state = control(ctl, {"mode": "refuse", "for_seconds": 2})
    assert state["mode"] == "refuse" and state["dropped"] >= 1
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", stack.ports["KAFKA_PROXY_PORT"]), timeout=2)
    producer.produce(topic, key=run, value=b"during")
    assert producer.flush(0.5) == 1  # not deliverable while the broker is unreachable
    # The outage ends by itself and the producer delivers.
    assert producer.flush(20) == 0
    assert control(ctl)["mode"] == "pass"

    consumer = Consumer(consumer_conf(env, f"outage-{run}"))
    consumer.subscribe([topic])
    try:
        got = [m.value() for m in consume(consumer, lambda m: m.key() == run.encode(), 2, 60)]
    finally:
        consumer.close()
    assert got == [b"before", b"during"]

    # drop: existing connections are cut once, new ones accepted.
    c = control(ctl, {"mode": "drop"})
    assert c["mode"] == "pass"
    socket.create_connection(("127.0.0.1", stack.ports["KAFKA_PROXY_PORT"]), timeout=2).close()


@pytest.fixture
def echo_proxy():
    """faultproxy.py tcp in front of a small echo server (no stack needed)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    stop = threading.Event()

    def serve():
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            threading.Thread(target=echo, args=(conn,), daemon=True).start()

    def echo(conn):
        with conn:
            try:
                while data := conn.recv(4096):
                    conn.sendall(data)
            except OSError:
                pass

    threading.Thread(target=serve, daemon=True).start()
    listen, control_port = free_ports(2)
    proc = subprocess.Popen([sys.executable, str(STACK_PY / "faultproxy.py"), "tcp",
                             "--listen", f"127.0.0.1:{listen}",
                             "--upstream", f"127.0.0.1:{server.getsockname()[1]}",
                             "--control", f"127.0.0.1:{control_port}"],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert "faultproxy ready" in proc.stdout.readline()
        yield listen, f"http://127.0.0.1:{control_port}/__fault__"
    finally:
        proc.terminate()
        assert proc.wait(10) == 0
        stop.set()
        server.close()


def test_tcp_faultproxy_drops_refuses_and_recovers(echo_proxy):
    port, ctl = echo_proxy

    def roundtrip(sock, payload=b"ping"):
        sock.sendall(payload)
        return sock.recv(100)

    a = socket.create_connection(("127.0.0.1", port), timeout=5)
    assert roundtrip(a) == b"ping"
    assert control(ctl, path="/counters")["open"] == 1

    assert control(ctl, {"mode": "drop"})["dropped"] == 1
    with pytest.raises((ConnectionResetError, BrokenPipeError, AssertionError)):
        assert roundtrip(a) == b"ping"
    a.close()
    b = socket.create_connection(("127.0.0.1", port), timeout=5)
    assert roundtrip(b) == b"ping"

    t0 = time.monotonic()
    control(ctl, {"mode": "refuse", "for_seconds": 1})
    with pytest.raises((ConnectionResetError, BrokenPipeError, AssertionError)):
        assert roundtrip(b) == b"ping"
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5)

    def reconnect():
        try:
            return socket.create_connection(("127.0.0.1", port), timeout=5)
        except ConnectionRefusedError:
            return None
    c = wait_until(reconnect, 10)
    assert c is not None and time.monotonic() - t0 >= 0.9
    assert roundtrip(c, b"back") == b"back"
    c.close()
    counters = control(ctl, path="/counters")
    assert counters["accepted"] == 3 and counters["dropped"] == 2

    with pytest.raises(urllib.error.HTTPError) as e:
        control(ctl, {"mode": "refuse", "count": 1})  # count makes no sense for TCP
    assert e.value.code == 400


def test_kafka_topic_helper_replaces_an_auto_created_topic(tmp_path):
    """tansu creates a missing topic with 4 partitions on a metadata request; the stack's topic
    helper must end with the wanted partition count anyway."""
    port = free_ports(1)[0]
    tansu = subprocess.Popen([str(ROOT / ".venv" / "bin" / "tansu"), "broker",
                              "--listener-url", f"tcp://127.0.0.1:{port}",
                              "--advertised-listener-url", f"tcp://127.0.0.1:{port}",
                              "--storage-engine", "memory://tansu/"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        env = {"KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{port}"}
        producer = Producer(kafka_conf(env))

        def partitions():
            try:
                md = producer.list_topics("auto", timeout=1).topics["auto"]
                return len(md.partitions) if md.error is None else None
            except Exception:  # noqa: BLE001 - broker still starting
                return None
        assert wait_until(partitions, 20) == 4  # auto-created by the metadata request
        res = subprocess.run([sys.executable, str(STACK_PY / "stackctl.py"), "kafka-topic",
                              "--bootstrap", f"127.0.0.1:{port}", "--topic", "auto", "--partitions", "3",
                              "--timeout", "20"], capture_output=True, text=True, timeout=60)
        assert res.returncode == 0, res.stderr
        assert partitions() == 3
    finally:
        tansu.terminate()
        tansu.wait(10)


# ------------------------------------------------------------------------------ several stacks

def test_a_second_stack_runs_beside_the_first(stack: Stack, tmp_path):
    ports = dict(zip(["MOTO_PORT", "KAFKA_PORT"], free_ports(2)))
    other = Stack(tmp_path / "second", ports)
    try:
        other.run("up")
        env, mine = other.env, stack.env
        assert env["AWS_ENDPOINT_URL"] != mine["AWS_ENDPOINT_URL"]
        assert env["SCHEMA_READER_EXTERNAL_ID"] != mine["SCHEMA_READER_EXTERNAL_ID"]
        # Separate worlds: the first stack's keys are unknown to the second moto.
        foreign = stack.creds("consumer")
        with pytest.raises(ClientError) as e:
            other.client("dynamodb", foreign).describe_table(TableName=env["READINGS_TABLE"])
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
        assert other.client("dynamodb", "consumer").describe_table(TableName=env["READINGS_TABLE"])

        # reset while a client stays connected (no Kafka proxy here): when it reconnects and
        # asks for metadata first, tansu creates the topic with 4 partitions; reset must end
        # with ours, empty.
        topic = env["KAFKA_TOPIC"]
        producer = Producer(kafka_conf(env, **{"reconnect.backoff.ms": 1, "reconnect.backoff.max.ms": 20}))
        producer.produce(topic, value=b"old")
        assert producer.flush(15) == 0
        other.run("reset")
        md = producer.list_topics(topic, timeout=10).topics[topic]
        assert md.error is None and len(md.partitions) == 3
        consumer = Consumer(consumer_conf(other.env, "after-reset"))
        try:
            for p in range(3):
                assert consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] == 0
        finally:
            consumer.close()
    finally:
        other.run("down", check=False, timeout=120)
    assert not (other.dir / "stack.env").exists()
    assert stack.run("status").returncode == 0  # the first one is untouched


def test_a_stack_on_an_existing_broker(stack: Stack, tmp_path):
    """KAFKA_BOOTSTRAP_SERVERS: the stack starts no tansu, uses that broker (here the first
    stack's) for its topic, stack.env and broker map, and leaves it running on down."""
    broker, topic = stack.env["KAFKA_BOOTSTRAP_SERVERS"], f"external-{uuid.uuid4().hex[:8]}"
    broker_pid = stack.pids()["tansu"]
    admin = Producer(kafka_conf(stack.env))
    assert topic not in admin.list_topics(timeout=10).topics
    ports = dict(zip(["MOTO_PORT", "KAFKA_PORT"], free_ports(2)))
    other = Stack(tmp_path / "external", ports, {"KAFKA_BOOTSTRAP_SERVERS": broker, "KAFKA_TOPIC": topic,
                                                 "KAFKA_PARTITIONS": "2"})
    try:
        other.run("up")
        env = other.env
        assert (env["KAFKA_BOOTSTRAP_SERVERS"], env["KAFKA_TOPIC"]) == (broker, topic)
        assert env["KAFKA_PORT"] == broker.rsplit(":", 1)[1]
        assert set(other.pids()) == {"moto"}
        assert not (other.dir / "logs" / "tansu.log").exists()
        with pytest.raises(ConnectionRefusedError):  # no broker of its own
            socket.create_connection(("127.0.0.1", ports["KAFKA_PORT"]), timeout=2)
        md = admin.list_topics(topic, timeout=10).topics[topic]
        assert md.error is None and len(md.partitions) == 2
        secret = json.loads(other.client("secretsmanager", other.assume_reader_role())
                            .get_secret_value(SecretId=env["BROKER_SECRET_ARN"])["SecretString"])
        assert secret["bootstrap_servers"] == broker and secret["topic"] == topic
        res = other.run("status")
        assert "existing broker " + broker in res.stdout and " running " in res.stdout

        # reset cannot restart someone else's broker: it gives an empty topic instead.
        producer = Producer(kafka_conf(env))
        producer.produce(topic, value=b"old", partition=0)
        assert producer.flush(15) == 0
        other.run("reset")
        consumer = Consumer(consumer_conf(other.env, f"external-{uuid.uuid4().hex[:8]}"))
        try:
            md = consumer.list_topics(topic, timeout=10).topics[topic]
            assert md.error is None and len(md.partitions) == 2
            assert consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)[1] == 0
        finally:
            consumer.close()

        # No fault proxy for a broker the stack does not run (it advertises its own address).
        proxied = Stack(tmp_path / "proxied", {**dict(zip(["MOTO_PORT", "KAFKA_PROXY_PORT"], free_ports(2)))},
                        {"KAFKA_BOOTSTRAP_SERVERS": broker})
        res = proxied.run("up", check=False)
        assert res.returncode != 0 and "KAFKA_PROXY_PORT needs the stack's own broker" in res.stderr
        assert not list(proxied.dir.glob("*.pid"))
    finally:
        other.run("down", check=False, timeout=120)
    assert not list(other.dir.glob("*.pid")) and not (other.dir / "stack.env").exists()
    assert not process_gone(broker_pid)  # the existing broker is left alone
    assert topic in admin.list_topics(timeout=10).topics
    assert stack.run("status").returncode == 0


# ------------------------------------------------------------------------------ reset, down

def test_reset_gives_a_clean_state(stack: Stack):
    env = stack.env
    registry, table, queue, topic = (env["REGISTRY_NAME"], env["READINGS_TABLE"],
                                     env["DEAD_LETTER_QUEUE_URL"], env["KAFKA_TOPIC"])
    name = f"reset-test-{uuid.uuid4().hex[:8]}"
    stack.client("glue", "producer").create_schema(RegistryId={"RegistryName": registry}, SchemaName=name,
                                                   DataFormat="AVRO", Compatibility="BACKWARD",
                                                   SchemaDefinition=SCHEMA_V1)
    stack.client("dynamodb", "consumer").put_item(TableName=table, Item={"deviceId": {"S": "r"}, "_readingId": {"S": "0000000000002#t#0#0"}})
    stack.client("sqs", "consumer").send_message(QueueUrl=queue, MessageBody="poison")
    producer = Producer(kafka_conf(env))
    producer.produce(topic, value=b"old")
    assert producer.flush(15) == 0
    control(env["AWS_PROXY_CONTROL_URL"], {"mode": "throttle"})
    old_consumer_key = stack.creds("consumer")
    moto_pid = stack.pids()["moto"]

    # A client that keeps asking for the topic's metadata through the Kafka proxy: the proxy
    # keeps it out while the broker restarts, so it cannot get the topic auto-created.
    stop = threading.Event()

    def ask_metadata():
        while not stop.is_set():
            try:
                producer.list_topics(topic, timeout=0.5)
            except Exception:  # noqa: BLE001 - the broker is restarting
                pass
            time.sleep(0.01)

    asker = threading.Thread(target=ask_metadata, daemon=True)
    asker.start()
    t0 = time.monotonic()
    try:
        stack.run("reset")
    finally:
        took = time.monotonic() - t0
        stop.set()
        asker.join(10)
    assert took < 30, f"reset took {took:.1f} s"

    new = stack.env
    assert new["CONSUMER_ACCESS_KEY_ID"] != env["CONSUMER_ACCESS_KEY_ID"]
    assert new["SCHEMA_READER_EXTERNAL_ID"] != env["SCHEMA_READER_EXTERNAL_ID"]
    assert stack.pids()["moto"] == moto_pid  # moto was wiped, not restarted
    # Old keys are gone with the old state.
    with pytest.raises(ClientError) as e:
        stack.client("dynamodb", old_consumer_key).describe_table(TableName=table)
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    # Registry back, without schemas; table and queue back, empty.
    admin_glue = stack.client("glue", "producer_admin")
    assert admin_glue.get_registry(RegistryId={"RegistryName": registry})["RegistryName"] == registry
    with pytest.raises(ClientError) as e:
        admin_glue.get_schema(SchemaId={"RegistryName": registry, "SchemaName": name})
    assert e.value.response["Error"]["Code"] == "EntityNotFoundException"
    assert stack.client("dynamodb", "consumer_admin").scan(TableName=table)["Count"] == 0
    attrs = stack.client("sqs", "consumer_admin").get_queue_attributes(
        QueueUrl=new["DEAD_LETTER_QUEUE_URL"], AttributeNames=["ApproximateNumberOfMessages"])
    assert attrs["Attributes"]["ApproximateNumberOfMessages"] == "0"
    # Enforcement is on again.
    with pytest.raises(ClientError) as e:
        stack.client("glue", "consumer").get_registry(RegistryId={"RegistryName": registry})
    assert denied(e)
    assert stack.client("glue", stack.assume_reader_role()).get_registry(RegistryId={"RegistryName": registry})
    # Fault proxy back to pass with zero counters.
    state = control(new["AWS_PROXY_CONTROL_URL"])
    assert state["mode"] == "pass" and state["total_passed"] == 0
    # The topic is back, empty, with 3 partitions.
    consumer = Consumer(consumer_conf(new, f"reset-{uuid.uuid4().hex[:8]}"))
    try:
        md = consumer.list_topics(topic, timeout=10).topics[topic]
        assert md.error is None and len(md.partitions) == 3
        for p in range(3):
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            assert high == 0, f"partition {p} still has {high} messages"
    finally:
        consumer.close()


def test_down_leaves_nothing_running(stack: Stack):
    pids = stack.pids()
    assert set(pids) == {"moto", "tansu", "aws-proxy", "kafka-proxy"}
    assert not any(process_gone(p) for p in pids.values())
    stack.run("down")
    assert all(process_gone(p) for p in pids.values())
    assert not list(stack.dir.glob("*.pid"))
    assert not (stack.dir / "stack.env").exists()
    for port in stack.ports.values():
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=2)
    assert stack.run("status", check=False).returncode == 3
    assert stack.run("down").returncode == 0  # idempotent


def test_free_ports_never_hand_out_a_port_twice():
    # A stack's ports come from several calls (moto and the broker, then a module's proxies);
    # the kernel may give a just-closed port straight out again, which stack.sh refuses.
    from stackhelpers import free_ports
    seen: list[int] = []
    for _ in range(300):
        seen += free_ports(2)
    assert len(seen) == len(set(seen)) == 600
