"""The search space (YAML to Ray Tune and Optuna), the searcher registry and the scheduler registry."""
