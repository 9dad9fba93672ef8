"""``marlrec launch SPEC --cluster cluster.yaml`` and ``marlrec down``: the same experiment
spec on a Ray cluster, through Ray's own launcher and job submission.

With ``--cluster`` (a cluster launcher config such as the project's ``cluster.yaml``):

1. ``ray up -y cluster.yaml`` (idempotent: an existing cluster is reused, its nodes
   re-synced);
2. ``ray dashboard cluster.yaml`` forwards the head's dashboard (it listens on the head's
   localhost only) to ``127.0.0.1:<port>`` over ssh, for the job API; the launch waits
   until that port accepts connections;
3. the head's auth token (``~/.ray/auth_token``, Ray's token authentication stays on) is
   read with ``ray exec`` and handed to ``ray job submit`` in its environment
   (``RAY_AUTH_TOKEN``), never on a command line;
4. for ``logging.wandb_mode: online``, a local ``WANDB_API_KEY`` is copied to the head's
   ``~/.netrc`` (mode 600) with ``ray rsync-up``: not in the job's runtime env (Ray logs
   runtime envs and the dashboard shows them), the command line, the results or the
   resolved spec. The head is enough: the job's driver runs there, and marlrec's W&B
   logging actors run on the driver's node and read the key from its ``~/.netrc``
   (``marlrec.training.run._wandb_callback``). No ``ray`` command gets the key in its environment;
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
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REMOTE_RESULTS = "~/marlrec-results"
# Secrets no `ray` command needs: the key reaches the head as a file (_copy_wandb_key).
NOT_FOR_RAY_COMMANDS = ("WANDB_API_KEY",)


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

        from marlrec.training.run import WORKER_ENV_VARS

        runtime_env = {"working_dir": self.project, "excludes": WORKING_DIR_EXCLUDES,
                       "env_vars": WORKER_ENV_VARS}
        return [ray_cli(), "job", "submit", "--address", self.job_address(),
                "--runtime-env-json", json.dumps(runtime_env), "--", *self.entrypoint()]

    def fetch_results(self) -> list[str]:
        return [ray_cli(), "rsync-down", self.cluster, f"{REMOTE_RESULTS}/{self.name}/",
                str(Path(self.local_results) / self.name)]

    def down(self) -> list[str]:
        return [ray_cli(), "down", "-y", self.cluster]


def ray_command_env() -> dict[str, str]:
    """The environment of every ``ray`` command a launch runs: this one without the W&B
    key (defence in depth: ``ray`` commands run setup commands, start processes and write
    logs; none of them needs the key)."""
    return {k: v for k, v in os.environ.items() if k not in NOT_FOR_RAY_COMMANDS}


def _run(cmd: list[str], env: dict[str, str] | None = None, capture: bool = False) -> str:
    done = subprocess.run(cmd, env=ray_command_env() if env is None else env, text=True,
                          check=False,
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


def wait_for_port(port: int, forward: subprocess.Popen, limit_s: float = 300.0,
                  pause_s: float = 0.2) -> None:
    """Returns once ``127.0.0.1:port`` accepts connections (the ssh port forward that
    ``forward`` runs is up), however long that takes on a slow link; fails at once when
    ``forward`` exits first, and after ``limit_s`` (an ssh forward that takes minutes is
    broken, not slow)."""
    deadline = time.monotonic() + limit_s
    while True:
        if forward.poll() is not None:
            raise RuntimeError(f"`ray dashboard` exited with code {forward.returncode} "
                               f"before port {port} was forwarded")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"port {port} was not forwarded within {limit_s:g} s "
                                   f"(`ray dashboard` still runs)") from None
            time.sleep(pause_s)


NO_AGENT = "No available agent to submit job"


AGENT_WAIT_S = 600.0
"""How long a submission waits for a fresh head's job agent (it refuses jobs until its
dashboard agent is up, which takes from seconds on an idle head to minutes on a busy one)."""


def _submit(plan: LaunchPlan, env: dict[str, str], pause_s: float = 3.0) -> int:
    """``ray job submit``, its output streamed; submitted again while the cluster's job
    agent is not up yet (a refused job never started, so the retry is safe), for up to
    :data:`AGENT_WAIT_S`. Returns the job's exit status."""
    deadline = time.monotonic() + AGENT_WAIT_S
    while True:
        job = subprocess.Popen(plan.submit(), env=env, text=True, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT)
        refused = False
        for line in job.stdout:
            sys.stdout.write(line)
            refused |= NO_AGENT in line
        status = job.wait()
        if status == 0 or not refused:
            return status
        if time.monotonic() > deadline:
            print(f"the cluster's job agent refused the job for {AGENT_WAIT_S:g} s; is the "
                  "head's dashboard agent running? (ray status, the head's logs)")
            return status
        print(f"the job agent is not up yet; submitting again in {pause_s:g} s")
        time.sleep(pause_s)


def launch(plan: LaunchPlan, wandb_online: bool = False) -> int:
    """Runs the plan; returns the job's exit status (0 when it succeeded)."""
    env = ray_command_env()
    forward = None
    try:
        if plan.cluster:
            _run(plan.up())
            token = _run(plan.read_token(), capture=True).strip().splitlines()
            if token:
                env["RAY_AUTH_TOKEN"] = token[-1]
            if wandb_online:
                _copy_wandb_key(plan)
            forward = subprocess.Popen(plan.dashboard(), env=env, stdout=subprocess.DEVNULL,
                                       stderr=subprocess.DEVNULL)
            wait_for_port(plan.dashboard_port, forward)
        status = _submit(plan, env)
        if plan.cluster:
            _run(plan.fetch_results())
        return status
    finally:
        if forward is not None:
            forward.terminate()
