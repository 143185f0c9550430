"""The synthetic source: per-city climate, demand and faults (see docs/data.md)."""

from data.synthetic.faults import FAULT_KINDS
from data.synthetic.generator import generate, generate_city

__all__ = ["FAULT_KINDS", "generate", "generate_city"]
