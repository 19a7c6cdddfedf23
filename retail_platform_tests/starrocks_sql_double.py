"""A loopback stand-in for a StarRocks FE's MySQL port, for dbt-starrocks to build against.

It is a double, not a server: it holds no data and plans nothing. It speaks the MySQL
wire protocol (mysql-mimic does the protocol: handshake, native-password auth, result
sets, error packets), RECORDS every statement it is sent, and answers from a catalog
that it keeps from the DDL it has seen, so that a second `dbt build` finds the
relations of the first and renders its incremental branches for real.

What it enforces (an error packet, as StarRocks would answer, so dbt fails loudly):

- every statement parses with sqlglot's StarRocks dialect, is one statement, and is a
  kind the double knows (no silent fallback to an unparsed "command");
- no statement contains a construct of the `rejects` patterns it is given (the
  STARROCKS_REJECTS / DUCKDB_ONLY lists of test_dbt_starrocks_sql.py);
- the user and password given;
- the catalog: CREATE of something that exists (without IF NOT EXISTS), DROP/ALTER/
  INSERT/DELETE/DESC of something that does not, a read of a table or view that does
  not exist, a column that none of a query's tables has (sqlglot's qualifier), INSERT
  column lists that the target lacks or whose length differs from the SELECT's;
- a PROPERTIES clause holds at least one `'key' = 'value'` pair of quoted strings
  (StarRocks.g4: `properties : PROPERTIES '(' property (',' property)* ')'`,
  `property : key=string '=' value=string`), which sqlglot does not enforce;
- table DDL: key columns (DUPLICATE/PRIMARY/UNIQUE KEY) must exist and be the first
  columns in order ("Key columns must be the first few columns of the schema", FE
  KeysDesc); Primary Key columns not FLOAT/DOUBLE/DECIMAL/JSON when the type is known;
  DISTRIBUTED BY columns must exist;
- DELETE on a table that is not a Primary Key table only with `column op literal`
  conditions joined by AND (=, <>, <, <=, >, >=, IN / NOT IN a list of literals): no
  subquery, no OR, no function (StarRocks DELETE docs).

What it approximates:

- SELECTs over data return no rows: the column names are the query's own (stars
  expanded from the catalog); an aggregate without GROUP BY (a dbt test's `count(*)`)
  returns its one row over no input (count 0, other aggregates NULL);
- column types of CTAS and views come from sqlglot's type annotation: exact for
  casts and raw columns, `unknown` where sqlglot cannot tell (StarRocks would know);
- a view's stored definition is sqlglot's rendering of its SELECT, not the FE's own
  canonical text (dbt-starrocks only compares two of them for equality);
- information_schema holds schemata, tables, columns, views and (empty)
  materialized_views; transactions are no-ops, as they are on StarRocks.
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field

import sqlglot
from mysql_mimic import MysqlServer, ResultColumn, Session
from mysql_mimic.auth import IdentityProvider, NativePasswordAuthPlugin, User
from mysql_mimic.errors import ErrorCode, MysqlError
from mysql_mimic.stream import ConnectionClosed
from mysql_mimic.types import ColumnType
from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.executor import Table as ExecutorTable
from sqlglot.executor import execute as execute_sql
from sqlglot.optimizer.annotate_types import annotate_types
from sqlglot.optimizer.qualify import qualify
from sqlglot.optimizer.simplify import simplify

# What `select current_version()` answers (the profile pins `version`, so dbt does not ask),
# and the MySQL server version a FE announces in its handshake (mysql_server_version).
VERSION = "3.5.14-double"
MYSQL_SERVER_VERSION = "5.1.0"
INTERNAL_CATALOG = "default_catalog"
INFO_SCHEMA = "information_schema"
# MySQL error numbers; StarRocks answers most analysis errors with 1064, as a parse error.
ER_DB_CREATE_EXISTS = 1007
ER_BAD_DB_ERROR = 1049
ER_TABLE_EXISTS_ERROR = 1050
ER_BAD_TABLE_ERROR = 1051
ER_PARSE_ERROR = 1064
ER_NO_SUCH_TABLE = 1146
# The only operators StarRocks' DELETE takes on a table that is not a Primary Key table.
SIMPLE_DELETE_OPS = (exp.EQ, exp.NEQ, exp.LT, exp.LTE, exp.GT, exp.GTE)
# Key column types StarRocks refuses (FE ColumnDef: no FLOAT/DOUBLE key; JSON: STARROCKS.md),
# and the only ones a Primary Key takes (FE KeysDesc: boolean, integers, varchar, date, datetime).
NOT_KEY_TYPES = ("float", "double", "json")
PRIMARY_KEY_TYPES = (
    "boolean", "tinyint", "smallint", "int", "bigint", "largeint", "varchar", "string", "date",
    "datetime",
)  # fmt: skip
_INFO_SCHEMA_COLUMNS = {
    "schemata": ("catalog_name", "schema_name", "default_character_set_name", "sql_path"),
    "tables": (
        "table_catalog", "table_schema", "table_name", "table_type", "engine", "table_rows",
        "create_time", "table_comment",
    ),
    "columns": (
        "table_catalog", "table_schema", "table_name", "column_name", "ordinal_position",
        "column_default", "is_nullable", "data_type", "character_maximum_length",
        "numeric_precision", "numeric_scale", "column_type", "column_key", "extra",
        "column_comment",
    ),
    "views": ("table_catalog", "table_schema", "table_name", "view_definition"),
    "materialized_views": ("table_schema", "table_name"),
}  # fmt: skip


class StarRocksError(Exception):
    """An error the FE would answer with: becomes a MySQL error packet."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Statement:
    """One statement as received, and what the double answered."""

    phase: str | None  # the test's label for the moment (e.g. "first", "incremental")
    connection: int
    sql: str
    kind: str  # e.g. "CREATE TABLE AS", "INSERT", "DELETE", "SELECT", "SET"
    error: str | None  # the error packet's message, None when answered OK


