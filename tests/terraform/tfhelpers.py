"""Helpers for the Terraform invariant tests (tests/terraform/test_tf_*.py): parse every .tf file
of a directory with python-hcl2 and expose its blocks by type and name.

Values come back as HCL source text without quotes: a literal "x" is "x", an expression is
"${...}", blocks are lists of dicts.
"""

from __future__ import annotations

import functools
import os
import pathlib
import re
import shutil
import subprocess
from dataclasses import dataclass, field

import hcl2
import pytest
from hcl2 import SerializationOptions

REPO = pathlib.Path(__file__).resolve().parents[2]
TF = REPO / "terraform"
PRODUCER_MODULE = TF / "modules" / "producer-account"
CONSUMER_MODULE = TF / "modules" / "consumer-account"
MODULES = {"producer": PRODUCER_MODULE, "consumer": CONSUMER_MODULE}
# Modules both account modules call (no root calls them directly).
NETWORK_MODULE = TF / "modules" / "private-network"
INTERNAL_MODULES = {"network": NETWORK_MODULE}
# Root modules: the both-accounts root (its provider.tf is the repository's provider.tf) and one
# root per account.
ROOTS = {
    "both": TF,
    "producer": TF / "accounts" / "producer",
    "consumer": TF / "accounts" / "consumer",
}

_OPTIONS = SerializationOptions(strip_string_quotes=True, explicit_blocks=False, with_comments=True)


@functools.lru_cache(maxsize=None)
def parse_file(path: pathlib.Path) -> dict:
    with open(path, encoding="utf-8") as handle:
        return hcl2.load(handle, serialization_options=_OPTIONS)


@dataclass
class Config:
    """All top-level blocks of one Terraform directory."""

    path: pathlib.Path
    files: list[pathlib.Path]
    resources: dict[tuple[str, str], dict] = field(default_factory=dict)
    data: dict[tuple[str, str], dict] = field(default_factory=dict)
    variables: dict[str, dict] = field(default_factory=dict)
    outputs: dict[str, dict] = field(default_factory=dict)
    locals: dict[str, object] = field(default_factory=dict)
    modules: dict[str, dict] = field(default_factory=dict)
    providers: list[tuple[str, dict]] = field(default_factory=list)
    terraform: list[dict] = field(default_factory=list)
    checks: dict[str, dict] = field(default_factory=dict)

    def resource(self, rtype: str, name: str) -> dict:
        assert (rtype, name) in self.resources, f"{self.path}: resource {rtype}.{name} is missing"
        return self.resources[(rtype, name)]

    def data_source(self, dtype: str, name: str) -> dict:
        assert (dtype, name) in self.data, f"{self.path}: data {dtype}.{name} is missing"
        return self.data[(dtype, name)]

    def of_type(self, rtype: str) -> dict[str, dict]:
        return {name: body for (kind, name), body in self.resources.items() if kind == rtype}

    def policy_documents(self) -> dict[str, dict]:
        return {name: body for (kind, name), body in self.data.items() if kind == "aws_iam_policy_document"}

    def text(self) -> str:
        return "\n".join(f.read_text(encoding="utf-8") for f in self.files)


def _two_level(entries: list[dict], into: dict) -> None:
    for entry in entries:
        for kind, named in entry.items():
            if kind.startswith("__"):
                continue
            for name, body in named.items():
                into[(kind, name)] = body


@functools.lru_cache(maxsize=None)
def load_dir(path: pathlib.Path) -> Config:
    files = sorted(p for p in path.glob("*.tf") if p.is_file())
    assert files, f"no .tf files in {path}"
    config = Config(path=path, files=files)
    for file in files:
        parsed = parse_file(file)
        _two_level(parsed.get("resource", []), config.resources)
        _two_level(parsed.get("data", []), config.data)
        for entry in parsed.get("variable", []):
            config.variables.update({k: v for k, v in entry.items() if not k.startswith("__")})
        for entry in parsed.get("output", []):
            config.outputs.update({k: v for k, v in entry.items() if not k.startswith("__")})
        for entry in parsed.get("module", []):
            config.modules.update({k: v for k, v in entry.items() if not k.startswith("__")})
        for entry in parsed.get("check", []):
            config.checks.update({k: v for k, v in entry.items() if not k.startswith("__")})
        for entry in parsed.get("locals", []):
            config.locals.update({k: v for k, v in entry.items() if not k.startswith("__")})
        for entry in parsed.get("provider", []):
            for name, body in entry.items():
                if not name.startswith("__"):
                    config.providers.append((name, body))
        config.terraform.extend(parsed.get("terraform", []))
    return config


def producer() -> Config:
    return load_dir(PRODUCER_MODULE)


def consumer() -> Config:
    return load_dir(CONSUMER_MODULE)


def all_dirs() -> list[pathlib.Path]:
    """Every directory with Terraform files of the project, roots and modules."""
    return [ROOTS["both"], ROOTS["producer"], ROOTS["consumer"], PRODUCER_MODULE, CONSUMER_MODULE, *INTERNAL_MODULES.values()]


