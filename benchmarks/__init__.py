"""Benchmarks of hpo: each module has a ``main(argv)`` and writes JSON and Markdown to results/."""
