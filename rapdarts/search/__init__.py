"""Progressive differentiable architecture search (P-DARTS): the stages, the alternating alpha and
weight steps, pruning between stages and derivation of the final genotype.

The search runs whatever :class:`rapdarts.plugins.extensions.SearchExtension` objects it is given; which
penalties a config asks for (costs, budgets) is decided above this layer, in :mod:`rapdarts.api`.
"""

from rapdarts.search.config import PROFILES, SearchConfig, profile_config
from rapdarts.search.derive import derive_genotype
from rapdarts.search.loss import SearchLoss
from rapdarts.search.progressive import ProgressiveSearch, SearchResult

__all__ = ["PROFILES", "SearchConfig", "profile_config", "derive_genotype", "ProgressiveSearch", "SearchResult",
           "SearchLoss"]
