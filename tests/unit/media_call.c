/* SPDX-License-Identifier: MIT */
/*
 * media_call.c - a test driver for the media stores: one real
 * media_remove(), media_probe(), media_open() or media_set_check() on a
 * store of a `media_stores:` YAML file, its result printed as one JSON
 * line.  tests/e2e/test_media_cloudinary.py runs it against the loopback
 * fake of tests/e2e/fake_cloudinary.py: the kind's calls, retries and
 * refusals are tested without the engine around them.
 *
 *   media_call FILE check
 *   media_call FILE STORE remove KEY...
 *   media_call FILE STORE probe KEY...
 *   media_call FILE STORE open KEY TMPDIR MAX_BYTES OUTFILE
 *
 * Prints {"rc": "ok"|lethe_rc_str(), "msg": "...", "out": [...], "size": N}
 * ("out": removed/gone/failed or present/absent/unknown per key; open copies
 * the object's bytes to OUTFILE).  Exit 0 when the call ran, 2 on bad
 * arguments or a bad FILE (the error on stderr).
 */
#include "util/fmacros.h"

#include <fcntl.h>
#include <jansson.h>
#include <libgen.h>
#include <unistd.h>

#include "media/media.h"
#include "util/mem.h"

static const char *const outcome_str[] = {"failed", "removed", "gone"};
static const char *const presence_str[] = {"unknown", "absent", "present"};

/* Copy @fd (at offset 0) to a new file @path; false on any failure. */
static bool
copy_out(int fd, const char *path)
{
	char buf[8192];
	ssize_t n;
	int out = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	bool ok = out >= 0;

	while (ok && (n = read(fd, buf, sizeof(buf))) > 0)
		ok = write(out, buf, (size_t)n) == n;
	if (out >= 0 && close(out) != 0)
		ok = false;
	return ok;
}

static lethe_rc
run(const struct media_set *set, int argc, char **argv, json_t *o, struct lethe_err *err)
{
	const struct media_store *m = media_set_get(set, argv[2]);
	const char *const *keys = (const char *const *)argv + 4;
	size_t n = (size_t)(argc - 4), i;
	json_t *out = json_array();
	lethe_rc rc = LETHE_E_USAGE;

	json_object_set_new(o, "out", out);
	if (m == NULL)
		return lethe_err_set(err, LETHE_E_NOTFOUND, "no store %s", argv[2]);
	if (strcmp(argv[3], "remove") == 0 && n > 0) {
		enum media_outcome *r = xcalloc(n, sizeof(*r));
		rc = media_remove(m, keys, n, r, err);
		for (i = 0; i < n; i++)
			json_array_append_new(out, json_string(outcome_str[r[i]]));
		free(r);
	} else if (strcmp(argv[3], "probe") == 0 && n > 0) {
		enum media_presence *r = xcalloc(n, sizeof(*r));
		rc = media_probe(m, keys, n, r, err);
		for (i = 0; i < n; i++)
			json_array_append_new(out, json_string(presence_str[r[i]]));
		free(r);
	} else if (strcmp(argv[3], "open") == 0 && argc == 8) {
		int64_t size = 0;
		int fd = -1;
		rc = media_open(m, argv[4], argv[5], strtoll(argv[6], NULL, 10), &fd, &size, err);
		json_object_set_new(o, "size", json_integer(size));
		if (rc == LETHE_OK && !copy_out(fd, argv[7]))
			rc = lethe_err_set(err, LETHE_E_IO, "cannot copy to %s", argv[7]);
		if (fd >= 0)
			close(fd);
	} else {
		lethe_err_set(err, rc, "bad arguments");
	}
	return rc;
}

int
main(int argc, char **argv)
{
	struct lethe_err err = {0};
	struct media_set *set = NULL;
	struct ydoc y;
	char *tmp = NULL, *dir = NULL, *line = NULL;
	json_t *o = json_object();
	lethe_rc rc;
	int status = 2;

	memset(&y, 0, sizeof(y));
	if (argc < 3 || (argc == 3 && strcmp(argv[2], "check") != 0) || argc == 4) {
		fprintf(stderr,
		        "usage: media_call FILE check | FILE STORE remove|probe|open ...\n");
		goto out;
	}
	tmp = xstrdup(argv[1]);
	dir = xstrdup(dirname(tmp));
	if (ydoc_load(&y, argv[1], NULL, LETHE_E_CONFIG, &err) != LETHE_OK ||
	    media_set_parse(dir, NULL, &y, ydoc_root(&y), &set, &err) != LETHE_OK) {
		fprintf(stderr, "media_call: %s\n", err.msg);
		goto out;
	}
	rc = argc == 3 ? media_set_check(set, &err) : run(set, argc, argv, o, &err);
	json_object_set_new(o, "rc", json_string(rc == LETHE_OK ? "ok" : lethe_rc_str(rc)));
	json_object_set_new(o, "msg", json_string(rc == LETHE_OK ? "" : err.msg));
	line = json_dumps(o, JSON_COMPACT);
	printf("%s\n", line);
	status = rc == LETHE_E_USAGE ? 2 : 0;
out:
	free(line);
	json_decref(o);
	media_set_free(set);
	ydoc_free(&y);
	free(dir);
	free(tmp);
	return status;
}
