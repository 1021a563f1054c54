"""Entry points: a Ray Tune trial, a data-parallel trial, cross-validation, hpo train."""
