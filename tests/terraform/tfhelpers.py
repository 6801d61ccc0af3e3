"""Helpers for the Terraform invariant tests (tests/terraform/test_tf_*.py): parse every .tf file
of a directory with python-hcl2 and expose its blocks by type and name.

Values come back as HCL source text without quotes: a literal "x" is "x", an expression is
"${...}", blocks are lists of dicts.
"""

from __future__ import annotations

import copy
import functools
import json
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
KMS_KEY_MODULE = TF / "modules" / "kms-key"
LAMBDA_FUNCTION_MODULE = TF / "modules" / "lambda-function"
INTERNAL_MODULES = {"network": NETWORK_MODULE, "kms_key": KMS_KEY_MODULE, "lambda_function": LAMBDA_FUNCTION_MODULE}
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


def plan_offline(directory: pathlib.Path, *plan_args: str) -> tuple[int, str]:
    """`terraform init -backend=false` and `terraform plan` of a directory that needs no provider
    (variables, locals, module calls): the plan's exit code and output."""
    init = run_terraform(["init", "-backend=false", "-input=false", "-no-color"], cwd=directory)
    assert init.returncode == 0, init.stderr
    plan = run_terraform(["plan", "-input=false", "-no-color", *plan_args], cwd=directory)
    return plan.returncode, plan.stdout + plan.stderr


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


# --- internal modules as their callers make them ----------------------------------------------------

_CALL_META = {"source", "depends_on", "providers", "count", "for_each"}
_VAR = re.compile(r"\bvar\.(\w+)")
_DOCUMENT_JSON = re.compile(r"\$\{data\.aws_iam_policy_document\.(\w+)\.json\}")


def interpolations(text: str) -> list[tuple[int, int]]:
    """(start, end) of every ${...} of text, nested braces and quoted strings inside included."""
    spans, at = [], 0
    while (start := text.find("${", at)) >= 0:
        depth, index, quoted = 0, start + 1, False
        while index < len(text):
            char = text[index]
            if quoted:
                if char == "\\":
                    index += 1
                elif char == '"':
                    quoted = False
            elif char == '"':
                quoted = True
            elif char == "{":
                depth += 1
            elif char == "}":
                depth -= 1
                if depth == 0:
                    break
            index += 1
        assert index < len(text), f"unclosed interpolation in {text!r}"
        spans.append((start, index + 1))
        at = index + 1
    return spans


