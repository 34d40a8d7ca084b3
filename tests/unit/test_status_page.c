/* SPDX-License-Identifier: MIT */
/*
 * test_status_page.c - unit tests of src/http/template.c (the mustache-like
 * engine) and src/http/status_page.c (the deletion status page, its JSON and
 * the 404 page).
 */
#include "util/fmacros.h"

#include <ctype.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>

#include <cmocka.h>

#include "http/metrics.h"
#include "http/status_page.h"
#include "service/service.h"
#include "util/template.h"
#include "util/buf.h"
#include "util/mem.h"
#include "util/rc.h"

#define RECEIVED_AT 1795167000  /* 2026-11-20 09:30:00 UTC */
#define COMPLETED_AT 1795356300 /* 2026-11-22 14:05:00 UTC */
#define GRACE_UNTIL 1797759000  /* 2026-12-20 09:30:00 UTC */
#define DUE_AT 1797759000       /* 2026-12-20 09:30:00 UTC */

static void
assert_contains(const char *hay, const char *needle)
{
	if (strstr(hay, needle) == NULL)
		fail_msg("expected to find \"%s\" in:\n%.3000s", needle, hay);
}

static void
assert_lacks(const char *hay, const char *needle)
{
	if (strstr(hay, needle) != NULL)
		fail_msg("did not expect \"%s\" in:\n%.3000s", needle, hay);
}

/* Render @tpl with @ctx; the result must succeed and equal @want. */
static void
expect_render(const char *tpl, const struct tpl_ctx *ctx, const char *want)
{
	struct lethe_err err = {LETHE_OK, ""};
	char *got = template_render(tpl, ctx, &err);

	if (got == NULL)
		fail_msg("render of \"%s\" failed: %s", tpl, err.msg);
	assert_string_equal(got, want);
	free(got);
}

/* Render @tpl; it must fail with @rc and a message containing @msg. */
static void
expect_render_error(const char *tpl, lethe_rc rc, const char *msg)
{
	struct lethe_err err = {LETHE_OK, ""};
	struct tpl_ctx ctx;
	char *got;

	tpl_ctx_init(&ctx);
	got = template_render(tpl, &ctx, &err);
	if (got != NULL)
		fail_msg("render of \"%s\" should have failed, gave \"%s\"", tpl, got);
	assert_int_equal(err.rc, rc);
	assert_contains(err.msg, msg);
	/* template_check finds the same malformed templates. */
	if (rc == LETHE_E_CONFIG)
		assert_int_equal(template_check(tpl, NULL), rc);
	tpl_ctx_free(&ctx);
}

/* ---- the template engine -------------------------------------------------- */

static void
test_status_page_template_variables(void **state)
{
	struct tpl_ctx ctx;

	(void)state;
	tpl_ctx_init(&ctx);
	tpl_ctx_add_str(&ctx, "name", "world");
	tpl_ctx_add_strf(&ctx, "n", "%d items", 42);
	tpl_ctx_add_str(&ctx, "nul", NULL);
	expect_render("hello {{name}}!", &ctx, "hello world!");
	expect_render("{{ name }}/{{\tname\t}}", &ctx, "world/world");
	expect_render("{{n}}", &ctx, "42 items");
	expect_render("[{{nul}}][{{unknown}}]", &ctx, "[][]");
	expect_render("a{{! a comment\n over lines }}b", &ctx, "ab");
	expect_render("", &ctx, "");
	expect_render("no tags at all", &ctx, "no tags at all");
	expect_render("single { and } braces", &ctx, "single { and } braces");
	/* Setting a name again replaces its value. */
	tpl_ctx_add_str(&ctx, "name", "again");
	expect_render("{{name}}", &ctx, "again");
	/* A flag or a list prints nothing as a variable. */
	tpl_ctx_add_bool(&ctx, "name", true);
	expect_render("[{{name}}]", &ctx, "[]");
	tpl_ctx_free(&ctx);
}

static void
test_status_page_template_escaping(void **state)
{
	struct tpl_ctx ctx;
	char *e;

	(void)state;
	tpl_ctx_init(&ctx);
	tpl_ctx_add_str(&ctx, "x", "<script>alert(\"x\" & 'y')</script>");
	expect_render("{{x}}", &ctx,
	              "&lt;script&gt;alert(&quot;x&quot; &amp; &#39;y&#39;)&lt;/script&gt;");
	/* Raw only where asked, both spellings. */
	expect_render("{{{x}}}", &ctx, "<script>alert(\"x\" & 'y')</script>");
	expect_render("{{& x }}", &ctx, "<script>alert(\"x\" & 'y')</script>");
	/* Values are never parsed as templates. */
	tpl_ctx_add_str(&ctx, "x", "{{x}} {{#y}}");
	expect_render("{{x}}", &ctx, "{{x}} {{#y}}");
	tpl_ctx_free(&ctx);

	e = template_escape("a&b<c>d\"e'f");
	assert_string_equal(e, "a&amp;b&lt;c&gt;d&quot;e&#39;f");
	free(e);
	e = template_escape(NULL);
	assert_string_equal(e, "");
	free(e);
}

static void
test_status_page_template_sections(void **state)
{
	struct tpl_ctx ctx, *it, *sub;

	(void)state;
	tpl_ctx_init(&ctx);
	tpl_ctx_add_bool(&ctx, "yes", true);
	tpl_ctx_add_bool(&ctx, "no", false);
	tpl_ctx_add_str(&ctx, "full", "x");
	tpl_ctx_add_str(&ctx, "empty", "");
	tpl_ctx_add_str(&ctx, "outer", "O");
	tpl_ctx_add_list(&ctx, "none");

	expect_render("{{#yes}}Y{{/yes}}{{#no}}N{{/no}}", &ctx, "Y");
	expect_render("{{^yes}}Y{{/yes}}{{^no}}N{{/no}}", &ctx, "N");
	expect_render("{{#full}}F{{/full}}{{#empty}}E{{/empty}}{{^empty}}e{{/empty}}", &ctx, "Fe");
	expect_render("{{#unknown}}U{{/unknown}}{{^unknown}}u{{/unknown}}", &ctx, "u");
	expect_render("{{#none}}N{{/none}}{{^none}}no items{{/none}}", &ctx, "no items");

	it = tpl_ctx_add_item(&ctx, "list");
	tpl_ctx_add_str(it, "v", "a");
	it = tpl_ctx_add_item(&ctx, "list");
	tpl_ctx_add_str(it, "v", "b");
	sub = tpl_ctx_add_item(it, "inner");
	tpl_ctx_add_str(sub, "w", "1");
	sub = tpl_ctx_add_item(it, "inner");
	tpl_ctx_add_str(sub, "w", "2");
	/* Items are iterated; names fall back to outer contexts. */
	expect_render("{{#list}}[{{v}}{{outer}}]{{/list}}", &ctx, "[aO][bO]");
	expect_render("{{#list}}{{v}}:{{#inner}}{{v}}{{w}},{{/inner}};{{/list}}", &ctx,
	              "a:;b:b1,b2,;");
	expect_render("{{^list}}none{{/list}}", &ctx, "");
	/* Nested sections of different kinds. */
	expect_render("{{#yes}}{{^no}}{{#list}}{{v}}{{/list}}{{/no}}{{/yes}}", &ctx, "ab");
	/* An item shadows an outer name of the same spelling. */
	tpl_ctx_add_str(&ctx, "v", "top");
	expect_render("{{v}}{{#list}}{{v}}{{/list}}{{v}}", &ctx, "topabtop");
	tpl_ctx_free(&ctx);
}

