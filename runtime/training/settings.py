"""Run configuration: defaults from etc/training.json, then a YAML/JSON file with `_base`
inheritance (deep-merged dicts), then command-line overrides; validated strictly. Each file's
Hugging Face key names (per_device_train_batch_size, ...) are read as mh's before the merge."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ..config import RunConfig, RunKeyError, load_config, mh_run_keys
from ..errors import ConfigError
from ..home import Home


def deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in over.items():
        merged[key] = deep_merge(merged[key], value) if isinstance(value, dict) and isinstance(merged.get(key), dict) else value
    return merged


def _read(path: Path) -> dict[str, Any]:
    shown = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(shown, None, "no such file", fix="check the path given to --config or _base") from None
    import yaml  # here: only --config files need it, not every start-up

    try:
        data = yaml.safe_load(text) if path.suffix in (".yaml", ".yml") else json.loads(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise ConfigError(shown, None, f"cannot be parsed: {str(exc).splitlines()[0]}", fix="fix the syntax") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(shown, None, "must hold a mapping", fix="write the settings as key: value pairs")
    try:
        return mh_run_keys(data)
    except RunKeyError as exc:
        raise ConfigError(shown, exc.key, exc.problem, fix=exc.fix) from None


def resolve_file(path: Path, seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """A config file with its `_base` chain merged in (the file's own keys win)."""
    path = path.resolve()
    if path in seen:
        chain = " -> ".join(str(p.name) for p in (*seen, path))
        raise ConfigError(str(path), "_base", f"the _base chain loops: {chain}", fix="remove the loop")
    data = _read(path)
    base = data.pop("_base", None)
    if base is None:
        return data
    if not isinstance(base, str):
        raise ConfigError(str(path), "_base", "must be a file path", fix="write _base: other.yaml")
    return deep_merge(resolve_file((path.parent / base), (*seen, path)), data)


def load_run_config(home: Home, file: Path | None = None, overrides: dict[str, Any] | None = None) -> RunConfig:
    defaults = load_config(home, "training.json").run.model_dump()  # type: ignore[attr-defined]
    merged = deep_merge(defaults, resolve_file(file) if file else {})
    merged = deep_merge(merged, {k: v for k, v in (overrides or {}).items() if v is not None})
    try:
        return RunConfig.model_validate(merged)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(p) for p in first["loc"])
        raise ConfigError(str(file or "etc/training.json"), key, first["msg"],
                          fix="remove unknown keys and use the types in docs/ARCHITECTURE.md ('Training')") from None
