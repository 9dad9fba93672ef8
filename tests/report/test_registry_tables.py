"""docs/registries.md is generated from the registries and must be current."""

from __future__ import annotations

from pathlib import Path

from marlrec.report import registry_tables

ROOT = Path(__file__).parents[2]


def test_the_committed_registries_page_is_current():
    page = ROOT / "docs" / "registries.md"
    assert registry_tables.main(["--check", str(page)]) == 0, (
        "docs/registries.md is stale: run python -m marlrec.report.registry_tables "
        "docs/registries.md")


def test_every_registered_entry_is_a_row(monkeypatch, tmp_path):
    import dataclasses

    import envs
    from marlrec.algorithms import ALGORITHMS

    text = registry_tables.render()
    for name in [*ALGORITHMS, *envs.CATALOGS, *envs.PRESETS, *envs.BEHAVIOURS,
                 "collaborative_filtering", "long_tail_share"]:
        assert f"| `{name}` |" in text
    # a new registration is a new row, with nothing else to edit
    monkeypatch.setitem(ALGORITHMS, "PPO2", dataclasses.replace(ALGORITHMS["PPO"], name="PPO2"))
    assert "| `PPO2` |" in registry_tables.render()
    page = tmp_path / "registries.md"
    page.write_text(text)
    assert registry_tables.main(["--check", str(page)]) == 1
