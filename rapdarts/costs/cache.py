"""The cost cache: every provider's answer for an op spec, validated, kept in memory and on disk.

A provider's answer for a spec is computed once: the on-disk cache (one JSON file per provider,
version, package and options, under :func:`rapdarts.storage.paths.cache_dir` ``("costs")``) survives
across runs, so the second search with the same costs builds its tables from cache.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Iterable
from pathlib import Path

from rapdarts.costs.spec import OpSpec
from rapdarts.errors import RapdartsError
from rapdarts.plugins.provider import CostProvider
from rapdarts.storage.atomic import atomic_write_json
from rapdarts.storage.paths import cache_dir

Key = tuple[str, str, str, str]


def default_cache_dir() -> Path:
    return cache_dir("costs")


def _key(provider: CostProvider) -> Key:
    """Name, version, package and options: two plugins of one cost name, or two targets of one provider, never
    read each other's numbers."""
    options = json.dumps(sorted(provider.options)) if provider.options else ""
    return provider.name, provider.version, provider.package, options


class CostCache:
    """``cache.cost(provider, spec)`` with checks; ``flush()`` writes new entries to disk."""

    def __init__(self, cache_dir: str | Path | None = None, use_disk: bool = True):
        self.cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        self.use_disk = use_disk
        self._memory: dict[Key, dict[str, float]] = {}
        self._dirty: set[Key] = set()
        self.computed = 0
        self.cached = 0

    def _file(self, provider: CostProvider) -> Path:
        name, version, package, options = _key(provider)
        suffix = f"-{hashlib.sha1(options.encode()).hexdigest()[:10]}" if options else ""
        safe = re.sub(r"[^A-Za-z0-9_.@-]", "_", f"{name}-{version}-{package or 'unknown'}{suffix}")
        return self.cache_dir / f"{safe}.json"

    def _table(self, provider: CostProvider) -> dict[str, float]:
        key = _key(provider)
        if key not in self._memory:
            table: dict[str, float] = {}
            if self.use_disk and provider.cacheable and self._file(provider).exists():
                try:
                    table = {k: float(v) for k, v in json.loads(self._file(provider).read_text()).items()}
                except (ValueError, AttributeError):
                    table = {}  # a damaged cache is only a cache: recompute
            self._memory[key] = table
        return self._memory[key]

    def cost(self, provider: CostProvider, spec: OpSpec) -> float:
        """The provider's cost of ``spec``; a raising or non-finite/negative provider is a one-line error."""
        table = self._table(provider)
        key = spec.key()
        if key in table:
            self.cached += 1
            return table[key]
        try:
            value = provider.cost(spec)
        except RapdartsError:
            raise
        except Exception as error:  # noqa: BLE001 - third-party code
            raise RapdartsError(f"cost {provider.name!r} ({provider.origin}) raised {type(error).__name__}: {error} "
                                f"for {spec.describe()}; fix or update the plugin, or block it with --block-plugin "
                                f"{provider.plugin}") from None
        try:
            number = float(value)
        except (TypeError, ValueError):
            number = math.nan
        if not math.isfinite(number) or number < 0:
            raise RapdartsError(f"cost {provider.name!r} ({provider.origin}) returned {value!r} for {spec.describe()}; "
                                f"costs must be finite numbers >= 0: fix the plugin or block it with --block-plugin "
                                f"{provider.plugin}")
        table[key] = number
        self._dirty.add(_key(provider))
        self.computed += 1
        return number

    def costs(self, provider: CostProvider, specs: Iterable[OpSpec]) -> list[float]:
        return [self.cost(provider, spec) for spec in specs]

    def flush(self, providers: Iterable[CostProvider]) -> None:
        """Persist newly computed entries (atomic write per provider file)."""
        if not self.use_disk:
            return
        for provider in providers:
            if not provider.cacheable:
                continue
            key = _key(provider)
            if key in self._dirty:
                merged = {}
                if self._file(provider).exists():  # keep what parallel runs wrote meanwhile
                    try:
                        merged = json.loads(self._file(provider).read_text())
                    except ValueError:
                        merged = {}
                merged.update(self._memory[key])
                atomic_write_json(self._file(provider), merged)
                self._dirty.discard(key)
