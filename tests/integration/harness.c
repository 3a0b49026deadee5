/*
 * harness.c — see harness.h. Tests use cmocka's assertions; failures here abort the test.
 */
#include "harness.h"

#include "crypto/crypto.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

const char *tn_bin_dir(void)
{
	const char *d = getenv("TDS_BIN_DIR");
	return d ? d : "build/bin";
}

int tn_run(const char *cmd, char **out)
{
	FILE *p = popen(cmd, "r");
	if (!p)
		return -1;
	tds_buf b = TDS_BUF_INIT;
	char chunk[4096];
	size_t n;
	while ((n = fread(chunk, 1, sizeof chunk, p)) > 0)
		tds_buf_append(&b, chunk, n);
	int st = pclose(p);
	if (out)
		*out = b.data ? tds_buf_steal(&b) : strdup("");
	tds_buf_free(&b);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

tn_node *tn_init(const char *role, const char *suite)
{
	tn_node *n = calloc(1, sizeof *n);
	snprintf(n->dir, sizeof n->dir, "/tmp/tds-it-XXXXXX");
	if (!mkdtemp(n->dir))
		abort();
	char cmd[1024], *out = NULL;
	snprintf(cmd, sizeof cmd, "%s/tds node init --role %s --suite %s --dir %s/node --json", tn_bin_dir(), role, suite,
		 n->dir);
	int st = tn_run(cmd, &out);
	json_t *j = out ? json_loads(out, 0, NULL) : NULL;
	if (st != 0 || !j) {
		fprintf(stderr, "node init failed (%d): %s\n", st, out ? out : "");
		abort();
	}
	free(out);
	n->init = j;
	strcat(n->dir, "/node");
	json_t *admin = json_object_get(j, "admin");
	snprintf(n->admin_user, sizeof n->admin_user, "%s", tds_json_str(admin, "username", ""));
	snprintf(n->admin_password, sizeof n->admin_password, "%s", tds_json_str(admin, "password", ""));
	n->pid = 0;
	n->stdout_fd = -1;
	return n;
}

int tn_start(tn_node *n, char *const *extra_env)
{
	int pipefd[2];
	if (pipe(pipefd) != 0)
		return -1;
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		dup2(pipefd[1], STDOUT_FILENO);
		close(pipefd[0]);
		close(pipefd[1]);
		for (char *const *e = extra_env; e && *e; e++)
			putenv(*e);
		char bin[512];
		snprintf(bin, sizeof bin, "%s/tdsd", tn_bin_dir());
		execl(bin, "tdsd", "--dir", n->dir, "--log-level", "warn", (char *)NULL);
		_exit(127);
	}
	close(pipefd[1]);
	n->pid = pid;
	n->stdout_fd = pipefd[0];
	/* read the first line, waiting up to 20 s (sanitizer builds start slowly) */
	char line[1024];
	size_t len = 0;
	int64_t deadline = tds_now_ms() + 20000;
	while (len < sizeof line - 1) {
		struct pollfd pf = {n->stdout_fd, POLLIN, 0};
		int left = (int)(deadline - tds_now_ms());
		if (left <= 0 || poll(&pf, 1, left) <= 0)
			break;
		ssize_t r = read(n->stdout_fd, line + len, 1);
		if (r <= 0)
			break;
		if (line[len] == '\n')
			break;
		len++;
	}
	line[len] = 0;
	json_t *j = json_loads(line, 0, NULL);
	const char *api = tds_json_str(j, "api", NULL), *data = tds_json_str(j, "data", NULL);
	if (!j || !api || !data || strcmp(tds_json_str(j, "event", ""), "listening") != 0) {
		fprintf(stderr, "tdsd did not report listening: '%s'\n", line);
		json_decref(j);
		tn_stop(n);
		return -1;
	}
	snprintf(n->api, sizeof n->api, "%s", api);
	snprintf(n->data, sizeof n->data, "%s", data);
	json_decref(j);
	return 0;
}