static void
test_status_page_template_item_pointers_stable(void **state)
{
	struct tpl_ctx ctx, *first;
	int i;

	(void)state;
	tpl_ctx_init(&ctx);
	first = tpl_ctx_add_item(&ctx, "l");
	for (i = 0; i < 100; i++) {
		tpl_ctx_add_strf(&ctx, "v", "%d", i);
		tpl_ctx_add_strf(tpl_ctx_add_item(&ctx, "l"), "n", "%d", i);
	}
	/* The first item's storage survived 100 growths of both arrays. */
	tpl_ctx_add_str(first, "n", "first");
	expect_render("{{#l}}{{n}}{{/l}}", &ctx,
	              "first0123456789101112131415161718192021222324252627282930313233343536"
	              "3738394041424344454647484950515253545556575859606162636465666768697071"
	              "72737475767778798081828384858687888990919293949596979899");
	tpl_ctx_free(&ctx);
	/* A freed context can be used again. */
	tpl_ctx_add_str(&ctx, "a", "b");
	expect_render("{{a}}", &ctx, "b");
	tpl_ctx_free(&ctx);
}

static void
test_status_page_template_errors(void **state)
{
	char deep[512];
	size_t o = 0;
	int i;

	(void)state;
	expect_render_error("a {{#s}} b", LETHE_E_CONFIG, "{{#s}} is never closed");
	expect_render_error("{{^s}}", LETHE_E_CONFIG, "{{^s}} is never closed");
	expect_render_error("x\n{{/s}}", LETHE_E_CONFIG, "template:2: {{/s}} closes no section");
	expect_render_error("{{#a}}\n\n{{#b}}{{/a}}{{/b}}", LETHE_E_CONFIG,
	                    "template:3: {{/a}} does not match {{#b}} opened on line 3");
	expect_render_error("line\n{{name", LETHE_E_CONFIG, "template:2: \"{{\" without \"}}\"");
	expect_render_error("{{{raw}}", LETHE_E_CONFIG, "\"{{{\" without \"}}}\"");
	expect_render_error("{{}}", LETHE_E_CONFIG, "bad tag");
	expect_render_error("{{#}}{{/}}", LETHE_E_CONFIG, "bad tag");
	expect_render_error("{{a b}}", LETHE_E_CONFIG, "bad tag");
	expect_render_error("{{<p>}}", LETHE_E_CONFIG, "bad tag");
	/* Line numbers count newlines inside comments too. */
	expect_render_error("{{! one\ntwo }}\n{{/x}}", LETHE_E_CONFIG, "template:3:");

	/* Nesting deeper than TEMPLATE_DEPTH_MAX is refused... */
	for (i = 0; i <= TEMPLATE_DEPTH_MAX; i++)
		o += (size_t)snprintf(deep + o, sizeof(deep) - o, "{{#s%d}}", i);
	for (i = TEMPLATE_DEPTH_MAX; i >= 0; i--)
		o += (size_t)snprintf(deep + o, sizeof(deep) - o, "{{/s%d}}", i);
	expect_render_error(deep, LETHE_E_CONFIG, "nested over");
	/* ...and exactly that deep is fine. */
	o = 0;
	for (i = 0; i < TEMPLATE_DEPTH_MAX; i++)
		o += (size_t)snprintf(deep + o, sizeof(deep) - o, "{{#s%d}}", i);
	for (i = TEMPLATE_DEPTH_MAX - 1; i >= 0; i--)
		o += (size_t)snprintf(deep + o, sizeof(deep) - o, "{{/s%d}}", i);
	assert_int_equal(template_check(deep, NULL), LETHE_OK);
	assert_int_equal(template_check("{{#a}}{{b}}{{/a}}", NULL), LETHE_OK);
}

static void
test_status_page_template_output_cap(void **state)
{
	struct lethe_err err = {LETHE_OK, ""};
	struct tpl_ctx ctx;
	char *chunk, *out;
	size_t n = 64 * 1024;
	int i;

	(void)state;
	chunk = xmalloc(n + 1);
	memset(chunk, 'x', n);
	chunk[n] = '\0';
	tpl_ctx_init(&ctx);
	tpl_ctx_add_str(&ctx, "chunk", chunk);
	for (i = 0; i < 16; i++)
		tpl_ctx_add_item(&ctx, "l");
	/* Exactly 1 MiB fits. */
	out = template_render("{{#l}}{{chunk}}{{/l}}", &ctx, &err);
	assert_non_null(out);
	assert_int_equal(strlen(out), TEMPLATE_OUT_MAX);
	free(out);
	/* One byte more does not. */
	out = template_render("{{#l}}{{chunk}}{{/l}}!", &ctx, &err);
	assert_null(out);
	assert_int_equal(err.rc, LETHE_E_TOOBIG);
	assert_contains(err.msg, "output over");
	/* Escaping counts: 16 chunks of '&' would be 5 MiB. */
	memset(chunk, '&', n);
	tpl_ctx_add_str(&ctx, "chunk", chunk);
	out = template_render("{{#l}}{{chunk}}{{/l}}", &ctx, &err);
	assert_null(out);
	assert_int_equal(err.rc, LETHE_E_TOOBIG);
	tpl_ctx_free(&ctx);
	free(chunk);
}

static void
test_status_page_template_input_cap(void **state)
{
	char *big;

	(void)state;
	big = xmalloc(TEMPLATE_IN_MAX + 2);
	memset(big, 'a', TEMPLATE_IN_MAX + 1);
	big[TEMPLATE_IN_MAX + 1] = '\0';
	expect_render_error(big, LETHE_E_TOOBIG, "template: over");
	big[TEMPLATE_IN_MAX] = '\0';
	assert_int_equal(template_check(big, NULL), LETHE_OK);
	free(big);
}

/* ---- the status page ------------------------------------------------------ */

static const struct status_category sample_cats[] = {
    {"meta-sourced", 3, 0, 0, NULL, NULL},
    {"messages", 1234567, 0, 0, NULL, NULL},
    {"analytics", 0, 12, 0, NULL, NULL},
    {"billing", 0, 0, 4, "Invoices are tax records: tax law requires us to keep them for 10 years.",
     "2036-11-22"},
    {"custom-stuff", 1, 0, 0, NULL, NULL},
};

static struct status_view
sample_view(void)
{
	struct status_view v;

	memset(&v, 0, sizeof(v));
	v.code = "AB12CD34EF";
	v.state = "completed_with_retention";
	v.received_at = RECEIVED_AT;
	v.completed_at = COMPLETED_AT;
	v.platform = "Facebook";
	v.cats = sample_cats;
	v.ncats = sizeof(sample_cats) / sizeof(sample_cats[0]);
	v.app_name = "Social Coworker";
	v.contact = "privacy@example.com";
	return v;
}

