/*
 * file.c — small file helpers: atomic, durable writes (temp + fsync + rename + fsync of the
 * directory) so a crash never leaves a half-written config or key, and bounded whole-file reads.
 */
#include "base/base.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int tds_path_join(char *out, size_t cap, const char *dir, const char *name)
{
	int n = snprintf(out, cap, "%s/%s", dir, name);
	if (n < 0 || (size_t)n >= cap)
		return tds_error_set(TDS_EINVAL, "path_too_long", "path %s/%s is too long", dir, name);
	return 0;
}

int tds_file_write_atomic(const char *path, const void *data, size_t len, int mode)
{
	char tmp[4096], dir[4096];
	if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof tmp)
		return tds_error_set(TDS_EINVAL, "path_too_long", "path too long: %s", path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0)
		return tds_error_set(TDS_EIO, NULL, "cannot create %s: %s", tmp, strerror(errno));
	if (fchmod(fd, (mode_t)mode) != 0)
		goto fail;
	const char *p = data;
	size_t left = len;
	while (left) {
		ssize_t w = write(fd, p, left);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			goto fail;
		p += w, left -= (size_t)w;
	}
	if (fsync(fd) != 0)
		goto fail;
	close(fd);
	if (rename(tmp, path) != 0) {
		int e = errno;
		unlink(tmp);
		return tds_error_set(TDS_EIO, NULL, "cannot rename %s to %s: %s", tmp, path, strerror(e));
	}
	snprintf(dir, sizeof dir, "%s", path);
	int dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
	return 0;
fail: {
	int e = errno;
	close(fd);
	unlink(tmp);
	return tds_error_set(TDS_EIO, NULL, "cannot write %s: %s", path, strerror(e));
}
}

int tds_file_read(const char *path, size_t max, tds_buf *out)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return tds_error_set(errno == ENOENT ? TDS_ENOTFOUND : TDS_EIO, NULL, "cannot open %s: %s", path,
				     strerror(errno));
	char chunk[8192];
	size_t n, total = 0;
	int rc = 0;
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
		total += n;
		if (total > max) {
			rc = tds_error_set(TDS_ETOOBIG, "file_too_large", "%s is larger than %zu bytes", path, max);
			break;
		}
		if ((rc = tds_buf_append(out, chunk, n)))
			break;
	}
	if (!rc && ferror(f))
		rc = tds_error_set(TDS_EIO, NULL, "cannot read %s", path);
	if (!rc && !out->data)
		rc = tds_buf_reserve(out, 0);
	fclose(f);
	return rc;
}
