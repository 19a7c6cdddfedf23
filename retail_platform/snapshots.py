"""Read-only copies of the marts, to query while the platform runs (embedded DuckDB).

A DuckDB file has one writer, and while a process holds it open for writing no other
process can even read it: a notebook left open on the warehouse would stop the
pipeline, and the pipeline would lock the notebook out. So after each dbt build the
marts it built are published next to the file as Parquet, and `retail-sim query` reads
those files, never the warehouse. StarRocks is a server: readers query it directly.

A build rewrites a batch's rows, not the history, so neither does publishing: each
mart is a base file and the deltas written after it, each delta holding the rows of
the keys (a customer, a day) that builds rewrote since the last one (dbt's `_stamp`:
dbt_project/macros/incremental.sql), a key that vanished as a tombstone. A reader
takes, per key, the rows of the newest file holding it. When the deltas add up to a
quarter of the base, the next publication writes a new base instead, so the copies
cost a constant share of each batch's rows and reads stay quick. Which key and which
stamps: the mart's own, as its data tests scope them (`Mart.from_node`).

Every file is written under a temporary name and never changed; a mart's manifest
(`<mart>.json`, renamed over the last one) lists its files, so a reader sees one
publication or the next, never part of one.

No Dagster import here: `retail-sim` stays light.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCHEMA = "marts"
# A new base once the deltas since the last one hold this share of its rows: rewriting
# the base then costs, spread over the batches before it, a few times a batch's rows.
COMPACT_SHARE = 0.25
READ_TRIES = 3  # a reader racing a compaction finds a file gone: it reads the new manifest
_IDENTIFIER = r"[a-z_][a-z0-9_]{0,63}"
_NAME = re.compile(rf"^{_IDENTIFIER}$")
_QUALIFIED = re.compile(rf"^{_IDENTIFIER}\.{_IDENTIFIER}$")


@dataclass(frozen=True)
class Mart:
    """How one mart is published: `key` names what a row belongs to (a reader takes each
    key's rows from the newest file); `stamped_by` is the table (`schema.name`) whose
    `_stamp` says which keys a build rewrote (the mart itself when it has `_stamp`);
    `deletes_by`, where a build can remove all of a key's rows, the table whose stamped
    rows name the keys it may have removed (a tombstone is published for those left
    without rows)."""

    table: str
    key: str
    stamped_by: str | None = None
    deletes_by: str | None = None

    @classmethod
    def from_node(cls, node: Mapping[str, Any], manifest: Mapping[str, Any]) -> Mart:
        """From a mart's manifest entry: the key and stamps its data tests are scoped by
        (`meta.batch_scope`: macros/batch_scope.sql), else its `unique_key` and its own
        `_stamp`; `meta.publish.deletes_by` where a build can remove a key's rows. Those
        name models of the same project, found in `manifest` (their schema and table)."""
        config = node["config"]
        meta = config.get("meta") or {}
        scope = meta.get("batch_scope") or {}

        def table_of(model: str | None) -> str | None:
            if model is None:
                return None
            found = manifest["nodes"][f"model.{node['package_name']}.{model}"]
            return f"{found['schema']}.{found['alias']}"

        return cls(
            node["alias"],
            scope.get("key") or config["unique_key"],
            table_of(scope.get("stamped_by")),
            table_of((meta.get("publish") or {}).get("deletes_by")),
        )

    def __post_init__(self) -> None:
        for name in (self.table, self.key):
            if not _NAME.match(name):
                raise ValueError(f"not a table or column name: {name!r}")
        for table in (self.stamped_by, self.deletes_by):
            if table is not None and not _QUALIFIED.match(table):
                raise ValueError(f"not a schema.table name: {table!r}")

    @property
    def relation(self) -> str:
        return f"{SCHEMA}.{self.table}"

    @property
    def stamps(self) -> str:
        return self.stamped_by or self.relation


def snapshot_dir(warehouse_file: Path) -> Path:
    """Where the marts of this warehouse file are published (beside it)."""
    return warehouse_file.with_name(f"{warehouse_file.stem}.marts")


def publish(con: Any, marts: Sequence[Mart], folder: Path) -> None:
    """Publish each mart's rows rewritten since its last publication (or a new base)."""
    folder.mkdir(parents=True, exist_ok=True)
    for mart in marts:
        _publish_one(con, mart, folder)


def _publish_one(con: Any, mart: Mart, folder: Path) -> None:
    manifest_file = folder / f"{mart.table}.json"
    manifest = _read_json(manifest_file)
    since = (manifest or {}).get("stamp")
    if since is None or manifest["key"] != mart.key:
        (newest,) = con.execute(
            f"select cast(max(_stamp) as varchar) from {mart.stamps}"
        ).fetchone()
        return _write_base(con, mart, folder, manifest, newest)
    # In one statement, each part by a range of stamps the warehouse prunes by (the
    # history's row groups hold older ones): the newest stamp, whether a row as old as
    # the last publication is left, and the keys stamped since.
    last = f"cast('{since}' as timestamp)"
    touched = f"select {mart.key} from {mart.stamps} where _stamp > {last}"
    if mart.deletes_by:
        touched += f" union select {mart.key} from {mart.deletes_by} where _stamp > {last}"
    newest, kept, keys = con.execute(
        f"select cast(max(_stamp) as varchar), "
        f"exists (select 1 from {mart.stamps} where _stamp <= {last}), "
        f"(select list(distinct k) from ({touched}) as touched (k)) "
        f"from {mart.stamps} where _stamp >= {last}"
    ).fetchone()
    if not kept:
        # Every row rewritten (a first build, a --full-refresh): keys the old rows held
        # may be gone, and no stamp says which.
        return _write_base(con, mart, folder, manifest, newest)
    newest = newest or since  # the rows of the newest stamp may all be gone since
    if not keys:
        if newest != since:
            _write_manifest(manifest_file, {**manifest, "stamp": newest})
        return None
    # Each key's rows; a key left without rows, once, as a tombstone.
    delta = _write_part(
        con,
        folder,
        mart,
        f"select coalesce(m.{mart.key}, keys.k) as {mart.key}, m.* exclude ({mart.key}), "
        f"m.{mart.key} is null as _deleted "
        f"from (select unnest(?) as k) as keys left join {mart.relation} as m on m.{mart.key} = keys.k",
        [keys],
    )
    parts = [*manifest["parts"], delta]
    if sum(part["rows"] for part in parts[1:]) > COMPACT_SHARE * max(parts[0]["rows"], 1):
        return _write_base(con, mart, folder, {**manifest, "parts": parts}, newest)
    return _write_manifest(manifest_file, {**manifest, "stamp": newest, "parts": parts})


def _write_base(
    con: Any, mart: Mart, folder: Path, old: dict[str, Any] | None, newest: str | None
) -> None:
    base = _write_part(con, folder, mart, f"select *, false as _deleted from {mart.relation}")
    _write_manifest(
        folder / f"{mart.table}.json", {"key": mart.key, "stamp": newest, "parts": [base]}
    )
    for part in (old or {}).get("parts", []):
        (folder / part["file"]).unlink(missing_ok=True)
    (folder / f"{mart.table}.parquet").unlink(missing_ok=True)  # a copy of the older layout


def _write_part(
    con: Any, folder: Path, mart: Mart, select: str, parameters: list[Any] | None = None
) -> dict[str, Any]:
    name = f"{mart.table}.{uuid.uuid4().hex[:12]}.parquet"
    tmp = folder / f".{name}.tmp"
    try:
        (rows,) = con.execute(f"copy ({select}) to '{tmp}' (format parquet)", parameters).fetchone()
        os.replace(tmp, folder / name)
    finally:
        tmp.unlink(missing_ok=True)
    return {"file": name, "rows": rows}


def _write_manifest(path: Path, manifest: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    tmp.write_text(json.dumps(manifest))
    os.replace(tmp, path)


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None


def create_views(con: Any, folder: Path) -> list[str]:
    """Create `marts.<table>` over the published files of each mart, on `con`; return
    the marts found. Each view reads one publication: call again to see a newer one."""
    names = []
    con.execute(f"create schema if not exists {SCHEMA}")
    for path in sorted(folder.glob("*.json")):
        manifest = _read_json(path)
        if not _NAME.match(path.stem) or manifest is None:
            continue
        files = [str(folder / part["file"]) for part in manifest["parts"]]
        if len(files) == 1:
            body = f"select * exclude (_deleted) from read_parquet('{files[0]}')"
        else:
            parts = " union all by name ".join(
                f"select *, {i} as _part from read_parquet('{file}')"
                for i, file in enumerate(files)
            )
            body = (
                f"select * exclude (_part, _deleted) from (select * from ({parts}) "
                f"qualify _part = max(_part) over (partition by {manifest['key']})) "
                "where not _deleted"
            )
        con.execute(f"create or replace view {SCHEMA}.{path.stem} as {body}")
        names.append(path.stem)
    return names


def query(sql: str, folder: Path) -> tuple[list[str], list[tuple]]:
    """Run `sql` over the published marts (as `marts.<table>`) in an in-memory DuckDB."""
    import duckdb

    for attempt in range(READ_TRIES):
        con = duckdb.connect()
        try:
            if not create_views(con, folder):
                raise FileNotFoundError(
                    f"no published marts in {folder}: they appear after the first dbt build "
                    "(make dev, then turn on the generate schedule, or make check)"
                )
            cursor = con.execute(sql)
            columns = [d[0] for d in cursor.description or ()]
            return columns, cursor.fetchall()
        except duckdb.IOException:
            if attempt == READ_TRIES - 1:
                raise
        finally:
            con.close()
    raise AssertionError("unreachable")
