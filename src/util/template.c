/* SPDX-License-Identifier: MIT */
/*
 * template.c - the mustache-like template engine (see template.h).
 *
 * A template is first cut into tokens (text, variable, raw variable, section
 * open, inverted open, section close), checking that every section is closed
 * by a tag of the same name; each open token records the index of its close.
 * Rendering then walks the tokens, keeping a stack of contexts: the root and
 * one entry per list item being rendered.  All output goes through one
 * struct buf capped at TEMPLATE_OUT_MAX.
 */
#include "util/fmacros.h"

#include <inttypes.h>
#include <stdarg.h>
#include <string.h>
#include <time.h>

#include "util/template.h"
#include "util/buf.h"
#include "util/mem.h"
#include "util/timeutil.h"

/* ---- contexts ------------------------------------------------------------ */

void
tpl_ctx_init(struct tpl_ctx *ctx)
{
	ctx->vars = NULL;
	ctx->nvars = 0;
	ctx->capvars = 0;
}

/* Free the value of @v, leaving its name; it becomes an empty string. */
static void
var_clear(struct tpl_var *v)
{
	size_t i;

	free(v->str);
	v->str = NULL;
	for (i = 0; i < v->nitems; i++) {
		tpl_ctx_free(v->items[i]);
		free(v->items[i]);
	}
	free(v->items);
	v->items = NULL;
	v->nitems = 0;
	v->capitems = 0;
	v->flag = false;
	v->kind = TPL_STR;
}

void
tpl_ctx_free(struct tpl_ctx *ctx)
{
	size_t i;

	for (i = 0; i < ctx->nvars; i++) {
		var_clear(&ctx->vars[i]);
		free(ctx->vars[i].name);
	}
	free(ctx->vars);
	tpl_ctx_init(ctx);
}

/* The variable @name of @ctx, cleared for a new value; created if missing. */
static struct tpl_var *
var_slot(struct tpl_ctx *ctx, const char *name)
{
	struct tpl_var *v;
	size_t i;

	for (i = 0; i < ctx->nvars; i++) {
		if (strcmp(ctx->vars[i].name, name) == 0) {
			var_clear(&ctx->vars[i]);
			return &ctx->vars[i];
		}
	}
	ctx->vars = xgrow(ctx->vars, &ctx->capvars, ctx->nvars + 1, sizeof(*ctx->vars));
	v = &ctx->vars[ctx->nvars++];
	memset(v, 0, sizeof(*v));
	v->name = xstrdup(name);
	v->kind = TPL_STR;
	return v;
}

void
tpl_ctx_add_str(struct tpl_ctx *ctx, const char *name, const char *value)
{
	struct tpl_var *v = var_slot(ctx, name);

	v->str = xstrdup(value != NULL ? value : "");
}

void
tpl_ctx_add_strf(struct tpl_ctx *ctx, const char *name, const char *fmt, ...)
{
	struct tpl_var *v;
	va_list ap;
	char small[1];
	char *s;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	s = xmalloc((size_t)n + 1);
	va_start(ap, fmt);
	vsnprintf(s, (size_t)n + 1, fmt, ap);
	va_end(ap);
	v = var_slot(ctx, name);
	v->str = s;
}

void
tpl_ctx_add_bool(struct tpl_ctx *ctx, const char *name, bool value)
{
	struct tpl_var *v = var_slot(ctx, name);

	v->kind = TPL_BOOL;
	v->flag = value;
}

void
tpl_ctx_add_list(struct tpl_ctx *ctx, const char *name)
{
	struct tpl_var *v = var_slot(ctx, name);

	v->kind = TPL_LIST;
}

struct tpl_ctx *
tpl_ctx_add_item(struct tpl_ctx *ctx, const char *name)
{
	struct tpl_var *v = NULL;
	struct tpl_ctx *item;
	size_t i;

	for (i = 0; i < ctx->nvars; i++) {
		if (strcmp(ctx->vars[i].name, name) == 0 && ctx->vars[i].kind == TPL_LIST) {
			v = &ctx->vars[i];
			break;
		}
	}
	if (v == NULL) {
		v = var_slot(ctx, name);
		v->kind = TPL_LIST;
	}
	v->items = xgrow(v->items, &v->capitems, v->nitems + 1, sizeof(*v->items));
	item = xmalloc(sizeof(*item));
	tpl_ctx_init(item);
	v->items[v->nitems++] = item;
	return item;
}

/* ---- tokens -------------------------------------------------------------- */

