"""One settings object for the whole platform.

It lives in the bottom layer so that ``data``, ``training`` and ``serving`` all read the
same values without importing each other. Values come from ``platform.yaml`` of the
configs folder (or the file named by ``EFP_CONFIG``), overridden by ``EFP_*`` environment
variables.
Unknown keys in either place are refused at start, naming the key, because a misspelt
setting that is silently ignored is worse than a crash.
"""

from __future__ import annotations

import os
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, InitSettingsSource, PydanticBaseSettingsSource, SettingsConfigDict

from data.config_files import (
    CONFIG_DIR_ENV,
    REPO_ROOT,  # noqa: F401  (re-exported: training and tests import it from here)
    ConfigFileError,
    config_path,
    read_yaml_mapping,
    resolve_data_path,
    yaml_line,
)
from data.errors import describe_validation_error

ENV_PREFIX = "EFP_"
SETTINGS_FILE_ENV = "EFP_CONFIG"
#: Environment variables with the prefix that are not settings keys.
NON_SETTING_ENV = {SETTINGS_FILE_ENV, CONFIG_DIR_ENV}
#: The shortest HS256 secret accepted (RFC 7518, section 3.2: a key at least as long as the hash).
MIN_SECRET_BYTES = 32
#: Settings whose values never appear in an error message: secrets, and URLs that may hold a password.
SECRET_SETTINGS = frozenset({"jwt_secret", "database_url", "redis_url"})


def revealed(secret: SecretStr | None) -> str | None:
    """The plain value of an optional secret."""
    return secret.get_secret_value() if secret is not None else None


class SettingsError(ConfigFileError):
    """A setting is unknown or has a bad value; the message names where it came from and the key."""


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class IngestSettings(Section):
    fault_rate: float = Field(0.002, ge=0, le=0.2, description="Share of synthetic blocks given a realistic fault.")
    chunk_rows: int = Field(200_000, gt=0, description="Rows per chunk when streaming large files into the stores.")
    earliest: date = Field(date(2000, 1, 1), description="Rows stamped before this UTC day are quarantined.")
    future_days: float = Field(
        1.0, ge=0, description="Load, observed weather and supply stamped more than this many days ahead are quarantined.")
    forecast_future_days: float = Field(
        17.0, ge=0, description=("Weather forecasts stamped more than this many days ahead are quarantined "
                                 "(Open-Meteo's 16 days start at local midnight today)."))


class ServeSettings(Section):
    host: str = Field("127.0.0.1", description="Address the HTTP proxy binds.")
    port: int = Field(8000, gt=0, lt=65536, description="HTTP port of the forecast service.")
    cache_ttl_s: int = Field(900, ge=0, description="Lifetime of a cached forecast.")
    near_cache_s: float = Field(
        2.0, ge=0, description="How long an ingress replica keeps a forecast it read from or wrote to Redis in its own "
        "memory, so repeated hits skip the round trip (0: every hit asks Redis). A replica may answer an entry this "
        "long after Redis dropped it; its own hot reload clears it at once.")
    rate_limit_per_minute: int = Field(
        600, gt=0, description="Rate-limit tokens per minute per credential: a request costs 1, a computed forecast 1 per forecast-day.")
    rate_limit_per_address_per_minute: int = Field(
        1200, gt=0, description="Requests per minute per client address, taken before authentication (auth on).")
    key_cache_s: float = Field(10.0, ge=0, description="How long a replica trusts an API key lookup (a revocation's delay).")
    max_body_bytes: int = Field(262_144, gt=0, description="Largest request body accepted (else 413).")
    member_timeout_s: float = Field(2.0, gt=0, description="A member slower than this is left out (degraded).")
    stage_timeout_s: float = Field(
        10.0, gt=0, description="The Preprocessor and the Ensemble must answer within this (else 503); it covers a "
        "cold history read, which the member timeout does not.")
    request_timeout_s: float = Field(30.0, gt=0, description="Serve's HTTP proxy ends a request after this (503 to the caller).")
    # The circuit breaker in front of Redis (serving/redis_breaker.py): a Redis outage costs no socket waits.
    redis_breaker_failures: int = Field(3, ge=1, description="Consecutive Redis failures that open the Redis circuit breaker.")
    redis_breaker_cooldown_s: float = Field(
        5.0, gt=0, description="How long the Redis circuit breaker stays open before one trial call.")
    ingress_replicas: int = Field(
        1, ge=1, description="Ingress replicas sharing the rate limits (set by the Serve app from its deployments file); "
                             "without Redis each replica allows rate / ingress_replicas.")
    tls_cert_file: Path | None = Field(
        None, description="PEM certificate (chain) for HTTPS on the service's own port; None: plain HTTP (TLS at the ingress).")
    tls_key_file: Path | None = Field(None, description="PEM private key of `tls_cert_file`; set both or neither.")

    @model_validator(mode="after")
    def _tls_pair(self) -> "ServeSettings":
        """A certificate without its key (or the reverse) would start a plain-HTTP port the operator took for HTTPS."""
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError("serve.tls_cert_file and serve.tls_key_file go together: set both or neither")
        return self


