"""Training layer: preprocessor, members, ensemble, Ray Train/Tune fits, backtests and the model registry.

It may import ``data``; it never imports ``serving`` or ``ray_apps``.
"""
