"""Benchmarks (`make bench`), the soak (`make soak`) and the chaos run (`make chaos`):
tools that measure the platform, no part of it. Run from the repository root as
`python -m bench.<tool>`, as the Makefile does."""

# The bound on memory: no process of the platform above 2 GiB during an
# incremental build at 10M orders (bench_transform checks dbt, the soak every process).
PEAK_RSS_BOUND_MIB = 2048
