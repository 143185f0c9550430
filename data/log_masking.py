"""Secrets and personal data never reach a log line, whoever writes it.

``MaskingFilter`` rewrites a record's message (and its traceback text) with:

- the values of the configured secrets (``jwt_secret``, the passwords in ``database_url``
  and ``redis_url``), wherever they appear;
- passwords in URLs (``scheme://user:PASSWORD@host``) and ``password=``/``secret=``/
  ``token=``/``api_key=`` style fields;
- bearer tokens and JWTs, and the secret half of an API key (``efp_<id>_<secret>``: the
  id is public and stays, so access lines still name the caller);
- e-mail addresses (personal data: a key's ``name`` is often one).

``install_log_masking`` puts the filter into Python's log-record factory, so every record
of every logger in the process is masked when it is made: handlers added later by Ray,
uvicorn or a test are covered as well as ours. Entrypoints call it where they set up
logging (the CLI, ``init_ray``, each Serve replica, the in-process service).
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from pydantic import SecretStr

from data.settings import SECRET_SETTINGS, PlatformSettings

MASK = "***"
_URL_PASSWORD = re.compile(r"(?P<keep>\b[a-z][a-z0-9+.-]*://[^\s:/@]*:)[^\s@/]+(?=@)", re.IGNORECASE)
_FIELD = re.compile(r"(?P<keep>\b(?:password|passwd|pwd|secret|token|api[_-]?key)\b[\"']?\s*[=:]\s*[\"']?)[^\s\"'&,;]+",
                    re.IGNORECASE)
#: A credential is long (a JWT, an opaque token): "Bearer tokens are refused" is prose, not a token.
_BEARER = re.compile(r"(?P<keep>\bbearer\s+)[\w.~+/=-]{16,}", re.IGNORECASE)
_JWT = re.compile(r"\beyJ[\w-]+\.[\w-]+\.[\w-]*")
_API_KEY = re.compile(r"(?P<keep>\befp_[0-9a-f]{12}_)[\w-]+")
_EMAIL = re.compile(r"[\w.%+-]+@[\w-]+(?:\.[\w-]+)*\.[a-z]{2,}", re.IGNORECASE)
#: Known secrets shorter than this are not masked by value: "a" would mask every "a" (the patterns still apply).
_MIN_SECRET = 4


def _keep(match: re.Match[str]) -> str:
    return match.group("keep") + MASK


def mask_text(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with every known secret value, credential-shaped string and e-mail address masked."""
    for secret in sorted(secrets, key=len, reverse=True):  # longest first: a URL before its password
        text = text.replace(secret, MASK)
    text = _URL_PASSWORD.sub(_keep, text)
    text = _FIELD.sub(_keep, text)
    text = _BEARER.sub(_keep, text)
    text = _JWT.sub(MASK, text)
    text = _API_KEY.sub(_keep, text)
    return _EMAIL.sub("[email]", text)


def secret_values(values: Iterable[SecretStr | str | None]) -> set[str]:
    """The strings to mask for these secrets: each value and, for a URL, its password."""
    found: set[str] = set()
    for value in values:
        raw = value.get_secret_value() if isinstance(value, SecretStr) else value
        if not raw:
            continue
        found.add(raw)
        if "://" in raw:
            try:
                password = urlsplit(raw).password
            except ValueError:
                password = None
            if password:
                found.add(password)
    return {s for s in found if len(s) >= _MIN_SECRET}


class MaskingFilter(logging.Filter):
    """Masks a record in place (message with its arguments merged, and its traceback); never drops one."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets: set[str] = set(secrets)

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # a bad format string: logging reports it itself, unmasked args aside
            message = str(record.msg)
        record.msg, record.args = mask_text(message, self.secrets), ()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_text(record.exc_text, self.secrets)
        if record.stack_info:
            record.stack_info = mask_text(record.stack_info, self.secrets)
        return True


_installed: MaskingFilter | None = None
_lock = threading.Lock()


def install_log_masking(settings: PlatformSettings | None = None) -> MaskingFilter:
    """Mask every log record this process makes from now on, with ``settings``' secrets by value.

    Idempotent: later calls (a replica's settings after the CLI's) add secrets to the same filter."""
    global _installed
    with _lock:
        if _installed is None:
            masking = MaskingFilter()
            make_record = logging.getLogRecordFactory()

            def masked_record(*args: Any, **kwargs: Any) -> logging.LogRecord:
                record = make_record(*args, **kwargs)
                masking.filter(record)
                return record

            logging.setLogRecordFactory(masked_record)
            _installed = masking
        if settings is not None:
            _installed.secrets |= secret_values(getattr(settings, name) for name in SECRET_SETTINGS)
        return _installed
