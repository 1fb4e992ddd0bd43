"""Genotype: the discrete cell architecture a search produces and a network is built from.

A genotype lists, for the normal and the reduction cell, two ``(op, input)`` edges per
intermediate node (nodes 2, 3, ... in order; inputs 0 and 1 are the two previous cells' outputs)
and which nodes are concatenated as the cell output. It is validated against the op registry on
construction, and its JSON form is the one the DARTS and P-DARTS authors publish genotypes in::

    {"normal": [["sep_conv_3x3", 0], ...], "normal_concat": [2, 3, 4, 5],
     "reduce": [...], "reduce_concat": [2, 3, 4, 5]}
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from rapdarts.errors import RapdartsError
from rapdarts.space.layout import NODES, edge_index
from rapdarts.space.ops import check_op_names, derivable, primitives

Edge = tuple[str, int]
CELL_TYPES = ("normal", "reduce")


@dataclass(frozen=True)
class Genotype:
    """Immutable normal/reduce cell description (DARTS format)."""

    normal: tuple[Edge, ...]
    normal_concat: tuple[int, ...]
    reduce: tuple[Edge, ...]
    reduce_concat: tuple[int, ...]

    def __post_init__(self) -> None:
        for cell in CELL_TYPES:
            object.__setattr__(self, cell, tuple((str(op), int(i)) for op, i in getattr(self, cell)))
            object.__setattr__(self, f"{cell}_concat", tuple(int(i) for i in getattr(self, f"{cell}_concat")))
            _validate_cell(cell, getattr(self, cell), getattr(self, f"{cell}_concat"))

    @property
    def nodes(self) -> int:
        """Number of intermediate nodes per cell."""
        return len(self.normal) // 2

    def edge_indices(self, cell_type: str) -> list[int]:
        """Index (in :func:`rapdarts.space.layout.edge_sources` order) of each kept edge of a cell, in order."""
        edges, _ = self.cell(cell_type)
        return [edge_index(2 + position // 2, source) for position, (_, source) in enumerate(edges)]

    def cell(self, cell_type: str) -> tuple[tuple[Edge, ...], tuple[int, ...]]:
        """``(edges, concat)`` of the ``"normal"`` or ``"reduce"`` cell."""
        return getattr(self, cell_type), getattr(self, f"{cell_type}_concat")

    def to_dict(self) -> dict[str, list]:
        return {
            "normal": [list(edge) for edge in self.normal],
            "normal_concat": list(self.normal_concat),
            "reduce": [list(edge) for edge in self.reduce],
            "reduce_concat": list(self.reduce_concat),
        }

    @classmethod
    def from_dict(cls, data: Any, source: str = "genotype") -> Genotype:
        """Build from the JSON structure; ``source`` names the input in error messages."""
        if not isinstance(data, dict):
            raise RapdartsError(f"{source}: expected a JSON object with keys normal, normal_concat, reduce, "
                                "reduce_concat")
        keys = ("normal", "normal_concat", "reduce", "reduce_concat")
        missing = [key for key in keys if key not in data]
        if missing:
            raise RapdartsError(f"{source}: missing key {missing[0]!r}; a genotype needs {', '.join(keys)}")
        unknown = [key for key in data if key not in keys and not key.startswith("_")]
        if unknown:
            raise RapdartsError(f"{source}: unknown key {unknown[0]!r}; a genotype has only {', '.join(keys)}")
        edges = {cell: _edges(data[cell], cell, source) for cell in CELL_TYPES}
        concats = {cell: _concat(data[f"{cell}_concat"], cell, source) for cell in CELL_TYPES}
        try:
            return cls(edges["normal"], concats["normal"], edges["reduce"], concats["reduce"])
        except RapdartsError as error:
            raise RapdartsError(f"{source}: {error}") from None

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1)

    @classmethod
    def from_json(cls, text: str, source: str = "genotype") -> Genotype:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise RapdartsError(f"{source} is not valid JSON: {error}") from None
        return cls.from_dict(data, source)

    def canonical_key(self) -> str:
        """The architecture as a string that is equal exactly when two genotypes build the same network.

        A node sums its two inputs and a cell concatenates its nodes, so the order of a node's two
        edges does not matter: ``sep_conv_3x3<-0, skip_connect<-1`` and the reverse are one cell.
        Sweeps and seeds are deduplicated on this key.
        """
        parts = []
        for cell in CELL_TYPES:
            edges, concat = self.cell(cell)
            nodes = [sorted(edges[i:i + 2], key=lambda edge: (edge[1], edge[0])) for i in range(0, len(edges), 2)]
            parts.append(cell + ":" + ";".join(",".join(f"{op}<-{source}" for op, source in node) for node in nodes)
                         + "|" + ",".join(map(str, sorted(concat))))
        return " ".join(parts)

    def describe(self) -> str:
        """A compact one-line-per-cell text form for logs."""
        parts = []
        for cell in CELL_TYPES:
            edges, concat = self.cell(cell)
            text = ", ".join(f"{op}<-{i}" for op, i in edges)
            parts.append(f"{cell}: [{text}] concat {list(concat)}")
        return "; ".join(parts)


def _is_index(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _edges(value: Any, cell: str, source: str) -> list[Edge]:
    """A cell's edges from JSON, strictly: a list of ``[op name, node index]`` pairs, the index an integer."""
    if not isinstance(value, list):
        raise RapdartsError(f"{source}: {cell} must be a list of [op, input] pairs, not {type(value).__name__}")
    edges = []
    for position, edge in enumerate(value):
        where = f"{source}: {cell} cell, edge {position}"
        if not isinstance(edge, (list, tuple)) or len(edge) != 2:
            raise RapdartsError(f"{where}: edges must be [op, input] pairs, got {edge!r}")
        op, index = edge
        if not isinstance(op, str):
            raise RapdartsError(f"{where}: the op must be a name like \"sep_conv_3x3\", got {op!r}")
        if not _is_index(index):
            raise RapdartsError(f"{where} ({op}): the input node must be a whole number, got {index!r}")
        edges.append((op, index))
    return edges


