"""Hydra composition and the schema: user input in, plain checked dicts out, before Ray starts."""
