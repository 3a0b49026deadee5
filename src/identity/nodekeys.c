/*
 * nodekeys.c — node keys (节点密钥): who signed a request (the tds_sig_resolver of a node's verifier),
 * and the connector's side of the conversation with its operator: enrolment, certificate status on
 * first sight of a serial, and the revocation list. Model in identity.h.
 *
 * The keyring is a hash table of entries by certificate serial, under one mutex. Entries are only
 * added, never removed, until the keyring is freed, so the keys handed to the verifier stay valid
 * without reference counts; an entry's `revoked` flag only ever goes from false to true. The number
 * of entries is bounded by the certificates the operator really issued (a connector caches only
 * what the operator signed), and unknown serials go to a small ring that remembers them for
 * NEGATIVE_TTL_MS, so made-up keyids cannot become a stream of calls to the operator.
 *
 * Not here: the registry and the statements the operator signs (connector.c), the HTTP signature
 * itself (http/sign.c), files and threads of the node (node.c).
 */
#include "identity/internal.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define BUCKETS 1024
#define NEGATIVE_SLOTS 256
#define NEGATIVE_TTL_MS (10 * 1000)
#define FETCH_TIMEOUT_MS 5000
#define SYNC_PAGE 500
#define SYNC_MAX_PAGES 1000

typedef struct entry {
	struct entry *next;
	char serial[TDS_ID_MAX], node_id[TDS_ID_MAX], org_id[TDS_ID_MAX];
	tds_key *key;       /* NULL for a serial known only from the revocation list */
	int64_t expires_ms; /* certificate expiry */
	bool revoked;
} entry;

typedef struct retired {
	struct retired *next;
	tds_key *key;
} retired;

struct tds_nodekeys {
	tds_identity *id; /* operator: the registry; NULL on a connector */
	pthread_mutex_t lock;
	entry *buckets[BUCKETS];
	struct {
		char serial[TDS_ID_MAX];
		int64_t until;
	} negative[NEGATIVE_SLOTS];
	size_t negative_next;
	/* connector: the operator (set by tds_nodekeys_set_operator) */
	bool has_operator;
	char operator_url[512], operator_node[TDS_ID_MAX], own_serial[TDS_ID_MAX];
	tds_key *operator_key;
	const tds_key *own_key;
	retired *retired;
	int64_t since; /* last revocation seq seen */
};

/* What a fetch needs, copied under the lock so set_operator may run meanwhile. */
typedef struct snapshot {
	char url[512], operator_node[TDS_ID_MAX], own_serial[TDS_ID_MAX];
	const tds_key *operator_key, *own_key;
} snapshot;

static unsigned bucket(const char *s)
{
	uint32_t h = 2166136261u; /* FNV-1a */
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h % BUCKETS;
}

/* Under the lock. */
static entry *find(tds_nodekeys *k, const char *serial)
{
	for (entry *e = k->buckets[bucket(serial)]; e; e = e->next)
		if (strcmp(e->serial, serial) == 0)
			return e;
	return NULL;
}

/* Adds an entry (takes key) unless the serial is there already, in which case the existing entry
 * wins (and a revocation is carried over); returns the entry in the table. */
static entry *insert(tds_nodekeys *k, const char *serial, const tds_node_cert *cert, tds_key *key, bool revoked)
{
	pthread_mutex_lock(&k->lock);
	entry *e = find(k, serial);
	if (e && !e->key && key) { /* a revoked-only entry learns its key: keep it revoked */
		e->key = key;
		key = NULL;
	}
	if (!e && (e = calloc(1, sizeof *e))) {
		snprintf(e->serial, sizeof e->serial, "%s", serial);
		if (cert) {
			snprintf(e->node_id, sizeof e->node_id, "%s", cert->node_id);
			snprintf(e->org_id, sizeof e->org_id, "%s", cert->org_id);
			e->expires_ms = cert->expires_at_ms;
		}
		e->key = key;
		key = NULL;
		unsigned b = bucket(serial);
		e->next = k->buckets[b];
		k->buckets[b] = e;
	}
	if (e && revoked)
		e->revoked = true;
	pthread_mutex_unlock(&k->lock);
	tds_key_free(key); /* lost a race, or out of memory */
	return e;
}

