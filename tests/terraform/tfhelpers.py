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
    return [ROOTS["both"], ROOTS["producer"], ROOTS["consumer"], PRODUCER_MODULE, CONSUMER_MODULE]


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
