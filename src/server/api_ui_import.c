/* api_ui_import.c - POST /api/import (admin, annotator): a CSV file exactly as `kanava
 * import` reads it (a `text` column, optionally external_id, channel, language,
 * received_at), sent with Content-Type: text/csv. Answers {"added", "skipped", "duplicates",
 * "errors": [{"line", "error"}] (the first 20 skipped rows)}; a malformed file answers 400
 * naming the line and stores nothing (the whole file is one transaction). */
#include <string.h>
#include <strings.h>

#include "server/server_internal.h"
#include "store/ui_messages.h"

#define MAX_ERRORS 20

/* POST /api/import: the body is a CSV file ("text/csv", parameters allowed). */
void kn_api_import(kn_request *r, char **args)
{
    (void)args;
    const char *type = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
    if (!kn_content_type_is(type, "text/csv")) {
        kn_respond_error(r, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type",
                         "the body must be a CSV file sent with Content-Type: text/csv (got %.100s)",
                         type ? type : "no Content-Type");
        return;
    }
    kn_import_stats stats;
    kn_import_row_error errors[MAX_ERRORS];
    size_t n_errors = 0;
    kn_error err = {{0}};
    pthread_mutex_lock(&r->srv->store_lock);
    int rc = kn_store_import_csv_buffer(r->srv->store, r->body ? r->body : "", r->len, &stats, errors, MAX_ERRORS,
                                        &n_errors, &err);
    pthread_mutex_unlock(&r->srv->store_lock);
    if (rc == 1) {
        kn_respond_error(r, MHD_HTTP_BAD_REQUEST, "bad_csv", "%s; nothing was imported", err.msg);
        return;
    }
    if (rc != 0) {
        kn_api_internal_error(r, &err);
        return;
    }
    json_t *arr = json_array();
    for (size_t i = 0; i < n_errors; i++)
        json_array_append_new(arr, json_pack("{s:I,s:s}", "line", (json_int_t)errors[i].line, "error", errors[i].error));
    kn_respond_json(r, MHD_HTTP_OK,
                    json_pack("{s:I,s:I,s:I,s:o}", "added", (json_int_t)stats.added, "skipped",
                              (json_int_t)(stats.duplicates + stats.invalid), "duplicates", (json_int_t)stats.duplicates,
                              "errors", arr));
}