enum tok_kind {
	TOK_TEXT,   /* literal text */
	TOK_VAR,    /* {{name}} */
	TOK_RAW,    /* {{{name}}} or {{&name}} */
	TOK_OPEN,   /* {{#name}} */
	TOK_INVERT, /* {{^name}} */
	TOK_CLOSE,  /* {{/name}} */
};

struct tok {
	enum tok_kind kind; /* what the token is */
	const char *p;      /* the text, or the name (not NUL-terminated) */
	size_t n;           /* length of p */
	size_t close;       /* TOK_OPEN/TOK_INVERT: index of the matching close */
	unsigned line;      /* 1-based line where the token starts */
};

struct toks {
	struct tok *v; /* the tokens */
	size_t n;      /* number used */
	size_t cap;    /* slots allocated */
};

static void
toks_add(struct toks *t, enum tok_kind kind, const char *p, size_t n, unsigned line)
{
	struct tok *k;

	t->v = xgrow(t->v, &t->cap, t->n + 1, sizeof(*t->v));
	k = &t->v[t->n++];
	k->kind = kind;
	k->p = p;
	k->n = n;
	k->close = 0;
	k->line = line;
}

static unsigned
count_lines(const char *p, size_t n)
{
	unsigned c = 0;
	size_t i;

	for (i = 0; i < n; i++)
		if (p[i] == '\n')
			c++;
	return c;
}

static bool
name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '-' || c == '.';
}

/* Trim spaces around [*p, *p + *n) and check it is a valid name. */
static bool
name_clean(const char **p, size_t *n)
{
	size_t i;

	while (*n > 0 && (**p == ' ' || **p == '\t')) {
		(*p)++;
		(*n)--;
	}
	while (*n > 0 && ((*p)[*n - 1] == ' ' || (*p)[*n - 1] == '\t'))
		(*n)--;
	if (*n == 0)
		return false;
	for (i = 0; i < *n; i++)
		if (!name_char((*p)[i]))
			return false;
	return true;
}

/*
 * Cut @tpl into tokens in @t, matching sections.  Returns LETHE_OK or
 * LETHE_E_CONFIG/LETHE_E_TOOBIG with detail in @err.
 */
static lethe_rc
tokenize(const char *tpl, struct toks *t, struct lethe_err *err)
{
	size_t open[TEMPLATE_DEPTH_MAX]; /* indexes of the sections still open */
	size_t depth = 0;
	const char *p = tpl;
	unsigned line = 1;

	if (strlen(tpl) > TEMPLATE_IN_MAX)
		return lethe_err_set(err, LETHE_E_TOOBIG, "template: over %u bytes",
		                     TEMPLATE_IN_MAX);
	while (*p != '\0') {
		const char *q = strstr(p, "{{");
		const char *name, *end;
		enum tok_kind kind;
		size_t n, taglen;
		unsigned tagline;

		if (q == NULL) {
			toks_add(t, TOK_TEXT, p, strlen(p), line);
			break;
		}
		if (q > p) {
			toks_add(t, TOK_TEXT, p, (size_t)(q - p), line);
			line += count_lines(p, (size_t)(q - p));
		}
		tagline = line;
		if (q[2] == '{') {
			end = strstr(q + 3, "}}}");
			if (end == NULL)
				return lethe_err_set(err, LETHE_E_CONFIG,
				                     "template:%u: \"{{{\" without \"}}}\"",
				                     tagline);
			kind = TOK_RAW;
			name = q + 3;
			n = (size_t)(end - name);
			taglen = (size_t)(end + 3 - q);
		} else {
			end = strstr(q + 2, "}}");
			if (end == NULL)
				return lethe_err_set(err, LETHE_E_CONFIG,
				                     "template:%u: \"{{\" without \"}}\"", tagline);
			name = q + 2;
			n = (size_t)(end - name);
			taglen = (size_t)(end + 2 - q);
			kind = TOK_VAR;
			if (n > 0) {
				switch (*name) {
				case '#':
					kind = TOK_OPEN;
					break;
				case '^':
					kind = TOK_INVERT;
					break;
				case '/':
					kind = TOK_CLOSE;
					break;
				case '&':
					kind = TOK_RAW;
					break;
				case '!':
					/* A comment: skip it, newlines included. */
					line += count_lines(q, taglen);
					p = q + taglen;
					continue;
				default:
					break;
				}
				if (kind != TOK_VAR) {
					name++;
					n--;
				}
			}
		}
		line += count_lines(q, taglen);
		p = q + taglen;
		if (!name_clean(&name, &n))
			return lethe_err_set(err, LETHE_E_CONFIG,
			                     "template:%u: bad tag \"%.*s\" (a name is letters, "
			                     "digits, '_', '-' or '.')",
			                     tagline, (int)(taglen < 60 ? taglen : 60), q);
		if (kind == TOK_CLOSE) {
			struct tok *o;

			if (depth == 0)
				return lethe_err_set(err, LETHE_E_CONFIG,
				                     "template:%u: {{/%.*s}} closes no section",
				                     tagline, (int)n, name);
			o = &t->v[open[depth - 1]];
			if (o->n != n || memcmp(o->p, name, n) != 0)
				return lethe_err_set(err, LETHE_E_CONFIG,
				                     "template:%u: {{/%.*s}} does not match "
				                     "{{%c%.*s}} opened on line %u",
				                     tagline, (int)n, name,
				                     o->kind == TOK_OPEN ? '#' : '^', (int)o->n,
				                     o->p, o->line);
			o->close = t->n;
			depth--;
		} else if (kind == TOK_OPEN || kind == TOK_INVERT) {
			if (depth == TEMPLATE_DEPTH_MAX)
				return lethe_err_set(err, LETHE_E_CONFIG,
				                     "template:%u: sections nested over %d deep",
				                     tagline, TEMPLATE_DEPTH_MAX);
			open[depth++] = t->n;
		}
		toks_add(t, kind, name, n, tagline);
	}
	if (depth > 0) {
		const struct tok *o = &t->v[open[depth - 1]];

		return lethe_err_set(err, LETHE_E_CONFIG, "template:%u: {{%c%.*s}} is never closed",
		                     o->line, o->kind == TOK_OPEN ? '#' : '^', (int)o->n, o->p);
	}
	return LETHE_OK;
}

