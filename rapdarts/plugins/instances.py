"""Instances of a provider: ``latency@phone`` is the provider ``latency`` made for the target ``phone``.

A model ships to several targets at once (a phone and a server, int8 on the edge, several threads
on a server), so one search may use a provider several times, each instance with its own
options. An instance is named ``NAME@TARGET``; its options are given as ``NAME@TARGET.KEY=VALUE``
and reach the plugin as ``NAME.KEY`` (the hook is called once per instance, see
:func:`rapdarts.plugins.hookspecs.rapdarts_cost_providers`). This module parses names and routes
options; it knows no provider.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from rapdarts.errors import RapdartsError

SEPARATOR = "@"
_TARGET = re.compile(r"[A-Za-z0-9_.-]+")


def split_instance(name: str) -> tuple[str, str]:
    """``"latency@phone"`` -> ``("latency", "phone")``; a plain name has the empty target."""
    provider, separator, target = name.partition(SEPARATOR)
    if not separator:
        return name, ""
    if not provider or not _TARGET.fullmatch(target) or target.endswith("."):
        raise RapdartsError(f"cost {name!r}: an instance is NAME@TARGET with a target of letters, digits, '_', '-' "
                            "or '.', e.g. latency@phone")
    return provider, target


def provider_options(options: Mapping[str, str], name: str) -> dict[str, str]:
    """The options of provider or instance ``name``, keyed the way the provider reads them (``NAME.KEY``).

    For ``latency@phone`` these are the ``latency@phone.*`` options, renamed ``latency.*``; for a plain
    ``latency`` the ``latency.*`` options (never an instance's).
    """
    provider, target = split_instance(name)
    prefix = f"{name}."
    return {f"{provider}.{key[len(prefix):]}": value for key, value in options.items() if key.startswith(prefix)}


def check_instance_options(options: Mapping[str, str], used: Iterable[str]) -> None:
    """A one-line error for an option of an instance no cost, budget or report uses (a typo, a forgotten cost)."""
    used = set(used)
    for key in options:
        head = key.split(".", 1)[0]
        if SEPARATOR in head and head not in used:
            known = ", ".join(sorted(n for n in used if SEPARATOR in n)) or "none"
            raise RapdartsError(f"--cost-option {key}: no cost, budget or report cost uses {head!r} (instances used: "
                                f"{known}); add --cost {head}=LAMBDA or --budget {head}=VALUE, or fix the name")
