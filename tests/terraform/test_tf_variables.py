"""Variables: typed, described, validated where it matters; examples that satisfy the validations."""

from __future__ import annotations

import pathlib
import re

import pytest
from tfhelpers import (
    MODULES,
    REPO,
    ROOTS,
    all_dirs,
    load_dir,
    object_attributes,
    parse_file,
    plan_offline,
    set_in_tfvars,
    validations_of,
)



def _variables():
    found = []
    for path in all_dirs():
        for name, body in load_dir(path).variables.items():
            found.append((path, name, body))
    return found


def _id(item):
    path, name, _ = item
    return f"{path.relative_to(REPO)}:{name}"


VARIABLES = _variables()


def test_there_are_variables_to_check():
    assert len(VARIABLES) > 20


def _inputs():
    """Every input a deployment sets: plain variables and the attributes of object variables."""
    found = []
    for path in all_dirs():
        config = load_dir(path)
        validations = validations_of(config)
        for name, body in config.variables.items():
            if "object(" in body["type"]:
                for attr in object_attributes(body):
                    found.append((path, attr, validations.get(f"{name}.{attr}", [])))
            else:
                found.append((path, name, validations.get(name, [])))
    return found


INPUTS = _inputs()


def test_the_modules_declare_the_settings_as_objects():
    for side, path in MODULES.items():
        attrs = object_attributes(load_dir(path).variables["settings"])
        assert len(attrs) >= 20, f"{side}: {attrs}"
    assert len(INPUTS) > 60


@pytest.mark.parametrize("item", VARIABLES, ids=_id)
def test_variable_has_type_and_description(item):
    _, name, body = item
    assert body.get("type"), f"{name} has no type"
    assert isinstance(body.get("description"), str) and len(body["description"]) >= 10, f"{name} has no description"


@pytest.mark.parametrize("item", [v for v in INPUTS if v[1].endswith("account_id")], ids=_id)
def test_account_ids_are_validated_as_12_digits(item):
    _, name, conditions = item
    conditions = " ".join(conditions)
    assert "^[0-9]{12}$" in conditions, f"{name}: {conditions!r}"


@pytest.mark.parametrize("item", [v for v in INPUTS if "cidr" in v[1]], ids=_id)
def test_cidrs_are_validated_with_cidrhost(item):
    _, name, conditions = item
    assert re.search(rf"can\(cidrhost\(var\.(\w+\.)?{name}\b", " ".join(conditions)), conditions


@pytest.mark.parametrize(
    "item",
    [v for v in INPUTS if v[1] in ("name_prefix", "topic", "registry_name", "schema_name", "kafka_version")],
    ids=_id,
)
def test_names_are_validated(item):
    _, name, conditions = item
    assert conditions, f"{name} is not validated"
    assert "regex(" in conditions[0]


@pytest.mark.parametrize("item", [v for v in INPUTS if v[1].endswith("role_arn")], ids=_id)
def test_role_arns_are_validated(item):
    _, name, conditions = item
    conditions = " ".join(conditions)
    assert ":iam::" in conditions and "role/" in conditions, f"{name}: {conditions!r}"


@pytest.mark.parametrize("item", [v for v in VARIABLES if v[1] == "kafka_scram_password"], ids=_id)
def test_scram_password_is_ephemeral_and_sensitive(item):
    _, _, body = item
    assert body.get("ephemeral") is True
    assert body.get("sensitive") is True
    assert "default" not in body


def test_every_root_takes_the_scram_password_and_the_provider_file_takes_the_accounts():
    for root in ROOTS.values():
        assert "kafka_scram_password" in load_dir(root).variables
    provider_vars = load_dir(ROOTS["both"]).variables
    for name in ("aws_region", "producer_profile", "consumer_profile", "producer_account_id", "consumer_account_id"):
        assert name in provider_vars
        assert f"var.{name}" in (REPO / "provider.tf").read_text()
    # The root's inputs live in one file: provider.tf holds only providers.
    assert "variable" not in parse_file(REPO / "provider.tf")


def _module_variables() -> dict[str, dict]:
    """Every variable of the modules, and every attribute of their object variables."""
    found = {}
    for path in MODULES.values():
        for name, body in load_dir(path).variables.items():
            found[name] = body
            if "object(" in body["type"]:
                found.update({attr: body for attr in object_attributes(body)})
    return found