/* Render @v with the embedded template; must succeed.  Caller frees. */
static char *
render_view(const struct status_view *v)
{
	struct lethe_err err = {LETHE_OK, ""};
	char *html = status_page_html(v, NULL, &err);

	if (html == NULL)
		fail_msg("status_page_html failed: %s", err.msg);
	/* Every tag was consumed. */
	assert_lacks(html, "{{");
	assert_lacks(html, "}}");
	return html;
}

static void
test_status_page_html_completed(void **state)
{
	struct status_view v = sample_view();
	char *html;

	(void)state;
	html = render_view(&v);
	assert_contains(html, "<title>Your data deletion request – Social Coworker</title>");
	assert_contains(html, "<h1>Your data deletion request</h1>");
	assert_contains(html, "<code>AB12CD34EF</code>");
	assert_contains(html, "Completed on 22 November 2026, with some records kept");
	assert_contains(html, "<time datetime=\"2026-11-20T09:30:00Z\">20 November 2026 at "
	                      "09:30 UTC</time>");
	assert_contains(html, "<time datetime=\"2026-11-22T14:05:00Z\">22 November 2026 at "
	                      "14:05 UTC</time>");
	assert_contains(html, "through Facebook");
	/* Human labels, raw name for an unknown category, grouped counts. */
	assert_contains(html, "<th scope=\"row\">Data received from Meta</th><td>3</td>");
	assert_contains(html, "<th scope=\"row\">Messages and comments</th><td>1,234,567</td>");
	assert_contains(html, "<th scope=\"row\">Billing and tax records</th>");
	assert_contains(html, "<th scope=\"row\">custom-stuff</th>");
	/* Totals. */
	assert_contains(html,
	                "<th scope=\"row\">Total</th><td>1,234,571</td><td>12</td><td>4</td>");
	assert_contains(html, "We have deleted the data linked to your account");
	/* Completed: no "check back later" step. */
	assert_lacks(html, "bookmark it");
	free(html);

	v.state = "completed";
	html = render_view(&v);
	assert_contains(html, "Completed on 22 November 2026</strong>");
	free(html);

	v.completed_at = 0;
	html = render_view(&v);
	assert_contains(html, ">Completed</strong>");
	assert_lacks(html, "<dt>Completed</dt>");
	free(html);
}

static void
test_status_page_html_retained_reason(void **state)
{
	struct status_view v = sample_view();
	struct status_category cats[2] = {
	    {"billing", 0, 0, 1, "Tax law: 10 years.", "2036-11-22"},
	    {"logs", 5, 0, 7, NULL, NULL},
	};
	char *html;

	(void)state;
	html = render_view(&v);
	assert_contains(html, "<h2 id=\"kept-heading\">What we kept and why</h2>");
	assert_contains(html, "Invoices are tax records: tax law requires us to keep them for 10 "
	                      "years.");
	assert_contains(html, "4 records, kept until <time datetime=\"2036-11-22\">22 November "
	                      "2036</time>");
	free(html);

	v.cats = cats;
	v.ncats = 2;
	html = render_view(&v);
	/* Singular, and a reason for every kept category even when none was given. */
	assert_contains(html, "1 record, kept until");
	assert_contains(html, "Tax law: 10 years.");
	assert_contains(html, "7 records, kept for as long as the law requires");
	assert_contains(html, "The law requires us to keep these records.");
	free(html);

	/* Nothing kept: no such section. */
	cats[0].retained = 0;
	cats[1].retained = 0;
	v.state = "completed";
	html = render_view(&v);
	assert_lacks(html, "What we kept and why");
	assert_lacks(html, "Tax law");
	free(html);
}

static void
test_status_page_html_escapes(void **state)
{
	struct status_view v = sample_view();
	struct status_category cats[1] = {
	    {"<script>alert(1)</script>", 1, 0, 2, "<script>alert(2)</script> & \"law\"",
	     "<b>soon</b>"},
	};
	char *html;

	(void)state;
	v.cats = cats;
	v.ncats = 1;
	v.code = "<img src=x onerror=alert(3)>";
	v.app_name = "Evil <i>App</i>";
	v.contact = "\"><script>alert(4)</script>";
	v.platform = "<u>Facebook</u>";
	html = render_view(&v);
	assert_lacks(html, "<script");
	assert_lacks(html, "<img");
	assert_lacks(html, "<i>App");
	assert_lacks(html, "<b>soon");
	assert_lacks(html, "<u>");
	assert_contains(html, "&lt;script&gt;alert(1)&lt;/script&gt;");
	assert_contains(html, "&lt;script&gt;alert(2)&lt;/script&gt; &amp; &quot;law&quot;");
	assert_contains(html, "&lt;img src=x onerror=alert(3)&gt;");
	assert_contains(html, "href=\"mailto:&quot;&gt;&lt;script&gt;");
	/* An unparsable date is shown as given, escaped. */
	assert_contains(html, "&lt;b&gt;soon&lt;/b&gt;");
	free(html);
}

static void
test_status_page_html_no_data(void **state)
{
	struct status_view v = sample_view();
	char *html;

	(void)state;
	v.state = "completed";
	v.no_data = true;
	v.cats = NULL;
	v.ncats = 0;
	html = render_view(&v);
	assert_contains(html, "We found no data linked to this account.");
	assert_contains(html, "There was nothing to delete.");
	assert_lacks(html, "<table");
	assert_lacks(html, "We have deleted the data");
	free(html);
}

static void
test_status_page_html_states(void **state)
{
	struct status_view v = sample_view();
	char *html;

	(void)state;
	v.completed_at = 0;
	v.cats = NULL;
	v.ncats = 0;

	v.state = "received";
	html = render_view(&v);
	assert_contains(html, "state-received\">Received</strong>");
	assert_contains(html, "will start deleting your data shortly");
	assert_contains(html, "bookmark it");
	free(html);

	v.state = "running";
	html = render_view(&v);
	assert_contains(html, "state-running\">In progress</strong>");
	assert_contains(html, "We are deleting your data now.");
	free(html);

	v.state = "failed";
	v.completed_at = COMPLETED_AT;
	html = render_view(&v);
	assert_contains(html, "state-failed\">Not completed</strong>");
	/* A failed request has no "Completed" date. */
	assert_lacks(html, "<dt>Completed</dt>");
	assert_contains(html, "Something went wrong");
	assert_contains(html, "<a href=\"mailto:privacy@example.com\">privacy@example.com</a>");
	free(html);

	v.completed_at = 0;
	v.state = "something-new";
	html = render_view(&v);
	assert_contains(html, "state-unknown\">Being processed</strong>");
	free(html);

	v.state = NULL;
	html = render_view(&v);
	assert_contains(html, "Being processed");
	free(html);

	/* Running with partial results: the caption says so. */
	v.state = "running";
	v.cats = sample_cats;
	v.ncats = 1;
	html = render_view(&v);
	assert_contains(html, "by kind of data (so far)</caption>");
	free(html);
}

