"""The sweep driver (``hpo.search``), in rooms that follow the flow.

``algorithms`` (search space, searchers, schedulers) and ``config`` (compose, schema: user input in,
plain checked dicts out) come first; ``run`` starts Ray and runs the trials; ``results`` reads a
finished sweep folder once and exports, reports and summarises it. ``run`` and ``results`` never
import each other: the CLI ties them together.
"""
