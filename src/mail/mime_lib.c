/* SPDX-License-Identifier: MIT */
/*
 * mime_lib.c - GMime 3 loaded on first use (mime_lib.h).
 */
#include "util/fmacros.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "mail/mime_lib.h"
#include "util/dlib.h"

#define MIME_LIB_SONAME "libgmime-3.0.so.0" /* Debian 12's libgmime-3.0-0 */

static pthread_once_t once = PTHREAD_ONCE_INIT;
static struct mime_lib lib;
static bool loaded;
static struct dlib dl; /* the library and why it could not be loaded */

/* Call the GType getter @name and store its GType in *@out; false if missing. */
static bool
type(const char *name, GType *out)
{
	GType (*get)(void);

	if (!dlib_sym(&dl, name, &get))
		return false;
	*out = get();
	return true;
}

static void
load(void)
{
	void (*init)(void);

	if (!dlib_open(&dl, MIME_LIB_SONAME))
		return;
	/* Kept open for the process's life: mail may arrive at any time. */
	if (!dlib_sym(&dl, "g_mime_init", &init))
		return;
	init();
	loaded =
	    dlib_sym(&dl, "g_object_unref", &lib.object_unref) &&
	    dlib_sym(&dl, "g_free", &lib.free) &&
	    dlib_sym(&dl, "g_byte_array_new_take", &lib.byte_array_new_take) &&
	    dlib_sym(&dl, "g_byte_array_steal", &lib.byte_array_steal) &&
	    dlib_sym(&dl, "g_type_check_instance_is_a", &lib.type_check_instance_is_a) &&
	    dlib_sym(&dl, "g_mime_stream_mem_new_with_byte_array",
	             &lib.stream_mem_new_with_byte_array) &&
	    dlib_sym(&dl, "g_mime_stream_mem_set_owner", &lib.stream_mem_set_owner) &&
	    dlib_sym(&dl, "g_mime_parser_new_with_stream", &lib.parser_new_with_stream) &&
	    dlib_sym(&dl, "g_mime_parser_construct_message", &lib.parser_construct_message) &&
	    dlib_sym(&dl, "g_mime_message_get_subject", &lib.message_get_subject) &&
	    dlib_sym(&dl, "g_mime_message_get_message_id", &lib.message_get_message_id) &&
	    dlib_sym(&dl, "g_mime_message_get_from", &lib.message_get_from) &&
	    dlib_sym(&dl, "g_mime_message_get_reply_to", &lib.message_get_reply_to) &&
	    dlib_sym(&dl, "g_mime_message_get_to", &lib.message_get_to) &&
	    dlib_sym(&dl, "g_mime_message_get_mime_part", &lib.message_get_mime_part) &&
	    dlib_sym(&dl, "g_mime_message_part_get_message", &lib.message_part_get_message) &&
	    dlib_sym(&dl, "g_mime_multipart_get_count", &lib.multipart_get_count) &&
	    dlib_sym(&dl, "g_mime_multipart_get_part", &lib.multipart_get_part) &&
	    dlib_sym(&dl, "g_mime_object_get_content_type", &lib.object_get_content_type) &&
	    dlib_sym(&dl, "g_mime_object_get_content_disposition",
	             &lib.object_get_content_disposition) &&
	    dlib_sym(&dl, "g_mime_content_disposition_is_attachment",
	             &lib.content_disposition_is_attachment) &&
	    dlib_sym(&dl, "g_mime_content_type_is_type", &lib.content_type_is_type) &&
	    dlib_sym(&dl, "g_mime_object_get_header_list", &lib.object_get_header_list) &&
	    dlib_sym(&dl, "g_mime_header_list_get_count", &lib.header_list_get_count) &&
	    dlib_sym(&dl, "g_mime_header_list_get_header_at", &lib.header_list_get_header_at) &&
	    dlib_sym(&dl, "g_mime_header_get_name", &lib.header_get_name) &&
	    dlib_sym(&dl, "g_mime_header_get_value", &lib.header_get_value) &&
	    dlib_sym(&dl, "g_mime_header_get_raw_value", &lib.header_get_raw_value) &&
	    dlib_sym(&dl, "g_mime_part_get_content", &lib.part_get_content) &&
	    dlib_sym(&dl, "g_mime_data_wrapper_write_to_stream",
	             &lib.data_wrapper_write_to_stream) &&
	    dlib_sym(&dl, "g_mime_stream_mem_new", &lib.stream_mem_new) &&
	    dlib_sym(&dl, "g_mime_stream_mem_get_byte_array", &lib.stream_mem_get_byte_array) &&
	    dlib_sym(&dl, "g_mime_content_type_get_parameter", &lib.content_type_get_parameter) &&
	    dlib_sym(&dl, "g_mime_iconv_open", &lib.iconv_open) &&
	    dlib_sym(&dl, "g_mime_iconv_close", &lib.iconv_close) &&
	    dlib_sym(&dl, "internet_address_list_length", &lib.address_list_length) &&
	    dlib_sym(&dl, "internet_address_list_get_address", &lib.address_list_get_address) &&
	    dlib_sym(&dl, "internet_address_list_to_string", &lib.address_list_to_string) &&
	    dlib_sym(&dl, "internet_address_mailbox_get_addr", &lib.mailbox_get_addr) &&
	    type("g_mime_multipart_get_type", &lib.multipart_type) &&
	    type("g_mime_message_part_get_type", &lib.message_part_type) &&
	    type("g_mime_text_part_get_type", &lib.text_part_type) &&
	    type("g_mime_part_get_type", &lib.part_type) &&
	    type("internet_address_mailbox_get_type", &lib.mailbox_type);
}

const struct mime_lib *
mime_lib(struct lethe_err *err)
{
	pthread_once(&once, load);
	if (!loaded) {
		lethe_err_set(err, LETHE_E_INTERNAL,
		              "mail: GMime cannot be loaded (%s); install libgmime-3.0-0", dl.why);
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
