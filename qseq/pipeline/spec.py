"""Pipeline specs: a thin YAML front-end over the API. Each section is the config the API
takes: ``forecaster`` is :class:`qseq.config.ForecastConfig` (what ``Forecaster`` takes),
``walk_forward`` is :class:`qseq.backtest.folds.WalkForwardConfig` (plus ``per_ticker``),
``strategy`` and ``costs`` are what :func:`qseq.evaluate` takes. YAML is read with
``safe_load`` (duplicate keys rejected) and converted by one strict ``from_dict`` that names
unknown keys by dotted path with a close-match suggestion.

Specs written for qseq 0.1's layout (top-level ``features``/``target``/``seed``, ``window``,
``model`` and ``training`` sections) are converted on load, with a warning that shows the new
``forecaster:`` section.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
import logging
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from qseq.backtest.walk_forward import BASELINES, ENGINES, WalkForwardSpec
from qseq.config import CostsConfig, ForecastConfig, StrategyConfig, WalkForwardConfig
from qseq.data.cache import normalize_ticker
from qseq.data.sources import SOURCES
from qseq.data.validate import NAN_POLICIES, OHLC_POLICIES
from qseq.errors import ConfigError

if TYPE_CHECKING:
    from qseq.lob.pipeline import LobPipelineSpec

log = logging.getLogger(__name__)
NAME_RE = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")


@dataclass(frozen=True)
class DataSection:
    """tickers, a bundled dataset name, or a file path (exactly one)."""

    tickers: tuple[str, ...] = ()
    dataset: str | None = None
    path: str | None = None
    source: str = "auto"
    start: str | None = None
    end: str | None = None
    nan_policy: str = "raise"
    ohlc_policy: str = "raise"

    def __post_init__(self) -> None:
        given = [k for k in ("tickers", "dataset", "path") if getattr(self, k)]
        if len(given) != 1:
            raise ConfigError(f"data: give exactly one of tickers, dataset or path (got {given or 'none'})")
        # tickers are symbols, never paths: '../x' or 'a/b' is refused here
        object.__setattr__(self, "tickers", tuple(normalize_ticker(t) for t in self.tickers))
        if self.source not in SOURCES:
            raise ConfigError(f"data.source must be one of {list(SOURCES)}, got {self.source!r}")
        if self.nan_policy not in NAN_POLICIES:
            raise ConfigError(f"data.nan_policy must be one of {list(NAN_POLICIES)}")
        if self.ohlc_policy not in OHLC_POLICIES:
            raise ConfigError(f"data.ohlc_policy must be one of {list(OHLC_POLICIES)}")

    @property
    def target(self) -> str | list[str]:
        if self.tickers:
            return list(self.tickers) if len(self.tickers) > 1 else self.tickers[0]
        return self.dataset or str(self.path)


@dataclass(frozen=True)
class WalkForwardSection(WalkForwardConfig):
    per_ticker: bool = False


@dataclass(frozen=True)
class ImportanceSection:
    permutation_repeats: int = 3


@dataclass(frozen=True)
class ReportSection:
    title: str | None = None
    rolling_sharpe_bars: int = 126


@dataclass(frozen=True)
class ScheduleSection:
    cron: str | None = None
    timezone: str = "UTC"

    def __post_init__(self) -> None:
        if self.cron is not None:
            from apscheduler.triggers.cron import CronTrigger

            try:
                CronTrigger.from_crontab(self.cron, timezone=self.timezone)
            except (ValueError, LookupError, KeyError) as exc:
                raise ConfigError(f"schedule: bad cron {self.cron!r} or timezone {self.timezone!r} "
                                  f"({exc}); use five fields like '30 22 * * 1-5' and an IANA zone "
                                  "like 'America/New_York'") from None


@dataclass(frozen=True)
class EngineSection:
    kind: str = "local"
    workers: int | str = 1  # or "auto": one per usable CPU, at most one per task
    threads: int = 0
    address: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in ENGINES:
            raise ConfigError(f"engine.kind must be one of {list(ENGINES)}, got {self.kind!r}")
        if self.workers != "auto" and (not isinstance(self.workers, int) or self.workers < 1):
            raise ConfigError(f"engine.workers must be an integer >= 1 or 'auto', got {self.workers!r}")
        if self.threads < 0:
            raise ConfigError("engine.threads must be >= 0 (0: an equal share of the CPUs)")


@dataclass(frozen=True)
class PipelineSpec:
    name: str
    data: DataSection
    description: str = ""
    forecaster: ForecastConfig = field(default_factory=ForecastConfig)
    walk_forward: WalkForwardSection = field(default_factory=WalkForwardSection)
    strategy: StrategyConfig = field(default_factory=StrategyConfig)
    costs: CostsConfig = field(default_factory=CostsConfig)
    baselines: tuple[str, ...] = ("buy_and_hold", "random_walk")
    ar_order: int = 1
    importance: ImportanceSection = field(default_factory=ImportanceSection)
    report: ReportSection = field(default_factory=ReportSection)
    schedule: ScheduleSection = field(default_factory=ScheduleSection)
    engine: EngineSection = field(default_factory=EngineSection)

    def __post_init__(self) -> None:
        if not NAME_RE.fullmatch(self.name):
            raise ConfigError(f"name {self.name!r} must be lowercase letters, digits, '_' or '-' "
                              "(it names the report folder)")
        known = {*BASELINES, "buy_and_hold"}
        unknown = sorted(set(self.baselines) - known)
        if unknown:
            raise ConfigError(f"unknown baselines {unknown}; choose from {sorted(known)}")
        hs = self.forecaster.horizons
        if isinstance(self.strategy.signal_horizon, int) and self.strategy.signal_horizon not in hs:
            raise ConfigError(f"strategy.signal_horizon {self.strategy.signal_horizon} is not one of "
                              f"the forecast horizons {list(hs)}")
        self.walk_forward_spec()  # validates the model/target/baseline combination

    def walk_forward_spec(self) -> WalkForwardSpec:
        wf = self.walk_forward
        folds = WalkForwardConfig(**{f.name: getattr(wf, f.name)
                                     for f in dataclasses.fields(WalkForwardConfig)})
        return WalkForwardSpec(
            forecast=self.forecaster, folds=folds, per_ticker=wf.per_ticker,
            baselines=tuple(b for b in self.baselines if b != "buy_and_hold"),
            ar_order=self.ar_order, permutation_repeats=self.importance.permutation_repeats,
            threads=self.engine.threads,
        )

    def digest(self) -> str:
        """sha256 of the canonical spec (what the run depends on)."""
        return hashlib.sha256(json.dumps(dataclasses.asdict(self), sort_keys=True,
                                         default=str).encode()).hexdigest()


_LEGACY = {"features": "features", "future_features": "future_features", "target": "target",
           "seed": "seed", "window.lookback": "lookback", "window.horizons": "horizons",
           "model.name": "model", "model.hidden_size": "hidden_size",
           "model.num_layers": "num_layers", "model.dropout": "dropout",
           "model.ticker_dim": "ticker_dim", "model.quantiles": "quantiles", "training": "train"}


def convert_legacy(raw: dict[str, Any]) -> dict[str, Any]:
    """A spec in qseq 0.1's layout (``window``/``model``/``training`` sections, top-level
    ``features``/``target``/``seed``) rewritten with one ``forecaster`` section; other specs
    are returned unchanged. Unknown keys inside the old sections are errors naming them."""
    if not any(k.split(".")[0] in raw for k in _LEGACY):
        return raw
    if "forecaster" in raw:
        old = sorted({k.split(".")[0] for k in _LEGACY} & set(raw))
        raise ConfigError(f"give the forecaster settings in the forecaster section only; move "
                          f"{old} into it")
    out = {k: v for k, v in raw.items() if k.split(".")[0] not in {p.split(".")[0] for p in _LEGACY}}
    forecaster: dict[str, Any] = {}
    for section in ("window", "model"):
        body = raw.get(section) or {}
        if not isinstance(body, dict):
            raise ConfigError(f"{section} must be a mapping, got {type(body).__name__}")
        for key in body:
            if f"{section}.{key}" not in _LEGACY:
                known = sorted(k.split(".")[1] for k in _LEGACY if k.startswith(f"{section}."))
                close = difflib.get_close_matches(str(key), known, n=1)
                hint = f"did you mean {close[0]!r}?" if close else f"known keys: {known}"
                raise ConfigError(f"unknown key '{section}.{key}'; {hint}")
    for old, new in _LEGACY.items():
        section, _, key = old.partition(".")
        if key:
            if key in (raw.get(section) or {}):
                forecaster[new] = raw[section][key]
        elif section in raw:
            forecaster[new] = raw[section]
    out["forecaster"] = forecaster
    log.warning("this spec uses the old layout (window/model/training sections); it was read as "
                "forecaster: %s", json.dumps(forecaster, default=str))
    return out


# -- YAML -----------------------------------------------------------------------------------
class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate mapping keys."""


