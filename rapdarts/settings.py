"""Typed, documented settings records shared by the search and the training configs.

A config is a dataclass whose fields are made with :func:`setting`: each carries its ``help`` and
the ``source`` of its default, from which the command line builds its options, so nothing is
documented twice. Values arriving from a file or the command line go through
:meth:`SettingsRecord.updated`, which coerces them to the field's type and names the source of a
bad value in a one-line error. Named *profiles* are sets of changes applied to the defaults.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from dataclasses import field
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from rapdarts.errors import RapdartsError

DATASETS = ("digits", "cifar10", "cifar100", "imagefolder")

Settings = TypeVar("Settings", bound="SettingsRecord")


def setting(default: Any, help: str, source: str = "", **kwargs: Any) -> Any:
    """A dataclass field with its help text and the source of its default as metadata."""
    factory = kwargs.pop("default_factory", None)
    metadata = {"help": help, "source": source, **kwargs}
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
        return dataclasses.replace(self, **values)  # type: ignore[type-var]


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


def _coerce(f: dataclasses.Field, value: Any, source: str) -> Any:
    """Convert ``value`` (from JSON, TOML or a command line string) to the type of field ``f``."""
    kind = str(f.type)
    try:
        if value is None:
            if "None" not in kind:
                raise ValueError("may not be empty")
            return None
        if kind.startswith("tuple"):
            items = value.split(",") if isinstance(value, str) else list(value)
            item_type = {"int": int, "float": float}.get(kind[6:kind.index(",")] if "," in kind else "str", str)
            return tuple(item_type(item.strip() if isinstance(item, str) else item) for item in items)
        if kind.startswith("dict"):
            if not isinstance(value, dict):
                raise ValueError("expected NAME=VALUE pairs")
            convert = float if "float" in kind else str
            return {str(k): convert(v) for k, v in value.items()}
        if kind.startswith("bool"):
            if isinstance(value, str):
                lowered = value.strip().lower()
                if lowered not in ("true", "false", "1", "0", "yes", "no"):
                    raise ValueError("expected true or false")
                return lowered in ("true", "1", "yes")
            return bool(value)
        if kind.startswith("int"):
            if isinstance(value, float) and not value.is_integer():
                raise ValueError("expected an integer")
            return int(value)
        if kind.startswith("float"):
            return float(value)
        return str(value)
    except (TypeError, ValueError) as error:
        raise RapdartsError(f"{source}: setting {f.name!r} got {value!r}: {error}") from None