def _as_template(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return str(value)
    return json.dumps(value)


def _as_expression(value) -> str:
    if isinstance(value, str):
        spans = interpolations(value)
        if spans == [(0, len(value))]:
            inner = value[2:-1].strip()
            return inner if re.fullmatch(r"[\w.\[\]]+|\w+\([^()]*\)", inner) else f"({inner})"
        return json.dumps(value)
    if value is None:
        return "null"
    return _as_template(value)


def _rewrite(value, pattern: re.Pattern, lookup):
    """value with every reference `pattern` matches replaced by lookup(match): whole where the
    value is that one reference, as template text inside a string, as an expression inside a
    larger expression."""
    if isinstance(value, dict):
        return {key: _rewrite(item, pattern, lookup) for key, item in value.items()}
    if isinstance(value, list):
        return [_rewrite(item, pattern, lookup) for item in value]
    if not isinstance(value, str):
        return value
    spans = interpolations(value)
    if spans == [(0, len(value))]:
        match = pattern.fullmatch(value[2:-1].strip())
        if match:
            return copy.deepcopy(lookup(match))
    parts, last = [], 0
    for start, end in spans:
        parts.append(value[last:start])
        inner = value[start + 2 : end - 1]
        match = pattern.fullmatch(inner.strip())
        if match:
            parts.append(_as_template(lookup(match)))
        else:
            parts.append("${" + pattern.sub(lambda m: _as_expression(lookup(m)), inner) + "}")
        last = end
    parts.append(value[last:])
    return "".join(parts)


def _for_each(value):
    """The items of a dynamic block's for_each, or None where it is still an expression."""
    if isinstance(value, list):
        return value
    if isinstance(value, dict):
        return list(value.values())
    if value is None:
        return []  # an optional attribute left out
    choice = re.fullmatch(r"\$\{(true|false) \? (\[.*\]) : \[\]\}", str(value))
    if choice:
        return json.loads(choice.group(2)) if choice.group(1) == "true" else []
    return None


def _dig(item, path: str):
    for attr in filter(None, path.split(".")):
        item = item.get(attr) if isinstance(item, dict) else None
    return item


def _expand_body(body: dict) -> dict:
    result = {key: _expand_value(value) for key, value in body.items() if key != "dynamic"}
    left = []
    for entry in body.get("dynamic", []):
        for name, spec in entry.items():
            items = _for_each(spec.get("for_each"))
            if items is None:
                left.append({name: spec})
                continue
            iterator = re.compile(rf"{spec.get('iterator', name)}\.(value|key)((?:\.\w+)*)")
            for index, item in enumerate(items):
                def lookup(match, item=item, index=index):
                    return index if match.group(1) == "key" else _dig(item, match.group(2))
                for content in spec.get("content", []):
                    result.setdefault(name, []).append(_expand_value(_rewrite(content, iterator, lookup)))
    if left:
        result["dynamic"] = left
    return result


def _expand_value(value):
    if isinstance(value, dict):
        return _expand_body(value)
    if isinstance(value, list):
        return [_expand_value(item) for item in value]
    return value


def called(config: Config, name: str) -> Config:
    """The module `name` that config calls, as that call makes it: every `var.x` of the module
    replaced by what the call passes for x (or the variable's default), and every dynamic block
    whose for_each is then known expanded into the blocks it makes (an item's attribute the item
    lacks is an optional one left out, and a for_each over it makes nothing). References to the
    module's own blocks and locals stay as they are."""
    call = config.modules[name]
    module = load_dir((config.path / call["source"]).resolve())
    unknown = set(call) - set(module.variables) - _CALL_META
    assert not unknown, f"{config.path}: module {name} takes no {sorted(unknown)}"
    args = {}
    for variable, body in module.variables.items():
        assert variable in call or "default" in body, f"{config.path}: module {name} needs {variable}"
        args[variable] = call[variable] if variable in call else body.get("default")

    def made(value):
        return _expand_value(_rewrite(value, _VAR, lambda m: args[m.group(1)]))

    view = Config(path=module.path, files=module.files)
    view.resources = {key: made(body) for key, body in module.resources.items()}
    view.data = {key: made(body) for key, body in module.data.items()}
    view.outputs = {key: made(body) for key, body in module.outputs.items()}
    view.locals = {key: made(value) for key, value in module.locals.items()}
    view.variables = module.variables
    return view


def calls_of(config: Config, module: pathlib.Path) -> dict[str, Config]:
    """Every call of config to the local module at path, by name, as the call makes it."""
    return {
        name: called(config, name)
        for name, call in config.modules.items()
        if (config.path / call["source"]).resolve() == module.resolve()
    }


def function_of(config: Config) -> tuple[Config, dict]:
    """The account module's Lambda function: the lambda-function call as it makes it, and the
    function's block there."""
    (view,) = calls_of(config, LAMBDA_FUNCTION_MODULE).values()
    return view, view.resource("aws_lambda_function", "this")


def role_statements(config: Config) -> list[dict]:
    """Every statement of the account module's function role policy: the caller's documents the
    lambda-function module takes as source_policy_documents, then the module's own statements."""
    view, function = function_of(config)
    assert function["role"] == "${aws_iam_role.this.arn}"
    policies = [p for p in view.of_type("aws_iam_role_policy").values() if p["role"] == "${aws_iam_role.this.id}"]
    (policy,) = policies
    document = view.data_source("aws_iam_policy_document", _DOCUMENT_JSON.fullmatch(policy["policy"]).group(1))
    found = []
    for source in document.get("source_policy_documents", []):
        match = _DOCUMENT_JSON.fullmatch(source)
        assert match, f"a source document that is not one of the caller's: {source!r}"
        found += statements(config.data_source("aws_iam_policy_document", match.group(1)))
    return found + statements(document)