@pytest.mark.parametrize("root", sorted(ROOTS), ids=str)
def test_no_module_input_is_a_root_variable_passed_through_unchanged(root):
    """A root declares only what it transforms or wires (provider inputs, package paths, the account
    objects, the ephemeral password): a module input is declared, defaulted and validated once, in
    the module, never copied into a root that hands it on as is."""
    config = load_dir(ROOTS[root])
    module_names = _module_variables()
    passed_as_is = {}
    for module in config.modules.values():
        for arg, value in module.items():
            if isinstance(value, str) and re.fullmatch(r"\$\{var\.\w+\}", value):
                passed_as_is[arg] = value[6:-1]
    assert passed_as_is, "every root hands the modules something of its own"
    for arg, name in passed_as_is.items():
        body = config.variables[name]
        if "object(" not in body["type"] and name != "kafka_scram_password":
            assert body["type"] == "any", f"{root}: {arg} = var.{name} copies a module input"
        # A root copy of a module input would repeat its default and validations.
        assert not body.get("validation"), f"{root}: var.{name} repeats the module's validation"
        assert "default" not in body or body["default"] == {}, f"{root}: var.{name} repeats the module's default"
    handed_on = {n for module in config.modules.values() for n in re.findall(r"var\.(\w+)", str(module))}
    handed_on |= {n for value in config.locals.values() for n in re.findall(r"var\.(\w+)", str(value))}
    for name in handed_on & set(module_names) - {"kafka_scram_password"}:
        assert config.variables[name]["type"] == "any", f"{root}: {name} is declared again here"


def test_module_settings_are_declared_once_across_the_tree():
    """No attribute of a module's settings is also a variable of a root."""
    settings = set()
    for path in MODULES.values():
        settings |= set(object_attributes(load_dir(path).variables["settings"]))
    for root, path in ROOTS.items():
        clash = settings & set(load_dir(path).variables)
        assert clash <= {"consumer_account_id"} if root == "both" else not clash, f"{root}: {clash}"


def test_variables_are_declared_once_per_directory():
    for path in all_dirs():
        names = []
        for file in load_dir(path).files:
            for entry in parse_file(file).get("variable", []):
                names.extend(k for k in entry if not k.startswith("__"))
        assert len(names) == len(set(names)), f"{path}: duplicate variables"


# --- Examples --------------------------------------------------------------------------------------


def _example(root: pathlib.Path) -> dict:
    path = root / "terraform.tfvars.example"
    assert path.is_file(), f"{path} is missing"
    return {k: v for k, v in parse_file(path).items() if not k.startswith("__")}


@pytest.mark.parametrize("root", sorted(ROOTS), ids=str)
def test_example_sets_only_declared_variables_and_every_required_one(root):
    variables = load_dir(ROOTS[root]).variables
    example = _example(ROOTS[root])
    assert set(example) <= set(variables), f"undeclared: {set(example) - set(variables)}"
    required = {
        name for name, body in variables.items() if "default" not in body and not body.get("ephemeral")
    }
    assert required, "every root has required inputs"
    assert required <= set(example), f"missing from the example: {required - set(example)}"
    assert "kafka_scram_password" not in example, "the password belongs in TF_VAR_kafka_scram_password"


_BROKERS = '[{ broker_id = 1, endpoint_url = "b-1.example", broker_port = 9096, service_name = "com.amazonaws.vpce.eu-west-1.vpce-svc-0" }]'
# What the roots take from resources and the other module, in the provider-less scratch copy.
_STAND_INS = {
    "module.consumer.lambda_role_arn": '"arn:aws:iam::210987654321:role/sensors-consumer-lambda"',
    "module.consumer.consumer_group_id": '"sensors-consumer"',
    "module.producer.schema_reader_role_arn": '"arn:aws:iam::123456789012:role/sensors-producer-schema-reader"',
    "module.producer.schema_reader_external_id": '"3f9c1e7a5b2d48e6a0c4b8d2e6f1a3c5"',
    "module.producer.region": '"eu-west-1"',
    "module.producer.availability_zone_ids": '["euw1-az1", "euw1-az2", "euw1-az3"]',
    "module.producer.brokers": _BROKERS,
    "module.producer.topic": '"sensor-readings"',
    "module.producer.kafka_scram_username": '"consumer-esm"',
    "data.aws_caller_identity.consumer.account_id": '"210987654321"',
    "data.aws_secretsmanager_secret_version.broker_map[0].secret_string": f"jsonencode({{ brokers = {_BROKERS} }})",
}
_REFERENCE = re.compile(r"\b(?:module\.\w+\.\w+|data\.\w+\.\w+(?:\[\d+\])?\.\w+)")


