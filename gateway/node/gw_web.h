/*
 * gw_web.h - the admin page's files (gateway/node/web/), compiled into pulse-gateway as
 * byte arrays by gateway/node/web/embed.cmake; gw_admin.c serves them.
 */
#ifndef GW_WEB_H
#define GW_WEB_H

#include <stddef.h>

typedef struct {
    const char *path; /* where the admin port serves it: "/", "/ui/app.js", ... */
    const char *type; /* Content-Type */
    const unsigned char *data;
    size_t len;
} gw_web_asset;

extern const gw_web_asset gw_web_assets[];
extern const size_t gw_web_nassets;

#endif
