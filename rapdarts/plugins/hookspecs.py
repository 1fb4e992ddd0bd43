"""The plugin API of rapdarts: hook specifications (pluggy project name ``rapdarts``).

Plugins contribute resource costs; how a search turns costs into penalties is the second
extension surface, :mod:`rapdarts.plugins.extensions`. Every hook below is documented in the README
(section "Plugin hooks") under its exact signature, and a test keeps the two in step.

Plugins are found through the Python entry-point group ``rapdarts``; a plugin is any module or
object with functions marked ``@hookimpl``. The built-in cost providers in ``cost_plugins/`` are
registered the same way, in rapdarts' own ``pyproject.toml``. Call hooks with keyword arguments
only; an implementation may accept a subset of a hook's arguments, so hooks can grow new
arguments without breaking plugins.

Example plugin module (registered as ``[project.entry-points.rapdarts] mycost = "mycost"``)::

    from rapdarts.plugins.hookspecs import hookimpl
    from rapdarts.costs import CostProvider, OpSpec

    def _bytes_out(spec: OpSpec) -> float:
        height, width = spec.output_size
        return 4.0 * spec.batch * spec.C_out * height * width

    @hookimpl
    def rapdarts_cost_providers():
        return [CostProvider("output_bytes", "bytes", "bytes written by the op", _bytes_out)]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from rapdarts.plugins.provider import CostProvider

PROJECT = "rapdarts"
ENTRY_POINT_GROUP = "rapdarts"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def rapdarts_cost_providers(options: Mapping[str, str]) -> Sequence[CostProvider]:
    """Return the resource-cost providers this plugin contributes.

    :param options: settings for providers, from ``--cost-option KEY=VALUE`` (and the config's
        ``cost_options``); by convention keys are prefixed with the provider name, e.g.
        ``latency.table``. Providers must ignore keys they do not know.
    :return: :class:`rapdarts.costs.CostProvider` objects. Each has a unique ``name``, a ``unit``
        (the unit of every number its ``cost(spec)`` returns: ``parameters``, ``flops``, ``ms``,
        ``bytes``...), a one-line description and a ``version`` that changes whenever its numbers
        would (it keys the on-disk cache). ``cost`` must be a pure function of the
        :class:`rapdarts.costs.OpSpec` returning a finite number >= 0.
    """
