"""The city catalogue: which cities exist, where they are, and whose holidays they keep.

The shipped catalogue is ``cities.yaml`` of the configs folder; cities a user adds with
``efp cities add`` are kept in an overlay beside the lake (``<data_dir>/meta/cities.yaml``),
so the shipped file is never rewritten by a running platform.
"""

from __future__ import annotations

import re
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays
import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from data.config_files import load_yaml_model
from data.errors import NotFoundError, PlatformError
from data.settings import PlatformSettings

CODE_PATTERN = re.compile(r"^[A-Z][A-Z0-9]{1,9}$")


class CatalogueError(PlatformError):
    """The catalogue or a city definition is wrong; the message names the field."""


class UnknownCityError(CatalogueError, NotFoundError):
    """The city code is not in the catalogue."""


class City(BaseModel):
    """One city: its identity, location, calendar and scale."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    code: str = Field(description="Short upper-case code, e.g. DEL.")
    name: str = Field(min_length=1)
    country: str = Field(description="ISO 3166-1 alpha-2 country code known to `holidays`.")
    subdivision: str | None = Field(None, description="`holidays` subdivision (state) code, e.g. DL.")
    latitude: float = Field(ge=-90, le=90)
    longitude: float = Field(ge=-180, le=180)
    timezone: str = Field(description="IANA timezone, e.g. Asia/Kolkata.")
    peak_mw: float = Field(gt=0, description="Typical annual peak demand, MW.")

    @field_validator("code")
    @classmethod
    def _code_shape(cls, value: str) -> str:
        value = value.upper()
        if not CODE_PATTERN.match(value):
            raise ValueError("must be 2-10 letters or digits starting with a letter")
        return value

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown IANA timezone {value!r}") from None
        return value

    @model_validator(mode="after")
    def _known_holiday_calendar(self) -> "City":
        supported = holidays.list_supported_countries()
        if self.country not in supported:
            raise ValueError(f"country {self.country!r} is not known to the holidays library")
        if self.subdivision is not None and self.subdivision not in supported[self.country]:
            raise ValueError(f"subdivision {self.subdivision!r} is not known for country {self.country}")
        return self

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def holiday_calendar(self, years: range | list[int]) -> holidays.HolidayBase:
        """Public holidays (with the state's own) for the given years."""
        return holidays.country_holidays(self.country, subdiv=self.subdivision, years=list(years))


class CatalogueFile(BaseModel):
    """The shape of the shipped catalogue and of the user's overlay."""

    model_config = ConfigDict(extra="forbid")

    cities: list[City] = Field(default_factory=list)


def _read_cities(path: Path) -> list[City]:
    return load_yaml_model(path, CatalogueFile, noun="field").cities


def _read_overlay(path: Path) -> list[City]:
    """The user's cities; none until the first ``efp cities add``."""
    return _read_cities(path) if path.exists() else []


class Catalogue:
    """Shipped cities plus the user's own, looked up by code."""

    def __init__(self, base_file: Path | None, overlay_file: Path) -> None:
        """``base_file`` None: the user's cities alone (the metadata store keeps them)."""
        self._base_file = base_file
        self._overlay_file = overlay_file
        self._cities: dict[str, City] = {}
        # The shipped file must exist: a missing one would read as an empty catalogue.
        shipped = _read_cities(base_file) if base_file is not None else []
        for city in shipped + _read_overlay(overlay_file):
            self._cities[city.code] = city

    @classmethod
    def from_settings(cls, settings: PlatformSettings) -> "Catalogue":
        return cls(settings.catalogue_file, settings.metadata_dir / "cities.yaml")

    def __contains__(self, code: object) -> bool:
        return isinstance(code, str) and code.upper() in self._cities

    def __iter__(self):
        return iter(self._cities.values())

    def __len__(self) -> int:
        return len(self._cities)

    @property
    def codes(self) -> list[str]:
        return list(self._cities)

    def get(self, code: str) -> City:
        try:
            return self._cities[code.upper()]
        except KeyError:
            raise UnknownCityError(f"unknown city '{code}' (known: {', '.join(self._cities)})") from None

    def add(self, city: City, *, replace: bool = False) -> City:
        """Add a user city to the overlay file; the shipped file is never modified."""
        if city.code in self._cities and not replace:
            raise CatalogueError(f"city '{city.code}' already exists (use --replace to redefine it)")
        overlay = {c.code: c for c in _read_overlay(self._overlay_file)}
        overlay[city.code] = city
        self._overlay_file.parent.mkdir(parents=True, exist_ok=True)
        payload = {"cities": [c.model_dump() for c in overlay.values()]}
        tmp = self._overlay_file.with_suffix(".tmp")
        tmp.write_text(yaml.safe_dump(payload, sort_keys=False), encoding="utf-8")
        tmp.replace(self._overlay_file)
        self._cities[city.code] = city
        return city


def load_catalogue(settings: PlatformSettings) -> Catalogue:
    return Catalogue.from_settings(settings)
