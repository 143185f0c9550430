"""HTTPS on the service's own port (``serve.tls_cert_file`` / ``serve.tls_key_file``).

In a cluster TLS ends at the Ingress (cluster/overlays/prod/ingress.yaml); these settings
are for a host that serves callers directly. Uvicorn (the in-process engine) and Ray
Serve's HTTP proxy take the same two options, ``ssl_certfile`` and ``ssl_keyfile``, so
one function builds them for both. The pair is loaded once here, at start, so that a
missing file, a key that does not belong to the certificate or a file that is not PEM is
one clear line instead of a proxy that dies later.
"""

from __future__ import annotations

import ssl
from pathlib import Path

from data.errors import PlatformError
from data.settings import ServeSettings


class TlsError(PlatformError):
    """The configured certificate or key cannot be used."""

    exit_code = 2


def server_tls(serve: ServeSettings) -> dict[str, str]:
    """``ssl_certfile``/``ssl_keyfile`` for uvicorn or Serve's ``HTTPOptions``; empty for plain HTTP."""
    if serve.tls_cert_file is None or serve.tls_key_file is None:
        return {}
    cert, key = serve.tls_cert_file, serve.tls_key_file
    for name, path in (("serve.tls_cert_file", cert), ("serve.tls_key_file", key)):
        if not path.is_file():
            raise TlsError(f"{name} {path}: no such file")
    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(str(cert), str(key))
    except (ssl.SSLError, OSError) as error:
        raise TlsError(f"serve.tls_key_file {key} with serve.tls_cert_file {cert}: not a PEM certificate and its key "
                       f"({error.__class__.__name__})") from None
    return {"ssl_certfile": str(cert), "ssl_keyfile": str(key)}


def service_url(serve: ServeSettings, port: int) -> str:
    scheme = "https" if serve.tls_cert_file is not None else "http"
    return f"{scheme}://{serve.host}:{port}"


def own_certificate_context(cert_file: Path) -> ssl.SSLContext:
    """A client context that trusts exactly the service's own certificate (file), for its readiness poll.

    The poll goes to ``serve.host`` (often 127.0.0.1), which a real certificate does not
    name, so the host name is not checked; the certificate is pinned instead: only the
    configured one (or one its chain file vouches for) verifies.
    """
    context = ssl.create_default_context(cafile=str(cert_file))
    context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
    context.check_hostname = False
    return context


def with_tls(serve: ServeSettings, cert: Path | None, key: Path | None) -> ServeSettings:
    """``serve`` with the certificate and key given on the command line (validated as a pair), if any."""
    if cert is None and key is None:
        return serve
    if cert is None or key is None:
        raise TlsError("--tls-cert and --tls-key go together: give both")
    return serve.model_copy(update={"tls_cert_file": cert, "tls_key_file": key})
