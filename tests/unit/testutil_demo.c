/* SPDX-License-Identifier: MIT */
/*
 * testutil_demo.c - the demo application as a unit-test fixture
 * (tu_demo_open(), see testutil.h).  Apart from testutil.c because it links
 * the demo generator (the lethedemo library), which only the tests that
 * build a demo carry: tests/unit/meson.build lists them.
 */
#include "util/fmacros.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>

#include <cmocka.h>

#include "testutil.h"

#include "db/appdb.h"
#include "demo/demo.h"
#include "util/rc.h"

struct appdb *
tu_demo_open(const char *parent, int users)
{
	struct demo_opts o;
	struct lethe_err err;
	struct appdb *db;
	char dir[128];
	int len;

	len = snprintf(dir, sizeof(dir), "%s/demo", parent);
	assert_true(len >= 0 && (size_t)len < sizeof(dir));
	memset(&o, 0, sizeof(o));
	o.dir = dir;
	o.users = users;
	o.seed = 1;
	o.quiet = true;
	memset(&err, 0, sizeof(err));
	if (demo_build(&o, &err) != LETHE_OK)
		fail_msg("demo_build: %s", err.msg);
	db = appdb_open("app.db", dir, &err);
	assert_non_null(db);
	return db;
}
