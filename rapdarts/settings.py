"""Typed, documented settings records shared by the search and the training configs.

A config is a dataclass whose fields are made with :func:`setting`: each carries its ``help``, the
``source`` of its default and its ``domain`` (the values it may take), from which the command line
builds its options, so nothing is written twice. Values arriving from a file or the command line
go through :meth:`SettingsRecord.updated`, which converts them to the field's type strictly (a
JSON ``true`` is no number of epochs, ``7`` no boolean, ``"2345"`` no list), and
:meth:`SettingsRecord.check_domains` checks every value against its domain; both raise a one-line
error naming the setting and what it accepts, before anything is written.

Why not pydantic: the records are plain dataclasses whose metadata also generates the command
line (help, defaults and their sources); the strict conversion of command-line strings
(``3,4,5``, ``NAME=VALUE``) and the domains take about a hundred lines here, against a second
schema layer and a dependency that would still need custom validators for both.

Named *profiles* are sets of changes applied to the defaults.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from rapdarts.errors import RapdartsError

DATASETS = ("digits", "cifar10", "cifar100", "imagefolder")

Settings = TypeVar("Settings", bound="SettingsRecord")


@dataclass(frozen=True)
class Domain:
    """The values a setting may take: a test and its description (``a number >= 1``)."""

    accepts: Callable[[Any], bool]
    description: str
    outside: tuple[Any, ...] = ()
    """Values just outside the domain (its edges), which the tests feed to every setting."""

    def check(self, name: str, value: Any, source: str) -> None:
        if value is None:  # optional settings: the type says whether None is allowed
            return
        if isinstance(value, dict):
            for key, item in value.items():
                if not self.accepts(item):
                    raise RapdartsError(f"{source}: setting {name!r}, entry {key!r} = {item!r} is not allowed: it "
                                        f"must be {self.description}")
        elif isinstance(value, tuple):
            if not all(self.accepts(item) for item in value):
                raise RapdartsError(f"{source}: setting {name!r} = {_shown(value)} is not allowed: each item must be "
                                    f"{self.description}")
        elif not self.accepts(value):
            raise RapdartsError(f"{source}: setting {name!r} = {_shown(value)} is not allowed: it must be "
                                f"{self.description}")


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def at_least(low: float) -> Domain:
    return Domain(lambda v: _finite(v) and v >= low, f"a number >= {low:g}", (low - 1, low - 0.5, math.nan, math.inf))


def above(low: float) -> Domain:
    return Domain(lambda v: _finite(v) and v > low, f"a number > {low:g}", (low, low - 1, math.nan, math.inf))


def between(low: float, high: float, high_open: bool = True, low_open: bool = False) -> Domain:
    """``[low, high)`` by default."""
    def accepts(v: Any) -> bool:
        return _finite(v) and (v > low if low_open else v >= low) and (v < high if high_open else v <= high)
    edges = (low if low_open else low - 0.5, high if high_open else high + 0.5, math.nan)
    return Domain(accepts, f"in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}", edges)


def one_of(choices: Iterable[str]) -> Domain:
    allowed = tuple(choices)
    return Domain(lambda v: v in allowed, "one of " + ", ".join(allowed), ("no-such-" + allowed[0],))


ANY = Domain(lambda v: True, "anything")
DEVICES = Domain(lambda v: isinstance(v, str) and re.fullmatch(r"auto|cpu|cuda(:\d+)?", v) is not None,
                 "auto, cpu, cuda or cuda:N", ("tpu", "cuda:x", "gpu0"))


def setting(default: Any, help: str, source: str = "", domain: Domain = ANY, **kwargs: Any) -> Any:
    """A dataclass field with its help text, the source of its default and its domain as metadata."""
    factory = kwargs.pop("default_factory", None)
    metadata = {"help": help, "source": source, "domain": domain, **kwargs}
    if factory is not None:
        return field(default_factory=factory, metadata=metadata)
    return field(default=default, metadata=metadata)


class SettingsRecord:
    """JSON round-trip and typed updates shared by the dataclass configs (search and training)."""

    UNKNOWN_SETTING: ClassVar[str] = "unknown setting {key!r}; see 'rapdarts search --help'"
    ALIASES: ClassVar[dict[str, str]] = {}
    """Former names of settings (``{"layers": "cells"}``): files written under the old name still load."""

    def to_dict(self) -> dict[str, Any]:
        return {f.name: _jsonable(getattr(self, f.name)) for f in dataclasses.fields(self)}  # type: ignore[arg-type]

    @classmethod
    def from_dict(cls: type[Settings], data: dict[str, Any], source: str = "config") -> Settings:
        return cls().updated(data, source)

    def updated(self: Settings, changes: dict[str, Any], source: str = "config") -> Settings:
        """A copy with ``changes`` applied and coerced to each field's type."""
        fields = {f.name: f for f in dataclasses.fields(self)}  # type: ignore[arg-type]
        values = {}
        for key, value in changes.items():
            name = key.replace("-", "_")
            name = self.ALIASES.get(name, name)
            if name not in fields:
                raise RapdartsError(f"{source}: " + self.UNKNOWN_SETTING.format(key=key))
            values[name] = _coerce(fields[name], value, source)
            fields[name].metadata.get("domain", ANY).check(name, values[name], source)
        return dataclasses.replace(self, **values)  # type: ignore[type-var]

    def check_domains(self, source: str = "config") -> None:
        """A one-line error for the first setting whose value is not of its type or outside its domain."""
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            _coerce(f, value, source)  # the type, strictly (a value set directly in Python is checked too)
            f.metadata.get("domain", ANY).check(f.name, value, source)