/*
 * Fail if @html speaks of deleting or erasing the person's data: its text
 * lowercased, the status URLs (/data-deletion/...) and the phrases about
 * the archive itself (the copy is deleted when it expires or is withdrawn)
 * taken out, holds no "delet" nor "eras".
 */
static void
assert_no_erasure_words(const char *html)
{
	static const char *const allowed[] = {
	    "/data-deletion/", "\"download-deleted\"", "the copy is deleted",
	    "the copy of your data was deleted", "the copy of your data made for it was deleted"};
	char *low = xstrdup(html), *p;
	size_t i, n;

	for (p = low; *p != '\0'; p++)
		*p = (char)tolower((unsigned char)*p);
	for (i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++)
		while ((p = strstr(low, allowed[i])) != NULL)
			for (n = strlen(allowed[i]); n > 0; n--)
				p[n - 1] = '_';
	p = strstr(low, "delet") != NULL ? strstr(low, "delet") : strstr(low, "eras");
	if (p != NULL) {
		n = (size_t)(p - low) > 200 ? (size_t)(p - low) - 200 : 0;
		fail_msg("erasure wording in ...%.400s", html + n);
	}
	free(low);
}

/* A restriction deletes nothing: the page never says it does, in any state. */
static void
test_status_page_html_restriction(void **state)
{
	static const char *const states[] = {"received",        "awaiting_verification",
	                                     "awaiting_review", "scheduled",
	                                     "running",         "completed",
	                                     "lifted",          "failed",
	                                     "cancelled",       "refused",
	                                     "expired"};
	struct status_view v = sample_view();
	char *html;
	size_t i;

	(void)state;
	v.kind = "restriction";
	v.platform = NULL;
	v.source = "app";
	v.cats = NULL;
	v.ncats = 0;
	v.due_at = COMPLETED_AT + 86400;
	for (i = 0; i < sizeof(states) / sizeof(states[0]); i++) {
		v.state = states[i];
		html = render_view(&v);
		assert_contains(html, "<h1>Your request to restrict processing</h1>");
		assert_lacks(html, "delete ");
		assert_lacks(html, "deleted");
		assert_lacks(html, "deleting");
		assert_lacks(html, "deletion request");
		assert_lacks(html, "erase");
		assert_lacks(html, "Being processed</strong>");
		assert_no_erasure_words(html);
		free(html);
	}
	v.state = "completed";
	html = render_view(&v);
	assert_contains(html, "state-completed\">In force since ");
	assert_contains(html, "<dt>In force since</dt>");
	assert_contains(html, "The restriction is in force");
	assert_contains(html, "id=\"receipt\"");
	free(html);
	v.state = "lifted";
	html = render_view(&v);
	assert_contains(html, "state-lifted\">Lifted on ");
	assert_contains(html, "This restriction was lifted");
	assert_contains(html, "id=\"receipt\"");
	free(html);
	v.state = "scheduled";
	v.cancellable = true;
	html = render_view(&v);
	assert_contains(html, "will restrict the processing of your data shortly");
	assert_contains(html, "id=\"cancel\"");
	assert_lacks(html, "id=\"receipt\"");
	free(html);
}

/* An export deletes nothing of the person's: no state of its page says it does. */
static void
test_status_page_html_export_states(void **state)
{
	static const char *const states[] = {"received",        "awaiting_verification",
	                                     "awaiting_review", "scheduled",
	                                     "running",         "completed",
	                                     "refused",         "cancelled",
	                                     "failed",          "expired",
	                                     "something-new"};
	struct service_export_view x;
	struct status_view v = sample_view();
	char *html;
	size_t i, k;

	(void)state;
	v.kind = "export";
	v.platform = NULL;
	v.source = "self-service";
	v.cats = NULL;
	v.ncats = 0;
	v.due_at = DUE_AT;
	v.expires_at = DUE_AT;
	v.download_csrf = "csrf-token";
	v.export = &x;
	for (i = 0; i < sizeof(states) / sizeof(states[0]); i++)
		for (k = 0; k < 8; k++) {
			/* Every mix of: archive ready/deleted, a reason, found nobody, grace. */
			memset(&x, 0, sizeof(x));
			x.ready = (k & 1) != 0 && strcmp(states[i], "completed") == 0;
			x.deleted = (k & 1) != 0 && !x.ready;
			x.bytes = 1234567;
			x.rows = 42;
			x.created_at = COMPLETED_AT;
			x.expires_at = DUE_AT;
			v.state = states[i];
			v.reason = (k & 2) != 0 ? "as you asked" : NULL;
			v.no_data = (k & 4) != 0;
			v.grace_until = (k & 2) != 0 ? GRACE_UNTIL : 0;
			v.cancellable = (k & 2) != 0;
			v.mail_failed = (k & 4) != 0;
			v.verify_mail = (int)(k % 3);
			html = render_view(&v);
			assert_contains(html, "<h1>Your request for a copy of your data</h1>");
			assert_no_erasure_words(html);
			free(html);
		}
	v.state = "awaiting_review";
	v.export = NULL;
	html = render_view(&v);
	assert_contains(html, "before we make your copy");
	free(html);
	v.state = "refused";
	html = render_view(&v);
	assert_contains(html, "No copy of your data was made for it.");
	free(html);
}

static void
test_status_page_html_next_steps(void **state)
{
	struct status_view v = sample_view();
	char *html;

	(void)state;
	html = render_view(&v);
	assert_contains(html, "Remove Social Coworker from Facebook");
	assert_contains(html, "Settings &amp; privacy</span> → <span class=\"menu\">Settings</span>"
	                      " → <span class=\"menu\">Apps and websites</span>");
	assert_lacks(html, "from Instagram");
	assert_contains(html, "write to <a href=\"mailto:privacy@example.com\">");
	free(html);

	v.platform = "Instagram";
	html = render_view(&v);
	assert_contains(html, "Remove Social Coworker from Instagram");
	assert_lacks(html, "from Facebook");
	free(html);

	/* Unknown family: both; no app name, no contact. */
	v.platform = NULL;
	v.app_name = NULL;
	v.contact = NULL;
	html = render_view(&v);
	assert_contains(html, "Remove this app from Facebook");
	assert_contains(html, "Remove this app from Instagram");
	assert_contains(html, "<title>Your data deletion request</title>");
	assert_lacks(html, "mailto:");
	assert_lacks(html, "<header");
	free(html);

	/* A contact that is a web address is linked as it is. */
	v.contact = "https://example.com/privacy";
	html = render_view(&v);
	assert_contains(html, "<a href=\"https://example.com/privacy\">");
	free(html);
}

static void
test_status_page_html_accessible(void **state)
{
	struct status_view v = sample_view();
	char *html;

	(void)state;
	html = render_view(&v);
	assert_true(strncmp(html, "<!DOCTYPE html>", 15) == 0);
	assert_contains(html, "<html lang=\"en\">");
	assert_contains(html, "<meta charset=\"utf-8\">");
	assert_contains(html, "<meta name=\"viewport\"");
	assert_contains(html, "<link rel=\"stylesheet\" href=\"/static/style.css\">");
	assert_contains(html, "<main id=\"main\">");
	assert_contains(html, "<caption");
	assert_contains(html, "<th scope=\"col\">Kind of data</th>");
	assert_contains(html, "<th scope=\"row\">");
	/* No scripts and nothing loaded from elsewhere. */
	assert_lacks(html, "<script");
	assert_lacks(html, "src=");
	assert_lacks(html, "//fonts.");
	free(html);
}

