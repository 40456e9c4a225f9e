#!/usr/bin/env bash
# Installs the servers that `make test` starts for its tests, when they are
# missing: PostgreSQL (initdb, pg_ctl, psql; internal/pgtest) and Prometheus
# (prometheus, promtool; internal/promtest). Used by `make test` and .ci/run.
#
# As root with apt-get (Debian, Ubuntu): installs the missing packages.
# Otherwise: prints exactly what to install and exits 1.
# With FAULTLINE_TEST_DATABASE_URL set, the PostgreSQL server is not needed
# (tests create their databases in that server); psql still is.
# Quiet when nothing is missing.
set -euo pipefail

have() { command -v "$1" >/dev/null 2>&1; }
have_pg_server() {
  if have initdb && have pg_ctl; then return 0; fi
  local d
  for d in /usr/lib/postgresql/*/bin; do
    [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && return 0
  done
  return 1
}

pkgs=()
if [ -z "${FAULTLINE_TEST_DATABASE_URL:-}" ] && ! have_pg_server; then
  pkgs+=(postgresql)
fi
have psql || pkgs+=(postgresql-client)
if ! have prometheus || ! have promtool; then
  pkgs+=(prometheus)
fi
[ ${#pkgs[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ] && have apt-get; then
  echo "install-deps: installing ${pkgs[*]} with apt-get" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
  exit 0
fi

cat >&2 <<EOF
install-deps: the tests need these packages, which are missing: ${pkgs[*]}
  Debian/Ubuntu:  sudo apt-get install --no-install-recommends ${pkgs[*]}
  (postgresql gives initdb and pg_ctl, postgresql-client gives psql,
   prometheus gives the prometheus server and promtool)
  Instead of a local PostgreSQL server you may set FAULTLINE_TEST_DATABASE_URL
  to a server where the tests may create databases.
  'make test-short' runs the tests that need neither server.
EOF
exit 1
