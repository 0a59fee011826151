"""CLI options derived from the configs: one click option per config field, with the field's
help, default and valid values, so the CLI never declares a parameter of its own.

``@config_options(ForecastConfig)`` adds ``--model``, ``--lookback``, ``--horizon``, ...,
``--epochs``, ``--lr``, ...; ``config_from_options(ForecastConfig, opts)`` builds the config
from what the user gave (options left out keep the config's defaults).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable
from typing import Any

import click

from qseq.config import fields_of


def _set_debug(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value:
        import logging

        ctx.find_root().meta["qseq.debug"] = True
        logging.basicConfig(level=logging.DEBUG)


def data_options(func: Callable) -> Callable:
    """The options that say where prices come from and how gaps are treated (--start, --end,
    --source, --offline, --nan-policy, --ohlc-policy), one declaration for every command."""
    from qseq.constants import NAN_POLICIES, OHLC_POLICIES, SOURCES

    for decorate in reversed((
        click.option("--start", help="First date used (YYYY-MM-DD)."),
        click.option("--end", help="Last date used (YYYY-MM-DD)."),
        click.option("--source", default="auto", show_default=True, type=click.Choice(list(SOURCES)),
                     help="auto: the Parquet cache, then yfinance, then the bundled samples."),
        click.option("--offline", is_flag=True, help="Never touch the network (cache, bundled, files)."),
        click.option("--nan-policy", default="raise", show_default=True,
                     type=click.Choice(list(NAN_POLICIES)), help="Missing values: fail, drop or "
                                                                "forward-fill (never back-fill)."),
        click.option("--ohlc-policy", default="raise", show_default=True,
                     type=click.Choice(list(OHLC_POLICIES)),
                     help="Bars whose high/low do not contain open and close: fail, clip or drop."),
    )):
        func = decorate(func)
    return func


def fit_options(what: str) -> Callable:
    """--out, --refit and --device for a command that fits (or reuses) a saved ``what``."""
    def apply(func: Callable) -> Callable:
        for decorate in reversed((
            click.option("--out", "out_dir", default="reports", show_default=True,
                         type=click.Path(file_okay=False), help="Folder for the report and checkpoints."),
            click.option("--refit", is_flag=True, help=f"Train even if a matching saved {what} exists."),
            click.option("--device", default="auto", show_default=True, help="auto, cpu or cuda[:N]."),
        )):
            func = decorate(func)
        return func

    return apply


debug_option = click.option("--debug", is_flag=True, expose_value=False, is_eager=True,
                            callback=_set_debug, help="Show tracebacks and debug logs.")


def _flags(f: dataclasses.Field, prefix: str) -> list[str]:
    plain = f"--{prefix}{f.name.replace('_', '-')}"
    cli = f.metadata.get("cli")
    return [cli, plain] if cli and cli != plain else [plain]


def _click_type(f: dataclasses.Field, hint: Any) -> click.ParamType:
    choices = f.metadata.get("choices")
    base = [a for a in typing.get_args(hint) if a is not type(None)] if typing.get_origin(hint) in (
        typing.Union, types.UnionType) else [hint]
    if choices is not None and base == [str]:
        return click.Choice(list(choices()))
    if base == [int]:
        return click.INT
    if base == [float]:
        return click.FLOAT
    if base == [bool]:
        return click.BOOL
    return click.STRING  # lists and unions: the config parses "a,b,c" itself


def _show(default: Any) -> str:
    if isinstance(default, tuple):
        return ",".join(map(str, default)) or "none"
    return str(default)


def _default(f: dataclasses.Field, base: Any) -> Any:
    if base is not None:
        return getattr(base, f.name)
    return f.default if f.default is not dataclasses.MISSING else f.default_factory()


def config_options(cls: type, *, prefix: str = "", skip: tuple[str, ...] = (),
                   base: Any = None) -> Callable:
    """Decorator adding one option per (non-hidden) field of config ``cls`` and of its nested
    configs (defaults shown from ``base``, an instance, or the class). The options' values are
    ``None`` unless given."""
    decorators = []
    for f, hint in fields_of(cls):
        if f.name in skip or f.metadata.get("hidden"):
            continue
        if dataclasses.is_dataclass(hint):
            decorators.append(config_options(hint, prefix=prefix, skip=skip,
                                             base=_default(f, base)))
            continue
        default = _default(f, base)
        help_text = f.metadata.get("help", "")
        decorators.append(click.option(*_flags(f, prefix), f"{prefix.replace('-', '_')}{f.name}",
                                       type=_click_type(f, hint), default=None,
                                       help=f"{help_text} [default: {_show(default)}]"))

    def apply(func: Callable) -> Callable:
        for decorate in reversed(decorators):
            func = decorate(func)
        return func

    return apply


def config_from_options(cls: type, opts: dict[str, Any], *, prefix: str = "", base: Any = None,
                        **fixed: Any) -> Any:
    """Config ``cls`` from the CLI ``opts`` (consumed: the config's keys are popped): the given
    options replace the fields of ``base`` (default: the class defaults), ``fixed`` on top."""
    values: dict[str, Any] = {}
    for f, hint in fields_of(cls):
        key = f"{prefix.replace('-', '_')}{f.name}"
        if dataclasses.is_dataclass(hint):
            nested = config_from_options(hint, opts, prefix=prefix, base=_default(f, base))
            if nested != _default(f, base):
                values[f.name] = nested
        elif opts.get(key) is not None:
            values[f.name] = opts.pop(key)
        else:
            opts.pop(key, None)
    values.update(fixed)
    if base is not None:
        return dataclasses.replace(base, **values)
    return cls(**values)
