"""Soak test: the platform in `dagster dev` with the generate schedule on, then a report.

Starts `dagster dev -w workspace.yaml` on a temporary DAGSTER_HOME (with
instance/dagster.yaml) and a temporary DuckDB warehouse, on a free loopback port; turns the
`generate` schedule on for --minutes; turns it off, lets the automation finish the
last batch, stops the sensors, waits for in-flight runs (bounded), stops dagster dev
(its whole process group), and reports from the instance and the warehouse:

- runs launched per job, runs failed (with their errors), step retries, lock waits;
- asset check evaluations that failed, by check, WARN and ERROR apart;
- duplicate rows in raw and in the marts (bench/duplicates.py);
- freshness latency: for each successful simulator run, from the run's start to the
  first `marts/fact_daily_sales` materialization that includes its rows, i.e. one
  made by a dbt step that started after the simulator's loads committed (the
  simulator step logs `simulator/orders` after its loads and its batch log commit,
  and the incremental models look up unprocessed load labels when they run);
- where each latency's seconds go (sensor, queue, run process start, pool wait, dbt);
- the CPU of the whole process tree, idle and per batch, and each process kind's
  peak RSS against the 2 GiB bound (devtools/cputree.py);
- the footprint besides the warehouse data per batch.

Exit status 1 when any run failed, any ERROR-severity check failed, any duplicate
exists or no freshness sample was measured; 2 when dagster dev could not start.

With --reader, an analyst's connection on the published marts (`retail-sim query`'s
way, snapshots.py) stays open and reads every 5 s throughout; the report adds its
reads and errors, and whether its last read equals the warehouse's last build.

With --warehouse FILE the platform starts on a copy of FILE (a long history, say:
bench/bench_transform.py --workdir keeps its files) instead of an empty warehouse.

    .venv/bin/python -m bench.soak [--minutes 10] [--warehouse FILE] [--port N] [--keep] [--reader]

The modules, in the order a soak uses them: __main__ (the platform under load),
footprint (bytes kept, sampled as it runs), reader (--reader), ledger (runs seen live;
queue waits, CPU), runs (what the instance recorded: latencies, phases), summary
(the report from the instance and the warehouse).
"""
