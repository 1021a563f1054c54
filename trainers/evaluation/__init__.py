"""Scoring a model: metrics (evaluate modules shipped in metric_modules/), predictions, early stopping."""
