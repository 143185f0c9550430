"""HTTP API v1: ``create_api(state)`` builds the app around a ``ServiceState``;
``error_status`` is the error -> status mapping, for anything that reports a
``PlatformError`` the way the API does."""

from serving.api.errors import error_status
from serving.api.main import create_api
from serving.api.state import ServiceState

__all__ = ["ServiceState", "create_api", "error_status"]