static void
test_status_page_html_custom_template(void **state)
{
	struct lethe_err err = {LETHE_OK, ""};
	struct status_view v = sample_view();
	char *html;

	(void)state;
	html =
	    status_page_html(&v,
	                     "<style>{{{css}}}</style><p>{{app_name}}: {{code}} "
	                     "{{state}}{{#categories}} {{category}}={{deleted}}{{/categories}}</p>",
	                     &err);
	assert_non_null(html);
	assert_contains(html, "<p>Social Coworker: AB12CD34EF completed_with_retention "
	                      "meta-sourced=3 messages=1,234,567 analytics=0");
	/* The stylesheet inlines raw. */
	assert_contains(html, status_page_css());
	free(html);

	html = status_page_html(&v, "{{#categories}}", &err);
	assert_null(html);
	assert_int_equal(err.rc, LETHE_E_CONFIG);
	assert_contains(err.msg, "never closed");
}

static void
test_status_page_json_fields(void **state)
{
	struct status_view v = sample_view();
	json_t *j, *c;

	(void)state;
	j = status_page_json(&v);
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j, "confirmation_code")),
	                    "AB12CD34EF");
	assert_string_equal(json_string_value(json_object_get(j, "state")),
	                    "completed_with_retention");
	assert_string_equal(json_string_value(json_object_get(j, "received_at")),
	                    "2026-11-20T09:30:00Z");
	assert_string_equal(json_string_value(json_object_get(j, "completed_at")),
	                    "2026-11-22T14:05:00Z");
	assert_string_equal(json_string_value(json_object_get(j, "platform")), "Facebook");
	assert_true(json_is_false(json_object_get(j, "no_data")));
	assert_string_equal(json_string_value(json_object_get(j, "contact")),
	                    "privacy@example.com");
	assert_int_equal(json_array_size(json_object_get(j, "categories")), 5);
	c = json_array_get(json_object_get(j, "categories"), 1);
	assert_string_equal(json_string_value(json_object_get(c, "category")), "messages");
	assert_int_equal(json_integer_value(json_object_get(c, "deleted")), 1234567);
	assert_int_equal(json_integer_value(json_object_get(c, "anonymized")), 0);
	assert_int_equal(json_integer_value(json_object_get(c, "retained")), 0);
	assert_true(json_is_null(json_object_get(c, "reason")));
	assert_true(json_is_null(json_object_get(c, "retained_until")));
	c = json_array_get(json_object_get(j, "categories"), 3);
	assert_int_equal(json_integer_value(json_object_get(c, "retained")), 4);
	assert_contains(json_string_value(json_object_get(c, "reason")), "tax records");
	assert_string_equal(json_string_value(json_object_get(c, "retained_until")), "2036-11-22");
	/* A Meta request's view: the request model's fields with Meta's defaults. */
	assert_string_equal(json_string_value(json_object_get(j, "kind")), "erasure");
	assert_string_equal(json_string_value(json_object_get(j, "source")), "meta");
	assert_true(json_is_null(json_object_get(j, "scope")));
	assert_true(json_is_null(json_object_get(j, "due_at")));
	assert_true(json_is_null(json_object_get(j, "grace_until")));
	assert_true(json_is_null(json_object_get(j, "reason")));
	assert_true(json_is_false(json_object_get(j, "cancellable")));
	assert_true(json_is_false(json_object_get(j, "mail_failed")));
	/* Exactly the documented keys: nothing about the person. */
	assert_int_equal(json_object_size(j), 16);
	assert_int_equal(json_object_size(c), 6);
	json_decref(j);

	v.completed_at = 0;
	v.state = "running";
	v.no_data = true;
	v.cats = NULL;
	v.ncats = 0;
	v.contact = NULL;
	v.platform = NULL;
	j = status_page_json(&v);
	assert_true(json_is_null(json_object_get(j, "completed_at")));
	assert_true(json_is_true(json_object_get(j, "no_data")));
	assert_true(json_is_null(json_object_get(j, "contact")));
	assert_true(json_is_null(json_object_get(j, "platform")));
	assert_int_equal(json_array_size(json_object_get(j, "categories")), 0);
	json_decref(j);
}

static void
test_status_page_not_found(void **state)
{
	struct lethe_err err = {LETHE_OK, ""};
	char *html;

	(void)state;
	html = status_page_not_found_html("Social <b>Coworker</b>", "privacy@example.com", &err);
	assert_non_null(html);
	assert_contains(html, "<html lang=\"en\">");
	assert_contains(html, "<h1>We could not find this request</h1>");
	assert_contains(html, "Social &lt;b&gt;Coworker&lt;/b&gt;");
	assert_contains(html, "<a href=\"mailto:privacy@example.com\">privacy@example.com</a>");
	assert_lacks(html, "<b>");
	assert_lacks(html, "{{");
	free(html);

	html = status_page_not_found_html(NULL, NULL, &err);
	assert_non_null(html);
	assert_contains(html, "does not match any data deletion request this app has received");
	assert_lacks(html, "mailto:");
	free(html);
}

/* The code in groups of four for reading aloud; the raw code where it is copied. */
static void
test_status_page_html_code_grouped(void **state)
{
	struct status_view v = sample_view();
	char *html;

	(void)state;
	v.code = "mfrggzdfmztwq2lknnwg23tpobyxe43u2a";
	html = render_view(&v);
	assert_contains(html, "<dd><code>mfrg gzdf mztw q2lk nnwg 23tp obyx e43u 2a</code></dd>");
	/* Quoted in a message: the code exactly as Meta got it. */
	assert_contains(html, "quote your confirmation code <code>"
	                      "mfrggzdfmztwq2lknnwg23tpobyxe43u2a</code>");
	free(html);

	/* The JSON answer keeps the code unchanged. */
	json_t *j = status_page_json(&v);
	assert_string_equal(json_string_value(json_object_get(j, "confirmation_code")),
	                    "mfrggzdfmztwq2lknnwg23tpobyxe43u2a");
	json_decref(j);
}

/* A code typed back, grouped or in capitals, becomes the stored form. */
static void
test_status_page_code_parse(void **state)
{
	char out[35];

	(void)state;
	assert_true(
	    status_page_code_parse("MFRG GZDF-mztw q2lk nnwg 23tp obyx e43u 2A", out, sizeof(out)));
	assert_string_equal(out, "mfrggzdfmztwq2lknnwg23tpobyxe43u2a");
	assert_true(status_page_code_parse("mfrg+gzdf\tmztw", out, sizeof(out)));
	assert_string_equal(out, "mfrggzdfmztw");
	/* Longer than the buffer: refused, nothing left behind. */
	assert_false(
	    status_page_code_parse("mfrggzdfmztwq2lknnwg23tpobyxe43u2ab", out, sizeof(out)));
	assert_string_equal(out, "");
	assert_false(status_page_code_parse(NULL, out, sizeof(out)));
	assert_false(status_page_code_parse("abc", out, 0));
	/* Anything else is kept, for meta_code_ok() to refuse. */
	assert_true(status_page_code_parse("ab%1", out, sizeof(out)));
	assert_string_equal(out, "ab%1");
}

