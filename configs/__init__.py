"""The shipped configuration files, as a package so that a wheel carries them.

Nothing is imported from here: ``data.config_files`` finds the YAML files through
``importlib.resources`` in an installed wheel (and reads this folder directly in a
checkout). Keep every shipped config file under this folder.
"""
