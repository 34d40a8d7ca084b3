/* SPDX-License-Identifier: MIT */
/*
 * yamlutil.c - YAML node tree access with line numbers (see yamlutil.h).
 */
#include "util/fmacros.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <strings.h>

#include "util/buf.h"
#include "util/mem.h"
#include "util/yamlutil.h"

static char *
slurp(const char *path, size_t *len, struct lethe_err *err)
{
	FILE *f = NULL;
	char *data = NULL;
	size_t n = 0, cap = 0;

	f = fopen(path, "rb");
	if (f == NULL) {
		lethe_err_set(err, LETHE_E_IO, "%s: cannot open: %s", path, strerror(errno));
		return NULL;
	}
	for (;;) {
		size_t got;

		data = xgrow(data, &cap, n + 65536, 1);
		got = fread(data + n, 1, cap - n, f);
		n += got;
		if (n > YAML_MAX_FILE) {
			lethe_err_set(err, LETHE_E_TOOBIG, "%s: larger than %u bytes", path,
			              YAML_MAX_FILE);
			free(data);
			data = NULL;
			goto out;
		}
		if (got == 0)
			break;
	}
	if (ferror(f)) {
		lethe_err_set(err, LETHE_E_IO, "%s: read error", path);
		free(data);
		data = NULL;
		goto out;
	}
	*len = n;
out:
	fclose(f);
	return data;
}

/*
 * After the first document of @parser: a second one is an error (a
 * configuration split in two would otherwise lose its second half without
 * a word).
 */
static lethe_rc
only_document(yaml_parser_t *parser, const char *path, lethe_rc kind, struct lethe_err *err)
{
	yaml_document_t next;
	lethe_rc rc = LETHE_OK;

	if (!yaml_parser_load(parser, &next))
		return lethe_err_set(err, kind, "%s:%zu: YAML syntax error: %s", path,
		                     parser->problem_mark.line + 1,
		                     parser->problem ? parser->problem : "unknown");
	if (yaml_document_get_root_node(&next) != NULL)
		rc = lethe_err_set(err, kind,
		                   "%s:%zu: a second YAML document; the file must hold one (remove "
		                   "the '---' line and what follows, or merge them)",
		                   path, next.start_mark.line + 1);
	yaml_document_delete(&next);
	return rc;
}

lethe_rc
ydoc_load(struct ydoc *d, const char *path, const char *text, lethe_rc kind, struct lethe_err *err)
{
	yaml_parser_t parser;
	char *data = NULL;
	size_t len = 0;
	lethe_rc rc = LETHE_OK;

	memset(d, 0, sizeof(*d));
	d->path = xstrdup(path);
	if (text != NULL) {
		data = xstrdup(text);
		len = strlen(text);
	} else {
		data = slurp(path, &len, err);
		if (data == NULL) {
			/* A missing, unreadable or too large file is a problem of that kind. */
			if (err != NULL && (err->rc == LETHE_E_IO || err->rc == LETHE_E_TOOBIG))
				err->rc = kind;
			return err ? err->rc : kind;
		}
	}
	if (!yaml_parser_initialize(&parser)) {
		free(data);
		return lethe_err_set(err, LETHE_E_INTERNAL, "yaml parser init failed");
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)data, len);
	if (!yaml_parser_load(&parser, &d->doc)) {
		rc = lethe_err_set(err, kind, "%s:%zu: YAML syntax error: %s", path,
		                   parser.problem_mark.line + 1,
		                   parser.problem ? parser.problem : "unknown");
		goto out;
	}
	d->loaded = true;
	if (yaml_document_get_root_node(&d->doc) == NULL) {
		rc = lethe_err_set(err, kind, "%s:1: the file is empty", path);
		goto out;
	}
	rc = only_document(&parser, path, kind, err);
out:
	yaml_parser_delete(&parser);
	free(data);
	return rc;
}

void
ydoc_free(struct ydoc *d)
{
	if (d->loaded)
		yaml_document_delete(&d->doc);
	d->loaded = false;
	free(d->path);
	d->path = NULL;
}

yaml_node_t *
ydoc_root(struct ydoc *d)
{
	return yaml_document_get_root_node(&d->doc);
}

