"""Benchmarks (`make bench`), the soak (`make soak`) and the chaos run (`make chaos`):
tools that measure the platform, no part of it. Run from the repository root as
`python -m bench.<tool>`, as the Makefile does."""
