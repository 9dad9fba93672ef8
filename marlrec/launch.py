"""``marlrec launch SPEC --cluster cluster.yaml`` and ``marlrec down``: the same experiment
spec on a Ray cluster, through Ray's own launcher and job submission.

With ``--cluster`` (a cluster launcher config such as the project's ``cluster.yaml``):

1. ``ray up -y cluster.yaml`` (idempotent: an existing cluster is reused, its nodes
   re-synced);
2. ``ray dashboard cluster.yaml`` forwards the head's dashboard (it listens on the head's
   localhost only) to ``127.0.0.1:<port>`` over ssh, for the job API;
3. the head's auth token (``~/.ray/auth_token``, Ray's token authentication stays on) is
   read with ``ray exec`` and handed to ``ray job submit`` in its environment
   (``RAY_AUTH_TOKEN``), never on a command line;
4. for ``logging.wandb_mode: online``, a local ``WANDB_API_KEY`` is copied to the head's
   ``~/.netrc`` (mode 600) with ``ray rsync-up``: not in the job's runtime env (the
   dashboard shows runtime envs), the command line, the results or the resolved spec;
5. ``ray job submit --working-dir <project>`` runs ``marlrec run SPEC`` on the head with
   ``logging.results_dir`` set to ``~/marlrec-results`` and streams its logs;
6. ``ray rsync-down`` brings ``~/marlrec-results/<name>/`` home to
   ``<logging.results_dir>/<name>/``.

With ``--address URL`` (an existing cluster's job API, e.g. a forwarded dashboard or a
KubeRay service), only step 5 runs: the token comes from the caller's ``RAY_AUTH_TOKEN``,
the results stay on the cluster (printed path). ``marlrec down --cluster cluster.yaml``
runs ``ray down -y``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REMOTE_RESULTS = "~/marlrec-results"
def ray_cli() -> str:
    """The ``ray`` command of this environment (next to this Python), else ``ray``."""
    beside = Path(sys.executable).with_name("ray")
    return str(beside) if beside.is_file() else "ray"


WORKING_DIR_EXCLUDES = [".venv", "results", "wandb", "data", ".git", "**/__pycache__"]


@dataclass
class LaunchPlan:
    """The commands a launch runs, in order (built without running anything)."""

    spec_path: str
    name: str
    cluster: str | None = None
    address: str | None = None
    dashboard_port: int = 8265
    overrides: list[str] = field(default_factory=list)
    local_results: str = "results"
    project: str = "."
    # the head's Python: a job's entrypoint runs with the Python that started Ray first on
    # its PATH (cluster.yaml starts Ray from ~/marlrec-venv)
    python: str = "python"

    def up(self) -> list[str]:
        return [ray_cli(), "up", "-y", self.cluster]

    def dashboard(self) -> list[str]:
        return [ray_cli(), "dashboard", "-p", str(self.dashboard_port), self.cluster]

    def read_token(self) -> list[str]:
        return [ray_cli(), "exec", self.cluster, "cat ~/.ray/auth_token"]

    def job_address(self) -> str:
        return self.address or f"http://127.0.0.1:{self.dashboard_port}"

    def entrypoint(self) -> list[str]:
        """``marlrec run`` on the head; results outside the job's temporary working dir
        (``~/marlrec-results`` unless an override sets ``logging.results_dir``, which
        ``marlrec run`` expands). ``ray job submit`` quotes each argument."""
        args = [self.python, "-m", "marlrec.cli", "run", self.spec_path]
        for item in [f"logging.results_dir={REMOTE_RESULTS}", *self.overrides]:
            args += ["--set", item]
        return args

    def submit(self) -> list[str]:
        import json

        from marlrec.run import WORKER_ENV_VARS

        runtime_env = {"working_dir": self.project, "excludes": WORKING_DIR_EXCLUDES,
                       "env_vars": WORKER_ENV_VARS}
        return [ray_cli(), "job", "submit", "--address", self.job_address(),
                "--runtime-env-json", json.dumps(runtime_env), "--", *self.entrypoint()]

    def fetch_results(self) -> list[str]:
        return [ray_cli(), "rsync-down", self.cluster, f"{REMOTE_RESULTS}/{self.name}/",
                str(Path(self.local_results) / self.name)]

    def down(self) -> list[str]:
        return [ray_cli(), "down", "-y", self.cluster]


def _run(cmd: list[str], env: dict[str, str] | None = None, capture: bool = False) -> str:
    done = subprocess.run(cmd, env=env, text=True, check=False,
                          stdout=subprocess.PIPE if capture else None)
    if done.returncode != 0:
        raise RuntimeError(f"`{' '.join(cmd[:4])} ...` failed with exit code "
                           f"{done.returncode}")
    return done.stdout or ""


def _copy_wandb_key(plan: LaunchPlan) -> None:
    key = os.environ.get("WANDB_API_KEY")
    if not key:
        return  # the head may already be logged in; otherwise W&B falls back to offline
    with tempfile.NamedTemporaryFile("w", delete=False) as f:
        f.write(f"machine api.wandb.ai\n  login user\n  password {key}\n")
    try:
        os.chmod(f.name, 0o600)
        _run([ray_cli(), "rsync-up", plan.cluster, f.name, "~/.netrc"])
    finally:
        os.unlink(f.name)


NO_AGENT = "No available agent to submit job"


def _submit(plan: LaunchPlan, env: dict[str, str], attempts: int = 20,
            pause_s: float = 3.0) -> int:
    """``ray job submit``, its output streamed; submitted again while the cluster's job
    agent is not up yet (a fresh head refuses jobs for a while, longer on a busy machine:
    a refused job never started, so the retry is safe). Returns the job's exit status."""
    status = 1
    for _ in range(attempts):
        job = subprocess.Popen(plan.submit(), env=env, text=True, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT)
        refused = False
        for line in job.stdout:
            sys.stdout.write(line)
            refused |= NO_AGENT in line
        status = job.wait()
        if status == 0 or not refused:
            return status
        print(f"the job agent is not up yet; submitting again in {pause_s:g} s")
        time.sleep(pause_s)
    return status


def launch(plan: LaunchPlan, wandb_online: bool = False) -> int:
    """Runs the plan; returns the job's exit status (0 when it succeeded)."""
    env = dict(os.environ)
    forward = None
    try:
        if plan.cluster:
            _run(plan.up())
            token = _run(plan.read_token(), capture=True).strip().splitlines()
            if token:
                env["RAY_AUTH_TOKEN"] = token[-1]
            if wandb_online:
                _copy_wandb_key(plan)
            forward = subprocess.Popen(plan.dashboard(), stdout=subprocess.DEVNULL,
                                       stderr=subprocess.DEVNULL)
            time.sleep(5)  # the ssh tunnel comes up
        status = _submit(plan, env)
        if plan.cluster:
            _run(plan.fetch_results())
        return status
    finally:
        if forward is not None:
            forward.terminate()
