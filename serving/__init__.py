"""Serving layer: the Ray Serve forecast application, its HTTP API, cache, auth and metrics.

It may import ``training`` and ``data``; nothing imports it but ``ray_apps``.
"""
