"""Spec files: `base:` includes merge a spec over another; `--set` applies after."""

from __future__ import annotations

from pathlib import Path

import pytest

from marlrec.config.loading import load_spec, read_spec_mapping
from marlrec.config.spec import SpecError

BASE = """name: base_name
env:
  preset: interest_evolution
  params: {catalog: synthetic, num_sessions: 4, num_candidates: 6, horizon: 50}
training: {train_batch_size_per_learner: 1000, lr: 0.001}
seeds: [0, 1, 2]
evaluation: {episodes: 5, baselines: [random]}
"""


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_a_spec_is_merged_over_its_base_mappings_key_by_key(tmp_path):
    write(tmp_path, "base.yaml", BASE)
    child = write(tmp_path, "variants/child.yaml", """base: ../base.yaml
env:
  params: {num_sessions: 8}
training: {lr: 0.0005}
seeds: [7]
""")
    spec = load_spec(child, ["evaluation.episodes=3"])
    assert spec.name == "child"  # named by its own file, not the base's name
    assert spec.env.params == {"catalog": "synthetic", "num_sessions": 8, "num_candidates": 6,
                               "horizon": 50}
    assert spec.training == {"train_batch_size_per_learner": 1000, "lr": 0.0005}
    assert spec.seeds == [7]  # lists are replaced, not merged
    assert spec.evaluation.episodes == 3 and spec.evaluation.baselines == ["random"]
    assert "base" not in spec.to_dict()


def test_bases_chain_and_a_spec_can_name_itself(tmp_path):
    write(tmp_path, "a.yaml", BASE)
    write(tmp_path, "b.yaml", "base: a.yaml\nseeds: [4]\n")
    c = write(tmp_path, "c.yaml", "base: b.yaml\nname: my_run\nstop: {env_steps: 500}\n")
    spec = load_spec(c)
    assert (spec.name, spec.seeds, spec.stop.env_steps) == ("my_run", [4], 500)
    assert read_spec_mapping(c)["training"]["lr"] == 0.001


@pytest.mark.parametrize(("text", "message"), [
    ("base: missing.yaml\n", r"experiment.base: 'missing.yaml' is not a spec file \(.*missing"
                             r".yaml does not exist\)"),
    ("base: [a.yaml]\n", r"experiment.base: \['a.yaml'\] must be the path of another spec"),
    ("base: loop.yaml\n", r"experiment.base: 'loop.yaml' includes itself"),
])
def test_bad_bases_are_named(tmp_path, text, message):
    path = write(tmp_path, "loop.yaml", text)
    with pytest.raises(SpecError, match=message):
        load_spec(path)


def test_a_cycle_through_two_files_is_named(tmp_path):
    write(tmp_path, "x.yaml", "base: y.yaml\n")
    y = write(tmp_path, "y.yaml", "base: x.yaml\n")
    with pytest.raises(SpecError, match="includes itself"):
        load_spec(y)


def test_a_base_key_error_names_the_key_after_merging(tmp_path):
    write(tmp_path, "base.yaml", BASE)
    child = write(tmp_path, "child.yaml", "base: base.yaml\ntraining: {nope: 1}\n")
    with pytest.raises(SpecError, match=r"experiment.training: unknown key\(s\) \['nope'\] "
                                        "for PPO"):
        load_spec(child)
