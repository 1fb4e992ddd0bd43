"""The extension API of rapdarts, side by side as datasette keeps it: the hook specifications
(:mod:`.hookspecs`), what a hook returns (:mod:`.provider`), the pluggy manager that finds plugins
through entry points (:mod:`.manager`), and the search-extension protocol (:mod:`.extensions`).

Plugin packages import ``hookimpl`` from here (``rapdarts.hookspecs`` stays importable for the
packages written before this package existed).
"""

from rapdarts.plugins.extensions import LossTerm, SearchExtension
from rapdarts.plugins.hookspecs import hookimpl, hookspec
from rapdarts.plugins.manager import PluginFailure, PluginManager, Providers, discover_providers, get_plugin_manager
from rapdarts.plugins.provider import CostProvider

__all__ = ["LossTerm", "SearchExtension", "hookimpl", "hookspec", "PluginFailure", "PluginManager", "Providers",
           "discover_providers", "get_plugin_manager", "CostProvider"]
