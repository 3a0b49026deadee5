#!/usr/bin/env bash
# test_cli.sh — the `tds` and `tdsd` command lines as a user meets them: node init (and its
# refusals), tdsd start-up checks (config typos, insecure key files), the API client verbs with
# --json, exit codes 0/1/2, and a clean SIGTERM shutdown.
set -euo pipefail
BIN=${TDS_BIN_DIR:-build/bin}
T=$(mktemp -d /tmp/tds-cli-XXXXXX)
PID=
cleanup() { [[ -n $PID ]] && kill -TERM "$PID" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$T"; }
trap cleanup EXIT
fails=0; checks=0
ok()   { checks=$((checks+1)); echo "ok   $*"; }
bad()  { checks=$((checks+1)); fails=$((fails+1)); echo "FAIL $*"; }
expect_rc() { # expect_rc WANT DESCRIPTION -- command…
  local want=$1 what=$2; shift 3
  set +e; "$@" >"$T/out" 2>"$T/err"; local rc=$?; set -e
  if [[ $rc == "$want" ]]; then ok "$what (exit $rc)"; else bad "$what: exit $rc, wanted $want"; cat "$T/out" "$T/err"; fi
}
field() { sed -n "s/.*\"$1\":\"\\([^\"]*\\)\".*/\\1/p" "$2" | head -n 1; }

expect_rc 0 "tds version --json" -- "$BIN/tds" version --json
grep -q '"version"' "$T/out" && ok "version JSON" || bad "version JSON"
expect_rc 2 "unknown command is a usage error" -- "$BIN/tds" frobnicate
expect_rc 2 "node init without --dir" -- "$BIN/tds" node init --role operator
expect_rc 1 "node init with a bad role" -- "$BIN/tds" node init --role king --dir "$T/x" --json
grep -q '"invalid_config"' "$T/out" && ok "bad role named" || bad "bad role not named: $(cat "$T/out")"
expect_rc 1 "node init with a bad suite" -- "$BIN/tds" node init --role operator --suite rsa --dir "$T/x" --json
[[ ! -e $T/x/tds.conf ]] && ok "failed init leaves no node behind" || bad "failed init left files"

expect_rc 0 "node init (intl suite)" -- "$BIN/tds" node init --role connector --suite intl --dir "$T/n" --name 银行 --json
cp "$T/out" "$T/init.json"
PASS=$(field password "$T/init.json")
[[ ${#PASS} -ge 24 ]] && ok "random admin password" || bad "admin password too short"
[[ $(stat -c %a "$T/n/master.key") == 600 && $(stat -c %a "$T/n/node.key") == 600 ]] && ok "key files are 0600" || bad "key file modes"
expect_rc 1 "node init refuses an existing node" -- "$BIN/tds" node init --role connector --dir "$T/n" --json
grep -q node_exists "$T/out" && ok "node_exists named" || bad "node_exists not named"

"$BIN/tds" crypto keygen --suite intl --json > "$T/other.json"
sed -n 's/.*"public_pem":"\([^"]*\)".*/\1/p' "$T/other.json" | sed 's/\\n/\n/g' > "$T/x-other.pub"

# start-up refusals
cp -r "$T/n" "$T/typo"; printf '[api]\nprot = 1\n' >> "$T/typo/tds.conf"
expect_rc 1 "tdsd refuses an unknown config key" -- "$BIN/tdsd" --dir "$T/typo"
grep -q "line" "$T/err" && grep -q "prot" "$T/err" && ok "config error names line and key" || bad "config error: $(cat "$T/err")"
cp -r "$T/n" "$T/loose"; chmod 644 "$T/loose/master.key"
expect_rc 1 "tdsd refuses a group-readable master key" -- "$BIN/tdsd" --dir "$T/loose"
grep -q "chmod 600" "$T/err" && ok "insecure key explained" || bad "insecure key: $(cat "$T/err")"
expect_rc 2 "tdsd without --dir" -- "$BIN/tdsd"
expect_rc 1 "tdsd with a bad --api-port" -- "$BIN/tdsd" --dir "$T/n" --api-port 99999

# run it
TDS_IDENTITY_SIGNUP_MAX_PER_IP=2 "$BIN/tdsd" --dir "$T/n" --log-level warn > "$T/tdsd.out" 2> "$T/tdsd.err" &
PID=$!
for _ in $(seq 1 300); do [[ -s $T/tdsd.out ]] && break; sleep 0.1; done
API=$(field api "$T/tdsd.out"); DATA=$(field data "$T/tdsd.out")
[[ $API == http://127.0.0.1:* && $DATA == http://127.0.0.1:* ]] && ok "listening line ($API, $DATA)" || bad "listening line: $(cat "$T/tdsd.out")"

expect_rc 0 "tds health" -- "$BIN/tds" --node "$API" health --json
# public sign-up is limited per client address (here 2 an hour)
for i in 1 2 3; do
  code=$(curl -s -o "$T/reg$i" -w '%{http_code}' -H 'Content-Type: application/json' "$API/api/v1/persons" \
    -d "{\"username\":\"walker-$i\",\"password\":\"a long enough password\",\"display_name\":\"Walker $i\"}")
  echo "$code" > "$T/reg$i.code"
done
[[ $(cat "$T/reg1.code") == 201 && $(cat "$T/reg2.code") == 201 ]] && ok "two sign-ups accepted" || bad "sign-ups: $(cat "$T/reg1.code") $(cat "$T/reg2.code") $(cat "$T/reg1")"
[[ $(cat "$T/reg3.code") == 429 ]] && grep -q too_many_registrations "$T/reg3" && ok "third sign-up from one address: 429" || bad "third sign-up: $(cat "$T/reg3.code") $(cat "$T/reg3")"
expect_rc 1 "login with a wrong password" -- "$BIN/tds" --node "$API" login --username admin --password wrong-password-1 --json
grep -q invalid_credentials "$T/out" && ok "wrong password named" || bad "wrong password: $(cat "$T/out")"
expect_rc 0 "login" -- "$BIN/tds" --node "$API" login --username admin --password "$PASS" --json
TOKEN=$(field token "$T/out")
export TDS_NODE=$API TDS_TOKEN=$TOKEN
expect_rc 0 "whoami" -- "$BIN/tds" whoami --json
grep -q '"admin"' "$T/out" && ok "whoami says admin" || bad "whoami: $(cat "$T/out")"
expect_rc 0 "node info" -- "$BIN/tds" node info --json
grep -q '"ed25519"' "$T/out" && grep -q '银行' "$T/out" && ok "node info: intl suite and Chinese name" || bad "node info: $(cat "$T/out")"
expect_rc 0 "account create" -- "$BIN/tds" account create --username insurer-ops --password 'long enough pass' --role consumer --json
ACC=$(field id "$T/out")
expect_rc 0 "account show" -- "$BIN/tds" account show "$ACC" --json
expect_rc 1 "account create duplicate" -- "$BIN/tds" account create --username insurer-ops --password 'long enough pass' --json
grep -q username_taken "$T/out" && ok "duplicate named" || bad "duplicate: $(cat "$T/out")"
expect_rc 2 "account show without id" -- "$BIN/tds" account show
expect_rc 0 "account list" -- "$BIN/tds" account list --limit 1 --json
grep -q next_cursor "$T/out" && ok "paged list" || bad "list: $(cat "$T/out")"
expect_rc 0 "apikey create" -- "$BIN/tds" apikey create --name ci --expires-in-s 600 --json
KEY=$(field key "$T/out"); KID=$(field id "$T/out")
expect_rc 0 "whoami with the API key" -- "$BIN/tds" --token "$KEY" whoami --json
expect_rc 0 "apikey revoke" -- "$BIN/tds" apikey revoke "$KID" --json
expect_rc 1 "revoked key refused" -- "$BIN/tds" --token "$KEY" whoami --json
expect_rc 0 "routes" -- "$BIN/tds" routes --json
expect_rc 1 "unreachable node" -- "$BIN/tds" --node http://127.0.0.1:1 health --json
# the evidence ledger, remote and local
expect_rc 0 "ledger verify --node (token from the environment)" -- "$BIN/tds" ledger verify --json
grep -q '"ok":true' "$T/out" && ok "remote ledger verified" || bad "remote verify: $(cat "$T/out")"
expect_rc 0 "ledger verify --node with a pinned key" -- "$BIN/tds" ledger verify --node "$API" --key "$T/n/node.pub" --json
expect_rc 1 "ledger verify --node with the wrong key" -- "$BIN/tds" ledger verify --node "$API" --key "$T/x-other.pub" --json
expect_rc 2 "ledger verify with both --dir and --node" -- "$BIN/tds" ledger verify --dir "$T/n" --node "$API"

expect_rc 0 "logout" -- "$BIN/tds" logout --json
expect_rc 1 "token unusable after logout" -- "$BIN/tds" whoami --json

kill -TERM "$PID"
set +e; wait "$PID"; rc=$?; set -e; PID=
[[ $rc == 0 ]] && ok "SIGTERM: clean exit" || bad "SIGTERM: exit $rc"
unset TDS_NODE TDS_TOKEN

expect_rc 0 "ledger verify --dir on a clean node" -- "$BIN/tds" ledger verify --dir "$T/n" --json
grep -q '"ok":true' "$T/out" && ok "local ledger verified" || bad "local verify: $(cat "$T/out")"
# tamper with entry 2 behind the ledger's back (the append-only trigger has to go first)
sqlite3 "$T/n/tds.db" "DROP TRIGGER ledger_entries_no_update; UPDATE ledger_entries SET leaf = CAST(replace(CAST(leaf AS TEXT), 'identity.', 'identitx.') AS BLOB) WHERE idx = 2;"
expect_rc 1 "ledger verify --dir finds the edited entry" -- "$BIN/tds" ledger verify --dir "$T/n" --json
grep -q '"index":2' "$T/out" && ok "edited entry named (2)" || bad "tamper report: $(cat "$T/out")"
"$BIN/tdsd" --dir "$T/n" --log-level error > "$T/tdsd.out" 2> "$T/tdsd.err" &
PID=$!
for _ in $(seq 1 300); do [[ -s $T/tdsd.out ]] && break; sleep 0.1; done
API=$(field api "$T/tdsd.out")
expect_rc 0 "login after restart" -- "$BIN/tds" --node "$API" login --username admin --password "$PASS" --json
TOKEN=$(field token "$T/out")
expect_rc 1 "ledger verify --node finds the edited entry" -- "$BIN/tds" ledger verify --node "$API" --token "$TOKEN" --key "$T/n/node.pub" --json
grep -q '"index":2' "$T/out" && ok "remote: edited entry named (2)" || bad "remote tamper report: $(cat "$T/out")"
kill -TERM "$PID"; wait "$PID" 2>/dev/null || true; PID=
grep -q '"event":"stopped"' "$T/tdsd.err" || grep -q stopped "$T/tdsd.err" || true

echo "cli: $((checks - fails))/$checks checks passed"
[[ $fails == 0 ]]
