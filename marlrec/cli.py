"""The ``marlrec`` command line.

    marlrec data fetch movielens-100k [--data-dir DIR] [--force]
    marlrec presets
    marlrec rollout [--preset P] [--catalog C] [--policies a,b] [--episodes N] [--seed S]
                    [--encoder minilm|hashing] [--set key=value ...] [--out DIR]
    marlrec demo    (a rollout comparison on MovieLens-100k with all-MiniLM-L6-v2)
    marlrec run SPEC.yaml [--set key.path=value ...] [--resume]
    marlrec report RESULTS_DIR   (absolute metric, rliable aggregates, tables and PNGs)
    marlrec launch SPEC.yaml (--cluster cluster.yaml | --address URL) [--set ...]
    marlrec down --cluster cluster.yaml
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

from marlrec.config.spec import ENCODERS


def _cmd_fetch(args: argparse.Namespace) -> int:
    from marlrec.datasets import fetch

    path = fetch(args.name, data_dir=args.data_dir, force=args.force)
    print(f"{args.name}: {path}")
    return 0


def _cmd_presets(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    import envs

    table = Table(title="marlrec presets (envs.make_env(name, **overrides))")
    for column in ("preset", "learned roles", "description"):
        table.add_column(column)
    for preset in envs.PRESETS.values():
        table.add_row(preset.name, ", ".join(sorted(preset.learned_roles)), preset.description)
    Console().print(table)
    return 0


def _cmd_rollout(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.progress import Progress

    import envs
    from marlrec.evaluation.scripted_comparison import (
        compare_slate_policies,
        write_comparison_report,
    )

    policies = [p.strip() for p in args.policies.split(",") if p.strip()]
    unknown = [p for p in policies if p not in envs.SLATE_BASELINES]
    if unknown:
        raise ValueError(f"--policies: unknown {unknown}; allowed: {sorted(envs.SLATE_BASELINES)}")
    if args.episodes < 1:
        raise ValueError(f"--episodes={args.episodes}: must be >= 1")
    from marlrec.config.loading import apply_overrides

    overrides = apply_overrides({"catalog": args.catalog}, args.set or [], root="env params")
    console = Console() if sys.stdout.isatty() else Console(width=160)
    with console.status(f"building {args.preset} on {args.catalog} ({args.encoder} encoder)"):
        from marlrec.encoder import resolve_encoder

        env = envs.make_env(args.preset, encoder=resolve_encoder(args.encoder), **overrides)
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("rolling out", total=len(policies) * args.episodes)
        results = compare_slate_policies(env, policies, args.episodes, args.seed,
                                         provider=args.provider,
                                         progress=lambda: progress.advance(task))
    _print_results(console, results, f"{args.preset} on {args.catalog}: mean over "
                   f"{args.episodes} episodes (± 95% CI), {env.num_sessions} sessions x "
                   f"{env.config.horizon} steps")
    settings = {"preset": args.preset, "encoder": args.encoder, "episodes": args.episodes,
                "seed": args.seed, "provider": args.provider, **overrides}
    out = write_comparison_report(results, Path(args.out), settings)
    console.print(f"report: {out / 'report.md'}  plot: {out / 'comparison.png'}")
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    from marlrec.config.loading import load_spec

    spec = load_spec(args.spec, args.set or [])  # fails here, before Ray starts
    from marlrec.training.run import refuse_a_second_run

    if not args.resume:  # before Ray starts, too
        refuse_a_second_run(Path(spec.logging.results_dir).expanduser().resolve() / spec.name)
    import ray
    from rich.console import Console

    from marlrec.encoder.pool import running_pool
    from marlrec.training.run import WORKER_ENV_VARS, run_experiment

    console = Console(width=160)
    if not args.verbose:  # one live table (marlrec.training.progress) instead of Tune's output
        from marlrec.training.progress import quiet_libraries

        quiet_libraries()
    if not ray.is_initialized():
        # A fresh local Ray unless RAY_ADDRESS names a cluster ("auto" on a head node);
        # a job submitted by `marlrec launch` already carries WORKER_ENV_VARS.
        in_job = "RAY_JOB_CONFIG_JSON_ENV_VAR" in os.environ
        ray.init(address=os.environ.get("RAY_ADDRESS", "local"), include_dashboard=False,
                 log_to_driver=False,
                 logging_level=logging.INFO if args.verbose else logging.ERROR,
                 runtime_env=None if in_job else {"env_vars": WORKER_ENV_VARS})
    # On a cluster (RAY_ADDRESS set, e.g. inside a Ray job) the autoscaler grows the cluster
    # to fit; a local Ray that cannot fit the experiment is refused before anything runs.
    # The encoder pool (if the spec has one) serves the training and then the report's
    # evaluations: a policy is evaluated through the encoder it was trained with.
    with running_pool(spec.encoder_pool) as pool_client:
        summaries = run_experiment(spec, resume=args.resume, encoder=pool_client,
                                   check_resources="RAY_ADDRESS" not in os.environ,
                                   command=args.command_line,
                                   console=None if args.verbose else console)
        if args.verbose:  # the live table showed them otherwise
            _print_trials(spec, summaries)
        _report(console, Path(spec.logging.results_dir).expanduser() / spec.name)
    print(f"results: {Path(spec.logging.results_dir).expanduser().resolve() / spec.name}")
    return 0


def _print_trials(spec: Any, summaries: list) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{spec.name}: {len(summaries)} trials")
    for column in ("algorithm", "sharing", "variant", "seed", "env steps",
                   "episode return (mean)", "checkpoint"):
        table.add_column(column)
    for s in summaries:
        table.add_row(s.algorithm, s.sharing, s.variant or "-", str(s.seed), f"{s.env_steps:,}",
                      "n/a" if s.episode_return_mean is None else f"{s.episode_return_mean:.3g}",
                      s.checkpoint or "none")
    Console(width=160).print(table)


def _report(console: Any, folder: Path) -> None:
    from rich.progress import Progress
    from rich.table import Table

    from marlrec.config.spec import training_groups
    from marlrec.report.experiment_report import load_spec_of, write_report
    from marlrec.report.html_report import write_html_report

    spec = load_spec_of(folder)
    total = (len(training_groups(spec)) + len(spec.evaluation.baselines)) * len(spec.seeds)
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("absolute-metric evaluation (and offline ranking)",
                                 total=total)

        def phase(name: str) -> None:  # the earlier phase is done: show the next
            progress.update(task, completed=total, description=name, total=None)

        out = write_report(folder, progress=lambda: progress.advance(task), phase=phase)
        phase("writing report.html (the report with interactive charts)")
        write_html_report(out)
    scores = json.loads((out / "scores.json").read_text())
    metric = scores["metric"]
    table = Table(title=f"{spec.name}: {metric}, {len(spec.seeds)} runs x "
                        f"{scores['episodes_per_run']} episodes (IQM, stratified bootstrap "
                        "95% CI)")
    for column in ("policy", "IQM", "95% CI", "mean"):
        table.add_column(column, justify="left" if column == "policy" else "right")
    for name, e in scores["absolute"].items():  # the report's own estimates
        iqm = e["IQM"]
        table.add_row(name, f"{iqm[0]:.3g}", f"[{iqm[1]:.3g}, {iqm[2]:.3g}]",
                      f"{e['Mean'][0]:.3g}")
    console.print(table)
    if scores.get("encoder_pool"):
        from marlrec.report.encoder_figures import encoder_pool_line

        console.print(encoder_pool_line(scores["encoder_pool"], spec.encoder_pool.encoder))
    from marlrec.report.wandb_report import log_report

    with console.status("logging the report to W&B"):
        wandb_run = log_report(out, spec)
    plots = ", ".join(sorted(p.name for p in out.glob("*.png")))
    console.print(f"report: {out / 'report.md'} (+ {plots})")
    if (out / "report.html").is_file():
        console.print(f"report (one file, opens offline): {out / 'report.html'}")
    if wandb_run is not None:
        console.print(f"W&B ({spec.logging.wandb_mode}): {wandb_run}"
                      + ("  (upload: wandb sync)" if spec.logging.wandb_mode == "offline"
                         else ""))


def _cmd_launch(args: argparse.Namespace) -> int:
    from marlrec.cluster.launch import LaunchPlan, launch
    from marlrec.config.loading import load_spec

    # the cluster fetches the data in its own setup: only the spec is checked here
    spec = load_spec(args.spec, args.set or [], check_data=False)  # before any cluster
    if bool(args.cluster) == bool(args.address):
        raise ValueError("marlrec launch: give exactly one of --cluster FILE (bring a "
                         "cluster up) or --address URL (an existing cluster's job API)")
    if args.cluster and not Path(args.cluster).is_file():
        raise FileNotFoundError(f"--cluster {args.cluster}: no such cluster config")
    plan = LaunchPlan(spec_path=args.spec, name=spec.name, cluster=args.cluster,
                      address=args.address, dashboard_port=args.port,
                      overrides=list(args.set or []),
                      local_results=spec.logging.results_dir, python=args.python)
    status = launch(plan, wandb_online=spec.logging.wandb_mode == "online")
    where = (Path(spec.logging.results_dir) / spec.name if args.cluster
             else f"the cluster's ~/marlrec-results/{spec.name}")
    print(f"job {'succeeded' if status == 0 else f'failed ({status})'}; results: {where}")
    return 0 if status == 0 else 1


def _cmd_down(args: argparse.Namespace) -> int:
    import subprocess

    from marlrec.cluster.launch import LaunchPlan

    if not Path(args.cluster).is_file():
        raise FileNotFoundError(f"--cluster {args.cluster}: no such cluster config")
    plan = LaunchPlan(spec_path="", name="", cluster=args.cluster)
    return subprocess.run(plan.down(), check=False).returncode


def _cmd_report(args: argparse.Namespace) -> int:
    from rich.console import Console

    _report(Console(width=160), Path(args.results_dir))
    return 0


def _cmd_log(args: argparse.Namespace) -> int:
    from marlrec.config.loading import load_spec

    spec = load_spec(args.spec, args.set or [])
    if spec.offline is None:
        raise ValueError(f"{args.spec}: no offline: section (the logging policy, targets, log "
                         "sizes); see experiments/offline_evaluation.yaml")
    from rich.console import Console
    from rich.progress import Progress

    from marlrec.offline.run import log_and_study

    console = Console(width=160)
    o = spec.offline
    with Progress(console=console, transient=True) as progress:
        episodes = progress.add_task("logging episodes", total=o.episodes)
        repeats = progress.add_task("off-policy estimates",
                                    total=len(o.targets) * len(o.sizes) * o.repeats)
        runs = len(spec.seeds)
        training = progress.add_task("offline training and online evaluation", total=(
            len(o.train) * runs * 2 + (1 + len(spec.evaluation.baselines)) * runs)
            if o.train else 0)
        out = log_and_study(spec, args.command_line,
                            progress_episode=lambda: progress.advance(episodes),
                            progress_estimate=lambda: progress.advance(repeats),
                            progress_training=lambda: progress.advance(training))
    console.print((out / "ope.md").read_text())
    print(f"logs: {out / 'interactions.parquet'}\nreport: {out / 'ope.md'}")
    return 0


def _cmd_explain(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.markdown import Markdown

    from marlrec.encoder.pool import running_pool
    from marlrec.evaluation.explanations import experiment_markdown, explain_experiment
    from marlrec.report.experiment_report import load_spec_of

    for name in ("episodes", "sessions", "steps"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name} {getattr(args, name)}: must be an integer >= 1")
    folder = Path(args.results_dir).resolve()
    spec = load_spec_of(folder)
    if not 0 <= args.run < len(spec.seeds):
        raise ValueError(f"--run {args.run}: the experiment has runs 0..{len(spec.seeds) - 1} "
                         f"(training seeds {spec.seeds})")
    if "slate_policy" not in spec.learned_roles:
        raise ValueError(f"{folder}: the slate policy is scripted here ({spec.learned_roles} "
                         "learn); there is no learned slate to explain")
    console = Console(width=160)
    with console.status("playing and attributing the learned slate policies' decisions"), \
            running_pool(spec.encoder_pool):
        explained = explain_experiment(folder, spec, run=args.run, episodes=args.episodes,
                                       sessions=args.sessions, steps=args.steps)
    text = experiment_markdown(explained, spec.seeds[args.run])
    console.print(Markdown(text))
    from marlrec.staged_folder import write_text_atomically

    out = write_text_atomically(folder / "report" / "explanations.md", text)
    print(f"written: {out}")
    return 0


def _print_results(console: Any, results: list, title: str) -> None:
    from rich.table import Table

    from envs.metrics import METRICS
    from marlrec.evaluation.scripted_comparison import HEADLINE_METRICS

    table = Table(title=title)
    table.add_column("slate policy", no_wrap=True)
    for metric in HEADLINE_METRICS:
        table.add_column(METRICS[metric].label, justify="right")
    for r in results:
        table.add_row(r.policy, *(f"{r.mean(m):.3g}±{r.ci95(m):.2g}" for m in HEADLINE_METRICS))
    console.print(table)


def build_parser() -> argparse.ArgumentParser:
    import envs

    parser = argparse.ArgumentParser(prog="marlrec", description=__doc__.splitlines()[0])
    parser.add_argument("--debug", action="store_true",
                        help="show the full traceback of an error (also: MARLREC_DEBUG=1)")
    sub = parser.add_subparsers(dest="command", required=True)

    data = sub.add_parser("data", help="data sets").add_subparsers(dest="data_command",
                                                                   required=True)
    fetch = data.add_parser("fetch", help="download a data set into the cache folder")
    from marlrec.datasets import DATASETS

    fetch.add_argument("name", choices=sorted(DATASETS))
    fetch.add_argument("--data-dir", default=None, help="default: $MARLREC_DATA_DIR or "
                       "~/.cache/marlrec/data")
    fetch.add_argument("--force", action="store_true", help="fetch again even if present")
    fetch.set_defaults(func=_cmd_fetch)

    sub.add_parser("presets", help="list the environment presets").set_defaults(
        func=_cmd_presets)

    def rollout_args(p: argparse.ArgumentParser, **defaults: Any) -> None:
        p.add_argument("--preset", choices=sorted(envs.PRESETS), default="interest_evolution")
        p.add_argument("--catalog", choices=sorted(envs.CATALOGS), default="synthetic")
        p.add_argument("--policies", default="random,popularity,greedy_by_appeal,"
                       "greedy_by_quality",
                       help=f"from {list(envs.ROLE_BEHAVIOURS['slate_policy'])}")
        p.add_argument("--provider", choices=envs.ROLE_BEHAVIOURS["provider"],
                       default=envs.DEFAULT_BEHAVIOURS["provider"])
        p.add_argument("--episodes", type=int, default=3)
        p.add_argument("--seed", type=int, default=0)
        p.add_argument("--encoder", choices=ENCODERS, default="hashing")  # as in specs
        p.add_argument("--set", action="append", metavar="KEY=VALUE",
                       help="env parameter override, e.g. num_sessions=16 user_model.budget=30")
        p.add_argument("--out", default="results/rollout")
        p.set_defaults(func=_cmd_rollout, **defaults)

    run = sub.add_parser("run", help="train the algorithm x sharing x variant x seed grid of "
                         "an experiment spec")
    run.add_argument("spec", help="YAML experiment spec (see marlrec/config/spec.py)")
    run.add_argument("--set", action="append", metavar="KEY.PATH=VALUE",
                     help="override a spec key, e.g. --set stop.env_steps=4000")
    run.add_argument("--resume", action="store_true",
                     help="continue an interrupted experiment from its last checkpoints")
    run.add_argument("--verbose", action="store_true",
                     help="Tune's own trial output and the libraries' logs instead of the "
                          "live table")
    run.set_defaults(func=_cmd_run)

    report = sub.add_parser("report", help="absolute-metric evaluation and rliable report of "
                            "a finished experiment")
    report.add_argument("results_dir", help="the folder `marlrec run` wrote (results/<name>)")
    report.set_defaults(func=_cmd_report)

    log = sub.add_parser("log", help="log a stochastic policy's slates with their propensities "
                         "(Parquet) and study off-policy estimators on them")
    log.add_argument("spec", help="YAML experiment spec with an offline: section")
    log.add_argument("--set", action="append", metavar="KEY.PATH=VALUE",
                     help="override a spec key")
    log.set_defaults(func=_cmd_log)

    explain = sub.add_parser("explain", help="why the learned slate policies showed their "
                             "slates: attributions, their faithfulness, explained sessions")
    explain.add_argument("results_dir", help="the folder `marlrec run` wrote (results/<name>)")
    explain.add_argument("--run", type=int, default=0,
                         help="which run's best modules (index into the spec's seeds)")
    explain.add_argument("--episodes", type=int, default=2,
                         help="episodes whose decisions are attributed")
    explain.add_argument("--sessions", type=int, default=3, help="sessions explained")
    explain.add_argument("--steps", type=int, default=4, help="slates per session explained")
    explain.set_defaults(func=_cmd_explain)

    launch = sub.add_parser("launch", help="run an experiment spec on a Ray cluster as a job")
    launch.add_argument("spec", help="YAML experiment spec")
    launch.add_argument("--cluster", help="cluster launcher config (cluster.yaml): brought "
                        "up if needed, results copied home")
    launch.add_argument("--address", help="job API of an existing cluster, e.g. "
                        "http://127.0.0.1:8265")
    launch.add_argument("--set", action="append", metavar="KEY.PATH=VALUE",
                        help="override a spec key")
    launch.add_argument("--port", type=int, default=8265,
                        help="local port for the forwarded dashboard (--cluster)")
    launch.add_argument("--python", default="python",
                        help="the cluster's Python with marlrec installed (--address)")
    launch.set_defaults(func=_cmd_launch)
    down = sub.add_parser("down", help="tear a launched cluster down")
    down.add_argument("--cluster", required=True, help="cluster launcher config")
    down.set_defaults(func=_cmd_down)

    rollout_args(sub.add_parser("rollout", help="compare scripted slate policies"))
    rollout_args(sub.add_parser("demo", help="the README's demo: scripted policies on "
                                "MovieLens-100k with all-MiniLM-L6-v2"),
                 catalog=envs.movielens.DATASET, encoder="minilm", episodes=5,
                 set=["num_sessions=16", "horizon=200", "user_state=item_mean"],
                 out="results/demo")
    for command in (*sub.choices.values(), *data.choices.values()):
        # `marlrec run SPEC --debug` as well as `marlrec --debug run SPEC`
        command.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                             help="show the full traceback of an error")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.command_line = list(argv) if argv is not None else sys.argv[1:]  # for provenance
    try:
        return args.func(args)
    except (ValueError, FileNotFoundError, FileExistsError, RuntimeError) as e:
        if args.debug or os.environ.get("MARLREC_DEBUG") == "1":
            raise
        print(f"marlrec: error: {e} (marlrec --debug ... shows where it came from)",
              file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
