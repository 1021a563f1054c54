"""A PBT trial's schedule of values, read from Ray Tune's policy files for the export.

Each time Population Based Training makes a trial copy a better one, Ray Tune appends a line to
``pbt_policy_<trial id>.txt`` in the experiment folder (after copying the donor's file, so a trial's
file holds its whole lineage): ``[trial tag, donor tag, trial step, donor step, donor config, new
config]``. Read backwards along the chain of tags, as Ray's ``PopulationBasedTrainingReplay`` reads
it, that gives the values the lineage started with and the values it changed to after each step.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hpo.errors import ConfigError
from hpo.layout import PBT_POLICY_FILE
from hpo.options import PBT_PERTURBABLE
from hpo.params import plain_value


def read_schedule(experiment_dir: Path, trial_id: str) -> tuple[dict[str, Any], list[dict[str, Any]]] | None:
    """``(initial params, schedule)`` of a trial PBT exploited at least once; None for one it never changed.

    The schedule is ``[{"evaluation": n, "params": {key: value}}]``: after its n-th evaluation the
    lineage continued with these values (only the keys PBT changes, and only where they changed).

    Raises:
        ConfigError: a policy file that is not Ray Tune's format.
    """
    path = Path(experiment_dir) / PBT_POLICY_FILE.format(trial_id=trial_id)
    if not path.is_file():
        return None
    try:
        rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        chain: list[tuple[int, dict[str, Any]]] = []
        initial, last_donor = None, None
        for trial_tag, donor_tag, _step, donor_step, donor_config, new_config in reversed(rows):
            if last_donor is not None and trial_tag != last_donor:
                break  # an earlier change that a later copy overwrote
            last_donor, initial = donor_tag, donor_config
            chain.append((int(donor_step), new_config))
    except (ValueError, TypeError) as exc:
        raise ConfigError(str(path), f"not a Ray Tune PBT policy file: {exc}") from None
    if initial is None:
        return None
    schedule, current = [], {key: plain_value(value) for key, value in initial.items()}
    for step, config in reversed(chain):
        changed = {key: plain_value(config[key]) for key in PBT_PERTURBABLE if key in config and plain_value(config[key]) != current.get(key)}
        current.update(changed)
        if changed:
            schedule.append({"evaluation": step, "params": changed})
    return {key: plain_value(value) for key, value in initial.items()}, schedule
