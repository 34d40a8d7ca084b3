/* SPDX-License-Identifier: MIT */
/*
 * mime_lib.h - GMime 3, loaded when the first incoming mail is parsed
 * (private to mail/inmail.c; docs/internals/mail-intake.md).
 *
 * GMime brings GLib, GObject, GIO and GPGME with it: linked into lethe,
 * they added about 3.4 MB to every lethe's resident memory (a trivial
 * program: 1.4 MB -> 4.8 MB) whether it ever reads mail or not.  So lethe
 * is not linked against it: mime_lib() opens libgmime-3.0.so.0 with
 * dlopen() once, calls g_mime_init() and hands out the few GMime, GLib and
 * GObject functions the parser calls (dlsym() on GMime's handle finds
 * GLib's and GObject's symbols through its dependencies).  Thread-safe
 * (pthread_once); GMime's objects themselves are never shared between
 * threads.
 *
 * Type checks: GObject's checking macros (GMIME_IS_MULTIPART(), G_OBJECT(),
 * ...) call g_type_check_instance_is_a() and the *_get_type() functions,
 * which lethe does not link.  Code that uses this table never uses those
 * macros (nor the casting ones, which call g_type_check_instance_cast()
 * when GLib's cast checks are on): it casts with plain C casts and asks
 * mime_lib_is_a(lib, object, lib->multipart_type) instead, whose GTypes
 * come from the loaded *_get_type() functions.
 */
#ifndef LETHE_MAIL_MIME_LIB_H
#define LETHE_MAIL_MIME_LIB_H

#include "util/fmacros.h"

#include <gmime/gmime.h>
#include <stdbool.h>

#include "util/rc.h"

/* The GMime, GLib and GObject functions the parser uses. */
struct mime_lib {
	/* GLib and GObject */
	void (*object_unref)(gpointer);
	void (*free)(gpointer);
	GByteArray *(*byte_array_new_take)(guint8 *, gsize);
	guint8 *(*byte_array_steal)(GByteArray *, gsize *);
	gboolean (*type_check_instance_is_a)(GTypeInstance *, GType);
	/* streams and the parser */
	GMimeStream *(*stream_mem_new_with_byte_array)(GByteArray *);
	void (*stream_mem_set_owner)(GMimeStreamMem *, gboolean);
	GMimeParser *(*parser_new_with_stream)(GMimeStream *);
	GMimeMessage *(*parser_construct_message)(GMimeParser *, GMimeParserOptions *);
	/* messages, objects, headers */
	const char *(*message_get_subject)(GMimeMessage *);
	const char *(*message_get_message_id)(GMimeMessage *);
	InternetAddressList *(*message_get_from)(GMimeMessage *);
	InternetAddressList *(*message_get_reply_to)(GMimeMessage *);
	InternetAddressList *(*message_get_to)(GMimeMessage *);
	GMimeObject *(*message_get_mime_part)(GMimeMessage *);
	GMimeMessage *(*message_part_get_message)(GMimeMessagePart *);
	int (*multipart_get_count)(GMimeMultipart *);
	GMimeObject *(*multipart_get_part)(GMimeMultipart *, int);
	GMimeContentType *(*object_get_content_type)(GMimeObject *);
	GMimeContentDisposition *(*object_get_content_disposition)(GMimeObject *);
	gboolean (*content_disposition_is_attachment)(GMimeContentDisposition *);
	gboolean (*content_type_is_type)(GMimeContentType *, const char *, const char *);
	GMimeHeaderList *(*object_get_header_list)(GMimeObject *);
	int (*header_list_get_count)(GMimeHeaderList *);
	GMimeHeader *(*header_list_get_header_at)(GMimeHeaderList *, int);
	const char *(*header_get_name)(GMimeHeader *);
	const char *(*header_get_value)(GMimeHeader *);
	const char *(*header_get_raw_value)(GMimeHeader *);
	/* a part's content: transfer-decoded by GMime, charset converted by lethe */
	GMimeDataWrapper *(*part_get_content)(GMimePart *);
	ssize_t (*data_wrapper_write_to_stream)(GMimeDataWrapper *, GMimeStream *);
	GMimeStream *(*stream_mem_new)(void);
	GByteArray *(*stream_mem_get_byte_array)(GMimeStreamMem *);
	const char *(*content_type_get_parameter)(GMimeContentType *, const char *);
	iconv_t (*iconv_open)(const char *, const char *); /* GMime's: its charset aliases */
	int (*iconv_close)(iconv_t);
	/* addresses */
	int (*address_list_length)(InternetAddressList *);
	InternetAddress *(*address_list_get_address)(InternetAddressList *, int);
	char *(*address_list_to_string)(InternetAddressList *, GMimeFormatOptions *, gboolean);
	const char *(*mailbox_get_addr)(InternetAddressMailbox *);
	/* GTypes, for mime_lib_is_a() (resolved at load) */
	GType multipart_type;
	GType message_part_type;
	GType text_part_type;
	GType part_type;
	GType mailbox_type;
};

/*
 * GMime's functions, loaded (and g_mime_init() called) on the first call;
 * NULL (and @err: LETHE_E_INTERNAL naming the library and dlerror()) if it
 * cannot be loaded: every later call fails the same way.
 */
const struct mime_lib *mime_lib(struct lethe_err *err);

/* Whether the GObject @obj (or NULL: false) is an instance of @type. */
bool mime_lib_is_a(const struct mime_lib *lib, const void *obj, GType type);

#endif /* LETHE_MAIL_MIME_LIB_H */