def _blocks(text: str, kind: str) -> list[str]:
    return re.findall(rf"^{kind} .*?^\}}\n", text, re.M | re.S)


def _scratch_root(root: pathlib.Path, tmp: pathlib.Path, tfvars: str) -> None:
    """A provider-less copy of the root: its variables, locals and module calls, with modules that
    hold only their variable blocks (and the settings output), so that a plan evaluates the root's
    and the modules' validations and the roots' preconditions on the settings."""
    chunks = []
    config = load_dir(root)
    for file in config.files:
        text = file.read_text()
        chunks += _blocks(text, "variable") + _blocks(text, "locals")
        for module in _blocks(text, "module"):
            name = re.match(r'module "(\w+)"', module).group(1)
            source = (root / config.modules[name]["source"]).resolve()
            target = tmp / "modules" / name
            target.mkdir(parents=True)
            variables = "".join(
                "".join(_blocks(f.read_text(), "variable")) for f in load_dir(source).files
            )
            (target / "variables.tf").write_text(variables + 'output "settings" {\n  value = var.settings\n}\n')
            module = re.sub(r"\n  providers = \{.*?\n  \}\n", "\n", module, flags=re.S)
            module = re.sub(r'source = ".*?"', f'source = "./modules/{name}"', module)
            chunks.append(module)
        for output in _blocks(text, "output"):
            for index, condition in enumerate(re.findall(r"^  precondition \{\n.*?^  \}\n", output, re.M | re.S)):
                name = re.match(r'output "(\w+)"', output).group(1)
                chunks.append(f'output "{name}_{index}" {{\n  value = null\n\n{condition}}}\n')
    main = "\n".join(chunks)

    def stand_in(match):
        assert match.group(0) in _STAND_INS, f"no stand-in for {match.group(0)}"
        return _STAND_INS[match.group(0)]

    main = _REFERENCE.sub(lambda m: m.group(0) if m.group(0).startswith("module.") and m.group(0).endswith(".settings") else stand_in(m), main)
    (tmp / "main.tf").write_text(main)
    (tmp / "terraform.tfvars").write_text(tfvars)


def _plan(root: pathlib.Path, tmp: pathlib.Path, tfvars: str) -> tuple[int, str]:
    _scratch_root(root, tmp, tfvars)
    return plan_offline(tmp, "-var", "kafka_scram_password=0123456789abcdefghij")


@pytest.mark.parametrize("root", sorted(ROOTS), ids=str)
def test_example_passes_the_variable_validations(root, tmp_path):
    code, output = _plan(ROOTS[root], tmp_path, (ROOTS[root] / "terraform.tfvars.example").read_text())
    assert code == 0, output


@pytest.mark.parametrize(
    ("root", "name", "bad"),
    [
        ("producer", "producer.consumer_account_id", '"12345"'),
        ("producer", "producer.vpc_cidr", '"10.10.0.0/33"'),
        ("producer", "producer.schema_reader_external_id", '"short"'),
        ("producer", "producer.consumer_lambda_role_arn", '"arn:aws:iam::123456789012:user/someone"'),
        ("consumer", "producer.schema_reader_role_arn", '"arn:aws:iam::123456789012:user/someone"'),
        ("consumer", "producer.availability_zone_ids", '["eu-west-1a", "eu-west-1b"]'),
        ("consumer", "producer.broker_secret_arn", '"not-a-secret"'),
        ("both", "consumer_account_id", '"not-an-account"'),
        ("both", "common.name_prefix", '"This_Is_Not_Valid"'),
        ("both", "consumer.vpc_cidr", '"10.20.0.0"'),
    ],
)
def test_validations_reject_bad_values(root, name, bad, tmp_path):
    example = (ROOTS[root] / "terraform.tfvars.example").read_text()
    code, output = _plan(ROOTS[root], tmp_path, set_in_tfvars(example, name, bad))
    assert code != 0, f"{name} = {bad} was accepted"
    assert "Invalid value for variable" in output, output


@pytest.mark.parametrize(("root", "name"), [
    ("both", "producer.vpc_cdir"),
    ("both", "common.name_prefx"),
    ("producer", "producer.topik"),
    ("consumer", "consumer.batch_sise"),
])
def test_a_misspelt_setting_is_refused(root, name, tmp_path):
    example = (ROOTS[root] / "terraform.tfvars.example").read_text()
    code, output = _plan(ROOTS[root], tmp_path, set_in_tfvars(example, name, '"x"'))
    assert code != 0, f"{name} was accepted"
    assert "does not have" in output, output
