#!/usr/bin/env bash
# Start the services the test suite uses, if they are down, and install the tools it runs
# (promtool, Chromium) when missing (commands from the machine's
# environment notes). On a machine that already runs them this does nothing.
set -euo pipefail

pg_up() { pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; }
redis_up() { redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG; }

if ! pg_up; then
  echo "starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
  for _ in $(seq 1 30); do pg_up && break; sleep 1; done
fi
if ! redis_up; then
  echo "starting Redis"
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
  for _ in $(seq 1 30); do redis_up && break; sleep 1; done
fi
apt_install() {
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
  else
    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
  fi
}
if ! command -v promtool >/dev/null; then
  # The Prometheus rule tests (tests/cluster/test_monitoring_rules.py) run promtool.
  echo "installing promtool (Debian package prometheus)"
  apt_install prometheus
fi
if [ ! -x /usr/bin/chromium ]; then
  # The dashboard tests (tests/serving/test_dashboard.py) drive Debian's Chromium with
  # Playwright; Playwright's own browser download is not used.
  echo "installing Chromium (Debian package chromium)"
  apt_install chromium
fi
if ! command -v haproxy >/dev/null; then
  # Serve's HAProxy ingress (configs/serve/deployments.yaml fast_paths.haproxy: auto): the
  # functional suite and the benchmarks run the service the way production runs it.
  echo "installing HAProxy (Debian package haproxy)"
  apt_install haproxy
fi
pg_up || { echo "PostgreSQL is not reachable on 127.0.0.1:5432" >&2; exit 1; }
redis_up || { echo "Redis is not reachable on 127.0.0.1:6379" >&2; exit 1; }
command -v promtool >/dev/null || { echo "promtool is missing: apt-get install prometheus" >&2; exit 1; }
[ -x /usr/bin/chromium ] || { echo "Chromium is missing: apt-get install chromium" >&2; exit 1; }
command -v haproxy >/dev/null || { echo "HAProxy is missing: apt-get install haproxy" >&2; exit 1; }
echo "services: PostgreSQL and Redis up, promtool, Chromium and HAProxy present"
