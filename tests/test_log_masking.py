"""Secrets and personal data are masked in every log line: a replica's real logging set-up in a
process of its own (the masking is process-wide), records written to its stderr and read back."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from data.log_masking import MASK, MaskingFilter, mask_text, secret_values

JWT_SECRET = "jwt-secret-value-0123456789-abcdefghijk"
DB_PASSWORD = "db-Pa55word-xyz"
REDIS_PASSWORD = "redis-Pa55word-qrs"
API_KEY = "efp_0123456789ab_S3cretPartOfTheKey-abcdefghijklmnopqrstuvwxyz012"
BEARER = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJvcHMifQ.c2lnbmF0dXJl"

_CHILD = textwrap.dedent("""
    import json, logging, sys
    from serving.deployments.replica import replica_settings
    from serving.middleware import _ensure_access_log_output, access_log

    overrides, lines = json.loads(sys.argv[1]), json.loads(sys.argv[2])
    replica_settings(overrides)           # what every Serve replica does first
    _ensure_access_log_output()           # the service's access log (stderr where nothing else is set up)
    for line in lines:
        access_log.info("%s", line)
    try:
        raise RuntimeError(f"connect failed: {overrides['database_url']}")
    except RuntimeError:
        access_log.exception("store down for %s", lines[0])
    logging.basicConfig(stream=sys.stderr, format="late %(name)s %(message)s")  # a handler added afterwards
    logging.getLogger("somebody.else").warning("token=%s sent by ops@example.org", overrides["jwt_secret"])
""")


def test_a_replicas_log_lines_never_show_secrets_or_email_addresses(tmp_path: Path) -> None:
    overrides = {
        "data_dir": str(tmp_path / "var"), "environment": "test", "jwt_secret": JWT_SECRET,
        "database_url": f"postgresql://efp:{DB_PASSWORD}@db.internal:5432/efp",
        "redis_url": f"redis://:{REDIS_PASSWORD}@cache.internal:6379/0",
    }
    lines = [
        f"POST /v1/keys caller=key:0123456789ab key {API_KEY}",
        f"Authorization: Bearer {BEARER}",
        f"the jwt secret is {JWT_SECRET} and the db password alone is {DB_PASSWORD}",
        f"redis at redis://:{REDIS_PASSWORD}@cache.internal:6379/0, s3 at https://user:{DB_PASSWORD}x@s3.example/b",
        "key created for name=priya.sharma@example.co.in password=hunter2hunter2",
    ]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    child = subprocess.run([sys.executable, "-c", _CHILD, json.dumps(overrides), json.dumps(lines)], env=env,
                           capture_output=True, text=True, timeout=300)
    assert child.returncode == 0, child.stderr[-3000:]
    logged = child.stderr
    for secret in (JWT_SECRET, DB_PASSWORD, REDIS_PASSWORD, "S3cretPartOfTheKey", BEARER, "priya.sharma",
                   "ops@example.org", "hunter2hunter2"):
        assert secret not in logged, f"{secret!r} was logged:\n{logged}"
    assert "caller=key:0123456789ab" in logged and f"efp_0123456789ab_{MASK}" in logged  # the key id stays
    assert "Traceback" in logged and "RuntimeError: connect failed" in logged  # the traceback is kept, masked
    assert "late somebody.else" in logged and f"token={MASK}" in logged
    assert f"connect failed: {MASK}" in logged and "[email]" in logged  # a secret URL is masked whole


@pytest.mark.parametrize(("text", "expected"), [
    ("postgresql://u:pw-123@h/db", f"postgresql://u:{MASK}@h/db"),
    ('{"api_key": "abc123"}', f'{{"api_key": "{MASK}"}}'),
    ("bearer abcdef0123456789.xyz", f"bearer {MASK}"),
    ("bearer tokens are refused (401)", "bearer tokens are refused (401)"),
    ("nothing to hide at 10:30 in DEL", "nothing to hide at 10:30 in DEL"),
])
def test_mask_text_patterns(text: str, expected: str) -> None:
    assert mask_text(text) == expected


def test_the_filter_on_a_handler_masks_known_values_and_keeps_the_record() -> None:
    import logging

    masking = MaskingFilter(secret_values([f"redis://:{REDIS_PASSWORD}@h:6379/0", "ab"]))
    record = logging.LogRecord("efp", logging.INFO, __file__, 1, "pw %s, short %s", (REDIS_PASSWORD, "ab"), None)
    assert masking.filter(record) is True
    assert record.getMessage() == f"pw {MASK}, short ab"  # a value under 4 characters is not masked by value
