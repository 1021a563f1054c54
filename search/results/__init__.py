"""A finished sweep folder read once: export, manifest, report, ensemble, W&B summary."""
