#!/usr/bin/env bash
# Runs once, when the TimescaleDB container initialises an empty volume
# (/docker-entrypoint-initdb.d). Creates the tickflow database and its
# owner, with the TimescaleDB extension, a read-only role for Grafana that
# can read every table tickflow's migrations create later, and the login
# role tickflow_reader that serve logs in as (the compose file's grant
# service gives it read access with `tickflow grant`).
# The passwords come from the environment (.env), never from a file in git.
set -euo pipefail
: "${TICKFLOW_STORE_PASSWORD:?set TICKFLOW_STORE_PASSWORD in .env}"
: "${GRAFANA_DB_PASSWORD:?set GRAFANA_DB_PASSWORD in .env}"
: "${TICKFLOW_READER_PASSWORD:?set TICKFLOW_READER_PASSWORD in .env}"

psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
    -v tickflow_password="$TICKFLOW_STORE_PASSWORD" -v grafana_password="$GRAFANA_DB_PASSWORD" \
    -v reader_password="$TICKFLOW_READER_PASSWORD" <<'SQL'
CREATE ROLE tickflow LOGIN PASSWORD :'tickflow_password';
CREATE ROLE tickflow_reader LOGIN PASSWORD :'reader_password';
CREATE ROLE grafana LOGIN PASSWORD :'grafana_password';
CREATE DATABASE tickflow OWNER tickflow;
\connect tickflow
CREATE EXTENSION IF NOT EXISTS timescaledb;
GRANT CONNECT ON DATABASE tickflow TO grafana;
GRANT USAGE ON SCHEMA public TO grafana;
ALTER DEFAULT PRIVILEGES FOR ROLE tickflow IN SCHEMA public GRANT SELECT ON TABLES TO grafana;
SQL