/* ---- rendering ----------------------------------------------------------- */

struct render {
	const struct toks *t;                                /* the template's tokens */
	const struct tpl_ctx *stack[TEMPLATE_DEPTH_MAX + 1]; /* contexts, innermost last */
	size_t depth;                                        /* entries used in stack */
	struct buf out;                                      /* the output */
	bool escape;                                         /* {{name}} is HTML-escaped */
};

/* The variable named by token @k, innermost context first, or NULL. */
static const struct tpl_var *
lookup(const struct render *r, const struct tok *k)
{
	size_t d, i;

	for (d = r->depth; d > 0; d--) {
		const struct tpl_ctx *c = r->stack[d - 1];

		for (i = 0; i < c->nvars; i++) {
			const struct tpl_var *v = &c->vars[i];

			if (strlen(v->name) == k->n && memcmp(v->name, k->p, k->n) == 0)
				return v;
		}
	}
	return NULL;
}

static bool
truthy(const struct tpl_var *v)
{
	if (v == NULL)
		return false;
	switch (v->kind) {
	case TPL_STR:
		return v->str != NULL && v->str[0] != '\0';
	case TPL_BOOL:
		return v->flag;
	case TPL_LIST:
		return v->nitems > 0;
	}
	return false;
}

/* Append @s to @b with & < > " ' replaced by entities. */
static lethe_rc
add_escaped(struct buf *b, const char *s)
{
	lethe_rc rc = LETHE_OK;

	while (*s != '\0' && rc == LETHE_OK) {
		size_t run = strcspn(s, "&<>\"'");
		const char *ent = NULL;

		if (run > 0) {
			rc = buf_add(b, s, run);
			s += run;
			continue;
		}
		switch (*s) {
		case '&':
			ent = "&amp;";
			break;
		case '<':
			ent = "&lt;";
			break;
		case '>':
			ent = "&gt;";
			break;
		case '"':
			ent = "&quot;";
			break;
		default:
			ent = "&#39;";
			break;
		}
		rc = buf_adds(b, ent);
		s++;
	}
	return rc;
}

/* Render tokens [@from, @to). */
static lethe_rc
render_range(struct render *r, size_t from, size_t to)
{
	size_t i, j;
	lethe_rc rc = LETHE_OK;

	for (i = from; i < to && rc == LETHE_OK; i++) {
		const struct tok *k = &r->t->v[i];
		const struct tpl_var *v;

		switch (k->kind) {
		case TOK_TEXT:
			rc = buf_add(&r->out, k->p, k->n);
			break;
		case TOK_VAR:
		case TOK_RAW:
			v = lookup(r, k);
			if (v != NULL && v->kind == TPL_STR)
				rc = k->kind == TOK_VAR && r->escape ? add_escaped(&r->out, v->str)
				                                     : buf_adds(&r->out, v->str);
			break;
		case TOK_OPEN:
			v = lookup(r, k);
			if (v != NULL && v->kind == TPL_LIST) {
				/* Depth is bounded: tokenize() capped section nesting. */
				for (j = 0; j < v->nitems && rc == LETHE_OK; j++) {
					r->stack[r->depth++] = v->items[j];
					rc = render_range(r, i + 1, k->close);
					r->depth--;
				}
			} else if (truthy(v)) {
				rc = render_range(r, i + 1, k->close);
			}
			i = k->close;
			break;
		case TOK_INVERT:
			if (!truthy(lookup(r, k)))
				rc = render_range(r, i + 1, k->close);
			i = k->close;
			break;
		case TOK_CLOSE:
			/* Unreachable: every close is skipped over by its open. */
			break;
		}
	}
	return rc;
}

