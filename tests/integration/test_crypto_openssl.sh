#!/usr/bin/env bash
# test_crypto_openssl.sh — interoperability of `tds crypto` with an independent implementation, the
# openssl command line: SM2 and Ed25519 signatures made by one side are verified by the other (and
# refused for a changed message), key files and raw public keys agree, SM3 / SHA-256 digests, HMAC
# and HKDF match, and the CLI's exit codes (0 ok, 1 failure, 2 usage) hold.
set -euo pipefail
BIN=${TDS_BIN_DIR:-build/bin}
TDS="$BIN/tds"
T=$(mktemp -d /tmp/tds-crypto-XXXXXX)
trap 'rm -rf "$T"' EXIT
fails=0; checks=0
ok()  { checks=$((checks+1)); echo "ok   $*"; }
bad() { checks=$((checks+1)); fails=$((fails+1)); echo "FAIL $*"; }
check() { # check DESCRIPTION -- command…   (passes when the command exits 0)
  local what=$1; shift 2
  if "$@" >"$T/check.out" 2>&1; then ok "$what"; else bad "$what"; cat "$T/check.out"; fi
}
expect_rc() { # expect_rc WANT DESCRIPTION -- command…   (stdout in $T/out, stderr in $T/err)
  local want=$1 what=$2; shift 3
  set +e; "$@" >"$T/out" 2>"$T/err"; local rc=$?; set -e
  if [[ $rc == "$want" ]]; then ok "$what (exit $rc)"; else bad "$what: exit $rc, wanted $want"; cat "$T/out" "$T/err"; fi
}
field() { sed -n "s/.*\"$1\":\"\\([^\"]*\\)\".*/\\1/p" "$2" | head -n 1; }
same() { # same DESCRIPTION A B
  if [[ -n $2 && $2 == "$3" ]]; then ok "$1"; else bad "$1: '$2' != '$3'"; fi
}

[[ -x $TDS ]] || { echo "FAIL no tds binary at $TDS"; exit 1; }
command -v openssl >/dev/null || { echo "FAIL openssl command line not found"; exit 1; }
echo "# $(openssl version)"

printf 'A consumer applies; a reviewer approves; the connector delivers under contract.\n' >"$T/msg"
printf 'A consumer applies; a reviewer approves; the connector delivers under contract!\n' >"$T/msg2"
SM2_ID=(-pkeyopt distid:1234567812345678)

# ---- SM2 (gm): tds signs, openssl verifies ----------------------------------------------------
expect_rc 0 "tds keygen gm" -- "$TDS" crypto keygen --suite gm --out "$T/gm.pem"
cp "$T/out" "$T/gm.json"
[[ $(stat -c %a "$T/gm.pem") == 600 ]] && ok "private key file is 0600" || bad "private key file mode $(stat -c %a "$T/gm.pem")"
grep -q private_pem "$T/gm.json" && bad "keygen --out still prints the private key" || ok "keygen --out keeps the private key off stdout"
expect_rc 1 "keygen --out refuses to overwrite a key file" -- "$TDS" crypto keygen --suite gm --out "$T/gm.pem" --json
grep -q file_exists "$T/out" && ok "file_exists named" || bad "overwrite refusal: $(cat "$T/out")"
check "openssl reads the tds SM2 private key" -- openssl pkey -in "$T/gm.pem" -pubout -out "$T/gm_pub.pem"
same "SM2 public key: tds public_hex = openssl SPKI point" "$(field public_hex "$T/gm.json")" \
  "$(openssl pkey -pubin -in "$T/gm_pub.pem" -outform DER | tail -c 65 | xxd -p | tr -d '\n')"
expect_rc 0 "tds sign gm" -- "$TDS" crypto sign --suite gm --key "$T/gm.pem" --in "$T/msg"
field signature_hex "$T/out" | xxd -r -p >"$T/gm_tds.sig"
check "openssl verifies the tds SM2 signature" -- openssl pkeyutl -verify -rawin -digest sm3 "${SM2_ID[@]}" \
  -pubin -inkey "$T/gm_pub.pem" -sigfile "$T/gm_tds.sig" -in "$T/msg"
if openssl pkeyutl -verify -rawin -digest sm3 "${SM2_ID[@]}" -pubin -inkey "$T/gm_pub.pem" \
  -sigfile "$T/gm_tds.sig" -in "$T/msg2" >/dev/null 2>&1; then
  bad "openssl accepted the tds SM2 signature for a changed message"
else ok "openssl refuses the tds SM2 signature for a changed message"; fi
expect_rc 0 "tds verifies its own SM2 signature (base64)" -- "$TDS" crypto verify --suite gm --key "$T/gm_pub.pem" \
  --in "$T/msg" --sig-b64 "$(base64 -w0 "$T/gm_tds.sig")"

