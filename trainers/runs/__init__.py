"""Entry points: a Ray Tune trial, a data-parallel trial, ``hpo train``; each picks its kind of run (fine_tune, cross-validation)."""