lethe_rc
template_check(const char *tpl, struct lethe_err *err)
{
	struct toks t = {NULL, 0, 0};
	lethe_rc rc;

	rc = tokenize(tpl, &t, err);
	free(t.v);
	return rc;
}

/* Render @tpl with @ctx, {{name}} HTML-escaped if @escape. */
static char *
render(const char *tpl, const struct tpl_ctx *ctx, bool escape, struct lethe_err *err)
{
	struct toks t = {NULL, 0, 0};
	struct render r;
	char *res = NULL;
	lethe_rc rc;

	buf_init(&r.out, TEMPLATE_OUT_MAX);
	rc = tokenize(tpl, &t, err);
	if (rc != LETHE_OK)
		goto out;
	r.t = &t;
	r.stack[0] = ctx;
	r.depth = 1;
	r.escape = escape;
	rc = render_range(&r, 0, t.n);
	if (rc == LETHE_E_TOOBIG) {
		lethe_err_set(err, rc, "template: output over %u bytes", TEMPLATE_OUT_MAX);
		goto out;
	}
	if (rc != LETHE_OK) {
		lethe_err_set(err, rc, "template: rendering failed");
		goto out;
	}
	/* Hand the buffer's storage to the caller rather than copying a megabyte. */
	res = r.out.data != NULL ? r.out.data : xstrdup("");
	r.out.data = NULL;
out:
	buf_free(&r.out);
	free(t.v);
	return res;
}

char *
template_render(const char *tpl, const struct tpl_ctx *ctx, struct lethe_err *err)
{
	return render(tpl, ctx, true, err);
}

char *
template_render_text(const char *tpl, const struct tpl_ctx *ctx, struct lethe_err *err)
{
	return render(tpl, ctx, false, err);
}

char *
template_escape(const char *s)
{
	struct buf b;
	char *res;

	buf_init(&b, SIZE_MAX / 2);
	if (s != NULL)
		add_escaped(&b, s);
	res = xstrdup(buf_str(&b));
	buf_free(&b);
	return res;
}

/* ---- shared variables ----------------------------------------------------- */

static const char *const month_names[12] = {
    "January", "February", "March",     "April",   "May",      "June",
    "July",    "August",   "September", "October", "November", "December",
};

static void
utc_tm(int64_t t, struct tm *tm)
{
	time_t tt = (time_t)t;

	if (gmtime_r(&tt, tm) == NULL)
		memset(tm, 0, sizeof(*tm));
}

void
template_date(int64_t t, char *out, size_t n)
{
	struct tm tm;

	utc_tm(t, &tm);
	snprintf(out, n, "%d %s %d", tm.tm_mday, month_names[tm.tm_mon % 12], tm.tm_year + 1900);
}

void
tpl_ctx_add_time(struct tpl_ctx *ctx, const char *name, int64_t t)
{
	char day[48], buf[96], key[64];
	struct tm tm;

	template_date(t, day, sizeof(day));
	utc_tm(t, &tm);
	snprintf(buf, sizeof(buf), "%s at %02d:%02d UTC", day, tm.tm_hour, tm.tm_min);
	tpl_ctx_add_str(ctx, name, buf);
	snprintf(key, sizeof(key), "%s_date", name);
	tpl_ctx_add_str(ctx, key, day);
	time_format_iso(t, buf, sizeof(buf));
	snprintf(key, sizeof(key), "%s_iso", name);
	tpl_ctx_add_str(ctx, key, buf);
}

void
tpl_ctx_add_count(struct tpl_ctx *ctx, const char *name, int64_t v)
{
	char digits[32], out[48], key[64];
	size_t len, i, o = 0;

	snprintf(digits, sizeof(digits), "%" PRId64, v > 0 ? v : 0);
	len = strlen(digits);
	for (i = 0; i < len; i++) {
		if (i > 0 && (len - i) % 3 == 0)
			out[o++] = ',';
		out[o++] = digits[i];
	}
	out[o] = '\0';
	tpl_ctx_add_str(ctx, name, out);
	snprintf(key, sizeof(key), "%s_one", name);
	tpl_ctx_add_bool(ctx, key, v == 1);
}