static bool negative_hit(tds_nodekeys *k, const char *serial, int64_t now)
{
	for (size_t i = 0; i < NEGATIVE_SLOTS; i++)
		if (k->negative[i].until > now && strcmp(k->negative[i].serial, serial) == 0)
			return true;
	return false;
}

static void negative_add(tds_nodekeys *k, const char *serial, int64_t now)
{
	pthread_mutex_lock(&k->lock);
	size_t i = k->negative_next++ % NEGATIVE_SLOTS;
	snprintf(k->negative[i].serial, sizeof k->negative[i].serial, "%s", serial);
	k->negative[i].until = now + NEGATIVE_TTL_MS;
	pthread_mutex_unlock(&k->lock);
}

int tds_nodekeys_new(tds_identity *identity, tds_nodekeys **out)
{
	*out = NULL;
	if (identity && !identity->node_key)
		return tds_error_set(TDS_EINVAL, "no_private_key", "an operator's keyring needs identity opened with the node key");
	tds_nodekeys *k = calloc(1, sizeof *k);
	if (!k)
		return tds_error_set(TDS_ENOMEM, NULL, "out of memory");
	k->id = identity;
	pthread_mutex_init(&k->lock, NULL);
	*out = k;
	return 0;
}

void tds_nodekeys_free(tds_nodekeys *k)
{
	if (!k)
		return;
	for (size_t b = 0; b < BUCKETS; b++)
		for (entry *e = k->buckets[b], *n; e; e = n) {
			n = e->next;
			tds_key_free(e->key);
			free(e);
		}
	for (retired *r = k->retired, *n; r; r = n) {
		n = r->next;
		tds_key_free(r->key);
		free(r);
	}
	tds_key_free(k->operator_key);
	pthread_mutex_destroy(&k->lock);
	free(k);
}

int tds_nodekeys_set_operator(tds_nodekeys *k, const char *operator_url, const char *operator_pem,
			      const char *operator_node_id, const tds_key *own_key, const char *own_serial)
{
	if (k->id)
		return tds_error_set(TDS_EINVAL, "invalid_argument", "the operator's own keyring reads its registry");
	if (!operator_url || strlen(operator_url) >= sizeof k->operator_url ||
	    (strncmp(operator_url, "http://", 7) != 0 && strncmp(operator_url, "https://", 8) != 0))
		return tds_error_set(TDS_EINVAL, "invalid_url", "the operator URL must be an http(s) URL");
	if (!tds_id_valid(operator_node_id, "node") || !tds_id_valid(own_serial, "crt") || !own_key ||
	    !tds_key_has_private(own_key))
		return tds_error_set(TDS_EINVAL, "invalid_argument", "operator node id, own key and own serial are required");
	tds_key *op = NULL;
	int rc = operator_pem ? tds_key_from_pem(operator_pem, strlen(operator_pem), &op)
			      : tds_error_set(TDS_EINVAL, "invalid_key", "the operator's public key is required");
	if (rc)
		return rc;
	retired *r = calloc(1, sizeof *r);
	if (!r) {
		tds_key_free(op);
		return tds_error_set(TDS_ENOMEM, NULL, "out of memory");
	}
	pthread_mutex_lock(&k->lock);
	r->key = k->operator_key; /* a fetch may still hold it */
	r->next = k->retired;
	k->retired = r;
	k->operator_key = op;
	snprintf(k->operator_url, sizeof k->operator_url, "%s", operator_url);
	snprintf(k->operator_node, sizeof k->operator_node, "%s", operator_node_id);
	snprintf(k->own_serial, sizeof k->own_serial, "%s", own_serial);
	k->own_key = own_key;
	k->has_operator = true;
	pthread_mutex_unlock(&k->lock);
	return 0;
}

static bool take_snapshot(tds_nodekeys *k, snapshot *s)
{
	pthread_mutex_lock(&k->lock);
	bool has = k->has_operator;
	if (has) {
		memcpy(s->url, k->operator_url, sizeof s->url);
		memcpy(s->operator_node, k->operator_node, sizeof s->operator_node);
		memcpy(s->own_serial, k->own_serial, sizeof s->own_serial);
		s->operator_key = k->operator_key;
		s->own_key = k->own_key;
	}
	pthread_mutex_unlock(&k->lock);
	return has;
}

