"""Reading experiment specs from YAML: ``base:`` includes and ``--set`` overrides.

A spec file may start from another one::

    # experiments/reduced/compare_algorithms.yaml
    base: ../compare_algorithms.yaml        # relative to this file
    seeds: [0, 1, 2]
    stop: {env_steps: 9600}

The base is read first (its own ``base:`` too), then this file's keys are merged over it:
mappings key by key, any other value (lists included) replaced. A base's ``name`` is not
inherited: a spec is named by its own ``name:`` or, without one, its file name. Then the
``--set key.path=value`` overrides (values parsed as YAML) apply, and the result is
validated (:func:`marlrec.config.spec.parse_spec`). The resolved spec written next to the
results has no ``base:`` left in it.

:func:`apply_overrides` is the one ``key.path=value`` parser of the CLI: ``marlrec run``
and ``marlrec launch`` override spec keys with it, ``marlrec rollout`` env parameters.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from marlrec.config.spec import ExperimentSpec, SpecError, merged_params, parse_spec


def apply_overrides(raw: dict[str, Any], overrides: list[str], root: str = "experiment"
                    ) -> dict[str, Any]:
    """A copy of ``raw`` with ``key.path=value`` overrides (values parsed as YAML; a dotted
    key sets a key of a nested mapping, creating it when missing). ``root`` names ``raw`` in
    error messages."""
    out = copy.deepcopy(raw)
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or not key or any(not part for part in key.split(".")):
            raise SpecError(f"--set {item!r}: expected key.path=value, e.g. "
                            "--set stop.env_steps=4000")
        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError as e:
            raise SpecError(f"--set {item!r}: the value is not valid YAML ({e})") from e
        node = out
        parts = key.split(".")
        for i, part in enumerate(parts[:-1]):
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise SpecError(f"--set {item!r}: {root}.{'.'.join(parts[:i + 1])} is "
                                f"{child!r}, not a mapping")
            node = child
        node[parts[-1]] = value
    return out


def _read_mapping(path: Path) -> dict[str, Any]:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as e:
        raise SpecError(f"{path}: no such experiment spec") from e
    except yaml.YAMLError as e:
        raise SpecError(f"{path}: not valid YAML ({e})") from e
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise SpecError(f"{path}: the spec must be a mapping at the top level")
    return raw


def read_spec_mapping(path: str | Path, _chain: tuple[Path, ...] = ()) -> dict[str, Any]:
    """The raw mapping of the spec file at ``path`` with its ``base:`` chain merged in (no
    validation, no ``name`` default)."""
    path = Path(path)
    raw = _read_mapping(path)
    if "base" not in raw:
        return raw
    base = raw.pop("base")
    if not isinstance(base, str) or not base:
        raise SpecError(f"{path}: experiment.base: {base!r} must be the path of another spec "
                        "file, relative to this one")
    base_path = (path.parent / base).resolve()
    if base_path in _chain or base_path == path.resolve():
        cycle = " -> ".join(str(p) for p in (*_chain, path.resolve(), base_path))
        raise SpecError(f"{path}: experiment.base: {base!r} includes itself ({cycle})")
    if not base_path.is_file():
        raise SpecError(f"{path}: experiment.base: {base!r} is not a spec file "
                        f"({base_path} does not exist)")
    inherited = read_spec_mapping(base_path, (*_chain, path.resolve()))
    inherited.pop("name", None)  # a spec is named by itself or its file
    return merged_params(inherited, raw)


def load_spec(path: str | Path, overrides: list[str] | None = None,
              check_data: bool = True) -> ExperimentSpec:
    """Reads the YAML spec at ``path`` (with its ``base:`` chain), applies ``overrides`` and
    validates it (``check_data`` as in :func:`marlrec.config.spec.parse_spec`)."""
    path = Path(path)
    raw = read_spec_mapping(path)
    raw.setdefault("name", path.stem)
    return parse_spec(apply_overrides(raw, overrides or []), check_data)
