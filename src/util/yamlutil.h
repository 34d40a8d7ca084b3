/* SPDX-License-Identifier: MIT */
/*
 * yamlutil.h - reading a YAML file as a node tree with line numbers.
 *
 * A thin layer over libyaml's document API so the data map and the
 * configuration loaders can say "file:line: what is wrong".  A file holds
 * one document: a second one ("---") is an error, not ignored.  Files are
 * capped at YAML_MAX_FILE bytes (over it: an error of the kind being read).
 */
#ifndef LETHE_YAMLUTIL_H
#define LETHE_YAMLUTIL_H

#include <yaml.h>

#include "util/fmacros.h"
#include "util/rc.h"

#define YAML_MAX_FILE (4u << 20)

struct ydoc {
	yaml_document_t doc; /* the parsed document */
	char *path;          /* file name for messages */
	bool loaded;         /* doc must be deleted */
};

/*
 * Load @path (or, if @text is not NULL, parse @text and use @path only for
 * messages).  On failure fills @err with "path:line: reason".
 */
lethe_rc ydoc_load(struct ydoc *d, const char *path, const char *text, lethe_rc kind,
                   struct lethe_err *err);
void ydoc_free(struct ydoc *d);
yaml_node_t *ydoc_root(struct ydoc *d);
/* 1-based line of @n. */
int ynode_line(const yaml_node_t *n);
/*
 * Set @err to @kind with "PATH:LINE: " and the printf-style message, @n's
 * line in @y's file; returns @kind.
 */
lethe_rc ynode_fail(struct ydoc *y, const yaml_node_t *n, lethe_rc kind, struct lethe_err *err,
                    const char *fmt, ...) __attribute__((format(printf, 5, 6)));
bool ynode_is_map(const yaml_node_t *n);
bool ynode_is_seq(const yaml_node_t *n);
bool ynode_is_scalar(const yaml_node_t *n);
/* A scalar's text (NUL-terminated by libyaml), or NULL if not a scalar. */
const char *ynode_str(const yaml_node_t *n);
/* True if @n is a plain (unquoted) scalar null: "~", "null", "" or "Null". */
bool ynode_is_null(const yaml_node_t *n);
/* Value of key @key in mapping @map, or NULL. */
yaml_node_t *ymap_get(struct ydoc *d, yaml_node_t *map, const char *key);
/* Number of pairs/items; and access to the i-th key/value/item. */
size_t ynode_len(const yaml_node_t *n);
yaml_node_t *ymap_key(struct ydoc *d, yaml_node_t *map, size_t i);
yaml_node_t *ymap_val(struct ydoc *d, yaml_node_t *map, size_t i);
yaml_node_t *yseq_item(struct ydoc *d, yaml_node_t *seq, size_t i);
/*
 * Check that mapping @map has only keys from the NULL-terminated @allowed.
 * Fails with "path:line: unknown key 'x' in WHAT (expected: a, b, c)".
 */
lethe_rc ymap_check_keys(struct ydoc *d, yaml_node_t *map, const char *const *allowed,
                         const char *what, lethe_rc kind, struct lethe_err *err);

/*
 * Fail if mapping @map names a key twice (YAML forbids it; libyaml does not
 * check): "path:line: key 'x' appears twice in WHAT (first at line N)".
 */
lethe_rc ymap_check_dups(struct ydoc *d, yaml_node_t *map, const char *what, lethe_rc kind,
                         struct lethe_err *err);

#endif /* LETHE_YAMLUTIL_H */
