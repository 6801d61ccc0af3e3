"""The account modules' calls of the key and function modules against those modules' variable
types and validations, through a provider-less `terraform plan` (the AWS provider cannot be
downloaded here, so no `validate`): a scratch root holds each call, its references replaced by
stand-ins (a setting by the account module's default), and modules that hold only their
variable blocks."""

from __future__ import annotations

import json
import pathlib
import re

import pytest
from tfhelpers import (
    KMS_KEY_MODULE,
    LAMBDA_FUNCTION_MODULE,
    MODULES,
    attribute_default,
    interpolations,
    load_dir,
    plan_offline,
    statements,
)

CHECKED = {KMS_KEY_MODULE.resolve(): "kms-key", LAMBDA_FUNCTION_MODULE.resolve(): "lambda-function"}

# What the references of the calls stand for (settings come from the account module's defaults).
STAND_INS = {
    "local.name": '"sensors-side"',
    "local.tags": '{ Side = "side" }',
    "var.lambda_zip_path": '"target/lambda/side/bootstrap.zip"',
    "module.data_key.arn": '"arn:aws:kms:eu-west-1:123456789012:key/0b6a4e2c-5d7f-4c1e-9a3b-2f8d6e4c1a7b"',
    "module.network.vpc_id": '"vpc-0123456789abcdef0"',
    "module.network.private_subnet_ids": '["subnet-0123456789abcdef0", "subnet-0123456789abcdef1"]',
}
_DOCUMENT_JSON = re.compile(r"data\.aws_iam_policy_document\.(\w+)\.json")
_SETTING = re.compile(r"var\.settings\.(\w+)")


def _stand_in(config, expression: str) -> str:
    if expression in STAND_INS:
        return STAND_INS[expression]
    setting = _SETTING.fullmatch(expression)
    if setting:
        settings = config.variables["settings"]
        default = attribute_default(settings, setting.group(1))
        if default is None:  # optional without a default: null
            assert re.search(rf"\b{setting.group(1)} = optional\(", settings["type"]), f"{expression} is required"
            return "null"
        return default
    document = _DOCUMENT_JSON.fullmatch(expression)
    if document:
        # The account module's document, as its sids: what the function module checks of it.
        sids = [s["sid"] for s in statements(config.data_source("aws_iam_policy_document", document.group(1)))]
        return "jsonencode(" + _hcl({"Version": "2012-10-17", "Statement": [
            {"Sid": sid, "Effect": "Allow", "Action": "sts:GetCallerIdentity", "Resource": "*"} for sid in sids
        ]}, config, nested=True) + ")"
    raise AssertionError(f"{config.path}: no stand-in for {expression}")


def _hcl(value, config, nested: bool = False) -> str:
    """value (python-hcl2's reading of an argument) as HCL text, references stood in for: a whole
    reference at the top by its stand-in, one inside an object or list by "x", one inside a
    string's template by x."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(_hcl(v, config, True) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_hcl(v, config, True)}" for k, v in value.items()) + " }"
    spans = interpolations(value)
    if spans == [(0, len(value))]:
        return '"x"' if nested else _stand_in(config, value[2:-1].strip())
    text, last = "", 0
    for start, end in spans:
        text += value[last:start] + "x"
        last = end
    return json.dumps(text + value[last:])


def _scratch(tmp: pathlib.Path) -> str:
    """A root with every call of the checked modules from both account modules; returns its text."""
    chunks = []
    for source, name in CHECKED.items():
        target = tmp / "modules" / name
        target.mkdir(parents=True)
        (target / "variables.tf").write_text((source / "variables.tf").read_text())
    for side, path in sorted(MODULES.items()):
        config = load_dir(path)
        for call, body in config.modules.items():
            source = (path / body["source"]).resolve()
            if source not in CHECKED:
                continue
            args = "".join(f"  {k} = {_hcl(v, config)}\n" for k, v in body.items() if k != "source")
            chunks.append(f'module "{side}_{call}" {{\n  source = "./modules/{CHECKED[source]}"\n{args}}}\n')
    text = "\n".join(chunks)
    (tmp / "main.tf").write_text(text)
    return text


def test_every_call_of_the_key_and_function_modules_passes_their_validations(tmp_path):
    text = _scratch(tmp_path)
    calls = re.findall(r'^module "(\w+)"', text, re.M)
    assert set(calls) == {
        "producer_data_key", "producer_broker_map_key", "producer_lambda", "consumer_data_key", "consumer_lambda",
    }
    code, output = plan_offline(tmp_path)
    assert code == 0, output


@pytest.mark.parametrize(("old", "new", "variable"), [
    ('"kms:DescribeKey"]', '"kms:*"]', "grants"),
    ('identifiers = ["x"]', 'identifiers = ["*"]', "grants"),
    ('sid = "ConsumerAccountDecryptsTheBrokerMapThroughSecretsManager"', 'sid = "EnableIamPolicies"', "grants"),
    ('principal = { type = "AWS"', 'principal = { type = "Federated"', "grants"),
    ('{ Sid = "AssumeTheProducerSchemaRole"', '{ Sid = "UploadTraces"', "policy_json"),
    ('system_log_level = "WARN"', 'system_log_level = "ERROR"', "system_log_level"),
    ('alias = "x-data"', 'alias = "aws/x-data"', "alias"),
])
def test_the_modules_refuse_what_their_validations_exclude(tmp_path, old, new, variable):
    text = _scratch(tmp_path)
    assert old in text, f"seed no longer applies: {old!r}"
    (tmp_path / "main.tf").write_text(text.replace(old, new, 1))
    code, output = plan_offline(tmp_path)
    assert code != 0, f"{new} was accepted"
    assert "Invalid value for variable" in output and f"var.{variable}" in output, output
