/* tokens.c - API tokens: 32 random bytes shown once as 64 hex characters; the database
 * keeps only the hex SHA-256 of that text. A check hashes the presented token and compares
 * it with the hash of every unrevoked token in constant time (no early exit, no index
 * lookup keyed by the secret). */
#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "store/store_internal.h"
#include "text/utf8.h"

#define TOKEN_BYTES 32
#define MAX_NAME 256

static const char *const ROLES[] = {"admin", "annotator", "service"};

static int valid_role(const char *role)
{
    for (size_t i = 0; i < sizeof ROLES / sizeof ROLES[0]; i++)
        if (strcmp(role, ROLES[i]) == 0) return 1;
    return 0;
}

/* Fills buf from the kernel's CSPRNG: getrandom(), else /dev/urandom. */
static int random_bytes(unsigned char *buf, size_t n, kn_error *err)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = getrandom(buf + got, n - got, 0);
        if (r > 0) {
            got += (size_t)r;
            continue;
        }
        if (r < 0 && errno == EINTR) continue;
        break;
    }
    if (got == n) return 0;
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return kn_fail(err, "creating a token: no random source (getrandom and /dev/urandom: %s)", strerror(errno));
    got = 0;
    while (got < n) {
        ssize_t r = read(fd, buf + got, n - got);
        if (r > 0) got += (size_t)r;
        else if (!(r < 0 && errno == EINTR)) break;
    }
    int saved = errno;
    close(fd);
    if (got != n) return kn_fail(err, "creating a token: reading /dev/urandom: %s", strerror(saved));
    return 0;
}

static void to_hex(const unsigned char *bytes, size_t n, char *hex)
{
    static const char DIGITS[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        hex[2 * i] = DIGITS[bytes[i] >> 4];
        hex[2 * i + 1] = DIGITS[bytes[i] & 15];
    }
    hex[2 * n] = '\0';
}

/* hex = lowercase hex SHA-256 of text[0..len). */
static int sha256_hex(const char *text, size_t len, char hex[65], kn_error *err)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    if (!EVP_Digest(text, len, md, &md_len, EVP_sha256(), NULL) || md_len != 32)
        return kn_fail(err, "hashing a token: SHA-256 failed");
    to_hex(md, 32, hex);
    OPENSSL_cleanse(md, sizeof md);
    return 0;
}

int kn_store_create_token(kn_store *s, const char *role, const char *name, char token[65], kn_error *err)
{
    if (!role || !valid_role(role))
        return kn_fail(err, "creating a token: unknown role \"%.64s\" (admin, annotator or service)", role ? role : "(null)");
    if (!name || !*name) return kn_fail(err, "creating a %s token: the name is empty", role);
    size_t len = strlen(name);
    if (len > MAX_NAME) return kn_fail(err, "creating a %s token: the name is %zu bytes; the limit is %d", role, len, MAX_NAME);
    size_t bad = kn_utf8_first_invalid(name, len);
    if (bad != len) return kn_fail(err, "creating a %s token: invalid UTF-8 in the name at byte %zu", role, bad + 1);

    unsigned char raw[TOKEN_BYTES];
    char text[2 * TOKEN_BYTES + 1], hash[65];
    if (random_bytes(raw, sizeof raw, err) != 0) return -1;
    to_hex(raw, sizeof raw, text);
    OPENSSL_cleanse(raw, sizeof raw);
    if (sha256_hex(text, 2 * TOKEN_BYTES, hash, err) != 0) {
        OPENSSL_cleanse(text, sizeof text);
        return -1;
    }

    int rc = kn_store_begin(s, "creating a token", err);
    sqlite3_stmt *st = NULL;
    if (rc == 0 && kn_store_prepare(s, &st, "SELECT 1 FROM tokens WHERE name = ?1 AND revoked_at IS NULL",
                                    "creating a token", err) != 0)
        rc = -1;
    if (rc == 0) {
        sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
        int step = sqlite3_step(st);
        if (step == SQLITE_ROW) rc = kn_fail(err, "a token named \"%s\" already exists; revoke it first", name);
        else if (step != SQLITE_DONE) rc = kn_store_sql_fail(s, err, "creating token \"%s\"", name);
        sqlite3_finalize(st);
        st = NULL;
    }
    if (rc == 0 && kn_store_prepare(s, &st, "INSERT INTO tokens (name, role, hash, created_at) VALUES (?1, ?2, ?3, ?4)",
                                    "creating a token", err) != 0)
        rc = -1;
    if (rc == 0) {
        sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, role, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, hash, 64, SQLITE_STATIC);
        sqlite3_bind_int64(st, 4, kn_store_now());
        if (sqlite3_step(st) != SQLITE_DONE) rc = kn_store_sql_fail(s, err, "creating token \"%s\"", name);
        sqlite3_finalize(st);
    }
    if (rc == 0) rc = kn_store_commit(s, "creating a token", err);
    if (rc != 0) {
        kn_store_rollback(s);
        OPENSSL_cleanse(text, sizeof text);
        return -1;
    }
    memcpy(token, text, sizeof text);
    OPENSSL_cleanse(text, sizeof text);
    return 0;
}