/* ---- operator statements ---- */

static const tds_json_field ENVELOPE[] = {
    {"statement", TDS_JSON_OBJECT, true, 0},
    {"sig_alg", TDS_JSON_STRING, true, 16},
    {"signature", TDS_JSON_STRING, true, 128},
};

int tds_nodekeys_statement_verify(const json_t *doc, const char *type, const char *operator_node_id,
				  const tds_key *operator_key, int64_t now_ms, const json_t **statement)
{
	*statement = NULL;
	if (!json_is_object(doc) || tds_json_check(doc, ENVELOPE, TDS_ARRAY_LEN(ENVELOPE), false) < 0)
		return tds_error_set(TDS_EINVAL, "invalid_statement", "the operator's answer is not a signed statement");
	const json_t *st = json_object_get(doc, "statement");
	char kid[TDS_KEY_ID_LEN + 1];
	int rc = tds_key_id(operator_key, kid);
	if (rc)
		return rc;
	if (strcmp(tds_json_str(st, "type", ""), type) != 0 || strcmp(tds_json_str(st, "issuer", ""), operator_node_id) != 0 ||
	    strcmp(tds_json_str(st, "issuer_key_id", ""), kid) != 0 ||
	    strcmp(tds_json_str(doc, "sig_alg", ""), tds_sig_alg(tds_key_suite(operator_key))) != 0)
		return tds_error_set(TDS_ECRYPTO, "bad_statement",
				     "the statement is not a %s of this node's operator and its key", type);
	int64_t at;
	if (tds_time_parse(tds_json_str(st, "at", ""), &at) < 0)
		return tds_error_set(TDS_EINVAL, "invalid_statement", "the statement's time is not RFC 3339");
	if (at < now_ms - TDS_CERT_SKEW_MS || at > now_ms + TDS_CERT_SKEW_MS)
		return tds_error_set(TDS_EAUTH, "stale_statement",
				     "the operator's statement was made more than 5 minutes from this node's clock");
	tds_buf canon = TDS_BUF_INIT, sig = TDS_BUF_INIT;
	const char *s = tds_json_str(doc, "signature", "");
	if (!(rc = tds_json_canonical(st, &canon)) && tds_b64_decode(s, strlen(s), &sig) < 0)
		rc = tds_error_set(TDS_EINVAL, "invalid_statement", "the statement's signature is not base64");
	if (!rc && tds_verify(operator_key, canon.data, canon.len, (const uint8_t *)sig.data, sig.len) < 0)
		rc = tds_error_set(TDS_ECRYPTO, "bad_statement",
				   "the statement's signature does not verify under the operator's key");
	tds_buf_free(&canon);
	tds_buf_free(&sig);
	if (!rc)
		*statement = st;
	return rc;
}

/* GET on the operator, signed as this node; *out is the JSON answer (caller frees). */
static int operator_get(const snapshot *s, const char *path, long *status, json_t **out)
{
	*out = NULL;
	tds_http_client *c = tds_http_client_new(s->url, FETCH_TIMEOUT_MS);
	if (!c)
		return tds_error_code();
	int rc = tds_http_client_set_signer(c, s->own_key, s->own_serial);
	if (!rc)
		rc = tds_http_client_json(c, "GET", path, NULL, status, out);
	tds_http_client_free(c);
	return rc;
}

/* ---- resolving ---- */

static int revoked_error(const char *serial)
{
	return tds_error_set(TDS_EAUTH, "certificate_revoked",
			     "the certificate %s that signed this request was revoked by the operator", serial);
}

static int expired_error(const char *serial)
{
	return tds_error_set(TDS_EAUTH, "certificate_expired", "the certificate %s that signed this request has expired",
			     serial);
}

static int unverifiable(const char *serial, const char *why)
{
	return tds_error_set(TDS_EAUTH, "certificate_unverifiable",
			     "the operator could not be asked about certificate %s (%s); retry later", serial, why);
}

