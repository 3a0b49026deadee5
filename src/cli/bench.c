/*
 * bench.c — what every `tds bench …` verb shares: the "machine" object of the JSON report (DESIGN §7),
 * so results from different runs and versions can be compared knowing what they ran on.
 */
#include "cli/cli.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysinfo.h>
#include <sys/utsname.h>
#include <unistd.h>

json_t *tds_cli_bench_machine(void)
{
	char cpu[256] = "unknown", line[512];
	FILE *f = fopen("/proc/cpuinfo", "r");
	while (f && fgets(line, sizeof line, f))
		if (strncmp(line, "model name", 10) == 0) {
			char *c = strchr(line, ':');
			if (c) {
				snprintf(cpu, sizeof cpu, "%s", c + 2);
				cpu[strcspn(cpu, "\n")] = 0;
			}
			break;
		}
	if (f)
		fclose(f);
	struct sysinfo si;
	struct utsname u;
	long mem = sysinfo(&si) == 0 ? (long)(si.totalram / 1048576 * si.mem_unit) : 0;
	uname(&u);
	char os[300];
	snprintf(os, sizeof os, "%s %s", u.sysname, u.release);
	double load[3] = {0, 0, 0};
	if (getloadavg(load, 3) < 0)
		load[0] = -1;
	return json_pack("{s:i, s:s, s:i, s:s, s:s, s:f}", "cores", (int)sysconf(_SC_NPROCESSORS_ONLN), "cpu", cpu,
			 "mem_mb", (int)mem, "os", os, "sqlite", sqlite3_libversion(), "load_avg_1m", load[0]);
}
