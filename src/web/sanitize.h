/* HTML of quarantined mail made safe to show: an allow-list of tags and
 * attributes, re-serialised (never copied through), so what the browser
 * parses is only what this file wrote. Scripts, event handlers, forms,
 * frames, objects, meta/base/link and remote resources are gone; links
 * are limited to http, https and mailto; remote images become a local
 * placeholder. The preview is also served with a CSP that loads nothing
 * (default-src 'none') into a sandboxed frame: two independent walls. */
#ifndef RAMPART_WEB_SANITIZE_H
#define RAMPART_WEB_SANITIZE_H

#include <stddef.h>

#include "util/buf.h"

#define SANITIZE_MAX_OUT (4u << 20)

/* Appends a complete HTML document made from the UTF-8 html to out.
 * Returns the number of remote images replaced, or -1 when out filled up
 * (what was written is still a well-formed, safe prefix). */
int sanitize_html(const char *html, size_t len, struct buf *out);

#endif