def _concat(value: Any, cell: str, source: str) -> list[int]:
    """A cell's output nodes from JSON, strictly: a list of integers (``"2345"`` is not one)."""
    if not isinstance(value, list) or not all(_is_index(i) for i in value):
        raise RapdartsError(f"{source}: {cell}_concat must be a list of node numbers like [2, 3, 4, 5], got "
                            f"{value!r}")
    return list(value)


def _validate_cell(cell: str, edges: tuple[Edge, ...], concat: tuple[int, ...]) -> None:
    if not edges or len(edges) % 2:
        raise RapdartsError(f"{cell} cell has {len(edges)} edges; it needs two per intermediate node")
    check_op_names([op for op, _ in edges], f"the {cell} cell")
    nodes = len(edges) // 2
    for position, (op, source) in enumerate(edges):
        node = 2 + position // 2
        if not 0 <= source < node:
            raise RapdartsError(
                f"{cell} cell edge {position} ({op!r}) of node {node} reads node {source}, which does not "
                f"exist yet; node {node} may read nodes 0..{node - 1}"
            )
    if not concat:
        raise RapdartsError(f"{cell}_concat is empty; list the nodes that form the cell output")
    bad = [i for i in concat if not 0 <= i < nodes + 2]
    if bad:
        raise RapdartsError(f"{cell}_concat names node {bad[0]}, but the cell has nodes 0..{nodes + 1}")


@cache
def _preset_data() -> dict[str, Any]:
    text = resources.files("rapdarts.space.presets").joinpath("genotypes.json").read_text()
    return {key: value for key, value in json.loads(text).items() if not key.startswith("_") and key != "primitives"}


def preset_names() -> tuple[str, ...]:
    """Names of the published genotypes shipped with the package."""
    return tuple(_preset_data())


def preset(name: str) -> Genotype:
    """A published genotype by name (``DARTS_V1``, ``DARTS_V2``, ``PDARTS``)."""
    data = _preset_data()
    if name not in data:
        raise RapdartsError(f"unknown genotype preset {name!r}; presets: {', '.join(data)}")
    return Genotype.from_dict(data[name], f"preset {name}")


def load_genotype(name_or_path: str | Path) -> Genotype:
    """A preset name, a genotype JSON file, or a run directory containing ``genotype.json``."""
    text = str(name_or_path)
    if text in _preset_data():
        return preset(text)
    path = Path(text)
    if path.is_dir():
        path = path / "genotype.json"
    if not path.exists():
        if path.suffix or "/" in text:
            raise RapdartsError(f"genotype file {path} does not exist")
        raise RapdartsError(f"{text!r} is neither a genotype preset ({', '.join(preset_names())}) nor a file")
    try:
        contents = path.read_text()
    except (OSError, UnicodeDecodeError) as error:
        raise RapdartsError(f"cannot read genotype file {path}: {error}") from None
    return Genotype.from_json(contents, f"genotype file {path}")


def random_genotype(rng: random.Random, ops: Sequence[str] | None = None, nodes: int = NODES,
                    op_weights: Sequence[float] | None = None) -> Genotype:
    """A random valid cell pair: two distinct inputs per node, any op but ``none`` (uniformly, or drawn with
    ``op_weights``, one per op)."""
    ops = derivable(ops or primitives())
    cells = []
    for _ in CELL_TYPES:
        edges = []
        for node in range(2, nodes + 2):
            edges.extend((rng.choices(ops, op_weights)[0] if op_weights else rng.choice(ops), source)
                         for source in sorted(rng.sample(range(node), 2)))
        cells.append(edges)
    concat = tuple(range(2, nodes + 2))
    return Genotype(cells[0], concat, cells[1], concat)


def single_op_genotype(op: str, nodes: int = NODES) -> Genotype:
    """Both cells with ``op`` on every edge, each node reading the two nodes before it (the DARTS chain)."""
    edges = [(op, source) for node in range(2, nodes + 2) for source in (node - 2, node - 1)]
    concat = tuple(range(2, nodes + 2))
    return Genotype(edges, concat, edges, concat)


def varied_genotype(rng: random.Random, index: int, ops: Sequence[str] | None = None) -> Genotype:
    """Random genotypes that cover the corners of the space: even ``index``, uniform over ops; odd, with op
    weights drawn from a sparse Dirichlet (concentration 0.3), so one or two op types dominate the network.

    A latency model fitted or judged only on uniform genotypes never sees the all-pool or all-conv
    networks a budget pushes a search towards.
    """
    names = derivable(ops or primitives())
    if index % 2 == 0:
        return random_genotype(rng, names)
    weights = [rng.gammavariate(0.3, 1.0) + 1e-9 for _ in names]
    return random_genotype(rng, names, op_weights=weights)