/* Operator: the registry says whether the serial is good now; the parsed key is cached. */
static int resolve_local(tds_nodekeys *k, const char *serial, int64_t now, entry **out)
{
	pthread_mutex_lock(&k->lock);
	entry *e = find(k, serial);
	pthread_mutex_unlock(&k->lock);
	char status[16];
	tds_buf json = TDS_BUF_INIT;
	int rc = id_cert_state(k->id, serial, now, status, e ? NULL : &json);
	if (!rc && strcmp(status, "revoked") == 0)
		rc = revoked_error(serial);
	else if (!rc && strcmp(status, "expired") == 0)
		rc = expired_error(serial);
	if (!rc && !e) {
		tds_node_cert cert;
		tds_key *key = NULL;
		if (tds_cert_parse_verify(json.data, json.len, k->id->node_key, now, &cert, &key) < 0)
			rc = tds_error_set(TDS_EAUTH, "certificate_invalid",
					   "the registry's certificate %s does not verify under this operator's key", serial);
		else if (!(e = insert(k, serial, &cert, key, false)))
			rc = tds_error_set(TDS_ENOMEM, NULL, "out of memory");
	}
	tds_buf_free(&json);
	*out = e;
	return rc;
}

/* Connector, first sight of a serial: its signed status from the operator. */
static int fetch_status(tds_nodekeys *k, const snapshot *s, const char *serial, int64_t now, entry **out)
{
	char path[128];
	snprintf(path, sizeof path, "/api/v1/connectors/certificates/%s", serial);
	long status = 0;
	json_t *doc = NULL;
	const json_t *st = NULL;
	int rc = operator_get(s, path, &status, &doc);
	if (rc) {
		rc = unverifiable(serial, "unreachable");
	} else if (status == 404) {
		negative_add(k, serial, now);
		rc = tds_error_set(TDS_ENOTFOUND, "unknown_key", "the operator issued no certificate %s", serial);
	} else if (status != 200) {
		char why[48];
		snprintf(why, sizeof why, "it answered %ld", status);
		rc = unverifiable(serial, why);
	} else if ((rc = tds_nodekeys_statement_verify(doc, "tds.cert_status", s->operator_node, s->operator_key, now, &st))) {
		rc = unverifiable(serial, "its statement does not verify");
	} else if (strcmp(tds_json_str(st, "serial", ""), serial) != 0) {
		rc = unverifiable(serial, "it answered about another serial");
	} else if (strcmp(tds_json_str(st, "status", ""), "revoked") == 0) {
		insert(k, serial, NULL, NULL, true);
		rc = revoked_error(serial);
	} else if (strcmp(tds_json_str(st, "status", ""), "valid") != 0) {
		rc = expired_error(serial);
	} else {
		tds_buf text = TDS_BUF_INIT;
		tds_node_cert cert;
		tds_key *key = NULL;
		if (tds_json_canonical(json_object_get(st, "certificate"), &text) < 0 ||
		    tds_cert_parse_verify(text.data, text.len, s->operator_key, now, &cert, &key) < 0 ||
		    strcmp(cert.serial, serial) != 0) {
			tds_key_free(key);
			rc = unverifiable(serial, "its certificate does not verify");
		} else if (!(*out = insert(k, serial, &cert, key, false))) {
			rc = tds_error_set(TDS_ENOMEM, NULL, "out of memory");
		}
		tds_buf_free(&text);
	}
	json_decref(doc);
	return rc;
}