# ---- SM2 (gm): openssl signs, tds verifies ----------------------------------------------------
check "openssl genpkey SM2" -- openssl genpkey -algorithm SM2 -out "$T/o_gm.pem"
check "openssl SM2 public key" -- openssl pkey -in "$T/o_gm.pem" -pubout -out "$T/o_gm_pub.pem"
check "openssl signs with SM2/SM3" -- openssl pkeyutl -sign -rawin -digest sm3 "${SM2_ID[@]}" \
  -inkey "$T/o_gm.pem" -in "$T/msg" -out "$T/gm_ossl.sig"
expect_rc 0 "tds verifies the openssl SM2 signature" -- "$TDS" crypto verify --suite gm --key "$T/o_gm_pub.pem" \
  --in "$T/msg" --sig-file "$T/gm_ossl.sig"
grep -q '"valid":true' "$T/out" && ok "valid:true" || bad "valid:true missing: $(cat "$T/out")"
expect_rc 0 "tds verifies it with the openssl private key file too" -- "$TDS" crypto verify --suite gm \
  --key "$T/o_gm.pem" --in "$T/msg" --sig-hex "$(xxd -p "$T/gm_ossl.sig" | tr -d '\n')"
expect_rc 1 "tds refuses the openssl SM2 signature for a changed message" -- "$TDS" crypto verify --suite gm \
  --key "$T/o_gm_pub.pem" --in "$T/msg2" --sig-file "$T/gm_ossl.sig"
grep -q '"valid":false' "$T/out" && ok "valid:false" || bad "valid:false missing: $(cat "$T/out")"
expect_rc 0 "tds signs with the openssl SM2 key" -- "$TDS" crypto sign --suite gm --key "$T/o_gm.pem" --in "$T/msg"
field signature_hex "$T/out" | xxd -r -p >"$T/gm_tds2.sig"
check "openssl verifies it" -- openssl pkeyutl -verify -rawin -digest sm3 "${SM2_ID[@]}" \
  -pubin -inkey "$T/o_gm_pub.pem" -sigfile "$T/gm_tds2.sig" -in "$T/msg"

# ---- Ed25519 (intl), both directions ----------------------------------------------------------
expect_rc 0 "tds keygen intl" -- "$TDS" crypto keygen --suite intl --out "$T/ed.pem"
cp "$T/out" "$T/ed.json"
check "openssl reads the tds Ed25519 private key" -- openssl pkey -in "$T/ed.pem" -pubout -out "$T/ed_pub.pem"
same "Ed25519 public key: tds public_hex = openssl SPKI key" "$(field public_hex "$T/ed.json")" \
  "$(openssl pkey -pubin -in "$T/ed_pub.pem" -outform DER | tail -c 32 | xxd -p | tr -d '\n')"
expect_rc 0 "tds sign intl" -- "$TDS" crypto sign --suite intl --key "$T/ed.pem" --in "$T/msg"
field signature_hex "$T/out" | xxd -r -p >"$T/ed_tds.sig"
check "openssl verifies the tds Ed25519 signature" -- openssl pkeyutl -verify -rawin -pubin -inkey "$T/ed_pub.pem" \
  -sigfile "$T/ed_tds.sig" -in "$T/msg"
check "openssl makes the same (deterministic) Ed25519 signature" -- openssl pkeyutl -sign -rawin \
  -inkey "$T/ed.pem" -in "$T/msg" -out "$T/ed_ossl_same.sig"
cmp -s "$T/ed_tds.sig" "$T/ed_ossl_same.sig" && ok "Ed25519 signatures identical" || bad "Ed25519 signatures differ"
if openssl pkeyutl -verify -rawin -pubin -inkey "$T/ed_pub.pem" -sigfile "$T/ed_tds.sig" -in "$T/msg2" >/dev/null 2>&1; then
  bad "openssl accepted the tds Ed25519 signature for a changed message"
else ok "openssl refuses the tds Ed25519 signature for a changed message"; fi
check "openssl genpkey ED25519" -- openssl genpkey -algorithm ED25519 -out "$T/o_ed.pem"
check "openssl Ed25519 public key" -- openssl pkey -in "$T/o_ed.pem" -pubout -out "$T/o_ed_pub.pem"
check "openssl signs with Ed25519" -- openssl pkeyutl -sign -rawin -inkey "$T/o_ed.pem" -in "$T/msg" -out "$T/ed_ossl.sig"
expect_rc 0 "tds verifies the openssl Ed25519 signature" -- "$TDS" crypto verify --suite intl \
  --key "$T/o_ed_pub.pem" --in "$T/msg" --sig-file "$T/ed_ossl.sig"
expect_rc 1 "tds refuses it for a changed message" -- "$TDS" crypto verify --suite intl \
  --key "$T/o_ed_pub.pem" --in "$T/msg2" --sig-file "$T/ed_ossl.sig"

# ---- suites and key types ---------------------------------------------------------------------
expect_rc 1 "an Ed25519 key under --suite gm is refused" -- "$TDS" crypto sign --suite gm --key "$T/o_ed.pem" --data x --json
grep -q suite_mismatch "$T/out" && grep -q "SM2 key expected for suite gm, got ED25519" "$T/err" \
  && ok "suite mismatch explained" || bad "suite mismatch not explained: $(cat "$T/out" "$T/err")"
