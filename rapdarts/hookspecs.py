"""The hook specifications, under the name plugin packages have imported since the first release.

The specifications live in :mod:`rapdarts.plugins.hookspecs`; this module is that module, so
``from rapdarts.hookspecs import hookimpl`` keeps working for existing plugins.
"""

import sys

from rapdarts.plugins import hookspecs as _hookspecs

sys.modules[__name__] = _hookspecs
