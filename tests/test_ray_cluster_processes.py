"""A Ray cluster of separate processes, as users run one: ``ray start --head`` and ``ray start --address`` worker
nodes, each with its own resources. Mid-sweep one worker node's raylet is SIGKILLed: its trials are retried on
the other nodes from their last checkpoints (``sweep.max_failures``), the sweep ends with exactly the planned
trials and every reported evaluation once; a node that joins mid-sweep receives trials.

Every node is a ``ray start --block`` process of this test, in its own session: the test stops them by the
process ids it holds, never with ``ray stop`` (which would stop every Ray on the machine).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from ray.util import get_node_ip_address

from hpo.search.results.records import collect_trials

pytestmark = pytest.mark.slow
BIN = Path(sys.executable).parent
TRIALS, EPOCHS = 4, 2


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Node:
    """One ``ray start --block`` process (a head or a worker node) and the raylet it started."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.proc = subprocess.Popen([str(BIN / "ray"), "start", "--block", "--disable-usage-stats", *args], env=env,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)

    def raylet(self, timeout: float = 60) -> psutil.Process:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:  # the raylet is up once ray start has spawned it (polled, with a deadline)
            found = [p for p in psutil.Process(self.proc.pid).children(recursive=True) if p.name() == "raylet"]
            if found:
                return found[0]
            time.sleep(0.2)
        raise AssertionError("the node's raylet did not start")

    def stop(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)  # the node's session: ray start, its raylet and workers
        self.proc.wait(timeout=30)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[tuple[str, list[Node], dict[str, str]]]:
    # token auth on every node and the driver: Ray 2.60 turns it on for a head by default, and a joining node
    # only presents the token (~/.ray/auth_token) when the mode is set
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "WANDB_MODE": "offline", "RAY_AUTH_MODE": "token"}
    port = _free_port()
    address = f"{get_node_ip_address()}:{port}"  # where the head listens: this machine's address, as Ray picks it
    # the head holds no trial CPU: trials run on the worker nodes, each with one CPU
    nodes = [Node(["--head", f"--port={port}", "--num-cpus=0", "--include-dashboard=false"], env)]
    try:
        nodes[0].raylet()
        for _ in range(2):
            nodes.append(Node([f"--address={address}", "--num-cpus=1"], env))
            nodes[-1].raylet()
        yield address, nodes, env
    finally:
        for node in reversed(nodes):
            node.stop()


def test_a_lost_node_s_trials_continue_elsewhere_and_a_joining_node_gets_trials(cluster, tmp_path: Path) -> None:
    address, nodes, env = cluster
    out = tmp_path / "sweep"
    sweep = subprocess.Popen(
        [str(BIN / "hpo"), "sweep", "model=tiny_bert", "data.num_train=96", "data.num_eval=32", "trainer.max_seq_length=32",
         "logger=none", "cluster=ray", f"cluster.address={address}", "searcher=random", "searcher.max_concurrent=2",
         "scheduler=fifo", f"sweep.num_trials={TRIALS}", f"trainer.epochs={EPOCHS}", "sweep.max_failures=2",
         "resources.reuse_workers=false", f"sweep.output_dir={out}"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**env, "PYTHONUNBUFFERED": "1"}, start_new_session=True)
    lines: list[str] = []
    try:
        assert sweep.stdout is not None
        killed = joined = False
        for line in sweep.stdout:
            lines.append(line)
            if not killed and re.search(r"\] \w+ eval 1:", line):  # a trial has reported: take a worker node away
                nodes[1].raylet().send_signal(signal.SIGKILL)
                killed = True
                nodes.append(Node([f"--address={address}", "--num-cpus=1"], env))
                nodes[-1].raylet()
                joined = True
        assert sweep.wait(timeout=600) == 0, "".join(lines[-40:])
    finally:
        if sweep.poll() is None:
            os.killpg(sweep.pid, signal.SIGKILL)
    assert killed and joined
    records = collect_trials(out, "eval/accuracy", "max")
    assert len(records) == TRIALS and len({r.trial_id for r in records}) == TRIALS
    assert all(r.status == "finished" for r in records), [(r.trial_id, r.status, r.error) for r in records]
    for record in records:  # every evaluation reported once, none lost to the node
        epochs = [json.loads(row)["epoch"] for row in (record.path / "result.json").read_text().splitlines()]
        assert epochs == [1.0, 2.0], (record.trial_id, epochs)
    nodes_used = {json.loads(row)["node_id"] for r in records for row in (r.path / "result.json").read_text().splitlines()}
    joined_id = _node_id(nodes[-1])
    assert joined_id in nodes_used, "the node that joined mid-sweep received no trial"
    assert len(nodes_used) >= 2


def _node_id(node: Node) -> str:
    """The Ray node id of a node, from its raylet's command line."""
    command = " ".join(node.raylet().cmdline())
    match = re.search(r"--node_id=([0-9a-f]+)", command) or re.search(r"--node-id=([0-9a-f]+)", command)
    assert match, command
    return match.group(1)