/* "Kept" appears only when something was kept. */
static void
test_status_page_html_kept_only_when_kept(void **state)
{
	struct status_view v = sample_view();
	struct status_category cats[2] = {
	    {"meta-sourced", 3, 0, 0, NULL, NULL},
	    {"messages", 5, 1, 0, NULL, NULL},
	};
	char *html;

	(void)state;
	html = render_view(&v);
	assert_contains(html, "<th scope=\"col\">Kept</th>");
	assert_contains(html, "<dt>Kept:</dt>");
	free(html);

	v.state = "completed";
	v.cats = cats;
	v.ncats = 2;
	html = render_view(&v);
	assert_lacks(html, "Kept");
	assert_lacks(html, "kept");
	assert_contains(html,
	                "<th scope=\"row\">Messages and comments</th><td>5</td><td>1</td></tr>");
	assert_contains(html, "<th scope=\"row\">Total</th><td>8</td><td>1</td></tr>");
	free(html);
}

/* A Meta-scope deletion says the app account stays and how to close it. */
static void
test_status_page_html_account_remains(void **state)
{
	struct status_view v = sample_view();
	char *html;

	(void)state;
	v.state = "completed";
	html = render_view(&v);
	assert_lacks(html, "Close your");
	assert_lacks(html, "itself still exists");
	free(html);

	v.account_remains = true;
	html = render_view(&v);
	assert_contains(html, "<strong>Close your Social Coworker account</strong>");
	assert_contains(html, "covered only the data Social Coworker received from Facebook, so an "
	                      "account you have with Social Coworker itself still exists. To close "
	                      "it, write to <a href=\"mailto:privacy@example.com\">");
	assert_contains(html, "An account you have with Social Coworker itself is not part of this "
	                      "request");
	free(html);

	/* No contact configured: the app's own settings. */
	v.contact = NULL;
	v.platform = NULL;
	html = render_view(&v);
	assert_contains(html, "covered only the data Social Coworker received, so");
	assert_contains(html, "You can close it in the account settings of Social Coworker.");
	free(html);
}

static void
test_status_page_error_page(void **state)
{
	struct lethe_err err = {LETHE_OK, ""};
	char *html;

	(void)state;
	html = status_page_error_html("Social <b>Coworker</b>", "privacy@example.com",
	                              "Please try again later", "use <GET>", &err);
	assert_non_null(html);
	assert_contains(html, "<!DOCTYPE html>");
	assert_contains(html, "<h1>Please try again later</h1>");
	assert_contains(html, "<p>use &lt;GET&gt;</p>");
	assert_contains(html, "Social &lt;b&gt;Coworker&lt;/b&gt;");
	assert_contains(html, "mailto:privacy@example.com");
	assert_lacks(html, "<b>");
	assert_lacks(html, "{{");
	free(html);
	html = status_page_error_html(NULL, NULL, "Page not found", "no such page", &err);
	assert_non_null(html);
	assert_lacks(html, "mailto:");
	free(html);
}

static void
test_status_page_css_and_labels(void **state)
{
	(void)state;
	assert_non_null(status_page_css());
	assert_contains(status_page_css(), "prefers-color-scheme");
	assert_string_equal(status_page_category_label("meta-sourced"), "Data received from Meta");
	assert_string_equal(status_page_category_label("messages"), "Messages and comments");
	assert_string_equal(status_page_category_label("billing"), "Billing and tax records");
	assert_string_equal(status_page_category_label("payments"), "payments");
	assert_string_equal(status_page_category_label(NULL), "");
}

/* ---- requests of every source: each state in plain words ------------------- */

/* A request of the app (not Meta's) in @state, cancellable as the service says. */
static struct status_view
app_view(const char *state)
{
	struct status_view v;

	memset(&v, 0, sizeof(v));
	v.code = "k3mz8q2wxa";
	v.state = state;
	v.received_at = RECEIVED_AT;
	v.kind = "erasure";
	v.scope = "account";
	v.source = "app";
	v.due_at = DUE_AT;
	v.erases_account = true;
	v.app_name = "Social Coworker";
	v.contact = "privacy@example.com";
	v.cancellable = strcmp(state, "received") == 0 || strcmp(state, "scheduled") == 0 ||
	                strcmp(state, "awaiting_verification") == 0 ||
	                strcmp(state, "awaiting_review") == 0;
	return v;
}

static const char cancel_hint[] =
    "<strong>To cancel this request</strong>, contact <a "
    "href=\"mailto:privacy@example.com\">privacy@example.com</a> quoting this code: "
    "<code>k3mz8q2wxa</code>.";

/* Every state of a request not from Meta: its words, no Meta steps, no "no data" too early. */
static void
test_status_page_html_request_states(void **state)
{
	static const struct {
		const char *state; /* the request's state */
		const char *label; /* its badge */
		const char *words; /* what the page says of it */
		bool cancel;       /* the cancel hint shows */
		bool due;          /* the due date shows */
	} cases[] = {
	    {"received", "state-received\">Received</strong>",
	     "will start deleting your data shortly", true, true},
	    {"awaiting_verification", "state-waiting\">Waiting for your confirmation</strong>",
	     "We are waiting for you to confirm this request by the link we emailed you.", true,
	     true},
	    {"awaiting_review", "state-review\">Being reviewed</strong>",
	     "We are reviewing your request", true, true},
	    {"scheduled", "state-scheduled\">Scheduled for 20 December 2026</strong>",
	     "Your account will be erased on 20 December 2026 at 09:30 UTC; until then you can "
	     "cancel this request.",
	     true, true},
	    {"running", "state-running\">In progress</strong>", "We are deleting your data now.",
	     false, true},
	    {"completed", "state-completed\">Completed on 22 November 2026</strong>",
	     "There was nothing to delete.", false, false},
	    {"completed_with_retention",
	     "state-retention\">Completed on 22 November 2026, with some records kept</strong>",
	     "There was nothing to delete.", false, false},
	    {"refused", "state-refused\">Refused</strong>",
	     "We did not carry out this request.</strong> Our reason: Invoices are still open.",
	     false, false},
	    {"cancelled", "state-cancelled\">Cancelled</strong>",
	     "This request was cancelled: Invoices are still open.", false, false},
	    {"failed", "state-failed\">Not completed</strong>",
	     "We are working on it: it is due by 20 December 2026.", false, true},
	    {"expired", "state-expired\">Expired</strong>",
	     "This request was never confirmed by the link we emailed, so it expired", false,
	     false},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct status_view v = app_view(cases[i].state);
		bool done = strncmp(cases[i].state, "completed", 9) == 0;
		char *html;

		v.grace_until = GRACE_UNTIL;
		v.reason = "Invoices are still open.";
		/* Its verification link was mailed (test_status_page_verify_mail: otherwise). */
		v.verify_mail = SERVICE_VERIFY_MAIL_SENT;
		/* Whatever the row says, "no data" only once the request ran. */
		v.no_data = true;
		if (done || strcmp(cases[i].state, "refused") == 0 ||
		    strcmp(cases[i].state, "cancelled") == 0 ||
		    strcmp(cases[i].state, "failed") == 0 || strcmp(cases[i].state, "expired") == 0)
			v.completed_at = COMPLETED_AT;
		html = render_view(&v);
		assert_contains(html, cases[i].label);
		assert_contains(html, cases[i].words);
		if (cases[i].cancel) {
			/* Said in one place only (a cancel page replaces it later). */
			assert_contains(html, cancel_hint);
			assert_lacks(strstr(html, "To cancel this request") + 1,
			             "To cancel this request");
		} else
			assert_lacks(html, "To cancel this request");
		if (cases[i].due)
			assert_contains(html, "<dt>To be completed by</dt><dd><time "
			                      "datetime=\"2026-12-20T09:30:00Z\">20 December "
			                      "2026</time></dd>");
		else
			assert_lacks(html, "To be completed by");
		if (done)
			assert_contains(html, "We found no data linked to this account.");
		else
			assert_lacks(html, "no data");
		/* The reason is shown only for a refusal or a cancellation. */
		if (strcmp(cases[i].state, "refused") != 0 &&
		    strcmp(cases[i].state, "cancelled") != 0)
			assert_lacks(html, "Invoices are still open.");
		/* Not Meta's: no steps about Facebook or Instagram, no "through". */
		assert_lacks(html, "Facebook");
		assert_lacks(html, "Instagram");
		assert_lacks(html, "Being processed");
		/* The grace period only while scheduled. */
		if (strcmp(cases[i].state, "scheduled") == 0)
			assert_contains(html, "<dt>Grace period ends</dt>");
		else
			assert_lacks(html, "Grace period");
		free(html);
	}
}

