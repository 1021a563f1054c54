"""What runs inside a trial: data, model, training loop, metrics. Takes plain dicts, never Hydra state."""
