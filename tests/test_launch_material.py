"""The SLURM script, KubeRay manifest and Ray cluster YAML parse and name commands and files that exist."""

from __future__ import annotations

import re
import shlex
import subprocess

import pytest
import yaml

from hpo.paths import PROJECT_ROOT
from hpo.search.cli import COMMANDS
from hpo.search.config.compose import compose_config
from hpo.search.config.schema import resolve

LAUNCH = PROJECT_ROOT / "launch"


def hpo_commands(text: str) -> list[list[str]]:
    """Every ``hpo <command> ...`` invocation in a script or manifest, as argv lists."""
    joined = re.sub(r"\\\n\s*", " ", text)
    found = []
    for match in re.finditer(r"(?:^|[\s\"/])hpo (\w+)([^\n]*)", joined):
        rest = match.group(2)
        if rest.count('"') % 2:  # the command ends inside a quoted string (ray exec "...")
            rest = rest.rsplit('"', 1)[0]
        args = shlex.split(rest.replace("$", "X"))
        if any("=" in a or a.startswith("--") for a in args):  # an invocation, not prose in a comment
            found.append(["hpo", match.group(1), *args])
    return found


def check_sweep_command(argv: list[str]) -> None:
    assert argv[1] in COMMANDS
    if argv[1] != "sweep":
        return
    name = argv[argv.index("--config-name") + 1] if "--config-name" in argv else "demo"
    if name.startswith("X"):
        name = "sst2_optuna_asha"  # the SLURM script's default for $SWEEP
    assert (PROJECT_ROOT / "sweeps" / f"{name}.yaml").is_file(), name
    overrides = [a for a in argv[2:] if "=" in a and not a.startswith("--") and "X" not in a.split("=", 1)[1]]
    cfg = resolve(compose_config(name, overrides))
    assert cfg["cluster"]["name"] == "ray"


def test_slurm_script_is_valid_bash_and_starts_ray_then_the_sweep() -> None:
    script = LAUNCH / "slurm" / "hpo_sweep.sbatch"
    subprocess.run(["bash", "-n", str(script)], check=True)
    text = script.read_text()
    assert "#SBATCH --nodes=" in text and "ray start --head" in text and "ray start --address=" in text
    commands = hpo_commands(text)
    assert commands and {c[1] for c in commands} == {"sweep", "resume"}  # a resubmitted job resumes its sweep
    for argv in commands:
        if argv[1] == "sweep":
            check_sweep_command(argv)


def test_kuberay_rayjob_manifest() -> None:
    manifest = yaml.safe_load((LAUNCH / "kuberay" / "rayjob.yaml").read_text())
    assert manifest["apiVersion"] == "ray.io/v1" and manifest["kind"] == "RayJob"
    spec = manifest["spec"]
    assert spec["rayClusterSpec"]["headGroupSpec"] and spec["rayClusterSpec"]["workerGroupSpecs"]
    commands = hpo_commands(spec["entrypoint"])
    assert len(commands) == 1
    check_sweep_command(commands[0])


@pytest.mark.parametrize("key", ["head_start_ray_commands", "worker_start_ray_commands", "setup_commands"])
def test_ray_cluster_yaml(key: str) -> None:
    config = yaml.safe_load((LAUNCH / "ray" / "cluster.yaml").read_text())
    assert config["cluster_name"] and config[key]
    assert any("make install" in c for c in config["setup_commands"])
    assert (PROJECT_ROOT / "Makefile").read_text().count("install:") >= 1
    text = (LAUNCH / "ray" / "cluster.yaml").read_text()
    for argv in hpo_commands(text):
        check_sweep_command(argv)


def test_readme_references_the_launch_material() -> None:
    readme = (PROJECT_ROOT / "README.md").read_text()
    for path in ("launch/slurm/hpo_sweep.sbatch", "launch/kuberay/rayjob.yaml", "launch/ray/cluster.yaml"):
        assert path in readme and (PROJECT_ROOT / path).is_file()
