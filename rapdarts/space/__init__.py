"""The search space: candidate ops, the cell and network layout, genotypes, and the two networks built
from them (the supernet that is searched and the evaluation network a genotype is trained as)."""

from rapdarts.space.genotype import Genotype, load_genotype, preset, preset_names
from rapdarts.space.layout import NODES, Candidates, edge_sources, node_edges
from rapdarts.space.network import EvalNetwork, ParameterCount, count_parameters
from rapdarts.space.ops import OpInfo, build_op, op_info, primitives, register_op
from rapdarts.space.supernet import MixedOp, SearchNetwork

__all__ = [
    "Genotype", "load_genotype", "preset", "preset_names",
    "NODES", "edge_sources", "node_edges",
    "EvalNetwork", "ParameterCount", "count_parameters",
    "OpInfo", "build_op", "op_info", "primitives", "register_op",
    "Candidates", "MixedOp", "SearchNetwork",
]
