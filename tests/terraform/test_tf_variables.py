"""Variables: typed, described, validated where it matters; examples that satisfy the validations."""

from __future__ import annotations

import pathlib
import re

import pytest
from tfhelpers import REPO, ROOTS, all_dirs, load_dir, parse_file, run_terraform



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
    assert len(VARIABLES) > 60


@pytest.mark.parametrize("item", VARIABLES, ids=_id)
def test_variable_has_type_and_description(item):
    _, name, body = item
    assert body.get("type"), f"{name} has no type"
    assert isinstance(body.get("description"), str) and len(body["description"]) >= 10, f"{name} has no description"


@pytest.mark.parametrize("item", [v for v in VARIABLES if v[1].endswith("account_id")], ids=_id)
def test_account_ids_are_validated_as_12_digits(item):
    _, name, body = item
    conditions = " ".join(v["condition"] for v in body.get("validation", []))
    assert "^[0-9]{12}$" in conditions, f"{name}: {conditions!r}"


@pytest.mark.parametrize("item", [v for v in VARIABLES if "cidr" in v[1]], ids=_id)
def test_cidrs_are_validated_with_cidrhost(item):
    _, name, body = item
    conditions = " ".join(v["condition"] for v in body.get("validation", []))
    assert f"can(cidrhost(var.{name}" in conditions


@pytest.mark.parametrize(
    "item",
    [v for v in VARIABLES if v[1] in ("name_prefix", "topic", "registry_name", "schema_name", "kafka_version")],
    ids=_id,
)
def test_names_are_validated(item):
    _, name, body = item
    assert body.get("validation"), f"{name} is not validated"
    assert "regex(" in body["validation"][0]["condition"]


@pytest.mark.parametrize("item", [v for v in VARIABLES if v[1].endswith("role_arn")], ids=_id)
def test_role_arns_are_validated(item):
    _, name, body = item
    conditions = " ".join(v["condition"] for v in body.get("validation", []))
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


def _scratch_root(root: pathlib.Path, tmp: pathlib.Path, tfvars: str) -> None:
    """A provider-less copy of the root's variable blocks, to evaluate the validations."""
    chunks = []
    for file in load_dir(root).files:
        lines = file.read_text().splitlines()
        inside = False
        for line in lines:
            if line.startswith("variable "):
                inside = True
            if inside:
                chunks.append(line)
            if inside and line == "}":
                inside = False
                chunks.append("")
    (tmp / "variables.tf").write_text("\n".join(chunks))
    (tmp / "terraform.tfvars").write_text(tfvars)


def _plan(root: pathlib.Path, tmp: pathlib.Path, tfvars: str) -> tuple[int, str]:
    _scratch_root(root, tmp, tfvars)
    init = run_terraform(["init", "-backend=false", "-input=false", "-no-color"], cwd=tmp)
    assert init.returncode == 0, init.stderr
    plan = run_terraform(
        ["plan", "-input=false", "-no-color", "-var", "kafka_scram_password=0123456789abcdefghij"], cwd=tmp
    )
    return plan.returncode, plan.stdout + plan.stderr


@pytest.mark.parametrize("root", sorted(ROOTS), ids=str)
def test_example_passes_the_variable_validations(root, tmp_path):
    code, output = _plan(ROOTS[root], tmp_path, (ROOTS[root] / "terraform.tfvars.example").read_text())
    assert code == 0, output


@pytest.mark.parametrize(
    ("root", "name", "bad"),
    [
        ("producer", "consumer_account_id", '"12345"'),
        ("producer", "vpc_cidr", '"10.10.0.0/33"'),
        ("producer", "consumer_access_external_id", '"short"'),
        ("consumer", "producer_role_arn", '"arn:aws:iam::123456789012:user/someone"'),
        ("consumer", "availability_zone_ids", '["eu-west-1a", "eu-west-1b"]'),
        ("both", "consumer_account_id", '"not-an-account"'),
        ("both", "name_prefix", '"This_Is_Not_Valid"'),
    ],
)
def test_validations_reject_bad_values(root, name, bad, tmp_path):
    example = (ROOTS[root] / "terraform.tfvars.example").read_text()
    pattern = re.compile(rf"^{name}\s*=.*$", re.M)
    tfvars = pattern.sub(f"{name} = {bad}", example) if pattern.search(example) else example + f"\n{name} = {bad}\n"
    code, output = _plan(ROOTS[root], tmp_path, tfvars)
    assert code != 0, f"{name} = {bad} was accepted"
    assert "Invalid value for variable" in output, output
