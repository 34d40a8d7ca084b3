/* SPDX-License-Identifier: MIT */
/*
 * datamap_internal.h - what the files of src/datamap/ share and nobody
 * else uses: parse.c calls into the model (datamap.c) while it parses, and
 * datamap.c and validate.c word their errors at a map line alike.
 */
#ifndef LETHE_DATAMAP_INTERNAL_H
#define LETHE_DATAMAP_INTERNAL_H

#include "datamap/datamap.h"

/*
 * Resolve the parsed tables of @dm: a table mapped twice, a parent link to
 * a table not mapped, the channel table (the one with 'connection') and
 * the links to it of the tables with 'disconnect' or 'unsubscribe', and a
 * cycle through parent links are LETHE_E_DATAMAP errors naming the line.
 */
lethe_rc datamap_resolve(struct datamap *dm, struct lethe_err *err);
/*
 * Set @err to LETHE_E_DATAMAP "<map file>:@line: <message>" (the message
 * formatted from @fmt) and return LETHE_E_DATAMAP.
 */
lethe_rc datamap_fail_at(const struct datamap *dm, struct lethe_err *err, int line, const char *fmt,
                         ...) __attribute__((format(printf, 4, 5)));
/* Free the @n strings of @v and @v itself (NULL with 0 is fine). */
void datamap_names_free(char **v, size_t n);

#endif /* LETHE_DATAMAP_INTERNAL_H */