check "openssl genpkey P-256" -- openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T/p256.pem"
expect_rc 1 "a P-256 key is refused" -- "$TDS" crypto sign --suite gm --key "$T/p256.pem" --data x --json
grep -q unsupported_key_type "$T/out" && ok "unsupported_key_type named" || bad "P-256 refusal: $(cat "$T/out")"

# ---- hashes, HMAC, HKDF -----------------------------------------------------------------------
head -c 300000 /dev/urandom >"$T/big"
: >"$T/empty"
for f in msg big empty; do
  expect_rc 0 "tds hash gm $f" -- "$TDS" crypto hash --suite gm --in "$T/$f"
  same "SM3($f) = openssl dgst -sm3" "$(field hex "$T/out")" "$(openssl dgst -sm3 -r "$T/$f" | cut -d' ' -f1)"
  expect_rc 0 "tds hash intl $f" -- "$TDS" crypto hash --suite intl --in "$T/$f"
  same "SHA-256($f) = sha256sum" "$(field hex "$T/out")" "$(sha256sum "$T/$f" | cut -d' ' -f1)"
done
expect_rc 0 "tds hash gm from stdin" -- "$TDS" crypto hash --suite gm --in - <"$T/big"
same "SM3(stdin) = openssl dgst -sm3" "$(field hex "$T/out")" "$(openssl dgst -sm3 -r "$T/big" | cut -d' ' -f1)"
KEY=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f
for s in gm:SM3 intl:SHA256; do
  suite=${s%%:*} md=${s##*:}
  expect_rc 0 "tds hmac $suite" -- "$TDS" crypto hmac --suite "$suite" --key-hex "$KEY" --in "$T/msg"
  same "HMAC-$md = openssl mac" "$(field hex "$T/out")" \
    "$(openssl mac -digest "$md" -macopt "hexkey:$KEY" -in "$T/msg" HMAC | tr 'A-F' 'a-f')"
  expect_rc 0 "tds hkdf $suite" -- "$TDS" crypto hkdf --suite "$suite" --ikm-hex "$KEY" --salt-hex 0a0b0c \
    --info node-key --length 42
  same "HKDF-$md = openssl kdf" "$(field hex "$T/out")" \
    "$(openssl kdf -keylen 42 -kdfopt "digest:$md" -kdfopt "hexkey:$KEY" -kdfopt hexsalt:0a0b0c \
        -kdfopt info:node-key HKDF | tr -d ':' | tr 'A-F' 'a-f')"
done

# ---- AEAD round trip through the CLI (known answers are in the unit tests) ---------------------
for s in gm:00112233445566778899aabbccddeeff intl:$KEY; do
  suite=${s%%:*} k=${s##*:}
  expect_rc 0 "tds encrypt $suite" -- "$TDS" crypto encrypt --suite "$suite" --key-hex "$k" --aad-hex 0102 --in "$T/msg"
  nonce=$(field nonce_hex "$T/out") ct=$(field ciphertext_hex "$T/out")
  expect_rc 0 "tds decrypt $suite" -- "$TDS" crypto decrypt --suite "$suite" --key-hex "$k" --nonce-hex "$nonce" \
    --aad-hex 0102 --ciphertext-hex "$ct"
  same "decrypted = original" "$(field plaintext_hex "$T/out")" "$(xxd -p "$T/msg" | tr -d '\n')"
  expect_rc 1 "tds decrypt $suite with other AAD fails" -- "$TDS" crypto decrypt --suite "$suite" --key-hex "$k" \
    --nonce-hex "$nonce" --aad-hex 0103 --ciphertext-hex "$ct" --json
  grep -q decrypt_failed "$T/out" && ok "decrypt_failed named" || bad "decrypt_failed missing: $(cat "$T/out")"
done

# ---- usage errors -----------------------------------------------------------------------------
expect_rc 2 "unknown verb" -- "$TDS" crypto frobnicate
expect_rc 2 "unknown flag" -- "$TDS" crypto hash --suite gm --data x --frob 1
expect_rc 2 "missing --suite" -- "$TDS" crypto hash --data x
expect_rc 2 "unknown suite" -- "$TDS" crypto hash --suite rsa --data x
expect_rc 2 "two data options" -- "$TDS" crypto hash --suite gm --data x --data-hex 00
expect_rc 2 "bad hex" -- "$TDS" crypto hash --suite gm --data-hex 0g
expect_rc 2 "wrong key length" -- "$TDS" crypto encrypt --suite gm --key-hex "$KEY" --data x
expect_rc 2 "verify without a signature" -- "$TDS" crypto verify --suite gm --key "$T/gm.pem" --data x
expect_rc 1 "missing key file" -- "$TDS" crypto sign --suite gm --key "$T/nope.pem" --data x

echo "# $checks checks, $fails failed"
[[ $fails == 0 ]]
