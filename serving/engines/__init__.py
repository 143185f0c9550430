"""How a validated forecast request is computed: in this process, or through the Serve graph.

Both engines hand the members' answers to the same forecast core (``training.forecast``);
only the transport differs.
"""

from serving.engines.base import ForecastEngine, ForecastJob

__all__ = ["ForecastEngine", "ForecastJob"]
