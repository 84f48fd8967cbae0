#!/usr/bin/env bash
# Make sure Postgres (localhost:5432, trust auth) and Redis (localhost:6379) run; install them when missing.
set -euo pipefail

SUDO=""
if [ "$(id -u)" != "0" ] && command -v sudo >/dev/null 2>&1; then SUDO="sudo"; fi

pg_ready() { pg_isready -h localhost -p 5432 -q 2>/dev/null; }
redis_ready() { redis-cli -h localhost -p 6379 ping 2>/dev/null | grep -q PONG; }

if ! command -v pg_ctlcluster >/dev/null 2>&1 || ! command -v redis-server >/dev/null 2>&1; then
  echo "installing postgresql and redis-server with apt-get"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq postgresql redis-server >/dev/null
fi

if ! pg_ready; then
  version=$(ls /etc/postgresql | sort -n | tail -n 1)
  if [ -z "$(pg_lsclusters -h 2>/dev/null)" ]; then $SUDO pg_createcluster "$version" main; fi
  hba="/etc/postgresql/$version/main/pg_hba.conf"
  # Tests connect as postgres over TCP without a password, as on the development machines.
  if ! grep -q "swapbot-trust" "$hba"; then
    $SUDO sed -i '1i host all all 127.0.0.1/32 trust # swapbot-trust\nhost all all ::1/128 trust # swapbot-trust\nlocal all all trust # swapbot-trust' "$hba"
  fi
  $SUDO pg_ctlcluster --skip-systemctl-redirect "$version" main start || $SUDO pg_ctlcluster "$version" main start
  for _ in $(seq 1 30); do pg_ready && break; sleep 1; done
fi

if ! redis_ready; then
  mkdir -p /var/lib/redis /var/log/redis 2>/dev/null || true
  $SUDO redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
  for _ in $(seq 1 30); do redis_ready && break; sleep 1; done
fi

pg_ready || { echo "Postgres is not answering on localhost:5432" >&2; exit 1; }
redis_ready || { echo "Redis is not answering on localhost:6379" >&2; exit 1; }
echo "postgres and redis are up"
