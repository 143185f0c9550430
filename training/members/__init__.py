"""Forecast members: each turns a batch of FeatureSets into (horizon, 3) MW quantiles."""
