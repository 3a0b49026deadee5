#!/usr/bin/env bash
# `make run`: starts a local operator node with a bootstrap admin and prints how to reach it.
# (When the demo issue lands, `make run` runs `tds demo` instead.) The node directory persists in
# RUN_DIR, so a second `make run` restarts the same node with the same admin account.
set -euo pipefail
BUILD=${1:-build}
RUN_DIR=${2:-$BUILD/run}
BIN=$BUILD/bin
NODE_DIR=$RUN_DIR/operator
CRED=$NODE_DIR/admin-credentials.json

mkdir -p "$RUN_DIR"
if [[ ! -f $NODE_DIR/tds.conf ]]; then
  echo "初始化运营方节点 initialising an operator node in $NODE_DIR"
  umask 077
  "$BIN/tds" node init --role operator --dir "$NODE_DIR" --name "TDS operator (local)" --json > "$RUN_DIR/.init.json"
  mv "$RUN_DIR/.init.json" "$CRED"
fi

out=$(mktemp)
"$BIN/tdsd" --dir "$NODE_DIR" > "$out" &
pid=$!
trap 'kill -TERM $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -f "$out"' EXIT
trap 'exit 0' INT TERM
for _ in $(seq 1 300); do
  [[ -s $out ]] && break
  kill -0 $pid 2>/dev/null || { echo "tdsd failed to start"; exit 1; }
  sleep 0.1
done
line=$(head -n 1 "$out")
api=$(printf '%s' "$line" | sed -n 's/.*"api":"\([^"]*\)".*/\1/p')
data=$(printf '%s' "$line" | sed -n 's/.*"data":"\([^"]*\)".*/\1/p')
user=$(sed -n 's/.*"username":"\([^"]*\)".*/\1/p' "$CRED")
pass=$(sed -n 's/.*"password":"\([^"]*\)".*/\1/p' "$CRED")

cat <<EOT

TDS 运营方节点已启动 — operator node running (pid $pid)
  management API : $api      (health: $api/healthz, metrics: $api/metrics)
  data plane     : $data
  node directory : $NODE_DIR
  bootstrap admin: $user / $pass   (also in $CRED, mode 0600)

Try:
  $BIN/tds --node $api health
  TOKEN=\$($BIN/tds --node $api login --username $user --password '$pass' --json | sed -n 's/.*"token":"\\([^"]*\\)".*/\\1/p')
  $BIN/tds --node $api --token "\$TOKEN" whoami
  $BIN/tds --node $api --token "\$TOKEN" routes

Press Ctrl-C to stop the node.
EOT
wait $pid