lethe_rc
ynode_fail(struct ydoc *y, const yaml_node_t *n, lethe_rc kind, struct lethe_err *err,
           const char *fmt, ...)
{
	char msg[LETHE_ERR_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return lethe_err_set(err, kind, "%s:%d: %s", y->path, ynode_line(n), msg);
}

int
ynode_line(const yaml_node_t *n)
{
	return n ? (int)n->start_mark.line + 1 : 0;
}

bool
ynode_is_map(const yaml_node_t *n)
{
	return n != NULL && n->type == YAML_MAPPING_NODE;
}

bool
ynode_is_seq(const yaml_node_t *n)
{
	return n != NULL && n->type == YAML_SEQUENCE_NODE;
}

bool
ynode_is_scalar(const yaml_node_t *n)
{
	return n != NULL && n->type == YAML_SCALAR_NODE;
}

const char *
ynode_str(const yaml_node_t *n)
{
	if (!ynode_is_scalar(n))
		return NULL;
	return (const char *)n->data.scalar.value;
}

bool
ynode_is_null(const yaml_node_t *n)
{
	const char *s;

	if (!ynode_is_scalar(n) || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	s = ynode_str(n);
	return s[0] == '\0' || strcmp(s, "~") == 0 || strcasecmp(s, "null") == 0;
}

size_t
ynode_len(const yaml_node_t *n)
{
	if (ynode_is_map(n))
		return (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
	if (ynode_is_seq(n))
		return (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
	return 0;
}

yaml_node_t *
ymap_key(struct ydoc *d, yaml_node_t *map, size_t i)
{
	return yaml_document_get_node(&d->doc, map->data.mapping.pairs.start[i].key);
}

yaml_node_t *
ymap_val(struct ydoc *d, yaml_node_t *map, size_t i)
{
	return yaml_document_get_node(&d->doc, map->data.mapping.pairs.start[i].value);
}

yaml_node_t *
yseq_item(struct ydoc *d, yaml_node_t *seq, size_t i)
{
	return yaml_document_get_node(&d->doc, seq->data.sequence.items.start[i]);
}

yaml_node_t *
ymap_get(struct ydoc *d, yaml_node_t *map, const char *key)
{
	size_t i, n;

	if (!ynode_is_map(map))
		return NULL;
	n = ynode_len(map);
	for (i = 0; i < n; i++) {
		const char *k = ynode_str(ymap_key(d, map, i));

		if (k != NULL && strcmp(k, key) == 0)
			return ymap_val(d, map, i);
	}
	return NULL;
}

lethe_rc
ymap_check_dups(struct ydoc *d, yaml_node_t *map, const char *what, lethe_rc kind,
                struct lethe_err *err)
{
	size_t i, j, n = ynode_len(map);

	for (i = 1; i < n; i++) {
		const char *k = ynode_str(ymap_key(d, map, i));

		for (j = 0; k != NULL && j < i; j++) {
			const char *o = ynode_str(ymap_key(d, map, j));

			if (o != NULL && strcmp(o, k) == 0)
				return lethe_err_set(
				    err, kind,
				    "%s:%d: key '%s' appears twice in %s (first at "
				    "line %d)",
				    d->path, ynode_line(ymap_key(d, map, i)), k, what,
				    ynode_line(ymap_key(d, map, j)));
		}
	}
	return LETHE_OK;
}

lethe_rc
ymap_check_keys(struct ydoc *d, yaml_node_t *map, const char *const *allowed, const char *what,
                lethe_rc kind, struct lethe_err *err)
{
	size_t i, n = ynode_len(map);
	lethe_rc drc = ymap_check_dups(d, map, what, kind, err);

	if (drc != LETHE_OK)
		return drc;
	for (i = 0; i < n; i++) {
		yaml_node_t *kn = ymap_key(d, map, i);
		const char *k = ynode_str(kn);
		const char *const *a;
		struct buf list;
		lethe_rc rc;

		if (k == NULL)
			return lethe_err_set(err, kind, "%s:%d: keys in %s must be plain names",
			                     d->path, ynode_line(kn), what);
		for (a = allowed; *a != NULL; a++)
			if (strcmp(*a, k) == 0)
				break;
		if (*a != NULL)
			continue;
		buf_init(&list, 4096);
		for (a = allowed; *a != NULL; a++)
			buf_addf(&list, "%s%s", a == allowed ? "" : ", ", *a);
		rc = lethe_err_set(err, kind, "%s:%d: unknown key '%s' in %s (expected: %s)",
		                   d->path, ynode_line(kn), k, what, buf_str(&list));
		buf_free(&list);
		return rc;
	}
	return LETHE_OK;
}
