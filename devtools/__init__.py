"""What the browser test, the soak and the chaos run share; no part of the product.

- `live`: a live platform (`dagster dev`, or `make serve`'s processes) on a temporary
  instance and warehouse, and its GraphQL API;
- `cputree`: CPU seconds of a whole process tree, exited processes included.

Imported from the repository root, which is on `sys.path` under pytest and with
`python -m bench.soak` / `python -m bench.chaos` (the Makefile's way).
"""