/* The details of a few states: expiry, a refusal without reason, lateness, data scope. */
static void
test_status_page_html_request_details(void **state)
{
	struct status_view v;
	char *html;

	(void)state;
	v = app_view("awaiting_verification");
	v.expires_at = RECEIVED_AT + 7 * 86400;
	html = render_view(&v);
	assert_contains(html, "If it is not confirmed by 27 November 2026 at 09:30 UTC, the "
	                      "request expires.");
	assert_contains(html, "Nothing has been deleted yet.");
	free(html);

	/* A refusal without a reason points to the contact; never an empty "Our reason". */
	v = app_view("refused");
	v.completed_at = COMPLETED_AT;
	html = render_view(&v);
	assert_lacks(html, "Our reason");
	assert_contains(html, "to learn why.");
	assert_contains(html, "<dt>Closed</dt>");
	free(html);

	/* A reason is the operator's text: escaped like everything else. */
	v = app_view("cancelled");
	v.reason = "<b>asked by phone</b>";
	html = render_view(&v);
	assert_contains(html, "cancelled: &lt;b&gt;asked by phone&lt;/b&gt;.");
	assert_lacks(html, "<b>asked");
	free(html);

	/* Failed and past its deadline: said honestly. */
	v = app_view("failed");
	v.overdue = true;
	html = render_view(&v);
	assert_contains(html, "We are working on it: it was due by 20 December 2026, and we are "
	                      "sorry it is late.");
	assert_contains(html, "2026</time> (late)</dd>");
	assert_contains(html, "Something went wrong");
	free(html);

	/* A scope that leaves the account: "your data"; no grace: "shortly"; no contact. */
	v = app_view("scheduled");
	v.erases_account = false;
	v.contact = NULL;
	html = render_view(&v);
	assert_contains(html, "Your data will be erased shortly.");
	assert_contains(html,
	                "contact Social Coworker quoting this code: <code>k3mz8q2wxa</code>.");
	free(html);

	/* A scheduled request the service says cannot be cancelled: no hint, no "until then". */
	v = app_view("scheduled");
	v.grace_until = GRACE_UNTIL;
	v.cancellable = false;
	html = render_view(&v);
	assert_contains(html, "will be erased on 20 December 2026 at 09:30 UTC.");
	assert_lacks(html, "cancel");
	free(html);

	/* Meta's own pages never offer to cancel. */
	v = sample_view();
	v.state = "received";
	v.completed_at = 0;
	html = render_view(&v);
	assert_lacks(html, "To cancel");
	assert_contains(html, "Remove Social Coworker from Facebook");
	free(html);
}

/* The JSON of a request not from Meta carries its model's fields, no personal data. */
static void
test_status_page_json_request_fields(void **state)
{
	struct status_view v = app_view("scheduled");
	json_t *j;

	(void)state;
	v.grace_until = GRACE_UNTIL;
	v.reason = "not shown while scheduled";
	j = status_page_json(&v);
	assert_string_equal(json_string_value(json_object_get(j, "state")), "scheduled");
	assert_string_equal(json_string_value(json_object_get(j, "kind")), "erasure");
	assert_string_equal(json_string_value(json_object_get(j, "scope")), "account");
	assert_string_equal(json_string_value(json_object_get(j, "source")), "app");
	assert_string_equal(json_string_value(json_object_get(j, "due_at")),
	                    "2026-12-20T09:30:00Z");
	assert_string_equal(json_string_value(json_object_get(j, "grace_until")),
	                    "2026-12-20T09:30:00Z");
	assert_true(json_is_null(json_object_get(j, "reason")));
	assert_true(json_is_true(json_object_get(j, "cancellable")));
	assert_true(json_is_null(json_object_get(j, "platform")));
	assert_int_equal(json_object_size(j), 16);
	json_decref(j);

	v = app_view("refused");
	v.grace_until = GRACE_UNTIL;
	v.reason = "Invoices are still open.";
	v.cancellable = true; /* (a stale flag: a refused request cannot be cancelled) */
	j = status_page_json(&v);
	assert_string_equal(json_string_value(json_object_get(j, "reason")),
	                    "Invoices are still open.");
	assert_true(json_is_null(json_object_get(j, "grace_until")));
	assert_true(json_is_false(json_object_get(j, "cancellable")));
	json_decref(j);
}

/* Value of the series @line_start (name and labels) in @text, or -1. */
static double
metric_value(const char *text, const char *line_start)
{
	size_t n = strlen(line_start);
	const char *p = text;

	while ((p = strstr(p, line_start)) != NULL) {
		if ((p == text || p[-1] == '\n') && p[n] == ' ')
			return strtod(p + n + 1, NULL);
		p += n;
	}
	return -1;
}

