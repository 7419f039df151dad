/* Static files of the web UI (web_root): GET only, no path traversal,
 * no hidden files, no symlinks out of the root, MIME type by extension. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "node.h"
#include "util/fsutil.h"
#include "web/web_int.h"

#define STATIC_MAX (16u << 20)

static const struct {
	const char *ext, *type;
} mime[] = {
	{".html", "text/html; charset=utf-8"},
	{".css", "text/css; charset=utf-8"},
	{".js", "text/javascript; charset=utf-8"},
	{".mjs", "text/javascript; charset=utf-8"},
	{".json", "application/json; charset=utf-8"},
	{".map", "application/json; charset=utf-8"},
	{".svg", "image/svg+xml"},
	{".png", "image/png"},
	{".ico", "image/x-icon"},
	{".woff2", "font/woff2"},
	{".txt", "text/plain; charset=utf-8"},
};

static const char *mime_of(const char *path)
{
	const char *dot = strrchr(path, '.');
	for (size_t i = 0; dot && i < sizeof mime / sizeof *mime; i++)
		if (strcasecmp(dot, mime[i].ext) == 0)
			return mime[i].type;
	return "application/octet-stream";
}

/* A request path we are willing to map onto the file system. */
static int path_ok(const char *p)
{
	if (p[0] != '/' || strstr(p, "//") || strchr(p, '\\') || strstr(p, "/."))
		return 0;
	for (const unsigned char *c = (const unsigned char *)p; *c; c++)
		if (*c < 0x20 || *c == 0x7f)
			return 0;
	return 1;
}

static void not_found(struct api_call *c)
{
	api_error(c, 404, NULL, "not found");
}

static void no_ui(struct api_call *c)
{
	static const char page[] =
		"<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>rampart</title></head>"
		"<body><h1>rampart</h1><p>The web interface is not installed (web_root has no "
		"index.html). The JSON API is at /api/v1/.</p></body></html>";
	api_raw(c, 200, "text/html; charset=utf-8", page, sizeof page - 1);
}

void web_static_serve(struct api_call *c)
{
	char root[PATH_MAX], want[PATH_MAX + 1100], real[PATH_MAX];
	struct stat st;
	struct err e;
	if (!path_ok(c->path))
		return not_found(c);
	if (!realpath(c->node->boot.web_root, root))
		return strcmp(c->path, "/") == 0 ? no_ui(c) : not_found(c);
	size_t pl = strlen(c->path);
	snprintf(want, sizeof want, "%s%s%s", root, c->path, c->path[pl - 1] == '/' ? "index.html" : "");
	if (stat(want, &st) == 0 && S_ISDIR(st.st_mode)) {
		/* "/user" -> "/user/": relative URLs of the page need the slash */
		snprintf(c->location, sizeof c->location, "%s/", c->path);
		api_raw(c, 301, "text/plain; charset=utf-8", "moved\n", 6);
		return;
	}
	size_t rl = strlen(root);
	if (!realpath(want, real) || strncmp(real, root, rl) != 0 || real[rl] != '/')
		return strcmp(c->path, "/") == 0 ? no_ui(c) : not_found(c);
	if (stat(real, &st) < 0 || !S_ISREG(st.st_mode))
		return not_found(c);
	char *data;
	size_t len;
	if (fs_read_all(real, STATIC_MAX, &data, &len, &e) < 0)
		return not_found(c);
	api_raw(c, 200, mime_of(real), data, len);
	free(data);
}