def _mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise ConfigError(f"duplicate key {key!r} at line {key_node.start_mark.line + 1} "
                              f"(first at line {seen[key]}); keep one")
        seen[key] = key_node.start_mark.line + 1
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def load_spec(path: str | Path) -> PipelineSpec | LobPipelineSpec:
    """Read and validate a pipeline YAML file: a daily walk-forward :class:`PipelineSpec`, or
    with ``kind: order_book`` a :class:`qseq.lob.pipeline.LobPipelineSpec`. Errors name the
    file and the dotted key."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"pipeline spec not found: {path}")
    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_StrictLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path}: not valid YAML{where}: {getattr(exc, 'problem', exc)}") from None
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: a pipeline spec is a mapping of sections, got {type(raw).__name__}")
    raw.setdefault("name", path.stem)
    try:
        if raw.get("kind") == "order_book":
            from qseq.lob.pipeline import LobPipelineSpec

            return from_dict(LobPipelineSpec, raw, "")
        return from_dict(PipelineSpec, convert_legacy(raw), "")
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def from_dict(cls: type, data: Any, path: str) -> Any:
    """Build dataclass ``cls`` from plain data, strictly: unknown keys and wrong types raise
    a ConfigError naming the dotted ``path``."""
    where = path or "the spec"
    if not isinstance(data, dict):
        raise ConfigError(f"{where} must be a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in data.items():
        dotted = f"{path}.{key}" if path else str(key)
        if key not in fields:
            close = difflib.get_close_matches(str(key), list(fields), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f"; known keys: {sorted(fields)}"
            raise ConfigError(f"unknown key {dotted!r}{hint}")
        kwargs[key] = _convert(hints[key], value, dotted)
    missing = [n for n, f in fields.items() if n not in kwargs and f.default is dataclasses.MISSING
               and f.default_factory is dataclasses.MISSING]
    if missing:
        names = ", ".join(repr(f"{path}.{m}" if path else m) for m in missing)
        raise ConfigError(f"{where} is missing {names}")
    try:
        return cls(**kwargs)
    except ConfigError as exc:
        message = str(exc)
        raise ConfigError(message if not path or message.startswith(path) else f"{path}: {message}") from None


def _convert(hint: Any, value: Any, path: str) -> Any:
    origin = typing.get_origin(hint)
    if dataclasses.is_dataclass(hint):
        return from_dict(hint, value if value is not None else {}, path)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(hint)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in (a for a in args if a is not type(None)):
            try:
                return _convert(arg, value, path)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[-1] if errors else f"{path}: bad value {value!r}")
    if origin is tuple:
        item = typing.get_args(hint)[0]
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            value = [value]
        if not isinstance(value, list):
            raise ConfigError(f"{path} must be a list, got {value!r}")
        return tuple(_convert(item, v, f"{path}[{i}]") for i, v in enumerate(value))
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{path} must be true or false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{path} must be an integer, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{path} must be a number, got {value!r}")
        return float(value)
    if hint is str:
        if hasattr(value, "isoformat"):  # YAML turns 2020-01-01 into a date
            return value.isoformat()
        if not isinstance(value, str):
            raise ConfigError(f"{path} must be a string, got {value!r}")
        return value
    return value
