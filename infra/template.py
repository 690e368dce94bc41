"""Reads template.yaml (CloudFormation short-form tags included) and resolves its intrinsics
against a local account, so the local stack provisions exactly what the template declares.
Conditions are evaluated with the parameters' values (their defaults unless overridden), so an
`Fn::If` picks its branch and `!Ref AWS::NoValue` drops the list element or property it stands
for, as CloudFormation does (the tasks table's staged indexes, docs/upgrading.md)."""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

TEMPLATE_PATH = Path(__file__).resolve().parent.parent / "template.yaml"
NO_VALUE = "AWS::NoValue"


class _NoValue:
    """What `!Ref AWS::NoValue` resolves to: removed from the list or mapping that holds it."""


_DROPPED = _NoValue()


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """libyaml's safe loader where PyYAML was built with it (8-10x faster than the pure-Python one)."""


def _tag(name: str) -> Callable[[yaml.SafeLoader, yaml.Node], Any]:
    def construct(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
        if isinstance(node, yaml.ScalarNode):
            value: Any = loader.construct_scalar(node)
            if name == "Fn::GetAtt":
                value = value.split(".", 1)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
        return {name: value}

    return construct


for _short in ("Ref", "Condition"):
    _Loader.add_constructor(f"!{_short}", _tag(_short))
for _fn in ("Sub", "GetAtt", "Join", "Select", "Split", "If", "Equals", "Not", "And", "Or",
            "FindInMap", "ImportValue", "Base64", "GetAZs"):
    _Loader.add_constructor(f"!{_fn}", _tag(f"Fn::{_fn}"))


_PARSED: dict[Path, tuple[int, int, dict[str, Any]]] = {}


def load_template(path: Path = TEMPLATE_PATH) -> dict[str, Any]:
    """The parsed template, a copy of its own for each caller (who may change it). Parsed again only
    when the file changed: every functional test's fresh account provisions from it."""
    stat = path.stat()
    cached = _PARSED.get(path)
    if cached is None or cached[:2] != (stat.st_mtime_ns, stat.st_size):
        with open(path, encoding="utf-8") as handle:
            cached = (stat.st_mtime_ns, stat.st_size, yaml.load(handle, Loader=_Loader))  # noqa: S506 - safe loader
        _PARSED[path] = cached
    return copy.deepcopy(cached[2])


@dataclass
class Resolver:
    """Resolves Ref / Fn::Sub / Fn::GetAtt with the template's parameter defaults, the pseudo
    parameters of a local account, and what `physical(logical_id)` reports for a resource."""

    template: dict[str, Any]
    physical: Callable[[str], dict[str, str]]
    region: str = "us-east-1"
    account: str = "123456789012"
    overrides: dict[str, str] = field(default_factory=dict)

    def parameter(self, name: str) -> str:
        pseudo = {"AWS::Region": self.region, "AWS::AccountId": self.account,
                  "AWS::StackName": self.parameter("Prefix") if name != "Prefix" else "taskhook",
                  "AWS::Partition": "aws", "AWS::URLSuffix": "amazonaws.com"}
        if name in self.overrides:
            return self.overrides[name]
        if name in pseudo:
            return pseudo[name]
        params = self.template.get("Parameters", {})
        if name in params:
            return str(params[name].get("Default", ""))
        return self.physical(name)["Ref"]

    def condition(self, name: str) -> bool:
        """A named condition of the template's Conditions section, evaluated."""
        return self._truth(self.template.get("Conditions", {})[name])

    def _truth(self, value: Any) -> bool:
        if isinstance(value, dict) and len(value) == 1:
            (function, args), = value.items()
            if function == "Condition":
                return self.condition(args)
            if function == "Fn::Equals":
                left, right = (self.resolve(a) for a in args)
                return str(left) == str(right)
            if function == "Fn::Not":
                return not self._truth(args[0])
            if function == "Fn::And":
                return all(self._truth(a) for a in args)
            if function == "Fn::Or":
                return any(self._truth(a) for a in args)
        raise ValueError(f"not a condition: {value!r}")

    def resolve(self, value: Any) -> Any:
        resolved = self._resolve(value)
        return None if resolved is _DROPPED else resolved

    def _resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [r for r in (self._resolve(v) for v in value) if r is not _DROPPED]
        if not isinstance(value, dict):
            return value
        if set(value) == {"Ref"} and value["Ref"] == NO_VALUE:
            return _DROPPED
        if set(value) == {"Fn::If"}:
            name, when_true, when_false = value["Fn::If"]
            return self._resolve(when_true if self.condition(name) else when_false)
        if set(value) == {"Ref"}:
            return self.parameter(value["Ref"])
        if set(value) == {"Fn::GetAtt"}:
            logical, attribute = value["Fn::GetAtt"]
            return self.physical(logical)[attribute]
        if set(value) == {"Fn::Sub"}:
            text = value["Fn::Sub"]
            return re.sub(r"\$\{([^}!]+)\}", lambda m: self._sub_var(m.group(1)), text)
        return {k: r for k, r in ((k, self._resolve(v)) for k, v in value.items()) if r is not _DROPPED}

    def _sub_var(self, name: str) -> str:
        if "." in name and not name.startswith("AWS::"):
            logical, attribute = name.split(".", 1)
            return self.physical(logical)[attribute]
        return self.parameter(name)
