"""Rows loaded twice: in raw (by load label, against the DuckDB label ledger) and in
the marts (by key). The soak and the chaos run check a warehouse with them."""

from __future__ import annotations

from collections import Counter


def raw_duplicates(con) -> dict[str, int]:
    """Rows loaded more than once.

    A load is a label; the DuckDB ledger (raw._loads) records each label once with its
    row count. Duplicated loading shows as:
    - label_overflow: rows of a label beyond the ledger's count for it (a label loaded twice);
    - unledgered: rows whose label is not in the ledger, though loaded after the oldest
      label it remembers (it forgets labels past the retention window, by design);
    - cross_label: rows whose payload also sits under another label of the same table
      (the same batch loaded again under a second label);
    - batch_logged_twice: simulator batch numbers with more than one log row.
    Identical payloads within ONE load are injected dirt (dirty.py "duplicate"), counted
    apart as `injected_in_load` and not a failure.
    """
    out: Counter = Counter()
    for table in ("raw_customers", "raw_products", "raw_orders"):
        overflow, unledgered = con.execute(
            f"""select coalesce(sum(greatest(r.n - coalesce(l.row_count, 0), 0)) filter (where l.label is not null), 0),
                       coalesce(sum(r.n) filter (where l.label is null
                           and r.loaded >= (select min(loaded_at) from raw._loads)), 0)
                from (select load_label, count(*) n, min(loaded_at) loaded
                      from raw.{table} group by 1) r
                left join raw._loads l on l.label = r.load_label"""
        ).fetchone()
        (cross,) = con.execute(
            f"""select coalesce(sum(n), 0) from (
                    select payload::varchar p, count(*) n, count(distinct load_label) labels
                    from raw.{table} group by 1) where labels > 1"""
        ).fetchone()
        (in_load,) = con.execute(
            f"""select coalesce(sum(n - 1), 0) from (
                    select load_label, payload::varchar p, count(*) n
                    from raw.{table} group by 1, 2) where n > 1"""
        ).fetchone()
        out[f"{table}.label_overflow"] += int(overflow)
        out[f"{table}.unledgered"] += int(unledgered)
        out[f"{table}.cross_label"] += int(cross)
        out[f"{table}.injected_in_load"] += int(in_load)
    (twice,) = con.execute(
        """select count(*) from (select payload->>'batch_no' b from raw.sim_batches
           group by 1 having count(*) > 1)"""
    ).fetchone()
    out["sim_batches.batch_logged_twice"] = int(twice)
    return dict(out)


def mart_duplicates(con) -> dict[str, int]:
    """Rows beyond the first per key in each mart (must all be 0)."""
    keys = {
        "marts.dim_customers": "customer_id",
        "marts.dim_products": "product_id",
        "marts.fact_daily_sales": "order_date, product_id",
    }
    out = {}
    for table, key in keys.items():
        (extra,) = con.execute(
            f"select coalesce(sum(n - 1), 0) from (select {key}, count(*) n from {table} group by all) where n > 1"
        ).fetchone()
        (rows,) = con.execute(f"select count(*) from {table}").fetchone()
        out[table] = (int(extra), int(rows))
    return out
