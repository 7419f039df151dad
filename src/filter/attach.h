/* Attachment filters: blocked or quarantined extensions and MIME types
 * (declared and detected from the content), also for the files inside
 * zip archives; double extensions ("invoice.pdf.exe") and spoofed names;
 * encrypted or unreadable archives. The zip reader parses the central
 * directory only (no decompression), every offset and length checked
 * against the buffer. */
#ifndef RAMPART_FILTER_ATTACH_H
#define RAMPART_FILTER_ATTACH_H

#include <stddef.h>
#include <stdint.h>

#include "filter/pipeline.h"
#include "util/err.h"

#define ZIP_MAX_ENTRIES 10000  /* more is treated as an unreadable archive */
#define ZIP_MAX_DEPTH 3        /* stored (uncompressed) zips inside zips */

struct zip_entry {
	const char *name;            /* not NUL-terminated; any bytes */
	size_t name_len;
	uint16_t flags;              /* general purpose flags of the central directory */
	uint16_t method;             /* 0 stored, 8 deflate, 99 AES, ... */
	uint64_t csize, usize;
	int encrypted;               /* traditional, strong or AES, in either header */
	int is_dir;
	const unsigned char *data;   /* stored, unencrypted entries: the content; else NULL */
	size_t data_len;
};

/* Called per entry; a non-zero return stops the walk (zip_scan returns 0). */
typedef int (*zip_entry_fn)(void *arg, const struct zip_entry *ze);

/* 1 when d starts like a zip archive (local header or empty archive). */
int zip_is_zip(const unsigned char *d, size_t n);
/* Walks the central directory of the archive in d. 0 when every entry was
 * seen; -1 with e when the archive cannot be read (no end record,
 * spanned, truncated, inconsistent offsets, more than ZIP_MAX_ENTRIES). */
int zip_scan(const unsigned char *d, size_t n, zip_entry_fn fn, void *arg, struct err *e);

/* The MIME types the content's magic bytes say, '|'-separated aliases
 * ("application/x-dosexec|application/x-msdownload|..."), or NULL. */
const char *attach_sniff(const unsigned char *d, size_t n);
/* 1 when a file name hides an executable: a document extension before an
 * executable one ("invoice.pdf.exe"), blanks padding the real extension
 * away ("a.pdf      .exe"), or a right-to-left override character. */
int attach_name_spoofed(const char *name);

/* Pipeline stage (non-scoring: allow-listed mail still runs it). */
int stage_attach_run(struct scan_job *job);

#endif
