/* SPDX-License-Identifier: MIT */
/*
 * mime_lib.c - GMime 3 loaded on first use (mime_lib.h).
 */
#include "util/fmacros.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "mail/mime_lib.h"

#define MIME_LIB_SONAME "libgmime-3.0.so.0" /* Debian 12's libgmime-3.0-0 */

static pthread_once_t once = PTHREAD_ONCE_INIT;
static struct mime_lib lib;
static bool loaded;
static char why[256]; /* why it could not be loaded */

/* dlsym() @name into *@slot; false (why set) if it is missing. */
static bool
sym(void *h, const char *name, void *slot)
{
	void *f = dlsym(h, name);

	if (f == NULL) {
		snprintf(why, sizeof(why), "%s has no %s", MIME_LIB_SONAME, name);
		return false;
	}
	/* POSIX: a function pointer and void * share their representation (dlsym). */
	memcpy(slot, &f, sizeof(f));
	return true;
}

/* Call the GType getter @name and store its GType in *@out; false if missing. */
static bool
type(void *h, const char *name, GType *out)
{
	GType (*get)(void);

	if (!sym(h, name, &get))
		return false;
	*out = get();
	return true;
}

static void
load(void)
{
	void *h = dlopen(MIME_LIB_SONAME, RTLD_NOW | RTLD_LOCAL);
	void (*init)(void);
	const char *e;

	if (h == NULL) {
		e = dlerror();
		snprintf(why, sizeof(why), "%s", e != NULL ? e : MIME_LIB_SONAME);
		return;
	}
	/* Kept open for the process's life: mail may arrive at any time. */
	if (!sym(h, "g_mime_init", &init))
		return;
	init();
	loaded =
	    sym(h, "g_object_unref", &lib.object_unref) && sym(h, "g_free", &lib.free) &&
	    sym(h, "g_byte_array_new_take", &lib.byte_array_new_take) &&
	    sym(h, "g_byte_array_steal", &lib.byte_array_steal) &&
	    sym(h, "g_type_check_instance_is_a", &lib.type_check_instance_is_a) &&
	    sym(h, "g_mime_stream_mem_new_with_byte_array", &lib.stream_mem_new_with_byte_array) &&
	    sym(h, "g_mime_stream_mem_set_owner", &lib.stream_mem_set_owner) &&
	    sym(h, "g_mime_parser_new_with_stream", &lib.parser_new_with_stream) &&
	    sym(h, "g_mime_parser_construct_message", &lib.parser_construct_message) &&
	    sym(h, "g_mime_message_get_subject", &lib.message_get_subject) &&
	    sym(h, "g_mime_message_get_message_id", &lib.message_get_message_id) &&
	    sym(h, "g_mime_message_get_from", &lib.message_get_from) &&
	    sym(h, "g_mime_message_get_reply_to", &lib.message_get_reply_to) &&
	    sym(h, "g_mime_message_get_to", &lib.message_get_to) &&
	    sym(h, "g_mime_message_get_mime_part", &lib.message_get_mime_part) &&
	    sym(h, "g_mime_message_part_get_message", &lib.message_part_get_message) &&
	    sym(h, "g_mime_multipart_get_count", &lib.multipart_get_count) &&
	    sym(h, "g_mime_multipart_get_part", &lib.multipart_get_part) &&
	    sym(h, "g_mime_object_get_content_type", &lib.object_get_content_type) &&
	    sym(h, "g_mime_object_get_content_disposition", &lib.object_get_content_disposition) &&
	    sym(h, "g_mime_content_disposition_is_attachment",
	        &lib.content_disposition_is_attachment) &&
	    sym(h, "g_mime_content_type_is_type", &lib.content_type_is_type) &&
	    sym(h, "g_mime_object_get_header_list", &lib.object_get_header_list) &&
	    sym(h, "g_mime_header_list_get_count", &lib.header_list_get_count) &&
	    sym(h, "g_mime_header_list_get_header_at", &lib.header_list_get_header_at) &&
	    sym(h, "g_mime_header_get_name", &lib.header_get_name) &&
	    sym(h, "g_mime_header_get_value", &lib.header_get_value) &&
	    sym(h, "g_mime_header_get_raw_value", &lib.header_get_raw_value) &&
	    sym(h, "g_mime_part_get_content", &lib.part_get_content) &&
	    sym(h, "g_mime_data_wrapper_write_to_stream", &lib.data_wrapper_write_to_stream) &&
	    sym(h, "g_mime_stream_mem_new", &lib.stream_mem_new) &&
	    sym(h, "g_mime_stream_mem_get_byte_array", &lib.stream_mem_get_byte_array) &&
	    sym(h, "g_mime_content_type_get_parameter", &lib.content_type_get_parameter) &&
	    sym(h, "g_mime_iconv_open", &lib.iconv_open) &&
	    sym(h, "g_mime_iconv_close", &lib.iconv_close) &&
	    sym(h, "internet_address_list_length", &lib.address_list_length) &&
	    sym(h, "internet_address_list_get_address", &lib.address_list_get_address) &&
	    sym(h, "internet_address_list_to_string", &lib.address_list_to_string) &&
	    sym(h, "internet_address_mailbox_get_addr", &lib.mailbox_get_addr) &&
	    type(h, "g_mime_multipart_get_type", &lib.multipart_type) &&
	    type(h, "g_mime_message_part_get_type", &lib.message_part_type) &&
	    type(h, "g_mime_text_part_get_type", &lib.text_part_type) &&
	    type(h, "g_mime_part_get_type", &lib.part_type) &&
	    type(h, "internet_address_mailbox_get_type", &lib.mailbox_type);
}

const struct mime_lib *
mime_lib(struct lethe_err *err)
{
	pthread_once(&once, load);
	if (!loaded) {
		lethe_err_set(err, LETHE_E_INTERNAL,
		              "mail: GMime cannot be loaded (%s); install libgmime-3.0-0", why);
		return NULL;
	}
	return &lib;
}

bool
mime_lib_is_a(const struct mime_lib *l, const void *obj, GType t)
{
	/* A GObject starts with its GTypeInstance; the cast drops const only for the call. */
	return obj != NULL && l->type_check_instance_is_a((GTypeInstance *)(uintptr_t)obj, t);
}
