"""Checks against an existing multi-node Ray cluster (Ray's in-process cluster helper) reached by address.

A sweep that spreads over a cluster of ``ray start`` processes, loses a node and gains one is
tests/test_ray_cluster_processes.py."""

from __future__ import annotations

from pathlib import Path

import pytest
import ray
from ray.cluster_utils import Cluster

from hpo.errors import ConfigError
from hpo.search.run.sweep import init_ray, prepare, run
from tests.conftest import TINY_SST2

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def three_node_cluster():
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    for _ in range(2):
        cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    yield cluster
    ray.shutdown()
    cluster.shutdown()


def test_a_trial_larger_than_the_cluster_is_rejected_up_front(three_node_cluster, tmp_path: Path) -> None:
    prepared = prepare("demo", [
        *TINY_SST2, "cluster=ray", f"cluster.address={three_node_cluster.address}", "logger=none",
        "resources.gpus_per_trial=1", f"sweep.output_dir={tmp_path / 'sweep'}",
    ])
    with pytest.raises(ConfigError, match=r"resources.gpus_per_trial: a trial asks for 1 GPU but the Ray cluster has 0 .*CPU=3"):
        run(prepared, verbose=False)


def test_cluster_local_starts_its_own_ray_beside_a_running_cluster(three_node_cluster) -> None:
    """``cluster=local`` means a new Ray instance, not the cluster ``ray.init()`` would find and join
    (whose CPUs it would then refuse to set); seen when two test processes shared a machine."""
    ray.shutdown()
    init_ray({"cluster": {"address": None}, "resources": {"num_cpus": 1}})
    try:
        assert ray.get_runtime_context().gcs_address != three_node_cluster.address
        assert ray.cluster_resources()["CPU"] == 1
    finally:
        ray.shutdown()
