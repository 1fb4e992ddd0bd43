"""rapdarts' built-in cost providers, registered as ordinary plugins through the ``rapdarts``
entry-point group in rapdarts' ``pyproject.toml`` (exactly as a third-party package would)."""
