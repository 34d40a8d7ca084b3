/* SPDX-License-Identifier: MIT */
/*
 * template.h - a tiny mustache-like template engine for lethe's HTML pages and mails.
 *
 * Supported tags (a subset of mustache):
 *
 *   {{name}}               the value of name, HTML-escaped (& < > " ')
 *   {{{name}}} {{&name}}   the value, raw: only for text lethe itself produced
 *   {{#name}}...{{/name}}  a list: the body once per item, the item's
 *                          variables in scope; a flag or a string: the body
 *                          once if true / non-empty
 *   {{^name}}...{{/name}}  the body once if name is false, empty or unknown
 *   {{! comment }}         nothing
 *
 * Spaces around a name are ignored ({{ name }}).  A name is looked up in the
 * innermost list item first, then outwards; an unknown name renders empty.
 * Unbalanced or malformed tags are an error (LETHE_E_CONFIG, with the line),
 * whether or not the section would have been rendered.  Templates are
 * capped at TEMPLATE_IN_MAX bytes, output at TEMPLATE_OUT_MAX bytes
 * (LETHE_E_TOOBIG) and sections nest at most TEMPLATE_DEPTH_MAX deep.
 *
 * A struct tpl_ctx owns copies of every name and value added to it.  Not
 * thread-safe per context; rendering only reads the context, so one context
 * may be rendered from several threads at once.
 */
#ifndef LETHE_TEMPLATE_H
#define LETHE_TEMPLATE_H

#include "util/fmacros.h"
#include "util/rc.h"

#define TEMPLATE_IN_MAX (256u * 1024u)   /* largest template accepted */
#define TEMPLATE_OUT_MAX (1024u * 1024u) /* largest rendered output */
#define TEMPLATE_DEPTH_MAX 16            /* deepest section nesting */

enum tpl_kind {
	TPL_STR,  /* a string */
	TPL_BOOL, /* a flag */
	TPL_LIST, /* a list of sub-contexts */
};

struct tpl_ctx;

struct tpl_var {
	char *name;             /* the variable's name (owned) */
	enum tpl_kind kind;     /* which of the fields below holds the value */
	char *str;              /* TPL_STR: the value (owned, never NULL) */
	bool flag;              /* TPL_BOOL: the value */
	struct tpl_ctx **items; /* TPL_LIST: the items (owned) */
	size_t nitems;          /* TPL_LIST: number of items */
	size_t capitems;        /* TPL_LIST: allocated slots in items */
};

struct tpl_ctx {
	struct tpl_var *vars; /* the variables, in the order added (owned) */
	size_t nvars;         /* number of variables */
	size_t capvars;       /* allocated slots in vars */
};

/* Prepare @ctx (caller-owned storage) as an empty context. */
void tpl_ctx_init(struct tpl_ctx *ctx);
/* Release everything @ctx owns, list items included; @ctx may be re-initialised. */
void tpl_ctx_free(struct tpl_ctx *ctx);

/*
 * Set string @name to a copy of @value (NULL is stored as "").  Setting a
 * name again replaces its value, whatever its kind was.
 */
void tpl_ctx_add_str(struct tpl_ctx *ctx, const char *name, const char *value);
/* Set string @name to the printf-formatted text. */
void tpl_ctx_add_strf(struct tpl_ctx *ctx, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Set flag @name. */
void tpl_ctx_add_bool(struct tpl_ctx *ctx, const char *name, bool value);
/* Make @name an empty list (so {{^name}} renders); replaces any other kind. */
void tpl_ctx_add_list(struct tpl_ctx *ctx, const char *name);
/*
 * Append an empty item to list @name (created if missing) and return it for
 * the caller to fill.  The pointer stays valid until tpl_ctx_free(@ctx).
 */
struct tpl_ctx *tpl_ctx_add_item(struct tpl_ctx *ctx, const char *name);

/*
 * Render @tpl with the variables of @ctx.  Returns a NUL-terminated string
 * the caller frees, or NULL with detail in @err: LETHE_E_CONFIG for a
 * malformed template ("template:LINE: ..."), LETHE_E_TOOBIG when the
 * template or the output is over its cap.  Reads @ctx only.
 */
char *template_render(const char *tpl, const struct tpl_ctx *ctx, struct lethe_err *err);

/*
 * As template_render(), for plain text (a mail's text part, its subject):
 * {{name}} inserts the value as it is, without HTML escaping.
 */
char *template_render_text(const char *tpl, const struct tpl_ctx *ctx, struct lethe_err *err);

/* ---- variables the pages and the mails share (one wording, one format) ---- */

/* "22 November 2026": the UTC date of @t (epoch s) into @out. */
void template_date(int64_t t, char *out, size_t n);
/*
 * Set @name to "22 November 2026 at 14:05 UTC", @name_date to
 * "22 November 2026" and @name_iso to "2026-11-22T14:05:00Z" of @t.
 */
void tpl_ctx_add_time(struct tpl_ctx *ctx, const char *name, int64_t t);
/* Set @name to @v with thousands separators ("1,234"; negative: "0") and flag @name_one. */
void tpl_ctx_add_count(struct tpl_ctx *ctx, const char *name, int64_t v);

/*
 * Check @tpl for malformed tags without rendering it (for checking an
 * operator's template at start-up).  Returns LETHE_OK or an error as above.
 */
lethe_rc template_check(const char *tpl, struct lethe_err *err);

/*
 * Return @s (NULL is "") HTML-escaped as {{name}} does it, in a fresh string
 * the caller frees.  For callers that build a little HTML by hand.
 */
char *template_escape(const char *s);

#endif /* LETHE_TEMPLATE_H */
