#!/usr/bin/env bash
# test_make_run.sh — what `make run` does after building: scripts/run-node.sh initialises an
# operator node (once), starts it, prints how to reach it; a second run restarts the same node with
# the same admin. Checks the printed URL answers and the printed credentials log in.
set -euo pipefail
BIN=${TDS_BIN_DIR:-build/bin}
SRC=${TDS_SOURCE_DIR:-.}
BUILD=$(dirname "$BIN")
T=$(mktemp -d /tmp/tds-run-XXXXXX)
PID=
cleanup() { [[ -n $PID ]] && kill -TERM "$PID" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$T"; }
trap cleanup EXIT

start() {
  bash "$SRC/scripts/run-node.sh" "$BUILD" "$T/run" > "$T/out" 2> "$T/err" &
  PID=$!
  for _ in $(seq 1 600); do grep -q "Press Ctrl-C" "$T/out" 2>/dev/null && return 0; sleep 0.1; done
  echo "FAIL run-node.sh did not come up"; cat "$T/out" "$T/err"; exit 1
}
stop() { kill -TERM "$PID"; wait "$PID" || true; PID=; }

start
API=$(sed -n 's/.*management API : \(http[^ ]*\).*/\1/p' "$T/out")
PASS=$(sed -n 's|.*bootstrap admin: admin / \([^ ]*\) .*|\1|p' "$T/out")
curl -fsS "$API/healthz" | grep -q '"ok"' || { echo "FAIL health"; exit 1; }
"$BIN/tds" --node "$API" login --username admin --password "$PASS" --json | grep -q '"token"' || { echo "FAIL login"; exit 1; }
[[ $(stat -c %a "$T/run/operator/admin-credentials.json") == 600 ]] || { echo "FAIL credentials mode"; exit 1; }
stop
start # the same node again: no second init, same admin
grep -q "初始化" "$T/out" && { echo "FAIL re-initialised"; exit 1; }
API=$(sed -n 's/.*management API : \(http[^ ]*\).*/\1/p' "$T/out")
"$BIN/tds" --node "$API" login --username admin --password "$PASS" --json | grep -q '"token"' || { echo "FAIL login after restart"; exit 1; }
stop
echo "make run: node initialised, reachable, restartable"
