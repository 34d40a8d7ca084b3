/* SPDX-License-Identifier: MIT */
/*
 * tplset.c - the template set: embedded files, each replaced by the
 * operator's file of the same name (see tplset.h).
 *
 * Loading walks the operator's directory (at most TPLSET_DEPTH levels, e.g.
 * mail/scheduled.txt) and refuses any regular file that is not one of the
 * embedded names, then reads the files that replace embedded ones.  Every
 * .html and .txt file of the result, embedded or not, goes through
 * template_check(), so a malformed template stops lethe at start with its
 * file and line rather than at the first page or mail.
 */
#include "util/fmacros.h"

#include <dirent.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "util/mem.h"
#include "util/template.h"
#include "util/tplset.h"

#define TPLSET_DEPTH 4 /* directory levels walked under server.templates */

struct tplset {
	size_t n;      /* number of files (those of tplset_builtin) */
	char **custom; /* the operator's text of file i, or NULL: the embedded one */
};

/* Index of @name in tplset_builtin, or -1. */
static long
builtin_index(const char *name)
{
	long i;

	for (i = 0; tplset_builtin[i].name != NULL; i++)
		if (strcmp(tplset_builtin[i].name, name) == 0)
			return i;
	return -1;
}

static bool
is_template(const char *name)
{
	size_t n = strlen(name);

	return (n > 5 && strcmp(name + n - 5, ".html") == 0) ||
	       (n > 4 && strcmp(name + n - 4, ".txt") == 0);
}

/* Refuse any file under @dir/@rel that lethe does not know (@depth levels left). */
static lethe_rc
walk(const char *dir, const char *rel, int depth, struct lethe_err *err)
{
	char *path = rel[0] != '\0' ? xasprintf("%s/%s", dir, rel) : xstrdup(dir);
	DIR *d = opendir(path);
	struct dirent *e;
	lethe_rc rc = LETHE_OK;

	if (d == NULL) {
		rc = lethe_err_set(err, LETHE_E_IO, "%s: cannot read the directory: %s", path,
		                   strerror(errno));
		goto out;
	}
	while (rc == LETHE_OK && (e = readdir(d)) != NULL) {
		char *sub, *full;
		struct stat st;

		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		sub = rel[0] != '\0' ? xasprintf("%s/%s", rel, e->d_name) : xstrdup(e->d_name);
		full = xasprintf("%s/%s", dir, sub);
		if (stat(full, &st) != 0)
			rc = lethe_err_set(err, LETHE_E_IO, "%s: %s", full, strerror(errno));
		else if (S_ISDIR(st.st_mode) && depth > 0)
			rc = walk(dir, sub, depth - 1, err);
		else if (S_ISDIR(st.st_mode) || builtin_index(sub) < 0)
			rc = lethe_err_set(err, LETHE_E_CONFIG, "%s: not a template lethe uses",
			                   full);
		free(full);
		free(sub);
	}
	closedir(d);
out:
	free(path);
	return rc;
}

/* The text of @path, at most TEMPLATE_IN_MAX bytes and no NUL byte; the caller frees *@out. */
static lethe_rc
read_file(const char *path, char **out, struct lethe_err *err)
{
	FILE *f = fopen(path, "rb");
	char *text = NULL;
	size_t n = 0;
	lethe_rc rc = LETHE_OK;

	*out = NULL;
	if (f == NULL) {
		rc = lethe_err_set(err, LETHE_E_IO, "%s: %s", path, strerror(errno));
		goto out;
	}
	text = xmalloc(TEMPLATE_IN_MAX + 2);
	n = fread(text, 1, TEMPLATE_IN_MAX + 1, f);
	if (ferror(f)) {
		rc = lethe_err_set(err, LETHE_E_IO, "%s: cannot read it", path);
		goto out;
	}
	if (n > TEMPLATE_IN_MAX) {
		rc = lethe_err_set(err, LETHE_E_CONFIG, "%s: over %u bytes", path, TEMPLATE_IN_MAX);
		goto out;
	}
	text[n] = '\0';
	if (strlen(text) != n) {
		rc = lethe_err_set(err, LETHE_E_CONFIG, "%s: holds a NUL byte", path);
		goto out;
	}
	*out = text;
	text = NULL;
out:
	if (f != NULL)
		fclose(f);
	free(text);
	return rc;
}

/* template_check() of @text, its "template:LINE:" message renamed "@where:LINE:". */
static lethe_rc
check(const char *where, const char *text, struct lethe_err *err)
{
	struct lethe_err e = {LETHE_OK, ""};
	lethe_rc rc = template_check(text, &e);

	if (rc == LETHE_OK)
		return LETHE_OK;
	if (strncmp(e.msg, "template:", 9) == 0)
		return lethe_err_set(err, rc, "%s:%s", where, e.msg + 9);
	return lethe_err_set(err, rc, "%s: %s", where, e.msg);
}

lethe_rc
tplset_load(const char *dir, struct tplset **out, struct lethe_err *err)
{
	struct tplset *t = xcalloc(1, sizeof(*t));
	lethe_rc rc = LETHE_OK;
	size_t i;

	*out = NULL;
	while (tplset_builtin[t->n].name != NULL)
		t->n++;
	t->custom = xcalloc(t->n + 1, sizeof(*t->custom));
	if (dir != NULL)
		rc = walk(dir, "", TPLSET_DEPTH, err);
	for (i = 0; rc == LETHE_OK && i < t->n; i++) {
		const char *name = tplset_builtin[i].name;
		char *path = NULL, *where = NULL;
		struct stat st;

		if (dir != NULL) {
			path = xasprintf("%s/%s", dir, name);
			if (stat(path, &st) == 0)
				rc = read_file(path, &t->custom[i], err);
		}
		if (rc == LETHE_OK && is_template(name)) {
			where =
			    t->custom[i] != NULL ? xstrdup(path) : xasprintf("(built in) %s", name);
			rc = check(where,
			           t->custom[i] != NULL ? t->custom[i] : tplset_builtin[i].text,
			           err);
		}
		free(where);
		free(path);
	}
	if (rc != LETHE_OK) {
		tplset_free(t);
		return rc;
	}
	*out = t;
	return LETHE_OK;
}

const char *
tplset_get(const struct tplset *t, const char *name)
{
	long i = name != NULL ? builtin_index(name) : -1;

	if (i < 0)
		return NULL;
	if (t != NULL && t->custom[i] != NULL)
		return t->custom[i];
	return tplset_builtin[i].text;
}

bool
tplset_custom(const struct tplset *t, const char *name)
{
	long i = name != NULL ? builtin_index(name) : -1;

	return t != NULL && i >= 0 && t->custom[i] != NULL;
}

void
tplset_free(struct tplset *t)
{
	size_t i;

	if (t == NULL)
		return;
	for (i = 0; i < t->n; i++)
		free(t->custom[i]);
	free(t->custom);
	free(t);
}