def all_tf_files() -> list[pathlib.Path]:
    files = {REPO / "provider.tf"}
    files.update(p for p in TF.rglob("*.tf") if ".terraform" not in p.parts)
    return sorted(files)


def block(body: dict, name: str) -> dict:
    """The single nested block `name` of a block body."""
    blocks = body.get(name)
    assert isinstance(blocks, list) and len(blocks) == 1, f"expected exactly one {name} block, got {blocks!r}"
    return blocks[0]


def blocks(body: dict, name: str) -> list[dict]:
    value = body.get(name, [])
    assert isinstance(value, list), f"{name} is not a block list: {value!r}"
    return value


def statements(document: dict) -> list[dict]:
    return blocks(document, "statement")


def ref(expression: str) -> str:
    """The bare expression of an interpolation such as "${var.x}" -> "var.x"."""
    match = re.fullmatch(r"\$\{(.*)\}", expression.strip(), re.S)
    assert match, f"not a bare expression: {expression!r}"
    return match.group(1).strip()


def terraform_binary() -> str:
    binary = shutil.which("terraform")
    if binary is None:
        pytest.skip("terraform is not installed")
    return binary


def terraform_env() -> dict[str, str]:
    env = dict(os.environ)
    config = env.get("TF_CLI_CONFIG_FILE")
    if config is not None and not os.path.isfile(config):
        env.pop("TF_CLI_CONFIG_FILE")
    env["TF_IN_AUTOMATION"] = "1"
    env["CHECKPOINT_DISABLE"] = "1"
    return env


def run_terraform(args: list[str], cwd: pathlib.Path, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [terraform_binary(), *args],
        cwd=cwd,
        env=terraform_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        **kwargs,
    )


def set_in_tfvars(text: str, name: str, value: str) -> str:
    """tfvars text with `name = value`; name is a top-level variable ("consumer_account_id") or an
    attribute of an object variable ("producer.vpc_cidr"), replaced where set, else added."""
    if "." not in name:
        pattern = re.compile(rf"^{name}\s*=.*$", re.M)
        return pattern.sub(f"{name} = {value}", text) if pattern.search(text) else text + f"\n{name} = {value}\n"
    obj, attr = name.split(".", 1)
    opening = re.search(rf"^{obj}\s*=\s*\{{\n", text, re.M)
    if not opening:
        return text + f"\n{obj} = {{\n  {attr} = {value}\n}}\n"
    end = text.index("\n}", opening.end())
    body = text[opening.end():end]
    pattern = re.compile(rf"^(\s+){attr}\s*=.*$", re.M)
    if pattern.search(body):
        body = pattern.sub(lambda m: f"{m.group(1)}{attr} = {value}", body, count=1)
    else:
        body = f"  {attr} = {value}\n" + body
    return text[: opening.end()] + body + text[end:]


def object_attributes(variable: dict) -> list[str]:
    """Attribute names of an object-typed variable, in declaration order."""
    typ = variable["type"]
    inner = re.search(r"object\(\{(.*)\}\)", typ, re.S)
    assert inner, f"not an object type: {typ!r}"
    names, depth = [], 0
    for token in re.finditer(r"[({\[]|[)}\]]|\b(\w+)\s*=", inner.group(1)):
        text = token.group(0)
        if text in "({[":
            depth += 1
        elif text in ")}]":
            depth -= 1
        elif depth == 0:
            names.append(token.group(1))
    return names


def validations_of(config: "Config") -> dict[str, list[str]]:
    """Validation conditions per input: "name" for a plain variable, "name.attr" for each attribute
    of an object variable that a condition mentions."""
    found: dict[str, list[str]] = {}
    for name, body in config.variables.items():
        for validation in body.get("validation", []):
            condition = validation["condition"]
            attrs = set(re.findall(rf"var\.{name}\.(\w+)", condition))
            for key in ({f"{name}.{a}" for a in attrs} or {name}):
                found.setdefault(key, []).append(condition)
    return found


def attribute_default(variable: dict, attr: str) -> str | None:
    """The default of an optional attribute of an object variable, as HCL text ("500",
    '"TRIM_HORIZON"'); None for a required attribute or one without a default."""
    match = re.search(rf"\b{attr} = optional\((.*?)\)(?:, \w+ = |\}}\)\}}$)", variable["type"])
    assert match or re.search(rf"\b{attr} = ", variable["type"]), f"no attribute {attr}"
    if not match:
        return None
    depth, parts, current = 0, [], ""
    for char in match.group(1):
        if char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        if char == "," and depth == 0:
            parts.append(current.strip())
            current = ""
        else:
            current += char
    parts.append(current.strip())
    return parts[1] if len(parts) > 1 else None


def setting(config: "Config", name: str) -> tuple[str | None, list[str]]:
    """(default, validation conditions) of a module input: "settings.batch_size", "producer.topic"
    or a plain variable name."""
    if "." in name:
        variable, attr = name.split(".", 1)
        return attribute_default(config.variables[variable], attr), validations_of(config).get(name, [])
    body = config.variables[name]
    return body.get("default"), [v["condition"] for v in body.get("validation", [])]
