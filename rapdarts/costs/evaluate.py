"""Evaluating providers on op specs: validated, cached in memory and on disk.

A provider's answer for a spec is computed once: the on-disk cache (one JSON file per provider
and version, default ``~/.cache/rapdarts/costs``, ``RAPDARTS_CACHE_DIR`` overrides) survives
across runs, so the second search with the same costs builds its tables from cache.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Iterable
from pathlib import Path

from rapdarts.atomic import atomic_write_json
from rapdarts.costs.provider import CostProvider
from rapdarts.costs.spec import OpSpec
from rapdarts.errors import RapdartsError


def default_cache_dir() -> Path:
    return Path(os.environ.get("RAPDARTS_CACHE_DIR") or Path.home() / ".cache" / "rapdarts" / "costs")


class CostEvaluator:
    """``evaluator.cost(provider, spec)`` with checks; ``flush()`` writes new entries to disk."""

    def __init__(self, cache_dir: str | Path | None = None, use_disk: bool = True):
        self.cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        self.use_disk = use_disk
        self._memory: dict[tuple[str, str, str], dict[str, float]] = {}
        self._dirty: set[tuple[str, str, str]] = set()
        self.computed = 0
        self.cached = 0

    def _file(self, provider: CostProvider) -> Path:
        """One file per provider, version and the package that provides it: two plugins with the same cost
        name (one blocked, say) never read each other's numbers."""
        safe = re.sub(r"[^A-Za-z0-9_.-]", "_", f"{provider.name}-{provider.version}-{provider.package or 'unknown'}")
        return self.cache_dir / f"{safe}.json"

    def _table(self, provider: CostProvider) -> dict[str, float]:
        key = (provider.name, provider.version, provider.package)
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
        self._dirty.add((provider.name, provider.version, provider.package))
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
            key = (provider.name, provider.version, provider.package)
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
