"""Search spaces of the Tune sweeps, read from ``tune/<model>.yaml`` of the configs folder.

Each searched key must be a field of the member's params model (``training.config``), so
a typo fails here, naming the file and key, instead of silently tuning nothing; the best
trial's values are later validated by the same model when ``efp train --config`` reads them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from data.config_files import ConfigFileError, config_path, load_yaml_model
from training.members.params import tune_ranges
from training.members.registry import get_member, member_names


class TuneSpaceError(ConfigFileError):
    """A search space file is missing or malformed; the message names the file and key."""


class Dimension(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["int", "float", "choice"]
    low: float | None = None
    high: float | None = None
    log: bool = False
    values: list[Any] | None = None

    @model_validator(mode="after")
    def _complete(self) -> "Dimension":
        if self.type == "choice":
            if not self.values:
                raise ValueError("a choice needs 'values'")
        elif self.low is None or self.high is None or self.low > self.high:
            raise ValueError("needs 'low' <= 'high'")
        return self

    def upper(self) -> float:
        return max(self.values) if self.type == "choice" else float(self.high)  # type: ignore[arg-type]

    def to_tune(self) -> Any:
        from ray import tune

        if self.type == "choice":
            return tune.choice(self.values)
        if self.type == "int":
            low, high = int(self.low), int(self.high) + 1  # Ray's integer bounds exclude the upper end
            return tune.lograndint(low, high) if self.log else tune.randint(low, high)
        return tune.loguniform(self.low, self.high) if self.log else tune.uniform(self.low, self.high)


class AshaSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    grace_period: int = Field(2, ge=1, description="Reports a trial always gets before it may be stopped.")
    reduction_factor: float = Field(3, gt=1, description="ASHA halving rate.")


def declared_dimension(model: str, name: str) -> dict[str, Any]:
    """The range declared beside the hyperparameter in ``training.config`` (``TuneRange``)."""
    params_model = get_member(model).params
    declared = tune_ranges(params_model).get(name)
    if declared is None:
        raise ValueError(f"'{name}' has no declared tuning range on {model}; give type/low/high")
    if declared.choices is not None:
        return {"type": "choice", "values": list(declared.choices)}
    kind = "int" if params_model.model_fields[name].annotation is int else "float"
    return {"type": kind, "low": declared.low, "high": declared.high, "log": declared.log}


def _registered_member(name: str) -> str:
    if name not in member_names():
        raise ValueError(f"unknown member '{name}' (known: {', '.join(member_names())})")
    return name


class TuneSpace(BaseModel):
    """``params`` entries are explicit ranges, or ``declared`` to use the range written beside the field."""

    model_config = ConfigDict(extra="forbid")

    model: Annotated[str, AfterValidator(_registered_member)]
    params: dict[str, Dimension] = Field(min_length=1)
    fixed: dict[str, Any] = Field(default_factory=dict)
    start: list[dict[str, Any]] = Field(
        default_factory=list, description="Configurations tried first (searched keys only), before Optuna proposes its own.")
    asha: AshaSpec = Field(default_factory=AshaSpec)
    workers: int = Field(1, ge=1, description="Ray Train workers of each trial's fit.")
    cpus_per_worker: float = Field(1.5, gt=0, description="CPUs each of a trial's Train workers reserves.")

    @model_validator(mode="before")
    @classmethod
    def _expand_declared(cls, raw: Any) -> Any:
        if isinstance(raw, dict) and raw.get("model") in member_names() and isinstance(raw.get("params"), dict):
            params = {}
            for name, spec in raw["params"].items():
                if spec == "declared" and name not in get_member(raw["model"]).params.model_fields:
                    params[name] = spec  # reported as unknown below
                else:
                    params[name] = declared_dimension(raw["model"], name) if spec == "declared" else spec
            raw = {**raw, "params": params}
        return raw

    @model_validator(mode="after")
    def _known_fields(self) -> "TuneSpace":
        fields = get_member(self.model).params.model_fields
        for key in [*self.params, *self.fixed]:
            if key not in fields:
                raise ValueError(f"'{key}' is not a {self.model} hyperparameter (known: {', '.join(fields)})")
        for number, point in enumerate(self.start, 1):
            if set(point) != set(self.params):
                raise ValueError(f"start point {number} must give exactly the searched keys ({', '.join(self.params)}), "
                                 f"not {', '.join(point) or 'none'}")
        return self

    def param_space(self) -> dict[str, Any]:
        return {name: dim.to_tune() for name, dim in self.params.items()}

    def max_reports(self, defaults: dict[str, Any]) -> int:
        """Most reports one trial can make (ASHA's max_t), read off the member's spec at the space's upper ends."""
        largest = {**defaults, **self.fixed, **{name: dim.upper() for name, dim in self.params.items()}}
        return int(get_member(self.model).progress_reports(largest))


def load_space(model: str, path: Path | None = None) -> TuneSpace:
    """``path``, else tune/<model>.yaml of the configs folder; it must describe ``model``."""
    path = Path(path) if path is not None else config_path(f"tune/{model}.yaml")
    space = load_yaml_model(path, TuneSpace, noun="field", default="space", error=TuneSpaceError)
    if space.model != model:
        raise TuneSpaceError(path, f"describes model '{space.model}', not '{model}'")
    return space
