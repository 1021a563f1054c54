"""Test helpers that are not shipped with hpo (the W&B offline reader)."""
