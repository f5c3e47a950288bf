/* token_identity.c - who a token is: its name, which the server records as the annotator of
 * the annotations made with it. Called only after kn_store_check_token has accepted the token
 * in constant time, so looking the name up by the token's hash reveals nothing new. */
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <string.h>

#include "store/store_internal.h"
#include "store/ui_messages.h"

int kn_store_token_name(kn_store *s, const char *token, char *name, size_t cap, kn_error *err)
{
    if (!token || cap == 0) return 1;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    if (!EVP_Digest(token, strlen(token), md, &md_len, EVP_sha256(), NULL) || md_len != 32)
        return kn_fail(err, "reading a token's name: SHA-256 failed");
    static const char DIGITS[] = "0123456789abcdef";
    char hash[65];
    for (int i = 0; i < 32; i++) {
        hash[2 * i] = DIGITS[md[i] >> 4];
        hash[2 * i + 1] = DIGITS[md[i] & 15];
    }
    hash[64] = '\0';
    OPENSSL_cleanse(md, sizeof md);
    sqlite3_stmt *st;
    if (kn_store_prepare(s, &st, "SELECT name FROM tokens WHERE hash = ?1 AND revoked_at IS NULL",
                         "reading a token's name", err) != 0)
        return -1;
    sqlite3_bind_text(st, 1, hash, 64, SQLITE_STATIC);
    int step = sqlite3_step(st), rc = 1;
    if (step == SQLITE_ROW && sqlite3_column_text(st, 0)) {
        snprintf(name, cap, "%s", (const char *)sqlite3_column_text(st, 0));
        rc = 0;
    } else if (step != SQLITE_DONE && step != SQLITE_ROW) {
        rc = kn_store_sql_fail(s, err, "reading a token's name");
    }
    sqlite3_finalize(st);
    return rc;
}
