"""``docs/registries.md``: the tables of what marlrec offers, generated from its registries.

Algorithms (:data:`marlrec.algorithms.ALGORITHMS`), catalogs (:data:`envs.CATALOGS`),
presets (:data:`envs.PRESETS`), scripted behaviours (:data:`envs.BEHAVIOURS`), evaluation-only
baselines (:data:`marlrec.evaluation.baselines.EVALUATION_BASELINES`) and episode metrics
(:data:`envs.metrics.METRICS`). A new entry in a registry is a new row here::

    python -m marlrec.report.registry_tables docs/registries.md          # rewrite
    python -m marlrec.report.registry_tables --check docs/registries.md  # fail if stale

``tests/report/test_registry_tables.py`` fails when the committed page is stale.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import envs
from envs.metrics import METRICS
from marlrec.algorithms import ALGORITHMS
from marlrec.evaluation.baselines import EVALUATION_BASELINES


def _yes(flag: bool) -> str:
    return "yes" if flag else ""


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |"
              for row in rows]
    return "\n".join(lines)


def algorithms_table() -> str:
    return _table(
        ["algorithm", "discrete", "multi-discrete (slates)", "continuous", "on-policy",
         "centralised critic", "slate actors", "sharing modes", "greedy action", "what"],
        [[f"`{a.name}`", _yes(a.discrete_actions), _yes(a.multi_discrete_actions),
          _yes(a.continuous_actions), _yes(a.on_policy), _yes(a.centralised_critic),
          ", ".join(f"`{s}`" for s in a.slate_actors), ", ".join(a.sharing_modes),
          f"`{a.greedy.rpartition(':')[2]}`", a.description] for a in ALGORITHMS.values()])


def catalogs_table() -> str:
    return _table(
        ["catalog", "capabilities", "parameters", "fetched data", "what"],
        [[f"`{c.name}`", ", ".join(sorted(c.capabilities)) or "none",
          ", ".join(f"`{p}`" for p in c.parameters),
          f"`marlrec data fetch {c.dataset}`" if c.dataset else "", c.description]
         for c in envs.CATALOGS.values()])


def presets_table() -> str:
    return _table(
        ["preset", "learned roles", "catalog", "what"],
        [[f"`{p.name}`", ", ".join(r for r in envs.ROLES if r in p.learned_roles),
          f"`{dict(p.catalog_defaults).get('catalog', envs.CATALOG_DEFAULTS['catalog'])}`",
          p.description] for p in envs.PRESETS.values()])


def behaviours_table() -> str:
    rows = [[f"`{b.name}`", b.role, _yes(b.privileged),
             ", ".join(f"`{p}`" for p in b.parameters), "training and evaluation",
             b.description] for b in envs.BEHAVIOURS.values()]
    rows += [[f"`{b.name}`", b.role, _yes(b.privileged), f"catalog `{b.requires}`",
              "evaluation baseline only", b.description]
             for b in EVALUATION_BASELINES.values()]
    return _table(["behaviour", "role", "privileged", "reads", "usable in", "what"], rows)


def metrics_table() -> str:
    return _table(
        ["metric", "label", "better", "selectable", "range", "what"],
        [[f"`{m.name}`", m.label, m.direction, _yes(m.selectable), m.value_range,
          m.description] for m in METRICS.values()])


def render() -> str:
    sections = [
        ("Algorithms", "marlrec/algorithms/", algorithms_table(),
         "A spec's `algorithms:`. An algorithm that does not learn a role's action space is "
         "refused for a spec that learns that role (users and providers act Discrete, slate "
         "policies MultiDiscrete)."),
        ("Catalogs", "envs/catalogs.py", catalogs_table(),
         "`env.params.catalog`. `ratings`: real held-out ratings (offline ranking, the "
         "collaborative-filtering baseline); `demographics`: users' age, gender, occupation; "
         "`profiles`: users' text profiles."),
        ("Presets", "envs/presets.py", presets_table(), "`env.preset`."),
        ("Scripted behaviours and baselines", "envs/behaviours.py, "
         "marlrec/evaluation/baselines.py", behaviours_table(),
         "A scripted role's `behaviour` and `evaluation.baselines`. Privileged: it reads what "
         "its role's observation does not carry (an upper reference, not a policy a "
         "platform could run)."),
        ("Episode metrics", "envs/metrics.py", metrics_table(),
         "Every episode emits them; `evaluation.metric` takes a selectable one (it picks each "
         "run's best checkpoint and heads the report); 'better' is the direction every "
         "comparison reads."),
    ]
    out = ["# Registries", "",
           "What marlrec offers, generated from its registries by "
           "`python -m marlrec.report.registry_tables docs/registries.md` (do not edit by "
           "hand; a test fails when this page is stale). Adding an entry: "
           "[extending marlrec](extending.md).", ""]
    for title, source, table, note in sections:
        out += [f"## {title} (`{source}`)", "", note, "", table, ""]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", type=Path)
    parser.add_argument("--check", action="store_true", help="fail if the page is stale")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        if not args.path.exists() or args.path.read_text() != text:
            print(f"{args.path} is stale: run python -m marlrec.report.registry_tables "
                  f"{args.path}", file=sys.stderr)
            return 1
        return 0
    args.path.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