int tn_stop(tn_node *n)
{
	if (n->pid <= 0)
		return 0;
	kill(n->pid, SIGTERM);
	int st = 0;
	for (int i = 0; i < 300; i++) { /* up to 30 s */
		pid_t r = waitpid(n->pid, &st, WNOHANG);
		if (r == n->pid)
			goto done;
		struct timespec ts = {0, 100 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	kill(n->pid, SIGKILL);
	waitpid(n->pid, &st, 0);
	st = -1;
done:
	n->pid = 0;
	if (n->stdout_fd >= 0)
		close(n->stdout_fd);
	n->stdout_fd = -1;
	if (st == -1)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

void tn_free(tn_node *n)
{
	if (!n)
		return;
	tn_stop(n);
	char cmd[600];
	char *slash = strrchr(n->dir, '/');
	if (slash)
		*slash = 0; /* remove the temp parent */
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", n->dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", n->dir);
	json_decref(n->init);
	free(n);
}

long tn_call_h(tn_node *n, int api, const char *method, const char *path, const char *token,
	       const char *const *headers, const char *body, size_t body_len, json_t **out, bool *replayed)
{
	tds_http_client *c = tds_http_client_new(api ? n->api : n->data, 30000);
	if (token)
		tds_http_client_set_token(c, token);
	tds_http_response r = {0};
	int rc = tds_http_client_do(c, method, path, headers, body, body_len, &r);
	tds_http_client_free(c);
	if (rc) {
		tds_http_response_free(&r);
		return -1;
	}
	if (out)
		*out = r.body.len ? json_loadb(r.body.data, r.body.len, 0, NULL) : NULL;
	if (replayed) {
		char v[16] = "";
		*replayed = tds_http_response_header(&r, "Idempotent-Replayed", v, sizeof v) && strcmp(v, "true") == 0;
	}
	long status = r.status;
	tds_http_response_free(&r);
	return status;
}

long tn_call(tn_node *n, int api, const char *method, const char *path, const char *token,
	     const char *content_type, const char *body, size_t body_len, json_t **out)
{
	char ct[256];
	const char *headers[2] = {NULL, NULL};
	if (content_type) {
		snprintf(ct, sizeof ct, "Content-Type: %s", content_type);
		headers[0] = ct;
	}
	return tn_call_h(n, api, method, path, token, headers, body, body_len, out, NULL);
}

long tn_json(tn_node *n, const char *method, const char *path, const char *token, const char *body, json_t **out)
{
	return tn_call(n, 1, method, path, token, body ? "application/json" : NULL, body, body ? strlen(body) : 0, out);
}

char *tn_login_admin(tn_node *n)
{
	char body[512];
	snprintf(body, sizeof body, "{\"username\":\"%s\",\"password\":\"%s\"}", n->admin_user, n->admin_password);
	json_t *out = NULL;
	long st = tn_json(n, "POST", "/api/v1/auth/login", NULL, body, &out);
	char *tok = st == 200 ? strdup(tds_json_str(out, "token", "")) : NULL;
	json_decref(out);
	return tok;
}

char *tn_login(tn_node *n, const char *user, const char *password)
{
	json_t *body = json_pack("{s:s, s:s}", "username", user, "password", password), *out = NULL;
	char *text = json_dumps(body, 0);
	long st = tn_json(n, "POST", "/api/v1/auth/login", NULL, text, &out);
	char *tok = st == 200 ? strdup(tds_json_str(out, "token", "")) : NULL;
	if (!tok)
		fprintf(stderr, "login %s: HTTP %ld\n", user, st);
	free(text);
	json_decref(body);
	json_decref(out);
	return tok;
}

/* POSTs body (a new reference, consumed) and expects `want`; *out (may be NULL) gets the answer. */
static int post_expect(tn_node *n, const char *path, const char *token, json_t *body, long want, json_t **out)
{
	char *text = json_dumps(body, 0);
	json_t *o = NULL;
	long st = tn_json(n, "POST", path, token, text, &o);
	free(text);
	json_decref(body);
	if (st != want) {
		json_t *e = json_object_get(o, "error");
		fprintf(stderr, "POST %s: HTTP %ld, wanted %ld (%s: %s)\n", path, st, want, tds_json_str(e, "code", "-"),
			tds_json_str(e, "message", "-"));
		json_decref(o);
		return -1;
	}
	if (out)
		*out = o;
	else
		json_decref(o);
	return 0;
}

int tn_onboard_org(tn_node *op, const char *admin, const char *user, const char *name, const char *type,
		   const char *uscc, const char *role, char *org, char *token)
{
	static const char HASH[] = "6b86b273ff34fce19d6b804eff5a3f5747ada4eaa22f1d49c01e52ddb7875b4b";
	json_t *out = NULL;
	char path[192];
	if (post_expect(op, "/api/v1/orgs", NULL,
			json_pack("{s:s, s:s, s:s, s:s}", "username", user, "password", TN_PASSWORD, "name", name, "type", type),
			201, &out))
		return -1;
	snprintf(org, 64, "%s", tds_json_str(json_object_get(out, "org"), "id", ""));
	json_decref(out);
	char *tok = tn_login(op, user, TN_PASSWORD);
	if (!tok)
		return -1;
	snprintf(token, 128, "%s", tok);
	free(tok);
	snprintf(path, sizeof path, "/api/v1/orgs/%s/verification", org);
	if (post_expect(op, path, token, json_pack("{s:s, s:s, s:s}", "uscc", uscc, "legal_rep", "张三", "licence_hash", HASH),
			200, NULL))
		return -1;
	snprintf(path, sizeof path, "/api/v1/orgs/%s/review", org);
	if (post_expect(op, path, admin, json_pack("{s:s}", "decision", "approve"), 200, NULL))
		return -1;
	if (!role)
		return 0;
	if (strcmp(role, "provider") == 0) {
		char from[TDS_TIME_MAX], to[TDS_TIME_MAX];
		tds_time_format(tds_now_ms() - 100LL * 86400000, from);
		tds_time_format(tds_now_ms() + 400LL * 86400000, to);
		from[10] = to[10] = 0;
		snprintf(path, sizeof path, "/api/v1/orgs/%s/qualifications", org);
		if (post_expect(op, path, token,
				json_pack("{s:s, s:i, s:s, s:s, s:s, s:s}", "type", "dengbao", "level", 3, "issuer",
					  "公安部第三研究所", "valid_from", from, "valid_to", to, "doc_hash", HASH),
				201, &out))
			return -1;
		snprintf(path, sizeof path, "/api/v1/qualifications/%s/review", tds_json_str(out, "id", ""));
		json_decref(out);
		if (post_expect(op, path, admin, json_pack("{s:s}", "decision", "approve"), 200, NULL))
			return -1;
	}
	char why[128];
	snprintf(why, sizeof why, "开展%s业务", role);
	if (post_expect(op, "/api/v1/role-applications", token, json_pack("{s:s, s:s}", "role", role, "justification", why), 201,
			&out))
		return -1;
	snprintf(path, sizeof path, "/api/v1/role-applications/%s/review", tds_json_str(out, "id", ""));
	json_decref(out);
	return post_expect(op, path, admin, json_pack("{s:s}", "decision", "approve"), 200, NULL);
}

int tn_enroll_connector(tn_node *op, const char *admin, const char *org_token, tn_node *con, const char *name,
			char *con_id, char *serial)
{
	json_t *info = NULL, *out = NULL;
	char path[192], fp[TDS_HASH_LEN * 2 + 1];
	uint8_t h[TDS_HASH_LEN];
	if (tn_json(con, "GET", "/api/v1/node", NULL, NULL, &info) != 200) {
		fprintf(stderr, "node info of %s failed\n", con->api);
		json_decref(info);
		return -1;
	}
	tds_hash(TDS_SUITE_INTL, name, strlen(name), h);
	for (size_t i = 0; i < sizeof h; i++)
		snprintf(fp + 2 * i, 3, "%02x", h[i]);
	json_t *body = json_pack("{s:s, s:s, s:[s], s:s, s:s, s:s, s:s, s:O, s:O}", "name", name, "vendor_serial", "HW-TEST-0001",
				 "ips", "127.0.0.1", "software_version", TDS_VERSION, "api_endpoint", con->api,
				 "data_endpoint", con->data, "hw_fingerprint", fp, "node_id", json_object_get(info, "node_id"),
				 "public_key_pem", json_object_get(info, "public_key_pem"));
	json_decref(info);
	if (post_expect(op, "/api/v1/connectors", org_token, body, 201, &out))
		return -1;
	char id[64];
	snprintf(id, sizeof id, "%s", tds_json_str(out, "id", ""));
	json_decref(out);
	if (con_id)
		snprintf(con_id, 64, "%s", id);
	snprintf(path, sizeof path, "/api/v1/connectors/%s/review", id);
	if (post_expect(op, path, admin, json_pack("{s:s, s:s}", "decision", "approve", "reason", "测试环境设备核验"), 200, &out))
		return -1;
	json_t *enrol = json_pack("{s:s, s:s}", "client_id", tds_json_str(out, "client_id", ""), "client_secret",
				  tds_json_str(out, "client_secret", ""));
	if (serial)
		snprintf(serial, 64, "%s", tds_json_str(out, "cert_serial", ""));
	json_decref(out);
	char *con_admin = tn_login_admin(con);
	int rc = con_admin ? post_expect(con, "/api/v1/node/enrollment", con_admin, enrol, 200, NULL) : (json_decref(enrol), -1);
	free(con_admin);
	return rc;
}
