"""One way to read a YAML config and report what is wrong with it, for every config of the project.

The service config (`painwatch serve`/`doctor --config`), the training config (`painwatch train --config`) and the
frame-extraction plan config (`painwatch data plan --config`) all go through `read_yaml_file`/`parse_yaml` and
`validate`: a problem becomes one line naming the file, the line (when the key is in that file) and the key path,
with a "did you mean" for a misspelt key or enum value; the CLI prints the `ConfigError` and exits 2.

    /etc/painwatch/config.yaml: invalid configuration (2 problems):
      - /etc/painwatch/config.yaml:3: modle: unknown key; did you mean `model`?
      - /etc/painwatch/config.yaml:7: beds[0].scale: 'DNA' is not one of 'DAN', 'FLACC'; did you mean `DAN`?

No TensorFlow here: the service imports it.
"""

from __future__ import annotations

import difflib
import os
import re
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from service.errors import UserError

ModelT = TypeVar("ModelT", bound=BaseModel)
KeyPath = tuple[str | int, ...]


class ConfigError(UserError):
    """A config that cannot be used; the message lists every problem (exit code 2)."""

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or []


@dataclass(frozen=True)
class YamlSource:
    """Where parsed config data came from: a name for messages and the 1-based line of each key path in it."""

    origin: str
    lines: dict[KeyPath, int] = field(default_factory=dict)

    def line_of(self, path: KeyPath) -> int | None:
        """The line of `path`, else of its deepest ancestor written in this source (None: not in this source)."""
        for end in range(len(path), 0, -1):
            line = self.lines.get(path[:end])
            if line is not None:
                return line
        return None

    def where(self, path: KeyPath) -> str:
        line = self.line_of(path)
        return f"{self.origin}:{line}" if line is not None else self.origin


# -- reading -----------------------------------------------------------------------------------------------------


def read_yaml_file(path: Path, what: str = "configuration") -> tuple[dict[str, Any], YamlSource]:
    """A YAML mapping from a file (empty file: {}), with the line of every key; errors name the absolute path."""
    path = Path(path).expanduser().absolute()
    if not path.is_file():
        raise ConfigError(f"{path}: {what} file not found")
    return parse_yaml(path.read_text(encoding="utf-8"), str(path), what)


def parse_yaml(text: str, origin: str, what: str = "configuration") -> tuple[dict[str, Any], YamlSource]:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{origin}:{mark.line + 1}" if mark is not None else origin
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{where}: not valid YAML: {problem}") from exc
    if data is None:
        return {}, YamlSource(origin)
    if not isinstance(data, dict):
        raise ConfigError(f"{origin}: a {what} must be a mapping of keys, got {type(data).__name__}")
    lines: dict[KeyPath, int] = {}
    if node is not None:
        _collect_lines(node, (), lines)
    return data, YamlSource(origin, lines)


def _collect_lines(node: yaml.Node, path: KeyPath, lines: dict[KeyPath, int]) -> None:
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node.value)
            child = (*path, key)
            lines[child] = key_node.start_mark.line + 1
            _collect_lines(value_node, child, lines)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            child = (*path, index)
            lines[child] = item.start_mark.line + 1
            _collect_lines(item, child, lines)


# -- validating --------------------------------------------------------------------------------------------------


def validate(model: type[ModelT], data: Mapping[str, Any], source: YamlSource, what: str = "configuration") -> ModelT:
    """`model` from `data`; a ValidationError becomes one ConfigError listing every problem."""
    try:
        return model(**data) if _is_settings(model) else model.model_validate(data)
    except ValidationError as exc:
        raise config_error(exc, model, source, what) from exc


def config_error(
    exc: ValidationError, model: type[BaseModel] | None, source: YamlSource, what: str = "configuration"
) -> ConfigError:
    problems = [describe(error, model, source) for error in exc.errors()]
    count = f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"
    lines = "\n".join(f"  - {p}" for p in problems)
    return ConfigError(f"{source.origin}: invalid {what} ({count}):\n{lines}", problems)