@dataclass
class Column:
    name: str
    type: str  # StarRocks spelling, lower case: "varchar(128)", "datetime", "unknown"
    nullable: bool = True

    @property
    def data_type(self) -> str:
        return self.type.split("(")[0].split("<")[0]


@dataclass
class Relation:
    kind: str  # "TABLE" or "VIEW"
    columns: list[Column]
    ddl: str
    keys_type: str | None = None  # DUPLICATE, PRIMARY, UNIQUE, AGGREGATE
    keys: list[str] = field(default_factory=list)
    distributed_by: list[str] = field(default_factory=list)
    buckets: int | None = None
    properties: dict[str, str] = field(default_factory=dict)
    definition: str | None = None  # a view's SELECT

    def column(self, name: str) -> Column | None:
        return next((c for c in self.columns if c.name.lower() == name.lower()), None)


class StarRocksSqlDouble:
    """Serve on a loopback port (a thread of its own); see the module docstring."""

    def __init__(
        self,
        *,
        rejects: Mapping[str, re.Pattern[str]],
        user: str = "root",
        password: str = "",
    ) -> None:
        self.rejects = dict(rejects)
        self.user, self.password = user, password
        self.databases: dict[str, dict[str, Relation]] = {INFO_SCHEMA: {}}
        self.statements: list[Statement] = []
        self.phase: str | None = None
        self._lock = threading.RLock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: MysqlServer | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    # -- control --------------------------------------------------------------------------

    def start(self) -> StarRocksSqlDouble:
        started = threading.Event()

        def serve() -> None:
            self._loop = asyncio.new_event_loop()
            self._loop.set_exception_handler(_quiet_about_hangups)
            self._server = MysqlServer(
                session_factory=lambda: _RecordingSession(self),
                identity_provider=_OneUser(self.user, self.password),
            )
            self._loop.run_until_complete(self._server.start_server(host="127.0.0.1", port=0))
            self.port = self._server.sockets()[0].getsockname()[1]
            started.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=serve, name="starrocks-sql-double", daemon=True)
        self._thread.start()
        if not started.wait(10):
            raise RuntimeError("the StarRocks SQL double did not start")
        return self

    def stop(self) -> None:
        if self._loop is None or self._server is None:
            return

        async def close() -> None:
            self._server.close()  # no new connections; end the open ones (clients may linger)
            others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in others:
                task.cancel()
            await asyncio.gather(*others, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def relation(self, database: str, name: str) -> Relation | None:
        return self.databases.get(database, {}).get(name)

    def received(self, phase: str | None = None) -> list[Statement]:
        with self._lock:
            return [s for s in self.statements if phase is None or s.phase == phase]

    # -- one statement ----------------------------------------------------------------------

    def handle(self, connection: int, database: str | None, sql: str):
        """Answer `sql`: (kind, (rows, columns) or None for OK), or raise StarRocksError.

        Records it, except a statement left to mysql-mimic's session (SET, USE, COMMIT
        ...: the result is `PASS_ON`), which the session records once it has answered.
        """
        kind = "?"
        with self._lock:
            try:
                expression = self._parse(sql)
                kind = _kind(expression)
                result = self._execute(expression, _internal(database))
            except StarRocksError as exc:
                self.record(connection, sql, kind, str(exc))
                raise
            if result is not PASS_ON:
                self.record(connection, sql, kind, None)
            return kind, result

    def record(self, connection: int, sql: str, kind: str, error: str | None) -> None:
        with self._lock:
            self.statements.append(Statement(self.phase, connection, sql, kind, error))

    def _parse(self, sql: str) -> exp.Expression:
        found = sorted(label for label, pattern in self.rejects.items() if pattern.search(sql))
        if found:
            raise StarRocksError(ER_PARSE_ERROR, f"StarRocks rejects or misreads: {found}")
        _check_properties_clauses(sql)
        try:
            expressions = [e for e in sqlglot.parse(sql, read="starrocks") if e is not None]
        except SqlglotError as exc:
            raise StarRocksError(ER_PARSE_ERROR, str(exc).splitlines()[0]) from None
        if len(expressions) != 1:
            raise StarRocksError(ER_PARSE_ERROR, f"one statement per query, got {len(expressions)}")
        (expression,) = expressions
        if isinstance(expression, exp.Command):
            # sqlglot's fallback for syntax it does not know: not parsed, so not checked.
            raise StarRocksError(ER_PARSE_ERROR, f"not parsed as StarRocks SQL: {sql[:80]!r}")
        return _strip_internal_catalog(expression)

    def _execute(self, expression: exp.Expression, database: str | None):
        if isinstance(expression, exp.Select | exp.SetOperation | exp.Subquery):
            if _reads_information_schema(expression):
                return self._information_schema(expression)
            return self._select(expression, database)
        if isinstance(expression, exp.Create):
            return self._create(expression, database)
        if isinstance(expression, exp.Drop):
            return self._drop(expression, database)
        if isinstance(expression, exp.Alter):
            return self._alter(expression, database)
        if isinstance(expression, exp.Insert):
            return self._insert(expression, database)
        if isinstance(expression, exp.Delete):
            return self._delete(expression, database)
        if isinstance(expression, exp.Describe):
            return self._describe(expression, database)
        if isinstance(expression, exp.Show) and expression.name.upper() == "DATABASES":
            return [(name,) for name in sorted(self.databases)], ["Database"]
        if isinstance(expression, exp.Set | exp.Use | exp.Commit | exp.Rollback | exp.Transaction):
            return PASS_ON  # mysql-mimic's session keeps variables and the current database
        raise StarRocksError(ER_PARSE_ERROR, f"the double does not know {_kind(expression)}")

    # -- catalog statements ----------------------------------------------------------------------

    def _create(self, create: exp.Create, database: str | None):
        kind = create.kind.upper()
        exists_ok = bool(create.args.get("exists"))
        if kind in ("DATABASE", "SCHEMA"):
            name = create.this.name
            if name in self.databases:
                if exists_ok:
                    return None
                raise StarRocksError(
                    ER_DB_CREATE_EXISTS, f"Can't create database '{name}'; database exists"
                )
            self.databases[name] = {}
            return None
        if kind not in ("TABLE", "VIEW"):
            raise StarRocksError(ER_PARSE_ERROR, f"the double does not know CREATE {kind}")
        if create.args.get("replace") and kind == "TABLE":
            raise StarRocksError(
                ER_PARSE_ERROR, "CREATE OR REPLACE: StarRocks 3.5 has none for tables"
            )
        target = create.this.this if isinstance(create.this, exp.Schema) else create.this
        db, name = self._place(target, database)
        if name in self.databases[db]:
            if exists_ok:
                return None
            raise StarRocksError(ER_TABLE_EXISTS_ERROR, f"Table '{name}' already exists")
        ddl = create.sql(dialect="starrocks")
        query = create.expression
        if kind == "VIEW":
            columns = self._output_columns(query, database)
            self.databases[db][name] = Relation(
                "VIEW", columns, ddl, definition=query.sql(dialect="starrocks")
            )
            return None
        if isinstance(create.this, exp.Schema):
            columns = [
                Column(
                    d.name,
                    d.args["kind"].sql(dialect="starrocks").lower(),
                    not any(
                        isinstance(c.args.get("kind"), exp.NotNullColumnConstraint)
                        for c in d.args.get("constraints") or []
                    ),
                )
                for d in create.this.expressions
                if isinstance(d, exp.ColumnDef)
            ]
        elif query is not None:
            columns = self._output_columns(query, database)
        else:
            raise StarRocksError(ER_PARSE_ERROR, "CREATE TABLE without columns or AS SELECT")
        table = Relation("TABLE", columns, ddl)
        for prop in (create.args.get("properties") or exp.Properties()).expressions:
            if isinstance(prop, exp.DuplicateKeyProperty):
                table.keys_type, table.keys = "DUPLICATE", [i.name for i in prop.expressions]
            elif isinstance(prop, exp.PrimaryKey):
                table.keys_type, table.keys = "PRIMARY", [i.name for i in prop.expressions]
            elif isinstance(prop, exp.UniqueKeyProperty):
                table.keys_type, table.keys = "UNIQUE", [i.name for i in prop.expressions]
            elif isinstance(prop, exp.DistributedByProperty):
                table.distributed_by = [i.name for i in prop.expressions]
                buckets = prop.args.get("buckets")
                table.buckets = int(buckets.name) if buckets is not None else None
            elif isinstance(prop, exp.Property):
                table.properties[prop.name] = prop.text("value")
        _check_table_layout(name, table)
        self.databases[db][name] = table
        return None

    def _drop(self, drop: exp.Drop, database: str | None):
        kind = drop.args["kind"].upper()
        exists_ok = bool(drop.args.get("exists"))
        targets = drop.args.get("tables") or [drop.this]
        if kind in ("DATABASE", "SCHEMA"):
            for target in targets:
                name = target.name or target.db  # `drop schema db` parses as a table's db
                if name not in self.databases and not exists_ok:
                    raise StarRocksError(ER_BAD_DB_ERROR, f"Unknown database '{name}'")
                self.databases.pop(name, None)
            return None
        if kind not in ("TABLE", "VIEW"):
            raise StarRocksError(ER_PARSE_ERROR, f"the double does not know DROP {kind}")
        for target in targets:
            db, name = self._place(target, database)
            relation = self.databases[db].get(name)
            if relation is None:
                if exists_ok:
                    continue
                raise StarRocksError(ER_BAD_TABLE_ERROR, f"Unknown table '{db}.{name}'")
            del self.databases[db][name]
        return None

    def _alter(self, alter: exp.Alter, database: str | None):
        db, name = self._existing(alter.this, database)
        for action in alter.args.get("actions") or []:
            if isinstance(action, exp.AlterRename):
                new_db, new_name = self._place(action.this, db)
                if new_name in self.databases[new_db]:
                    raise StarRocksError(
                        ER_TABLE_EXISTS_ERROR, f"Table '{new_name}' already exists"
                    )
                self.databases[new_db][new_name] = self.databases[db].pop(name)
            elif isinstance(action, exp.SwapTable):
                other_db, other = self._existing(action.this, db)
                tables = self.databases[db]
                tables[name], self.databases[other_db][other] = (
                    self.databases[other_db][other],
                    tables[name],
                )
            else:
                raise StarRocksError(ER_PARSE_ERROR, f"the double does not know ALTER {action.key}")
        return None

    def _describe(self, describe: exp.Describe, database: str | None):
        db, name = self._existing(describe.this, database)
        relation = self.databases[db][name]
        rows = [
            (
                c.name, c.type, "YES" if c.nullable else "NO",
                "true" if c.name in relation.keys else "false", None, "",
            )
            for c in relation.columns
        ]  # fmt: skip
        return rows, _text_columns("Field", "Type", "Null", "Key", "Default", "Extra")

    # -- data statements ----------------------------------------------------------------------

    def _insert(self, insert: exp.Insert, database: str | None):
        target = insert.this.this if isinstance(insert.this, exp.Schema) else insert.this
        db, name = self._existing(target, database)
        table = self.databases[db][name]
        if table.kind != "TABLE":
            raise StarRocksError(ER_PARSE_ERROR, f"'{name}' is not a table: cannot insert into it")
        named = (
            [i.name for i in insert.this.expressions] if isinstance(insert.this, exp.Schema) else []
        )
        missing = [n for n in named if table.column(n) is None]
        if missing:
            raise StarRocksError(ER_PARSE_ERROR, f"Unknown column(s) {missing} in '{name}'")
        wanted = len(named) if named else len(table.columns)
        if isinstance(insert.expression, exp.Values):  # VALUES (...), (...): each row's length
            counts = {len(row.expressions) for row in insert.expression.expressions}
        else:
            counts = {len(self._output_columns(insert.expression, database))}
        if counts != {wanted}:
            raise StarRocksError(
                ER_PARSE_ERROR,
                f"Column count doesn't match value count: {wanted} columns, "
                f"{' or '.join(map(str, sorted(counts)))} values",
            )
        return None

    def _delete(self, delete: exp.Delete, database: str | None):
        db, name = self._existing(delete.this, database)
        table = self.databases[db][name]
        where = delete.args.get("where")
        if where is None:
            raise StarRocksError(ER_PARSE_ERROR, "DELETE needs a WHERE clause")
        for column in where.find_all(exp.Column):
            if column.find_ancestor(exp.Select) is None and table.column(column.name) is None:
                raise StarRocksError(ER_PARSE_ERROR, f"Unknown column '{column.name}' in '{name}'")
        for select in where.find_all(exp.Select):
            self._output_columns(select, database)  # the subqueries' tables and columns exist
        if table.keys_type != "PRIMARY":
            for condition in _conjuncts(where.this):
                if not _simple_delete_condition(condition):
                    raise StarRocksError(
                        ER_PARSE_ERROR,
                        f"DELETE on a {table.keys_type or 'non-Primary Key'} table takes only "
                        f"`column op literal` conditions joined by AND, not: {condition.sql('starrocks')}",
                    )
        return None

    def _select(self, query: exp.Expression, database: str | None):
        columns = self._output_columns(query, database)
        names = [c.name for c in columns]
        if isinstance(query, exp.Select) and (
            not query.args.get("from_") or _aggregates_all(query)
        ):
            # no FROM, or an aggregate without GROUP BY: one row, even over no data
            return [tuple(_value_over_no_rows(p) for p in query.expressions)], names
        return [], names

    # -- information_schema ----------------------------------------------------------------------

    def _information_schema(self, query: exp.Expression):
        tables = {
            INFO_SCHEMA: {
                name: ExecutorTable(columns) for name, columns in _INFO_SCHEMA_COLUMNS.items()
            }
        }
        info = tables[INFO_SCHEMA]
        for db, relations in sorted(self.databases.items()):
            info["schemata"].append(("def", db, "utf8", None))
            for name, relation in sorted(relations.items()):
                info["tables"].append(
                    (
                        "def", db, name, "BASE TABLE" if relation.kind == "TABLE" else "VIEW",
                        "StarRocks" if relation.kind == "TABLE" else None, 0, None, "",
                    )
                )  # fmt: skip
                if relation.kind == "VIEW":
                    info["views"].append(("def", db, name, relation.definition))
                for position, c in enumerate(relation.columns, 1):
                    length = re.search(r"^(?:var)?char\((\d+)\)", c.type)
                    info["columns"].append(
                        (
                            "def", db, name, c.name, position, None,
                            "YES" if c.nullable else "NO", c.data_type,
                            int(length.group(1)) if length else (65533 if c.data_type == "varchar" else None),
                            None, None, c.type, "", "", "",
                        )
                    )  # fmt: skip
        schema = {
            INFO_SCHEMA: {
                name: dict.fromkeys(columns, "text")
                for name, columns in _INFO_SCHEMA_COLUMNS.items()
            }
        }
        try:
            result = execute_sql(query, schema=schema, tables=tables)
        except SqlglotError as exc:
            raise StarRocksError(ER_PARSE_ERROR, f"information_schema: {exc}") from None
        return [tuple(row) for row in result.rows], list(result.columns)

    # -- helpers -----------------------------------------------------------------------------

    def _place(self, table: exp.Table, database: str | None) -> tuple[str, str]:
        db = table.db or database
        if not db:
            raise StarRocksError(ErrorCode.NO_DB_ERROR, "No database selected")
        if db not in self.databases:
            raise StarRocksError(ER_BAD_DB_ERROR, f"Unknown database '{db}'")
        return db, table.name

    def _existing(self, table: exp.Table, database: str | None) -> tuple[str, str]:
        db, name = self._place(table, database)
        if name not in self.databases[db]:
            raise StarRocksError(ER_NO_SUCH_TABLE, f"Unknown table '{db}.{name}'")
        return db, name

    def _schema(self) -> dict:
        return {
            db: {name: {c.name: c.type for c in r.columns} for name, r in rels.items()}
            for db, rels in self.databases.items()
            if db != INFO_SCHEMA
        }

    def _output_columns(self, query: exp.Expression, database: str | None) -> list[Column]:
        """The columns `query` returns, after checking that what it reads exists."""
        query = query.this if isinstance(query, exp.Subquery) else query
        ctes = {cte.alias_or_name for cte in query.find_all(exp.CTE)}
        for table in query.find_all(exp.Table):
            if table.name and not table.db and table.name in ctes:
                continue
            if isinstance(table.this, exp.Func | exp.Unnest) or not table.name:
                continue  # a table function (unnest, generate_series)
            self._existing(table, database)
        try:
            qualified = qualify(
                query.copy(),
                schema=self._schema(),
                db=database,
                dialect="starrocks",
                validate_qualify_columns=True,
                quote_identifiers=False,
            )
            annotated = annotate_types(qualified, schema=self._schema(), dialect="starrocks")
        except SqlglotError as exc:
            raise StarRocksError(ER_PARSE_ERROR, f"Getting analyzing error: {exc}") from None
        selects = annotated
        while isinstance(selects, exp.SetOperation):
            selects = selects.this
        return [
            Column(projection.alias_or_name, _starrocks_type(projection.type))
            for projection in selects.expressions
        ]


# Statements mysql-mimic's own session handles (SET, USE, COMMIT ...).
PASS_ON = object()


class _RecordingSession(Session):
    dialect = "starrocks"

    def __init__(self, double: StarRocksSqlDouble) -> None:
        super().__init__()
        self.double = double
        self.variables.set("version", MYSQL_SERVER_VERSION, force=True)

    async def handle_query(self, sql: str, attrs: dict[str, str]):
        connection = self.connection.connection_id
        try:
            kind, result = self.double.handle(connection, self.database, sql)
        except StarRocksError as exc:
            raise MysqlError(str(exc), code=exc.code) from None
        if result is not PASS_ON:
            return result
        try:
            result = await super().handle_query(sql, attrs)
        except MysqlError as exc:
            self.double.record(connection, sql, kind, exc.msg)
            raise
        self.double.record(connection, sql, kind, None)
        return result

    async def use(self, database: str) -> None:
        if _internal(database) not in self.double.databases:
            raise MysqlError(f"Unknown database '{database}'", code=ER_BAD_DB_ERROR)
        self.database = database


class _OneUser(IdentityProvider):
    def __init__(self, user: str, password: str) -> None:
        self.user = User(
            name=user,
            auth_string=NativePasswordAuthPlugin.create_auth_string(password) if password else None,
            auth_plugin=NativePasswordAuthPlugin.name,
        )

    async def get_user(self, username: str) -> User | None:
        return self.user if username == self.user.name else None


def _internal(database: str | None) -> str | None:
    """dbt-starrocks connects with `default_catalog.<db>`: the database is the last part."""
    if database and database.startswith(f"{INTERNAL_CATALOG}."):
        return database[len(INTERNAL_CATALOG) + 1 :]
    return database or None


def _strip_internal_catalog(expression: exp.Expression) -> exp.Expression:
    def strip(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Table) and node.catalog == INTERNAL_CATALOG:
            node.set("catalog", None)
        return node

    return expression.transform(strip)


def _reads_information_schema(query: exp.Expression) -> bool:
    dbs = {t.db.lower() for t in query.find_all(exp.Table) if t.name}
    return bool(dbs) and dbs <= {INFO_SCHEMA}


def _kind(expression: exp.Expression) -> str:
    if isinstance(expression, exp.Create):
        kind = expression.kind.upper()
        if kind == "TABLE" and expression.expression is not None:
            return "CREATE TABLE AS"
        return f"CREATE {kind}"
    if isinstance(expression, exp.Drop | exp.Alter):
        return f"{expression.key.upper()} {expression.args['kind'].upper()}"
    if isinstance(expression, exp.Select | exp.SetOperation | exp.Subquery):
        return "SELECT information_schema" if _reads_information_schema(expression) else "SELECT"
    return expression.key.upper()


def _text_columns(*names: str) -> list[ResultColumn]:
    return [ResultColumn(name, ColumnType.VAR_STRING) for name in names]


def _check_table_layout(name: str, table: Relation) -> None:
    names = [c.name.lower() for c in table.columns]
    for i, key in enumerate(table.keys):
        if key.lower() not in names:
            raise StarRocksError(ER_PARSE_ERROR, f"Key column({key}) doesn't exist.")
        if names[i] != key.lower():
            raise StarRocksError(
                ER_PARSE_ERROR,
                f"{name}: Key columns must be the first few columns of the schema and the order "
                f"of the key columns must be consistent with the order of the schema "
                f"(keys {table.keys}, columns {names[: len(table.keys)]})",
            )
        column = table.columns[i]
        if column.data_type in NOT_KEY_TYPES or (
            table.keys_type == "PRIMARY"
            and column.data_type not in (*PRIMARY_KEY_TYPES, "unknown")  # unknown: not judged
        ):
            raise StarRocksError(
                ER_PARSE_ERROR,
                f"{table.keys_type} key column[{key}] type not supported: {column.type}",
            )
        if table.keys_type == "PRIMARY":
            column.nullable = False  # FE: setPrimaryKeyNonNullable
    for column in table.distributed_by:
        if column.lower() not in names:
            raise StarRocksError(ER_PARSE_ERROR, f"Distribution column({column}) doesn't exist.")


# StarRocks.g4's `string` (SINGLE_QUOTED_TEXT | DOUBLE_QUOTED_TEXT), and its `properties` rule.
_STRING = r"""(?:'(?:[^'\\]|\\.|'')*'|"(?:[^"\\]|\\.|"")*")"""
_PROPERTY = rf"\s*{_STRING}\s*=\s*{_STRING}\s*"
_PROPERTIES_LIST = re.compile(rf"{_PROPERTY}(?:,{_PROPERTY})*\)")
_PROPERTIES_START = re.compile(r"\bproperties\s*\(", re.I)
_QUOTED = re.compile(rf"{_STRING}|`[^`]*`")


def _check_properties_clauses(sql: str) -> None:
    """Each `PROPERTIES (` (outside quotes) opens one or more `'k' = 'v'` pairs and closes."""
    unquoted = _QUOTED.sub(lambda m: " " * len(m.group()), sql)
    for start in _PROPERTIES_START.finditer(unquoted):
        if not _PROPERTIES_LIST.match(sql, start.end()):
            rest = sql[start.end() :].lstrip()
            found = rest[:1] or "<EOF>"
            raise StarRocksError(
                ER_PARSE_ERROR,
                f"Getting syntax error at PROPERTIES: mismatched input '{found}' expecting "
                "{SINGLE_QUOTED_TEXT, DOUBLE_QUOTED_TEXT} (a PROPERTIES list needs at least "
                "one 'key' = 'value')",
            )


def _conjuncts(condition: exp.Expression) -> list[exp.Expression]:
    condition = condition.unnest()
    if isinstance(condition, exp.And):
        return _conjuncts(condition.left) + _conjuncts(condition.right)
    return [condition]


def _simple_delete_condition(condition: exp.Expression) -> bool:
    if isinstance(condition, exp.Not) and isinstance(condition.this, exp.In):
        condition = condition.this
    if isinstance(condition, exp.In):
        return (
            isinstance(condition.this, exp.Column)
            and not condition.args.get("query")
            and all(isinstance(v, exp.Literal) for v in condition.expressions)
        )
    return (
        isinstance(condition, SIMPLE_DELETE_OPS)
        and isinstance(condition.left, exp.Column)
        and isinstance(condition.right, exp.Literal)
    )


def _aggregates_all(select: exp.Select) -> bool:
    return not select.args.get("group") and all(
        p.find(exp.AggFunc) is not None and p.find(exp.Window) is None for p in select.expressions
    )


def _value_over_no_rows(projection: exp.Expression):
    """The value of a projection with no input rows: count() is 0, other aggregates NULL."""

    def empty(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.CurrentVersion):
            return exp.Literal.string(VERSION)
        if isinstance(node, exp.Count):
            return exp.Literal.number(0)
        if isinstance(node, exp.AggFunc):
            return exp.Null()
        return node

    value = simplify(projection.unalias().copy().transform(empty))
    if isinstance(value, exp.Boolean):
        return int(value.this)
    if isinstance(value, exp.Literal):
        return value.to_py()
    return None


def _starrocks_type(data_type: exp.DataType | None) -> str:
    if data_type is None or data_type.is_type(exp.DataType.Type.UNKNOWN, exp.DataType.Type.NULL):
        return "unknown"
    return data_type.sql(dialect="starrocks").lower()


def _quiet_about_hangups(loop: asyncio.AbstractEventLoop, context: dict) -> None:
    """A client that hangs up mid-handshake, or a connection that `stop()` ended, is not
    an error of the double's."""
    exception = context.get("exception")
    if not isinstance(exception, asyncio.CancelledError | ConnectionClosed):
        loop.default_exception_handler(context)