int tds_nodekeys_resolve(void *ctx, const char *keyid, tds_arena *arena, const tds_key **key, tds_principal *out)
{
	tds_nodekeys *k = ctx;
	*key = NULL;
	if (!tds_id_valid(keyid, "crt"))
		return tds_error_set(TDS_ENOTFOUND, "unknown_key", "keyid must be a node certificate serial (crt_…)");
	int64_t now = tds_now_ms();
	entry *e = NULL;
	int rc = 0;
	if (k->id) {
		rc = resolve_local(k, keyid, now, &e);
	} else {
		snapshot s;
		pthread_mutex_lock(&k->lock);
		e = find(k, keyid);
		bool revoked = e && e->revoked, known = e && e->key, neg = !e && negative_hit(k, keyid, now);
		pthread_mutex_unlock(&k->lock);
		if (revoked)
			return revoked_error(keyid);
		if (!known) {
			e = NULL;
			if (neg)
				return tds_error_set(TDS_ENOTFOUND, "unknown_key", "the operator issued no certificate %s", keyid);
			if (!take_snapshot(k, &s))
				return tds_error_set(TDS_ENOTFOUND, "unknown_key",
						     "this node has not enrolled with its operator yet, so it cannot check "
						     "certificates");
			rc = fetch_status(k, &s, keyid, now, &e);
			if (!rc) { /* a revocation may have come in meanwhile */
				pthread_mutex_lock(&k->lock);
				revoked = e->revoked;
				pthread_mutex_unlock(&k->lock);
				if (revoked)
					return revoked_error(keyid);
			}
		}
		if (!rc && now > e->expires_ms + TDS_CERT_SKEW_MS)
			rc = expired_error(keyid);
	}
	if (rc)
		return rc;
	memset(out, 0, sizeof *out);
	out->username = tds_arena_strdup(arena, e->node_id);
	out->org_id = tds_arena_strdup(arena, e->org_id);
	out->session_id = tds_arena_strdup(arena, e->serial);
	*key = e->key;
	return 0;
}

int tds_nodekeys_sync(tds_nodekeys *k, int *revoked)
{
	if (revoked)
		*revoked = 0;
	snapshot s;
	if (k->id || !take_snapshot(k, &s))
		return 0;
	for (int page = 0; page < SYNC_MAX_PAGES; page++) {
		pthread_mutex_lock(&k->lock);
		int64_t since = k->since;
		pthread_mutex_unlock(&k->lock);
		char path[128];
		snprintf(path, sizeof path, "/api/v1/connectors/revocations?since=%lld&limit=%d", (long long)since, SYNC_PAGE);
		long status = 0;
		json_t *doc = NULL;
		const json_t *st = NULL;
		int64_t now = tds_now_ms();
		int rc = operator_get(&s, path, &status, &doc);
		if (!rc && status != 200)
			rc = tds_error_set(TDS_EIO, "operator_refused", "the operator answered %ld to the revocation list: %s", status,
					   tds_json_str(json_object_get(doc, "error"), "message", "no message"));
		if (!rc)
			rc = tds_nodekeys_statement_verify(doc, "tds.revocations", s.operator_node, s.operator_key, now, &st);
		if (!rc && tds_json_int(st, "since", -1) != since)
			rc = tds_error_set(TDS_ECRYPTO, "bad_statement", "the revocation list answers another request");
		json_t *items = json_object_get(st, "items"), *it;
		size_t i;
		json_array_foreach(items, i, it) {
			if (rc)
				break;
			const char *serial = tds_json_str(it, "serial", "");
			if (!tds_id_valid(serial, "crt"))
				continue;
			pthread_mutex_lock(&k->lock);
			entry *e = find(k, serial);
			bool fresh = !e || !e->revoked;
			pthread_mutex_unlock(&k->lock);
			if (fresh) {
				insert(k, serial, NULL, NULL, true);
				if (revoked)
					(*revoked)++;
				tds_log_fields(TDS_LOG_INFO, "certificate_revoked", json_pack("{s:s}", "serial", serial));
			}
		}
		int64_t next = tds_json_int(st, "next", since);
		bool more = tds_json_bool(st, "more", false);
		json_decref(doc);
		if (rc)
			return rc;
		pthread_mutex_lock(&k->lock);
		if (next > k->since)
			k->since = next;
		pthread_mutex_unlock(&k->lock);
		if (!more || next <= since)
			break;
	}
	return 0;
}

/* ---- enrolment, the connector's side ---- */

/* The operator's refusal as this node's error (its code name and message, a status-derived code). */
static int operator_refusal(long status, const json_t *body)
{
	const json_t *e = json_object_get(body, "error");
	int code = status == 400 ? TDS_EINVAL : status == 401 ? TDS_EAUTH : status == 403 ? TDS_EPERM
		 : status == 404 ? TDS_ENOTFOUND : status == 409 ? TDS_ECONFLICT : status == 429 ? TDS_ELIMIT : TDS_EIO;
	return tds_error_set(code, tds_json_str(e, "code", "operator_refused"), "the operator refused the enrolment (HTTP %ld): %s",
			     status, tds_json_str(e, "message", "no message"));
}

