"""Ray job entrypoints and the ``efp`` CLI: thin wiring over ``data``, ``training`` and ``serving``."""
