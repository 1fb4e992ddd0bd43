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
def rapdarts_cost_providers(options: Mapping[str, str], target: str) -> Sequence[CostProvider]:
    """Return the resource-cost providers this plugin contributes.

    A provider can be used several times in one search, once per *target* (a device, a thread
    count, a precision): the instance ``NAME@TARGET`` (``latency@phone``) is the provider ``NAME``
    made with the options given as ``NAME@TARGET.KEY=VALUE``. rapdarts calls the hook once with
    the plain options (``target`` empty) and once more per instance used, with that instance's
    options passed under the provider's own prefix (``latency@phone.table=phone.json`` arrives as
    ``latency.table``) and ``target="phone"``; it keeps the provider called ``NAME`` from the
    answer and names it ``NAME@TARGET``. So a plugin needs no code for instances; one that can
    find a target by its name (a catalogue of tables) reads ``target``.

    :param options: settings for providers, from ``--cost-option KEY=VALUE`` (and the config's
        ``cost_options``); by convention keys are prefixed with the provider name, e.g.
        ``latency.table``. Providers must ignore keys they do not know.
    :param target: the target of the instance being made (``phone`` for ``latency@phone``); empty
        for the plain providers.
    :return: :class:`rapdarts.costs.CostProvider` objects. Each has a unique ``name``, a ``unit``
        (the unit of every number its ``cost(spec)`` returns: ``parameters``, ``flops``, ``ms``,
        ``bytes``...), a one-line description and a ``version`` that changes whenever its numbers
        would (it keys the on-disk cache). ``cost`` must be a pure function of the
        :class:`rapdarts.costs.OpSpec` returning a finite number >= 0.
    """
