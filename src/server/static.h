/* static.h - the web UI's files, built into the binary (tools/embed_assets.sh writes the
 * table from web/ into $(BUILD)/gen/web_assets.c), and serving them. */
#ifndef KN_SERVER_STATIC_H
#define KN_SERVER_STATIC_H

#include <stddef.h>

typedef struct kn_static_asset {
    const char *path; /* relative to web/: "index.html", "js/api.js"; NULL ends the table */
    const unsigned char *data;
    size_t size;
} kn_static_asset;

extern const kn_static_asset kn_static_assets[];

struct kn_request;
/* Answers GET/HEAD / (the app) and /ui/PATH (an asset; 404 when there is none; 405 for
 * other methods) without a token: the assets hold no data. 1 when the path was the UI's
 * (a response is queued), 0 when it belongs to the API. */
int kn_static_handle(struct kn_request *r);

#endif
