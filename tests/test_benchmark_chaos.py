"""The chaos benchmark's report from a result (the kills themselves run in tests/test_faults_e2e.py)."""

from __future__ import annotations

from benchmarks import chaos


def test_the_report_shows_each_invariant_and_whether_the_killed_sweep_matched() -> None:
    result = {
        "settings": {"kills": 2, "trials": 3, "epochs": 2, "seed": 0},
        "killed": {"kills": 2, "wall_s": 60.0, "first_progress_s": [18.0, 20.0, 19.0], "lives": 3},
        "uninterrupted_wall_s": 20.0, "wall_ratio_killed_over_uninterrupted": 3.0,
        "invariants": {"planned_trials": True, "every_evaluation_once": False, "details": {"epochs": {}}},
        "same_configurations": True, "same_winner": False,
        "winner_values": {"uninterrupted": 0.69, "killed": 0.7},
        "environment": {"command": "python -m benchmarks.chaos --kills 2", "commit": "abc1234"},
    }
    table = chaos.markdown(result)
    assert "| planned_trials | yes |" in table and "| every_evaluation_once | **no** |" in table
    assert "details" not in table
    assert "| kills | 0 | 2 |" in table and "| wall (s) | 20.0 | 60.0 (3.0x) |" in table
    assert "Same configurations sampled: yes; same winner: no." in table
    assert "median 19.0 s over 3 starts" in table


def test_configurations_compare_floats_to_six_significant_digits() -> None:
    a = chaos._configuration({"trainer.learning_rate": 6.380556092044461e-05, "trainer.batch_size": 16})
    b = chaos._configuration({"trainer.batch_size": 16, "trainer.learning_rate": 6.3805560920e-05})
    assert a == b and a != chaos._configuration({"trainer.learning_rate": 6.39e-05, "trainer.batch_size": 16})
