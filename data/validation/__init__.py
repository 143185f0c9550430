"""Validation: every input row accepted, repaired (repair named) or rejected with its reason."""

from data.validation.rules import ValidationRules, load_rules
from data.validation.time_range import TimeRange
from data.validation.validate import QUARANTINE_COLUMNS, validate

__all__ = ["QUARANTINE_COLUMNS", "TimeRange", "ValidationRules", "load_rules", "validate"]