int tds_nodekeys_enroll(const char *operator_url, const char *client_id, const char *client_secret,
			const char *pinned_key_id, const tds_key *own_key, const char *own_node_id, tds_buf *cert_json,
			tds_buf *operator_pem, tds_node_cert *out)
{
	tds_node_cert cert;
	tds_node_cert *c = out ? out : &cert;
	memset(c, 0, sizeof *c);
	if (!operator_url)
		return tds_error_set(TDS_ECONFLICT, "no_operator", "node.operator_url is not set: this node does not know its operator");
	tds_http_client *cl = tds_http_client_new(operator_url, 15000);
	if (!cl)
		return tds_error_code();
	json_t *body = json_pack("{s:s, s:s}", "client_id", client_id ? client_id : "", "client_secret",
				 client_secret ? client_secret : ""),
	       *ans = NULL;
	long status = 0;
	int rc = tds_http_client_json(cl, "POST", "/api/v1/connectors/enroll", body, &status, &ans);
	tds_http_client_free(cl);
	json_decref(body);
	tds_key *op = NULL;
	tds_buf text = TDS_BUF_INIT, pem = TDS_BUF_INIT;
	char op_kid[TDS_KEY_ID_LEN + 1], own_kid[TDS_KEY_ID_LEN + 1];
	const json_t *opj = json_object_get(ans, "operator");
	const char *op_pem = tds_json_str(opj, "public_key_pem", NULL);
	if (rc) {
		rc = tds_error_set(TDS_EIO, "operator_unreachable", "cannot reach the operator at %s: %s", operator_url,
				   tds_error_message());
		goto done;
	}
	if (status != 200) {
		rc = operator_refusal(status, ans);
		goto done;
	}
	if (!op_pem || tds_key_from_pem(op_pem, strlen(op_pem), &op) < 0 || tds_key_has_private(op)) {
		rc = tds_error_set(TDS_EUNPROC, "operator_key_mismatch", "the operator's answer holds no usable public key");
		goto done;
	}
	if ((rc = tds_key_id(op, op_kid)) || (rc = tds_key_id(own_key, own_kid)))
		goto done;
	if (pinned_key_id && strcmp(pinned_key_id, op_kid) != 0) {
		rc = tds_error_set(TDS_EUNPROC, "operator_key_mismatch",
				   "the operator answered with key %.16s…, not the pinned operator key %.16s…: something "
				   "between this node and the operator is not the operator",
				   op_kid, pinned_key_id);
		goto done;
	}
	if (tds_json_canonical(json_object_get(ans, "certificate"), &text) < 0 ||
	    tds_cert_parse_verify(text.data, text.len, op, tds_now_ms(), c, NULL) < 0) {
		rc = tds_error_set(TDS_EUNPROC, "certificate_mismatch", "the certificate does not verify under the operator's key: %s",
				   tds_error_message());
		goto done;
	}
	if (strcmp(c->node_id, own_node_id) != 0 || strcmp(c->key_id, own_kid) != 0 || c->role != TDS_NODE_ROLE_CONNECTOR) {
		rc = tds_error_set(TDS_EUNPROC, "certificate_mismatch",
				   "the certificate belongs to node %s with key %.16s…, not to this node (%s, key %.16s…): "
				   "check that the ClientID is this connector's",
				   c->node_id, c->key_id, own_node_id, own_kid);
		goto done;
	}
	if ((rc = tds_key_public_pem(op, &pem)) || (rc = tds_buf_append(cert_json, text.data, text.len)) ||
	    (rc = tds_buf_append(operator_pem, pem.data, pem.len)))
		goto done;
done:
	if (rc)
		memset(c, 0, sizeof *c);
	tds_key_free(op);
	tds_buf_free(&text);
	tds_buf_free(&pem);
	json_decref(ans);
	return rc;
}