int kn_store_check_token(kn_store *s, const char *token, char role[16], kn_error *err)
{
    return kn_store_check_token_named(s, token, role, NULL, 0, err);
}

int kn_store_check_token_named(kn_store *s, const char *token, char role[16], char *name, size_t name_cap,
                               kn_error *err)
{
    if (!token) return 1;
    /* The shape of a token is no secret: anything but 64 hex digits is unknown. */
    size_t len = strnlen(token, 2 * TOKEN_BYTES + 1);
    if (len != 2 * TOKEN_BYTES) return 1;
    for (size_t i = 0; i < len; i++)
        if (!((token[i] >= '0' && token[i] <= '9') || (token[i] >= 'a' && token[i] <= 'f'))) return 1;
    char hash[65];
    if (sha256_hex(token, len, hash, err) != 0) return -1;

    sqlite3_stmt *st;
    if (kn_store_prepare(s, &st, "SELECT hash, role, name FROM tokens WHERE revoked_at IS NULL", "checking a token",
                         err) != 0)
        return -1;
    int found = 0, step;
    char found_role[16] = "";
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        const unsigned char *stored = sqlite3_column_text(st, 0);
        const unsigned char *r = sqlite3_column_text(st, 1);
        if (!stored || !r || sqlite3_column_bytes(st, 0) != 64) continue;
        int same = CRYPTO_memcmp(stored, hash, 64) == 0;
        if (same && !found) {
            found = 1;
            snprintf(found_role, sizeof found_role, "%s", (const char *)r);
            const unsigned char *nm = sqlite3_column_text(st, 2);
            if (name && name_cap) snprintf(name, name_cap, "%s", nm ? (const char *)nm : "");
        }
    }
    int rc = 0;
    if (step != SQLITE_DONE) rc = kn_store_sql_fail(s, err, "checking a token");
    sqlite3_finalize(st);
    if (rc != 0) return -1;
    if (!found) return 1;
    memcpy(role, found_role, sizeof found_role);
    return 0;
}

int kn_store_revoke_token(kn_store *s, const char *name, kn_error *err)
{
    if (!name) return 1;
    sqlite3_stmt *st;
    if (kn_store_prepare(s, &st, "UPDATE tokens SET revoked_at = ?2 WHERE name = ?1 AND revoked_at IS NULL",
                         "revoking a token", err) != 0)
        return -1;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, kn_store_now());
    int rc = 0;
    if (sqlite3_step(st) != SQLITE_DONE) rc = kn_store_sql_fail(s, err, "revoking token \"%.200s\"", name);
    else if (sqlite3_changes(s->db) == 0) rc = 1;
    sqlite3_finalize(st);
    return rc;
}
