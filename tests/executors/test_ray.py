"""The Ray executor: optional (never imported unless used), and, in a network namespace with
only the loopback interface, evaluations as Ray tasks on a private 2-CPU instance, a killed
worker's task retried by Ray, a bad input surfacing as itself, and a search through it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pmfnas.errors import ConfigError
from pmfnas.executors.ray import RayExecutor

IN_NAMESPACE = """
import json, os, signal, sys, time
from pathlib import Path
from pmfnas.errors import ConfigError
from pmfnas.executors import Job
from pmfnas.executors.ray import RayExecutor
from pmfnas.evaluators.tabular import NB201_LADDER
from pmfnas.parallel import ParallelStudy
from pmfnas.spaces import create_space
from pmfnas.strategies import create_strategy
from pmfnas.types import Fidelity, Result

FOLDER = Path(sys.argv[1])

class Toy:
    budget_unit = "flops"
    ladder = NB201_LADDER
    def describe(self): return {"benchmark": "ray-toy"}
    def expected_cost(self, arch, fidelity): return float(fidelity.epochs or 1)
    def evaluate(self, arch, fidelity, limit=None):
        if arch == (4,) * 6:
            raise ConfigError("a bad input ends the search")
        mark = FOLDER / ("".join(map(str, arch)) + "." + str(os.getpid()))
        first = not any(FOLDER.glob("".join(map(str, arch)) + ".*"))
        mark.write_text("")
        if arch == (3,) * 6 and first:
            time.sleep(600)  # killed here
        return Result(metrics={"val_acc": 50.0 + sum(arch)}, cost=self.expected_cost(arch, fidelity),
                      private={"pid": os.getpid()})
    def observe(self, trial): pass
    def test_accuracy(self, arch): return None

checks = {}
E4 = Fidelity(epochs=4)
executor = RayExecutor(num_cpus=2, object_store_memory=100 * 1024**2)
executor.start(Toy())
checks["workers"] = executor.workers
executor.submit(0, Job((1,) * 6, E4, None))
executor.submit(1, Job((2,) * 6, E4, None))
try:
    executor.submit(2, Job((0,) * 6, E4, None))
except ConfigError as error:
    checks["busy"] = str(error)
done = dict(executor.wait() for _ in range(2))
checks["results"] = {str(t): r.metrics["val_acc"] for t, r in done.items()}
checks["clock"] = executor.now()
executor.submit(3, Job((3,) * 6, E4, None))
while not list(FOLDER.glob("333333.*")):
    time.sleep(0.05)
os.kill(int(next(FOLDER.glob("333333.*")).suffix[1:]), signal.SIGKILL)  # its worker dies
ticket, result = executor.wait()
checks["retried"] = [ticket, result.error, result.metrics.get("val_acc"), len(list(FOLDER.glob("333333.*")))]
executor.submit(4, Job((4,) * 6, E4, None))
try:
    executor.wait()
except ConfigError as error:
    checks["bad_input"] = str(error)
executor.close()

space = create_space("nb201")
strategy = create_strategy("random", space, seed=0, ladder=NB201_LADDER)
study = ParallelStudy(space, Toy(), strategy, 12.0 * 6, executor=RayExecutor(2, num_cpus=2,
                      object_store_memory=100 * 1024**2))
result = study.run()
checks["search"] = [len(result.trials), result.stop_reason]
print(json.dumps(checks))
"""


def namespace_python(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a network namespace with only the loopback interface up (so that Ray can
    neither reach nor be reached from outside); skips the test where one cannot be made."""
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        pytest.skip("unshare or ip is missing: no network namespace for Ray")
    probe = subprocess.run(["unshare", "-n", "true"], capture_output=True, check=False)
    if probe.returncode != 0:
        pytest.skip(f"cannot make a network namespace (unshare -n needs root): {probe.stderr!r}")
    command = ["unshare", "-n", "sh", "-c", 'ip link set lo up && exec "$0" "$@"']
    environment = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    return subprocess.run(
        [*command, sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        env=environment,
        check=False,
        timeout=600,
    )


def test_ray_is_imported_only_when_its_executor_starts() -> None:
    code = "import sys, pmfnas.executors.ray, pmfnas.cli; print('ray' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


def test_a_missing_ray_is_one_clear_error(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(ConfigError, match=r"needs Ray: pip install 'pmfnas\[ray\]'"):
        RayExecutor().start(object())


def test_ray_tasks_evaluate_retry_a_killed_worker_and_search(tmp_path: Path) -> None:
    pytest.importorskip("ray")
    done = namespace_python(IN_NAMESPACE, str(tmp_path))
    assert done.returncode == 0, done.stderr[-3000:]
    checks = json.loads(done.stdout.strip().splitlines()[-1])
    assert checks["workers"] == 2 and "busy" in checks["busy"]
    assert checks["results"] == {"0": 56.0, "1": 62.0} and checks["clock"] == 8.0
    ticket, error, accuracy, attempts = checks["retried"]
    assert (ticket, error, accuracy, attempts) == (3, "", 68.0, 2)  # Ray ran it again
    assert "bad input ends the search" in checks["bad_input"]
    assert checks["search"][0] == 6 and "budget" in checks["search"][1]
