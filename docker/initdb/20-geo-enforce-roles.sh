#!/usr/bin/env bash
# docker-compose: create the roles ge_owner (owns the schema, runs migrations) and ge_app (what
# the API connects as) with SCRAM passwords, and hand the database to ge_owner. It runs the
# very SQL files the embedded cluster runs (geo_enforce/storage/sql, mounted read-only at
# GE_SQL_DIR), binding the passwords as psql variables.
#
# The postgres image runs this once, when it initialises an empty data volume. For a volume
# made by an older version, run it by hand (idempotent):
#   docker compose exec db bash /docker-entrypoint-initdb.d/20-geo-enforce-roles.sh
set -euo pipefail
: "${GE_OWNER_PASSWORD:?set GE_OWNER_PASSWORD}"
: "${GE_APP_PASSWORD:?set GE_APP_PASSWORD}"
sql_dir=${GE_SQL_DIR:-/geo-enforce-sql}
psql -v ON_ERROR_STOP=1 --no-psqlrc --username "${POSTGRES_USER:-postgres}" \
  --dbname "${POSTGRES_DB:-geo_enforce}" \
  -v owner_password="$GE_OWNER_PASSWORD" -v app_password="$GE_APP_PASSWORD" \
  -f "$sql_dir/roles.sql" -f "$sql_dir/database.sql"