class WeatherSettings(Section):
    forecast_url: str = Field("https://api.open-meteo.com/v1/forecast", description="Open-Meteo forecast API (`efp weather fetch`).")
    archive_url: str = Field("https://archive-api.open-meteo.com/v1/archive",
                             description="Open-Meteo historical weather archive (`efp weather fetch --archive`).")
    daily_fetch: bool = Field(True, description="The daily job fetches every city's weather forecast before forecasting "
                              "(runs without --as-of only: a forecast issued in the past cannot use one fetched now).")
    daily_days: int = Field(2, ge=1, le=16, description="Days of weather forecast the daily job fetches (today and tomorrow).")
    timeout_s: float = Field(10.0, gt=0, description="Connect and read timeout of one weather API call.")
    retries: int = Field(3, ge=0, le=10, description="Retries of a failed weather API call (network error, 429 or 5xx).")
    backoff_s: float = Field(0.5, ge=0, description="Wait before the first retry; doubled before each next one.")


class PlatformSettings(BaseSettings):
    """Every knob of the platform. Field names are the YAML keys; EFP_<NAME> overrides."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
        case_sensitive=False,
    )

    ray_address: str | None = Field(None, description="Ray cluster to join; None starts a local Ray.")
    database_url: SecretStr | None = Field(
        None, description="PostgreSQL URL (a secret: it may hold a password); None keeps data in the Parquet lake and files.")
    registry_uri: str = Field("var/registry", description="Model artifacts: folder path or s3://bucket/prefix.")
    s3_endpoint_url: str | None = Field(
        None, description="S3-compatible endpoint (MinIO, moto) for the registry and the Ray storage; None: AWS.")
    ray_storage_uri: str | None = Field(
        None, description="Where Ray Train checkpoints and Tune results go: a folder or s3://bucket/prefix (shared storage, "
                          "which runs on several nodes need); None: <data_dir>/ray_results.")
    s3_sse: Literal["AES256", "aws:kms"] | None = Field(
        None, description="Server-side encryption of every object the registry writes to S3; None: the bucket's default.")
    s3_sse_kms_key_id: str | None = Field(None, description="KMS key (id or ARN) for `s3_sse: aws:kms`; None: the AWS-managed key.")
    redis_url: SecretStr | None = Field(
        None, description="Redis URL for cache and rate limits (a secret: it may hold a password); None keeps them in-process.")
    redis_prefix: str = Field("efp:", description="Prefix of every Redis key this platform writes.")
    auth_enabled: bool = Field(True, description="Require JWT or API key on the HTTP API.")
    jwt_secret: SecretStr | None = Field(
        None, description="HS256 secret for bearer tokens (at least 32 bytes); none: bearer tokens are refused.")
    jwt_public_key: str | None = Field(None, description="PEM public key for RS256 bearer tokens.")
    jwt_algorithm: Literal["HS256", "RS256"] = Field("HS256", description="Bearer token algorithm.")
    jwt_issuer: str | None = Field(None, description="Required `iss` of bearer tokens; None: not checked.")
    jwt_audience: str | None = Field(None, description="Required `aud` of bearer tokens; None: tokens must carry none.")
    jwt_max_lifetime_s: int = Field(86_400, gt=0, description="Longest `exp - iat` a bearer token may have.")
    jwt_leeway_s: int = Field(30, ge=0, le=300, description="Clock skew allowed on `exp`, `iat` and `nbf`.")
    jwt_revoked_ids: list[str] = Field(default_factory=list, description="`jti` values of revoked bearer tokens.")
    environment: Literal["development", "test", "production"] = Field("development")
    data_dir: Path = Field(Path("var"), description="Root of the embedded stores (lake, metadata).")
    cities_file: Path | None = Field(None, description="City catalogue file; None: cities.yaml of the configs folder.")
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    serve: ServeSettings = Field(default_factory=ServeSettings)
    weather: WeatherSettings = Field(default_factory=WeatherSettings)

    @field_validator("data_dir", "cities_file", mode="after")
    @classmethod
    def _anchor_relative_paths(cls, value: Path | None) -> Path | None:
        return None if value is None else resolve_data_path(value)

    @field_validator("environment", mode="after")
    @classmethod
    def _production_needs_auth(cls, value: str, info: ValidationInfo) -> str:
        """Auth off makes every caller an admin: fine on a laptop, never in production."""
        if value == "production" and info.data.get("auth_enabled") is False:
            raise ValueError("production needs auth_enabled: true (auth off makes every caller an admin)")
        return value

    @field_validator("ray_storage_uri", mode="after")
    @classmethod
    def _storage_is_a_folder_or_s3(cls, value: str | None) -> str | None:
        """Ray reads other URI schemes through fsspec, which this platform neither installs nor configures."""
        if value is None or "://" not in value:
            return value
        if not value.startswith("s3://"):
            raise ValueError(f"must be a folder or an s3:// URI, not '{value.split('://', 1)[0]}://'")
        if not value.removeprefix("s3://").split("/", 1)[0]:
            raise ValueError("an s3:// URI needs a bucket: s3://bucket/prefix")
        return value

    @field_validator("s3_sse_kms_key_id", mode="after")
    @classmethod
    def _kms_key_needs_kms(cls, value: str | None, info: ValidationInfo) -> str | None:
        """A KMS key with AES256 (or no) encryption would be ignored silently: refuse it."""
        if value is not None and info.data.get("s3_sse") != "aws:kms":
            raise ValueError("a KMS key needs s3_sse: aws:kms")
        return value

    @field_validator("jwt_secret", mode="after")
    @classmethod
    def _long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        """A short HS256 secret can be brute-forced offline from one token; there is no default to fall back on."""
        if value is not None and len(value.get_secret_value().encode()) < MIN_SECRET_BYTES:
            raise ValueError(f"must be at least {MIN_SECRET_BYTES} bytes (generate one: openssl rand -base64 48)")
        return value

    # Derived locations of the embedded stores.
    @property
    def database_dsn(self) -> str | None:
        """The PostgreSQL URL itself, for connecting only: never log or print it."""
        return revealed(self.database_url)

    @property
    def redis_dsn(self) -> str | None:
        """The Redis URL itself, for connecting only: never log or print it."""
        return revealed(self.redis_url)

    @property
    def lake_dir(self) -> Path:
        return self.data_dir / "lake"

    @property
    def metadata_dir(self) -> Path:
        return self.data_dir / "meta"

    @property
    def registry_is_s3(self) -> bool:
        return self.registry_uri.startswith("s3://")

    @property
    def registry_path(self) -> Path:
        return resolve_data_path(Path(self.registry_uri))

    @property
    def catalogue_file(self) -> Path:
        """The shipped (or site's) city catalogue unless ``cities_file`` names another."""
        return self.cities_file or config_path("cities.yaml")

    def transport(self) -> dict[str, Any]:
        """Every value as JSON with the secrets revealed: the overrides a Serve replica is built from.

        ``model_dump(mode="json")`` masks a ``SecretStr`` as ``**********``, which a replica
        would then take for the secret itself. Hand this only to replica constructors, never to a log.
        """
        values = self.model_dump(mode="json")
        for name in SECRET_SETTINGS:
            values[name] = revealed(getattr(self, name))
        return values

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        yaml_source = InitSettingsSource(settings_cls, init_kwargs=read_yaml_mapping(settings_file(), error=SettingsError))
        return (init_settings, env_settings, yaml_source)


def settings_file() -> Path:
    """``EFP_CONFIG`` if set (it must exist), else platform.yaml of the configs folder."""
    named = os.environ.get(SETTINGS_FILE_ENV)
    return Path(named) if named else config_path("platform.yaml")


def _unknown_env_keys() -> list[str]:
    known = {name.upper() for name in PlatformSettings.model_fields}
    unknown = []
    for key in os.environ:
        upper = key.upper()
        if not upper.startswith(ENV_PREFIX) or upper in NON_SETTING_ENV:
            continue
        field = upper[len(ENV_PREFIX):].split("__", 1)[0]
        if field not in known:
            unknown.append(key)
    return sorted(unknown)


def _origin(location: tuple[int | str, ...], overrides: dict[str, Any]) -> tuple[str, int | None]:
    """Which source gave the value at ``location`` (arguments, environment, settings file) and its line."""
    if not location:
        return "settings", None
    if str(location[0]) in overrides:
        return "load_settings() arguments", None
    variable = ENV_PREFIX + "__".join(str(part) for part in location).upper()
    if any(key.upper() in (variable, ENV_PREFIX + str(location[0]).upper()) for key in os.environ):
        return "environment", None
    return str(settings_file()), yaml_line(settings_file(), location)


def _may_echo(error: ValidationError) -> bool:
    """Echo the bad value only for a plain non-secret key: a whole-model error's input is every value."""
    first = error.errors()[0]
    location = first["loc"]
    return bool(location) and str(location[0]) not in SECRET_SETTINGS and not isinstance(first.get("input"), dict)


def load_settings(**overrides: Any) -> PlatformSettings:
    """Build settings, turning every problem into a one-line SettingsError naming the source and key."""
    unknown = _unknown_env_keys()
    if unknown:
        raise SettingsError("environment", f"unknown setting {unknown[0]}")
    try:
        return PlatformSettings(**overrides)
    except ValidationError as error:
        source, line = _origin(error.errors()[0]["loc"], overrides)
        problem = describe_validation_error(error, noun="setting", default="settings", show_input=_may_echo(error))
        raise SettingsError(source, problem, line=line) from None


@lru_cache(maxsize=1)
def get_settings() -> PlatformSettings:
    """The process-wide settings, built once."""
    return load_settings()
