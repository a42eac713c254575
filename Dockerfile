# The project's Airflow image: the official Airflow 3 image plus tpch-elt
# (CLI and steps), the dbt project, the DAG, and the dbt manifest the DAG
# renders from. docker-compose.yml and docker-compose.prod.yml build it; the
# containers run the same commands as `make airflow` (see airflow/stack.py).
#
#   docker build -t tpch-elt-airflow .
ARG AIRFLOW_VERSION=3.3.2
FROM apache/airflow:${AIRFLOW_VERSION}-python3.11
ARG AIRFLOW_VERSION
# The lock the image installs (requirements/, `make lock`): airflow.txt, or
# airflow-snowflake.txt for the snowflake target (dbt-snowflake too).
ARG REQUIREMENTS=requirements/airflow.txt

# Where everything lives; the same layout as a clone of the repository.
ENV TPCH_ELT_HOME=/opt/tpch-elt
ENV TPCH_ELT_PROJECT_DIR=${TPCH_ELT_HOME}/dbt_project \
    TPCH_ELT_DATA_DIR=${TPCH_ELT_HOME}/data \
    TPCH_ELT_DBT_MANIFEST=${TPCH_ELT_HOME}/airflow/dbt_target/manifest.json \
    AIRFLOW__CORE__DAGS_FOLDER=${TPCH_ELT_HOME}/airflow/dags \
    DO_NOT_TRACK=1 \
    SCARF_NO_ANALYTICS=true \
    DBT_SEND_ANONYMOUS_USAGE_STATS=false

# The data directory and the local login's passwords file become named volumes
# in docker-compose.yml: created here so the volumes start owned by airflow.
USER root
RUN mkdir -p "${TPCH_ELT_DATA_DIR}" /opt/airflow/auth \
    && chown -R airflow:0 "${TPCH_ELT_HOME}" /opt/airflow/auth \
    && chmod -R g+rwX "${TPCH_ELT_HOME}" /opt/airflow/auth
USER airflow

# Dependencies first (cached while only the code, the DAG or the models
# change), from the lock with its hashes: the versions the tests ran, nothing
# resolved at build time. The lock pins apache-airflow at this image's
# version, as the image's documentation asks; the build stops if the two
# differ (after changing AIRFLOW_VERSION, change pyproject.toml's airflow
# extra and run `make lock`). pip and the build backend come from build.txt.
COPY --chown=airflow:0 requirements ${TPCH_ELT_HOME}/requirements
RUN grep -q "^apache-airflow==${AIRFLOW_VERSION} " "${TPCH_ELT_HOME}/${REQUIREMENTS}" \
    || { echo "${REQUIREMENTS} does not pin apache-airflow==${AIRFLOW_VERSION}" >&2; exit 1; } \
    && pip install --no-cache-dir --require-hashes -r "${TPCH_ELT_HOME}/requirements/build.txt" \
    && pip install --no-cache-dir --require-hashes -r "${TPCH_ELT_HOME}/${REQUIREMENTS}"
COPY --chown=airflow:0 pyproject.toml README.md ${TPCH_ELT_HOME}/
COPY --chown=airflow:0 src ${TPCH_ELT_HOME}/src
RUN pip install --no-cache-dir --no-deps --no-build-isolation "${TPCH_ELT_HOME}"

COPY --chown=airflow:0 dbt_project ${TPCH_ELT_HOME}/dbt_project
COPY --chown=airflow:0 airflow ${TPCH_ELT_HOME}/airflow
# The manifest is part of the image: parsing the DAG never runs dbt.
RUN python ${TPCH_ELT_HOME}/airflow/stack.py manifest

WORKDIR ${TPCH_ELT_HOME}
