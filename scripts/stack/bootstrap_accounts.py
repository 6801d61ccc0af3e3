#!/usr/bin/env python3
"""Create the producer and consumer accounts of the local stack in a running moto_server.

Run by scripts/stack.sh (up and reset); usable on its own against any moto endpoint:

    bootstrap_accounts.py --endpoint http://127.0.0.1:45660 --kafka-bootstrap 127.0.0.1:49092 \
        --env-out .local/stack/stack.env [--reset] [--set KEY=VALUE ...]

Steps, in this order:
  1. POST /moto-api/reset-auth `inf` (no IAM checks while bootstrapping); with --reset also
     POST /moto-api/reset (wipe every account).
  2. Consumer account (default 222222222222), every request sent with header
     x-moto-account-id: admin user `stack-admin` (Allow * on *) + key; Lambda identity
     `sensor-consumer-lambda` + key; DynamoDB table; SQS dead-letter queue.
  3. Producer account (default 111111111111): admin user + key; Lambda identity
     `sensor-producer-lambda` + key; Glue registry (no schema: the producer creates it);
     broker-map secret; cross-account role `sensor-schema-reader` trusting the consumer
     Lambda identity with an sts:ExternalId condition.
  4. POST /moto-api/reset-auth `0`: IAM enforcement from the next request on, then a check
     that it is really on (the consumer identity is denied a Glue call).
  5. Write the KEY=value file (--env-out) atomically, with --set pairs appended.

Names can be overridden through the environment (see DEFAULTS below).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import sys
import time
import urllib.request

from concurrent.futures import ThreadPoolExecutor

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

DEFAULTS = {
    "AWS_REGION": "eu-west-1",
    "PRODUCER_ACCOUNT_ID": "111111111111",
    "CONSUMER_ACCOUNT_ID": "222222222222",
    "REGISTRY_NAME": "sensor-registry",
    "SCHEMA_NAME": "sensor-readings",
    "KAFKA_TOPIC": "sensor-readings",
    "READINGS_TABLE": "sensor-readings",
    "AGGREGATES_TABLE": "sensor-aggregates",
    "DEAD_LETTER_QUEUE_NAME": "sensor-readings-dlq",
    "BROKER_SECRET_NAME": "sensor/broker-map",
    "SCHEMA_READER_ROLE_NAME": "sensor-schema-reader",
    "PRODUCER_LAMBDA_USER": "sensor-producer-lambda",
    "CONSUMER_LAMBDA_USER": "sensor-consumer-lambda",
    "ADMIN_USER": "stack-admin",
}

# What the producer Lambda may do (moto checks actions only, so Resource is "*").
PRODUCER_ACTIONS = [
    "glue:CreateSchema",
    "glue:RegisterSchemaVersion",
    "glue:GetSchemaByDefinition",
    "glue:GetSchemaVersion",
    "glue:GetSchema",
    "glue:CreateRegistry",
    "glue:GetRegistry",
    "glue:PutSchemaVersionMetadata",
    "glue:ListSchemaVersions",
    "glue:UpdateSchema",
    "secretsmanager:GetSecretValue",
]

# What the consumer may do through the cross-account role: read schemas and the broker map.
ROLE_ACTIONS = [
    "glue:GetSchemaVersion",
    "glue:GetSchemaByDefinition",
    "glue:GetSchema",
    "glue:GetRegistry",
    "glue:ListSchemaVersions",
    "secretsmanager:GetSecretValue",
]

CONSUMER_ACTIONS = [
    "sts:AssumeRole",
    "dynamodb:BatchWriteItem",
    "dynamodb:BatchGetItem",
    "dynamodb:PutItem",
    "dynamodb:GetItem",
    "dynamodb:DescribeTable",
    "sqs:SendMessage",
    # moto authorises SendMessageBatch as an action of its own (AWS checks sqs:SendMessage).
    "sqs:SendMessageBatch",
    "sqs:GetQueueUrl",
    "sqs:GetQueueAttributes",
]

# Keys of stack.env that scripts/CONTRACT.md fixes; the file may hold more.
CONTRACT_KEYS = [
    "AWS_ENDPOINT_URL", "AWS_REGION", "PRODUCER_ACCOUNT_ID", "CONSUMER_ACCOUNT_ID",
    "PRODUCER_ACCESS_KEY_ID", "PRODUCER_SECRET_ACCESS_KEY",
    "CONSUMER_ACCESS_KEY_ID", "CONSUMER_SECRET_ACCESS_KEY",
    "PRODUCER_ADMIN_ACCESS_KEY_ID", "PRODUCER_ADMIN_SECRET_ACCESS_KEY",
    "CONSUMER_ADMIN_ACCESS_KEY_ID", "CONSUMER_ADMIN_SECRET_ACCESS_KEY",
    "SCHEMA_READER_ROLE_ARN", "SCHEMA_READER_EXTERNAL_ID", "REGISTRY_NAME", "SCHEMA_NAME",
    "BROKER_SECRET_ARN", "READINGS_TABLE", "AGGREGATES_TABLE", "DEAD_LETTER_QUEUE_URL",
    "KAFKA_BOOTSTRAP_SERVERS", "KAFKA_TOPIC", "MOTO_PORT", "KAFKA_PORT", "STACK_LOG_DIR",
]

_SAFE_VALUE = re.compile(r"^[A-Za-z0-9_./:+@=,%-]*$")


def policy(actions: list[str]) -> str:
    return json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}],
    })


def moto_api(endpoint: str, path: str, body: str = "") -> dict:
    # Not form-encoded: Flask would parse the body away and moto would read "".
    req = urllib.request.Request(endpoint.rstrip("/") + path, data=body.encode(), method="POST",
                                 headers={"Content-Type": "text/plain"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read() or b"{}")


class Account:
    """boto3 clients acting in one moto account through the x-moto-account-id header."""

    def __init__(self, endpoint: str, region: str, account_id: str):
        self.endpoint = endpoint
        self.region = region
        self.account_id = account_id
        self.session = boto3.session.Session(
            aws_access_key_id="bootstrap", aws_secret_access_key="bootstrap", region_name=region)

    def client(self, service: str):
        c = self.session.client(service, endpoint_url=self.endpoint,
                                config=Config(retries={"mode": "standard", "max_attempts": 3}))

        def add_account_header(request, **_):
            request.headers["x-moto-account-id"] = self.account_id

        c.meta.events.register("before-sign.*.*", add_account_header)
        return c

    def user_with_key(self, name: str, actions: list[str]) -> tuple[str, dict]:
        iam = self.client("iam")
        arn = iam.create_user(UserName=name)["User"]["Arn"]
        iam.put_user_policy(UserName=name, PolicyName=f"{name}-policy", PolicyDocument=policy(actions))
        key = iam.create_access_key(UserName=name)["AccessKey"]
        return arn, {"id": key["AccessKeyId"], "secret": key["SecretAccessKey"]}


def broker_map(kafka_bootstrap: str, topic: str) -> dict:
    brokers = []
    for i, hostport in enumerate(kafka_bootstrap.split(","), start=1):
        host, _, port = hostport.strip().rpartition(":")
        brokers.append({"broker_id": i, "endpoint_url": host, "broker_port": int(port),
                        "service_name": "local"})
    return {"bootstrap_servers": kafka_bootstrap, "security_protocol": "PLAINTEXT",
            "topic": topic, "brokers": brokers}


def bootstrap(endpoint: str, kafka_bootstrap: str, cfg: dict) -> dict:
    """Both accounts, concurrently (moto_server is threaded; they share nothing)."""
    region = cfg["AWS_REGION"]
    producer = Account(endpoint, region, cfg["PRODUCER_ACCOUNT_ID"])
    consumer = Account(endpoint, region, cfg["CONSUMER_ACCOUNT_ID"])
    # The role trusts the consumer Lambda identity; its ARN is known before the user exists.
    consumer_arn = f"arn:aws:iam::{consumer.account_id}:user/{cfg['CONSUMER_LAMBDA_USER']}"
    with ThreadPoolExecutor(2) as pool:
        c = pool.submit(bootstrap_consumer, consumer, cfg)
        p = pool.submit(bootstrap_producer, producer, cfg, kafka_bootstrap, consumer_arn)
        env = {**c.result(), **p.result()}
    if env["CONSUMER_LAMBDA_USER_ARN"] != consumer_arn:
        raise RuntimeError(f"consumer identity is {env['CONSUMER_LAMBDA_USER_ARN']}, "
                           f"but the role trusts {consumer_arn}")
    return env


def bootstrap_consumer(consumer: Account, cfg: dict) -> dict:
    env: dict[str, str] = {}
    _, key = consumer.user_with_key(cfg["ADMIN_USER"], ["*"])
    env["CONSUMER_ADMIN_ACCESS_KEY_ID"], env["CONSUMER_ADMIN_SECRET_ACCESS_KEY"] = key["id"], key["secret"]
    consumer_arn, key = consumer.user_with_key(cfg["CONSUMER_LAMBDA_USER"], CONSUMER_ACTIONS)
    env["CONSUMER_ACCESS_KEY_ID"], env["CONSUMER_SECRET_ACCESS_KEY"] = key["id"], key["secret"]
    env["CONSUMER_LAMBDA_USER_ARN"] = consumer_arn

    ddb = consumer.client("dynamodb")
    table = ddb.create_table(
        TableName=cfg["READINGS_TABLE"],
        KeySchema=[{"AttributeName": "deviceId", "KeyType": "HASH"},
                   {"AttributeName": "_readingId", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": "deviceId", "AttributeType": "S"},
                              {"AttributeName": "_readingId", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )["TableDescription"]
    env["READINGS_TABLE"] = cfg["READINGS_TABLE"]
    env["READINGS_TABLE_ARN"] = table["TableArn"]
    aggregates = ddb.create_table(
        TableName=cfg["AGGREGATES_TABLE"],
        KeySchema=[{"AttributeName": "deviceId", "KeyType": "HASH"},
                   {"AttributeName": "windowStart", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": "deviceId", "AttributeType": "S"},
                              {"AttributeName": "windowStart", "AttributeType": "N"}],
        BillingMode="PAY_PER_REQUEST",
    )["TableDescription"]
    env["AGGREGATES_TABLE"] = cfg["AGGREGATES_TABLE"]
    env["AGGREGATES_TABLE_ARN"] = aggregates["TableArn"]

    sqs = consumer.client("sqs")
    # 256 KiB, as Terraform sets it: the consumer keeps its dead letters within that.
    queue_url = sqs.create_queue(QueueName=cfg["DEAD_LETTER_QUEUE_NAME"],
                                 Attributes={"MaximumMessageSize": "262144"})["QueueUrl"]
    env["DEAD_LETTER_QUEUE_URL"] = queue_url
    env["DEAD_LETTER_QUEUE_ARN"] = sqs.get_queue_attributes(
        QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return env


def bootstrap_producer(producer: Account, cfg: dict, kafka_bootstrap: str, consumer_arn: str) -> dict:
    env: dict[str, str] = {}
    _, key = producer.user_with_key(cfg["ADMIN_USER"], ["*"])
    env["PRODUCER_ADMIN_ACCESS_KEY_ID"], env["PRODUCER_ADMIN_SECRET_ACCESS_KEY"] = key["id"], key["secret"]
    producer_arn, key = producer.user_with_key(cfg["PRODUCER_LAMBDA_USER"], PRODUCER_ACTIONS)
    env["PRODUCER_ACCESS_KEY_ID"], env["PRODUCER_SECRET_ACCESS_KEY"] = key["id"], key["secret"]
    env["PRODUCER_LAMBDA_USER_ARN"] = producer_arn

    glue = producer.client("glue")
    env["REGISTRY_ARN"] = glue.create_registry(
        RegistryName=cfg["REGISTRY_NAME"],
        Description="Sensor reading schemas (local stack)")["RegistryArn"]
    env["REGISTRY_NAME"] = cfg["REGISTRY_NAME"]
    env["SCHEMA_NAME"] = cfg["SCHEMA_NAME"]

    secret = producer.client("secretsmanager").create_secret(
        Name=cfg["BROKER_SECRET_NAME"],
        Description="Kafka broker map (local stack)",
        SecretString=json.dumps(broker_map(kafka_bootstrap, cfg["KAFKA_TOPIC"])),
    )
    env["BROKER_SECRET_ARN"] = secret["ARN"]

    external_id = secrets.token_hex(16)
    trust = {
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"AWS": consumer_arn},
            "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"sts:ExternalId": external_id}},
        }],
    }
    iam = producer.client("iam")
    role = iam.create_role(RoleName=cfg["SCHEMA_READER_ROLE_NAME"], AssumeRolePolicyDocument=json.dumps(trust),
                           MaxSessionDuration=3600,
                           Description="Lets the consumer account read sensor schemas")["Role"]
    iam.put_role_policy(RoleName=cfg["SCHEMA_READER_ROLE_NAME"], PolicyName="read-sensor-schemas",
                        PolicyDocument=policy(ROLE_ACTIONS))
    env["SCHEMA_READER_ROLE_ARN"] = role["Arn"]
    env["SCHEMA_READER_EXTERNAL_ID"] = external_id
    return env


def check_enforced(endpoint: str, region: str, env: dict, registry_name: str) -> None:
    """The consumer identity has no Glue permission: under enforcement it must be denied."""
    glue = boto3.client("glue", endpoint_url=endpoint, region_name=region,
                        aws_access_key_id=env["CONSUMER_ACCESS_KEY_ID"],
                        aws_secret_access_key=env["CONSUMER_SECRET_ACCESS_KEY"],
                        config=Config(retries={"mode": "standard", "max_attempts": 1}))
    try:
        glue.get_registry(RegistryId={"RegistryName": registry_name})
    except ClientError as e:
        if e.response["ResponseMetadata"]["HTTPStatusCode"] == 403:
            return
        raise RuntimeError(f"enforcement check: unexpected error {e}") from e
    raise RuntimeError("IAM enforcement is not on: the consumer identity could call glue:GetRegistry")


def format_env(values: dict) -> str:
    lines = []
    for k, v in values.items():
        v = str(v)
        if "\n" in v:
            raise ValueError(f"{k}: value has a newline")
        if not _SAFE_VALUE.match(v):
            # Keep the file sourceable by sh; our values never need this.
            v = "'" + v.replace("'", "'\\''") + "'"
        lines.append(f"{k}={v}")
    return "\n".join(lines) + "\n"


def write_atomically(path: str, text: str) -> None:
    tmp = f"{path}.tmp.{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--endpoint", required=True, help="moto endpoint, e.g. http://127.0.0.1:45660")
    p.add_argument("--kafka-bootstrap", required=True, help="host:port list written to the broker map")
    p.add_argument("--env-out", help="write the KEY=value file here (atomically)")
    p.add_argument("--reset", action="store_true", help="wipe moto state first (POST /moto-api/reset)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="extra pairs for the env file (may repeat)")
    args = p.parse_args(argv)

    cfg = {k: os.environ.get(k) or v for k, v in DEFAULTS.items()}
    for k in ("PRODUCER_ACCOUNT_ID", "CONSUMER_ACCOUNT_ID"):
        if not re.fullmatch(r"\d{12}", cfg[k]):
            p.error(f"{k} must be 12 digits, got {cfg[k]!r}")
    if cfg["PRODUCER_ACCOUNT_ID"] == cfg["CONSUMER_ACCOUNT_ID"]:
        p.error("the producer and consumer accounts must differ")

    t0 = time.monotonic()
    moto_api(args.endpoint, "/moto-api/reset-auth", "inf")
    if args.reset:
        moto_api(args.endpoint, "/moto-api/reset")
    env = bootstrap(args.endpoint, args.kafka_bootstrap, cfg)
    # Enforcement LAST: from the next request on, signatures and policies are checked.
    moto_api(args.endpoint, "/moto-api/reset-auth", "0")
    check_enforced(args.endpoint, cfg["AWS_REGION"], env, cfg["REGISTRY_NAME"])

    values = {
        "AWS_ENDPOINT_URL": args.endpoint,
        "AWS_REGION": cfg["AWS_REGION"],
        "PRODUCER_REGION": cfg["AWS_REGION"],
        "PRODUCER_ACCOUNT_ID": cfg["PRODUCER_ACCOUNT_ID"],
        "CONSUMER_ACCOUNT_ID": cfg["CONSUMER_ACCOUNT_ID"],
        **env,
        "KAFKA_BOOTSTRAP_SERVERS": args.kafka_bootstrap,
        "KAFKA_TOPIC": cfg["KAFKA_TOPIC"],
        "KAFKA_SECURITY_PROTOCOL": "PLAINTEXT",
    }
    for pair in args.set:
        k, sep, v = pair.partition("=")
        if not sep or not re.fullmatch(r"[A-Z_][A-Z0-9_]*", k):
            p.error(f"--set wants KEY=VALUE, got {pair!r}")
        values[k] = v
    # Contract keys first, in CONTRACT.md's order, then the others.
    out = {k: values[k] for k in CONTRACT_KEYS if k in values}
    out.update((k, v) for k, v in values.items() if k not in out)
    text = "# Local stack (scripts/stack.sh); source with: set -a; . stack.env; set +a\n" + format_env(out)
    if args.env_out:
        write_atomically(args.env_out, text)
    else:
        sys.stdout.write(text)
    print(f"bootstrap_accounts: accounts ready in {time.monotonic() - t0:.2f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
