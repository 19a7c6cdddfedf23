# The code location image: the code server, the daemon and the webserver all run it
# (docker-compose.yml, profile "platform"); runs are launched inside the code server's
# container by Dagster's default run launcher. Build: make platform-up.
FROM python:3.12-slim-bookworm

# uv from its official image, pinned to the version that wrote uv.lock; dependencies
# come from the lockfile only.
COPY --from=ghcr.io/astral-sh/uv:0.13.9 /uv /usr/local/bin/uv
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PYTHON=/usr/local/bin/python3.12
WORKDIR /opt/retail

# Dependencies first (cached while only the code changes): Dagster in .venv, dbt in
# .venv-dbt, as `make setup` does (pyproject.toml, group `dbt`).
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --no-install-project \
    && UV_PROJECT_ENVIRONMENT=.venv-dbt uv sync --frozen --only-group dbt

COPY retail_platform ./retail_platform
COPY dbt_project ./dbt_project
COPY instance ./instance
COPY deploy ./deploy
RUN uv sync --frozen --no-dev

# The dbt manifest is built into the image: containers start without parsing dbt.
ARG RETAIL_WAREHOUSE=starrocks
ENV RETAIL_WAREHOUSE=${RETAIL_WAREHOUSE}
RUN .venv/bin/retail-dbt parse --project-dir dbt_project --profiles-dir dbt_project --quiet

# The instance file of every container: instance/dagster.yaml with deploy/dagster.yaml's
# PostgreSQL storage (retail_platform/instance.py; no database at build time).
RUN .venv/bin/python -m retail_platform.instance --file-only /opt/dagster/home deploy/dagster.yaml

# Non-root; dbt writes its per-run target folders under dbt_project/target.
RUN useradd --create-home --uid 10001 retail \
    && chown -R retail /opt/dagster /opt/retail/dbt_project
USER retail
ENV DAGSTER_HOME=/opt/dagster/home \
    PATH=/opt/retail/.venv/bin:$PATH

EXPOSE 4000 3000
# The code server; the daemon and webserver services override the command.
CMD ["dagster", "code-server", "start", "-m", "retail_platform.definitions", "-h", "0.0.0.0", "-p", "4000"]
