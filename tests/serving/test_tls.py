"""HTTPS on the service's own port: ``efp serve --tls-cert/--tls-key`` (or ``serve.tls_*``) with a
self-signed certificate made here, the in-process engine under uvicorn on loopback, and a
client that trusts only that certificate."""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from typer.testing import CliRunner

from data.settings import PlatformSettings, get_settings
from ray_apps.cli import app
from ray_apps.serve_runner import http_options, local_server
from serving.tls import with_tls
from tests.faults import free_port


def self_signed(folder: Path, name: str = "efp-test") -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and localhost, valid for a day, with its key (PEM files)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                       critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder.mkdir(parents=True, exist_ok=True)
    cert_file, key_file = folder / f"{name}.crt", folder / f"{name}.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


def trusting(cert_file: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(cert_file))


@pytest.fixture()
def https_service(settings: PlatformSettings, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """The in-process engine under uvicorn over HTTPS on a loopback port; yields its URL and certificate."""
    cert, key = self_signed(tmp_path / "tls")
    tls_settings = settings.model_copy(update={"serve": with_tls(settings.serve, cert, key)})
    server = local_server(tls_settings, free_port())
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "uvicorn did not start"
    yield f"https://127.0.0.1:{server.config.port}", cert
    server.should_exit = True
    thread.join(timeout=30)


def test_the_local_engine_serves_https_with_the_given_certificate(https_service: tuple[str, Path], tmp_path: Path) -> None:
    url, cert = https_service
    response = httpx.get(f"{url}/healthz", verify=trusting(cert))
    assert response.status_code == 200 and response.json()["status"] == "ok"

    other, _ = self_signed(tmp_path / "other", name="someone-else")
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.get(f"{url}/healthz", verify=trusting(other))  # a client that does not trust this certificate
    with pytest.raises(httpx.HTTPError):
        httpx.get(url.replace("https://", "http://") + "/healthz")  # no plain HTTP on the TLS port


@pytest.fixture()
def cli_env(settings: PlatformSettings, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("EFP_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("EFP_ENVIRONMENT", "test")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_efp_serve_refuses_an_unusable_certificate_in_one_line(cli_env: None, tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path / "a")
    _, other_key = self_signed(tmp_path / "b")
    cases = [
        (["--tls-cert", str(cert)], "--tls-cert and --tls-key go together"),
        (["--tls-cert", str(tmp_path / "missing.crt"), "--tls-key", str(key)], "serve.tls_cert_file .*missing.crt: no such file"),
        (["--tls-cert", str(cert), "--tls-key", str(other_key)], "not a PEM certificate and its key"),
    ]
    for args, message in cases:
        result = CliRunner().invoke(app, ["serve", "--engine", "local", "--port", str(free_port()), *args])
        assert result.exit_code == 2, result.output
        assert len(result.output.strip().splitlines()) == 1 and re.search(message, result.output), result.output


def test_ray_serve_gets_the_same_pair_in_its_http_options(settings: PlatformSettings, tmp_path: Path) -> None:
    from ray.serve.config import HTTPOptions

    cert, key = self_signed(tmp_path / "tls")
    options = http_options(settings.model_copy(update={"serve": with_tls(settings.serve, cert, key)}), 8443)
    parsed = HTTPOptions(**options)  # Ray's own validation of the TLS options
    assert (parsed.ssl_certfile, parsed.ssl_keyfile, parsed.port) == (str(cert), str(key), 8443)
    assert "ssl_certfile" not in http_options(settings, 8000)