def describe(error: Any, model: type[BaseModel] | None, source: YamlSource) -> str:
    """One problem: `file[:line]: key.path: message[; did you mean ...]`."""
    walk = walk_loc(model, tuple(error["loc"]))
    shown = display_path(walk.data_path)
    where = _env_name(model, walk.data_path) or source.where(walk.data_path)
    where = f"{where}: " if where else ""
    kind = error["type"]
    if kind == "extra_forbidden":
        known = walk.parent_fields
        key = str(walk.data_path[-1]) if walk.data_path else ""
        message = f"{shown}: unknown key"
        hint = suggest(key, known)
        if hint is not None:
            message += f"; did you mean `{display_path((*walk.data_path[:-1], hint))}`?"
        if known:
            message += f" (known here: {', '.join(known)})"
        return f"{where}{message}"
    text = str(error["msg"]).removeprefix("Value error, ").removeprefix("Assertion failed, ")
    if kind in ("enum", "literal_error"):
        choices = re.findall(r"'([^']*)'", str(error.get("ctx", {}).get("expected", "")))
        given = error.get("input")
        if choices:
            text = f"{given!r} is not one of {', '.join(repr(c) for c in choices)}"
            hint = suggest(str(given), choices)
            if hint is not None:
                text += f"; did you mean `{hint}`?"
    elif kind == "missing":
        text = "required key missing"
    return f"{where}{shown}: {text}" if walk.data_path else f"{where}{text}"


def suggest(word: str, choices: list[str]) -> str | None:
    """The closest choice to a misspelt word (case-insensitive), if any is close enough."""
    if not word or not choices:
        return None
    lowered = {c.lower(): c for c in choices}
    if word.lower() in lowered and lowered[word.lower()] != word:
        return lowered[word.lower()]
    hits = difflib.get_close_matches(word.lower(), list(lowered), n=1, cutoff=0.6)
    return lowered[hits[0]] if hits else None


def display_path(path: KeyPath) -> str:
    """('beds', 0, 'source', 'path') -> 'beds[0].source.path'."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


# -- walking pydantic's error location through the model ---------------------------------------------------------


@dataclass
class Walk:
    data_path: KeyPath
    """The location as keys and indexes of the data (union tags and validator names that pydantic adds dropped)."""
    parent_fields: list[str]
    """Field names of the model holding the last key (for unknown-key suggestions)."""


def walk_loc(model: type[BaseModel] | None, loc: tuple[Any, ...]) -> Walk:
    """Follow pydantic's `loc` through the model's annotations, keeping only the parts that are in the data."""
    current: Any = model
    path: list[str | int] = []
    parent: Any = model
    for part in loc:
        current = _strip(current)
        options = _union_members(current)
        if options:
            member = _member_for(options, part)
            if member is not None:  # pydantic named the union member (a tag or a type): not a key of the data
                current = member
                continue
            models = [m for m in options if isinstance(m, type) and issubclass(m, BaseModel)]
            if len(models) == 1:  # `Model | None`: pydantic names no member, the key is the model's
                current = models[0]
        origin = typing.get_origin(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            parent = current
            info = current.model_fields.get(str(part))
            current = info.annotation if info is not None else None
            path.append(str(part))
        elif origin in (list, tuple, set, frozenset) and isinstance(part, int):
            args = typing.get_args(current)
            current = args[0] if args else None
            path.append(part)
        elif origin in (dict, Mapping):
            args = typing.get_args(current)
            current = args[1] if len(args) == 2 else None
            path.append(part if isinstance(part, int) else str(part))
        elif isinstance(part, int):
            path.append(part)
            current = None
        elif isinstance(part, str) and ("[" in part or part in _TYPE_NAMES):
            continue  # e.g. 'function-after[...]', 'int', 'str': validator or type names, not keys
        else:
            path.append(part)
            current = None
    fields = list(parent.model_fields) if isinstance(parent, type) and issubclass(parent, BaseModel) else []
    return Walk(tuple(path), fields)


_TYPE_NAMES = {"int", "str", "float", "bool", "none", "list", "dict", "tuple", "literal", "is-instance"}


def _strip(annotation: Any) -> Any:
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    return annotation


def _union_members(annotation: Any) -> list[Any]:
    origin = typing.get_origin(annotation)
    if origin is typing.Union or origin is types.UnionType:
        return [_strip(a) for a in typing.get_args(annotation)]
    return []


def _member_for(members: list[Any], part: Any) -> Any:
    """The union member pydantic's loc part names: a discriminator tag (`video`), a model or a type name."""
    if not isinstance(part, str):
        return None
    for member in members:
        if isinstance(member, type) and issubclass(member, BaseModel):
            if part == member.__name__:
                return member
            for info in member.model_fields.values():
                if typing.get_origin(info.annotation) is typing.Literal and part in typing.get_args(info.annotation):
                    return member
        elif part.startswith(getattr(member, "__name__", "\0")) or part.split("[")[0] in _TYPE_NAMES:
            return member
    return None