/* Completions feed the per-kind histogram and the old total alike. */
static void
test_status_page_metrics_request_duration(void **state)
{
	struct buf b;
	const char *t;

	(void)state;
	metrics_completion(0.5, "completed", "erasure");
	metrics_completion(2 * 86400.0, "completed_with_retention", "erasure");
	metrics_completion(30.0, "completed", "restriction");
	metrics_completion(5.0, "completed", "no-such-kind");
	buf_init(&b, 1u << 20);
	metrics_render(&b);
	t = buf_str(&b);
	assert_contains(t, "# TYPE lethe_request_duration_seconds histogram\n");
	assert_true(
	    metric_value(t, "lethe_request_duration_seconds_bucket{kind=\"erasure\",le=\"1\"}") ==
	    1);
	assert_true(
	    metric_value(
	        t, "lethe_request_duration_seconds_bucket{kind=\"erasure\",le=\"86400\"}") == 1);
	assert_true(
	    metric_value(
	        t, "lethe_request_duration_seconds_bucket{kind=\"erasure\",le=\"172800\"}") == 2);
	assert_true(metric_value(
	                t, "lethe_request_duration_seconds_bucket{kind=\"erasure\",le=\"+Inf\"}") ==
	            2);
	assert_true(metric_value(t, "lethe_request_duration_seconds_count{kind=\"erasure\"}") == 2);
	assert_true(metric_value(t, "lethe_request_duration_seconds_sum{kind=\"erasure\"}") ==
	            2 * 86400.0 + 0.5);
	assert_true(metric_value(t, "lethe_request_duration_seconds_count{kind=\"restriction\"}") ==
	            1);
	assert_true(metric_value(t, "lethe_request_duration_seconds_count{kind=\"export\"}") == 0);
	/* Every completion, of any kind, in the total as before. */
	assert_true(metric_value(t, "lethe_deletion_completion_seconds_count") == 4);
	assert_lacks(t, "no-such-kind");
	buf_free(&b);
}

/* A dead letter about the request: the page says so and never claims the mail went out. */
static void
test_status_page_mail_failed(void **state)
{
	static const char said[] = "We could not send you an email about this request.";
	struct status_view v = app_view("awaiting_verification");
	struct lethe_err err = {0};
	char *html;
	json_t *j;

	(void)state;
	v.expires_at = DUE_AT;
	v.verify_mail = SERVICE_VERIFY_MAIL_SENT;
	html = status_page_html(&v, NULL, &err);
	assert_non_null(html);
	assert_null(strstr(html, said));
	assert_non_null(strstr(html, "by the link we emailed you"));
	free(html);
	v.mail_failed = true;
	html = status_page_html(&v, NULL, &err);
	assert_non_null(html);
	assert_non_null(strstr(html, said));
	assert_null(strstr(html, "emailed you"));
	free(html);
	j = status_page_json(&v);
	assert_true(json_is_true(json_object_get(j, "mail_failed")));
	json_decref(j);
}

/*
 * Awaiting verification (and expired), the page tells of the verification
 * link's mail only as it is: "we emailed you" once sent, "we are sending"
 * while pending, nothing without one (no mail, or the app or an operator
 * verifies), the dead letter's words when it could not be sent.
 */
static void
test_status_page_verify_mail(void **state)
{
	static const char waiting[] = "We are waiting for you to confirm this request";
	struct status_view v = app_view("awaiting_verification");
	char *html;

	(void)state;
	v.expires_at = DUE_AT;
	html = render_view(&v);
	assert_contains(html, "We are waiting for you to confirm this request. Nothing has been "
	                      "deleted yet.");
	assert_lacks(html, "email");
	free(html);

	v.verify_mail = SERVICE_VERIFY_MAIL_SENDING;
	html = render_view(&v);
	assert_contains(html, "We are waiting for you to confirm this request. We are sending you "
	                      "an email with a link to confirm it. Nothing has been deleted yet.");
	assert_lacks(html, "emailed");
	free(html);

	v.verify_mail = SERVICE_VERIFY_MAIL_SENT;
	html = render_view(&v);
	assert_contains(html, "We are waiting for you to confirm this request by the link we "
	                      "emailed you. Nothing has been deleted yet.");
	assert_lacks(html, "We are sending you");
	free(html);

	v.mail_failed = true;
	html = render_view(&v);
	assert_contains(html, "We could not send you an email about this request.");
	assert_contains(html, waiting);
	assert_lacks(html, "emailed");
	assert_lacks(html, "We are sending you");
	free(html);

	v = app_view("expired");
	v.completed_at = COMPLETED_AT;
	html = render_view(&v);
	assert_contains(html, "This request was never confirmed, so it expired");
	assert_lacks(html, "emailed");
	free(html);
	v.verify_mail = SERVICE_VERIFY_MAIL_SENT;
	html = render_view(&v);
	assert_contains(html, "This request was never confirmed by the link we emailed, so it "
	                      "expired");
	free(html);
}

/* One size rule for the download page, the status page and the mail. */
static void
test_status_page_export_size_text(void **state)
{
	static const struct {
		int64_t bytes;
		const char *text;
	} cases[] = {
	    {0, "0 bytes"},          {1, "1 byte"},         {999, "999 bytes"},
	    {1000, "1 kB"},          {1499, "1 kB"},        {1500, "2 kB"},
	    {999499, "999 kB"},      {999500, "1.0 MB"},    {12345678, "12.3 MB"},
	    {999949999, "999.9 MB"}, {999950000, "1.0 GB"}, {1500000000, "1.5 GB"},
	};
	char out[SERVICE_SIZE_TEXT_MAX];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		service_export_size_text(cases[i].bytes, out, sizeof(out));
		assert_string_equal(out, cases[i].text);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_status_page_template_variables),
	    cmocka_unit_test(test_status_page_export_size_text),
	    cmocka_unit_test(test_status_page_template_escaping),
	    cmocka_unit_test(test_status_page_template_sections),
	    cmocka_unit_test(test_status_page_template_item_pointers_stable),
	    cmocka_unit_test(test_status_page_template_errors),
	    cmocka_unit_test(test_status_page_template_output_cap),
	    cmocka_unit_test(test_status_page_template_input_cap),
	    cmocka_unit_test(test_status_page_html_completed),
	    cmocka_unit_test(test_status_page_html_retained_reason),
	    cmocka_unit_test(test_status_page_html_escapes),
	    cmocka_unit_test(test_status_page_html_no_data),
	    cmocka_unit_test(test_status_page_html_states),
	    cmocka_unit_test(test_status_page_html_restriction),
	    cmocka_unit_test(test_status_page_html_export_states),
	    cmocka_unit_test(test_status_page_html_next_steps),
	    cmocka_unit_test(test_status_page_html_accessible),
	    cmocka_unit_test(test_status_page_html_custom_template),
	    cmocka_unit_test(test_status_page_json_fields),
	    cmocka_unit_test(test_status_page_not_found),
	    cmocka_unit_test(test_status_page_error_page),
	    cmocka_unit_test(test_status_page_css_and_labels),
	    cmocka_unit_test(test_status_page_html_code_grouped),
	    cmocka_unit_test(test_status_page_code_parse),
	    cmocka_unit_test(test_status_page_html_kept_only_when_kept),
	    cmocka_unit_test(test_status_page_html_account_remains),
	    cmocka_unit_test(test_status_page_html_request_states),
	    cmocka_unit_test(test_status_page_html_request_details),
	    cmocka_unit_test(test_status_page_json_request_fields),
	    cmocka_unit_test(test_status_page_metrics_request_duration),
	    cmocka_unit_test(test_status_page_mail_failed),
	    cmocka_unit_test(test_status_page_verify_mail),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
