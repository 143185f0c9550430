"""Data layer: sources, validation, transformation and stores of per-city load and weather.

The bottom layer of the platform: it imports neither ``training`` nor ``serving``.
"""