def _env_name(model: type[BaseModel] | None, path: KeyPath) -> str | None:
    """The environment variable that set this key of a settings model, when one did (it overrides the file)."""
    if model is None or not _is_settings(model) or not path or not all(isinstance(p, str) for p in path):
        return None
    config = model.model_config
    prefix = str(config.get("env_prefix") or "")
    delimiter = str(config.get("env_nested_delimiter") or "__")
    for end in range(len(path), 0, -1):
        name = (prefix + delimiter.join(str(p) for p in path[:end])).upper()
        if name in os.environ:
            return f"environment {name}"
    return None


def _is_settings(model: type[BaseModel]) -> bool:
    try:
        from pydantic_settings import BaseSettings
    except ImportError:  # pragma: no cover - pydantic-settings is a dependency of the service
        return False
    return issubclass(model, BaseSettings)


# -- relative paths ----------------------------------------------------------------------------------------------


def resolve_paths(data: Any, model: Any, base: Path) -> Any:
    """A copy of config `data` whose relative values of Path fields are made absolute against `base`.

    Relative paths in a config file mean "next to this file", whatever the working directory; `~` is expanded.
    Values whose field is not a Path (or that do not validate) pass through unchanged for validation to report.
    """
    model = _strip(model)
    members = _union_members(model)
    if members:
        non_none = [m for m in members if m is not type(None)]
        if all(isinstance(m, type) and issubclass(m, BaseModel) for m in non_none) and isinstance(data, dict):
            chosen = _member_by_tag(non_none, data)
            return resolve_paths(data, chosen, base) if chosen is not None else data
        if Path in non_none and isinstance(data, str):
            return _absolute(data, base)
        return data
    if model is Path and isinstance(data, str):
        return _absolute(data, base)
    origin = typing.get_origin(model)
    if isinstance(model, type) and issubclass(model, BaseModel) and isinstance(data, dict):
        out = dict(data)
        for key, value in data.items():
            info = model.model_fields.get(str(key))
            if info is not None:
                out[key] = resolve_paths(value, info.annotation, base)
        return out
    if origin is list and isinstance(data, list):
        (item,) = typing.get_args(model) or (Any,)
        return [resolve_paths(v, item, base) for v in data]
    return data


def _member_by_tag(members: list[Any], data: dict[str, Any]) -> Any:
    if len(members) == 1:
        return members[0]
    for member in members:
        for key, info in member.model_fields.items():
            if typing.get_origin(info.annotation) is typing.Literal and data.get(key) in typing.get_args(
                info.annotation
            ):
                return member
    return None


def _absolute(value: str, base: Path) -> str:
    path = Path(value).expanduser()
    return str(path if path.is_absolute() else base / path)
