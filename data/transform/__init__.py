"""Transformation: resolution inference, resampling, gap filling and schema-exact frames."""

from data.transform.frames import conform_load, conform_weather, empty_load, empty_weather
from data.transform.resolution import infer_resolution, target_resolution
from data.transform.series import fill_gaps, resample_mean

__all__ = ["conform_load", "conform_weather", "empty_load", "empty_weather", "fill_gaps", "infer_resolution", "resample_mean",
           "target_resolution"]
