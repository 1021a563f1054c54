"""hpo's sweep engine: the driver side of a sweep (config → Ray Tune → results → export)."""
