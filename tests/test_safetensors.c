/* test_safetensors.c - the safetensors reader and writer: round trip, and a clear error
 * naming the problem for every kind of malformed file. (Cross-implementation checks: the
 * PyTorch reference reads Kanava-written files, and the C loader reads the tiny models
 * tools/hf writes with its own Python writer.) */
#include "test_util.h"

#include <unistd.h>

#include "model/safetensors.h"

/* A file image: 8-byte length, header, data. */
static size_t image(uint8_t *out, const char *header, const void *data, size_t data_len)
{
    size_t h = strlen(header);
    for (int i = 0; i < 8; i++) out[i] = (uint8_t)((uint64_t)h >> (8 * i));
    memcpy(out + 8, header, h);
    memcpy(out + 8 + h, data, data_len);
    return 8 + h + data_len;
}

static void expect_error(const char *header, size_t data_len, const char *needle)
{
    static uint8_t buf[4096], data[256];
    size_t n = image(buf, header, data, data_len);
    kn_error err = {{0}};
    kn_safetensors *st = kn_st_from_buffer(buf, n, "bad.safetensors", &err);
    if (st) fail_msg("accepted: %s", header);
    if (!strstr(err.msg, "bad.safetensors") || !strstr(err.msg, needle)) fail_msg("'%s' lacks '%s'", err.msg, needle);
}

static void test_malformed_files_are_named_errors(void **state)
{
    (void)state;
    expect_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,16]}}", 8, "outside");
    expect_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8, "elements");
    expect_error("{\"a\":{\"dtype\":\"Q4\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "dtype Q4");
    expect_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,8]}}", 8, "shape");
    expect_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[2]}}", 8, "data_offsets");
    expect_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", 8, "outside");
    expect_error("[1,2,3]", 0, "not a JSON object");
    expect_error("{not json", 0, "not a JSON object");
    /* header length larger than the file */
    uint8_t buf[16] = {0xff, 0xff, 0, 0, 0, 0, 0, 0, '{', '}'};
    kn_error err = {{0}};
    assert_null(kn_st_from_buffer(buf, 10, "short.safetensors", &err));
    assert_non_null(strstr(err.msg, "exceeds the file size"));
    assert_null(kn_st_from_buffer(buf, 5, "tiny.safetensors", &err));
    assert_non_null(strstr(err.msg, "too short"));
}

static void test_round_trip_and_shape_checks(void **state)
{
    (void)state;
    float a[6] = {1, 2, 3, 4, 5, 6};
    uint16_t h[2] = {0x3c00, 0xc000}; /* 1.0, -2.0 in F16 */
    kn_tensor ts[2] = {{"w", KN_F32, 2, {2, 3}, a, sizeof a}, {"h", KN_F16, 1, {2}, h, sizeof h}};
    char path[] = "/tmp/kanava-test-st-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    kn_error err;
    const char *meta[] = {"format", "pt", NULL};
    assert_int_equal(kn_st_write(path, ts, 2, meta, &err), 0);
    kn_safetensors *st = kn_st_open(path, &err);
    assert_non_null(st);
    assert_int_equal(kn_st_count(st), 2);
    assert_string_equal(kn_st_metadata(st, "format"), "pt");
    int64_t shape[2] = {2, 3}, wrong[2] = {3, 2};
    const float *w = kn_st_f32(st, "w", 2, shape, &err);
    assert_non_null(w);
    assert_memory_equal(w, a, sizeof a);
    assert_null(kn_st_f32(st, "w", 2, wrong, &err));
    assert_non_null(strstr(err.msg, "unexpected shape"));
    assert_null(kn_st_f32(st, "h", 1, shape, &err));
    assert_non_null(strstr(err.msg, "F16"));
    assert_null(kn_st_f32(st, "missing", 1, shape, &err));
    assert_non_null(strstr(err.msg, "missing"));
    const kn_tensor *t = kn_st_find(st, "h");
    assert_int_equal(((const uint16_t *)t->data)[1], 0xc000);
    kn_st_close(st);
    /* the data section must start 8-byte aligned */
    FILE *f = fopen(path, "rb");
    uint8_t len8[8];
    assert_int_equal(fread(len8, 1, 8, f), 8);
    fclose(f);
    assert_int_equal(len8[0] % 8, 0);
    /* a truncated copy is refused with the file named */
    assert_int_equal(truncate(path, 60), 0);
    assert_null(kn_st_open(path, &err));
    assert_non_null(strstr(err.msg, path));
    unlink(path);
    assert_null(kn_st_open(path, &err));
    assert_non_null(strstr(err.msg, "No such file"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_malformed_files_are_named_errors),
        cmocka_unit_test(test_round_trip_and_shape_checks),
    };
    return cmocka_run_group_tests_name("safetensors", tests, NULL, NULL);
}