def check_dataset(dataset: str, data_dir: str | None) -> None:
    """One-line errors for an unknown dataset name or an image folder without its path."""
    if dataset not in DATASETS:
        raise RapdartsError(f"unknown dataset {dataset!r}; choose one of {', '.join(DATASETS)}")
    if dataset == "imagefolder" and not data_dir:
        raise RapdartsError("dataset imagefolder needs --data-dir pointing at the image folder")


def named_settings(config_class: type[Settings], profiles: dict[str, dict[str, Any]], name: str,
                   kind: str) -> Settings:
    """``config_class`` with the sizes of profile ``name`` applied, recorded as their source."""
    if name not in profiles:
        raise RapdartsError(f"unknown {kind} {name!r}; choose one of {', '.join(profiles)} or auto")
    return config_class(profile=name).updated(profiles[name], f"profile {name}")  # type: ignore[call-arg]


def load_config_file(path: str | Path) -> dict[str, Any]:
    """Settings from a JSON or TOML file (a run directory's ``config.json`` works as is)."""
    path = Path(path)
    if path.is_dir():
        path = path / "config.json"
    if not path.is_file():
        raise RapdartsError(f"config file {path} does not exist")
    text = path.read_text()
    try:
        if path.suffix == ".toml":
            if sys.version_info >= (3, 11):
                import tomllib
            else:  # pragma: no cover - Python 3.10
                import tomli as tomllib
            data = tomllib.loads(text)
        else:
            data = json.loads(text)
    except ValueError as error:
        raise RapdartsError(f"config file {path} is not valid {'TOML' if path.suffix == '.toml' else 'JSON'}: "
                            f"{error}") from None
    if not isinstance(data, dict):
        raise RapdartsError(f"config file {path} must hold a table of settings")
    return data


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, dict):
        return dict(value)
    return value


def _shown(value: Any) -> str:
    if isinstance(value, tuple):
        return ",".join(map(str, value))
    return repr(value)


def _number(value: Any, kind: type) -> int | float:
    """``value`` as an int or float: numbers (not booleans) and numeric strings; integers must be whole."""
    if isinstance(value, bool):
        raise ValueError(f"expected {'an integer' if kind is int else 'a number'}, not a boolean")
    if isinstance(value, str):
        text = value.strip()
        try:
            value = int(text) if kind is int else float(text)
        except ValueError:
            raise ValueError(f"expected {'an integer' if kind is int else 'a number'}") from None
    if not isinstance(value, (int, float)):
        raise ValueError(f"expected {'an integer' if kind is int else 'a number'}, not {type(value).__name__}")
    if kind is int:
        if isinstance(value, float) and not value.is_integer():
            raise ValueError("expected an integer")
        return int(value)
    return float(value)


def _in_unit(value: Any, units: dict[str, float] | None) -> Any:
    """``"4GB"`` as ``4.0`` when the setting's unit is GB (``units`` maps each accepted suffix to its factor)."""
    if not units or not isinstance(value, str):
        return value
    text = value.strip()
    for suffix, factor in sorted(units.items(), key=lambda item: -len(item[0])):
        if text.upper().endswith(suffix.upper()):
            return _number(text[:len(text) - len(suffix)], float) * factor
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"expected a number with an optional unit ({', '.join(units)})") from None


GIGABYTES = {"GB": 1.0, "G": 1.0, "MB": 1e-3, "M": 1e-3, "TB": 1e3}
"""Suffixes accepted by settings measured in GB (``--memory-budget 4GB`` or ``512MB``)."""


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0", "yes", "no"):
        return value.strip().lower() in ("true", "1", "yes")
    raise ValueError("expected true or false")


def _coerce(f: dataclasses.Field, value: Any, source: str) -> Any:
    """Convert ``value`` (from JSON, TOML or a command line string) to the type of field ``f``, strictly."""
    kind = str(f.type)
    try:
        if value is None:
            if "None" not in kind:
                raise ValueError("may not be empty")
            return None
        if kind.startswith("tuple"):
            if isinstance(value, str):
                items = [item.strip() for item in value.split(",")] if value.strip() else []
            elif isinstance(value, (list, tuple)):
                items = list(value)
            else:
                raise ValueError("expected a list (or comma-separated values)")
            item_kind = kind[6:kind.index(",")] if "," in kind else "str"
            if item_kind in ("int", "float"):
                return tuple(_number(item, int if item_kind == "int" else float) for item in items)
            if not all(isinstance(item, str) for item in items):
                raise ValueError("expected names")
            return tuple(items)
        if kind.startswith("dict"):
            if not isinstance(value, dict):
                raise ValueError("expected NAME=VALUE pairs")
            if "float" in kind:
                return {str(k): _number(v, float) for k, v in value.items()}
            if not all(isinstance(v, (str, int, float)) and not isinstance(v, bool) for v in value.values()):
                raise ValueError("expected text values")
            return {str(k): str(v) for k, v in value.items()}
        if kind.startswith("bool"):
            return _boolean(value)
        if kind.startswith("int"):
            return _number(value, int)
        if kind.startswith("float"):
            return _number(_in_unit(value, f.metadata.get("units")), float)
        if not isinstance(value, str):
            raise ValueError("expected text")
        return value
    except (TypeError, ValueError) as error:
        raise RapdartsError(f"{source}: setting {f.name!r} got {value!r}: {error}") from None
