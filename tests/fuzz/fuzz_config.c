/*
 * fuzz_config.c — libFuzzer target for the tds.conf loader (INI through libinih, then schema
 * validation) and the environment layer. Any input must load or fail with an error, never crash.
 */
#include "base/base.h"
#include "node/node.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t n;
	const tds_conf_key *schema = tds_node_config_schema(&n);
	tds_config *c = tds_config_new(schema, n);
	if (tds_config_load_string(c, (const char *)data, size) == 0) {
		/* a loaded config writes back to text that loads to the same values */
		tds_buf out = TDS_BUF_INIT;
		if (tds_config_write(c, &out) == 0) {
			tds_config *d = tds_config_new(schema, n);
			if (tds_config_load_string(d, out.data ? out.data : "", out.len) != 0)
				abort();
			for (size_t i = 0; i < n; i++) {
				const char *a = tds_config_get(c, schema[i].key), *b = tds_config_get(d, schema[i].key);
				if ((a == NULL) != (b == NULL) || (a && strcmp(a, b) != 0))
					abort();
			}
			tds_config_free(d);
		}
		tds_buf_free(&out);
	}
	/* the same bytes as one environment variable */
	char *env = malloc(size + 20);
	memcpy(env, "TDS_NODE_NAME=", 14);
	memcpy(env + 14, data, size);
	env[14 + size] = 0;
	char *envp[] = {env, NULL};
	tds_config_load_env(c, envp);
	free(env);
	tds_config_free(c);
	tds_error_clear();
	return 0;
}
