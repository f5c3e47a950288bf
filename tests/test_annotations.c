/* test_annotations.c - reading and deleting annotations in the store (src/store/annotations.c):
 * listing a message's annotations (oldest first, none, an unknown message), reading one by
 * id, deleting (then 1 when gone), and that a topic can be deleted once its annotations are. */
#include "test_util.h"

#include <unistd.h>

#include "store/store.h"
#include "util/fs.h"

static char g_dir[64];

static int make_dir(void **state)
{
    (void)state;
    snprintf(g_dir, sizeof g_dir, "/tmp/kanava-test-annotations.XXXXXX");
    return mkdtemp(g_dir) ? 0 : -1;
}

static int remove_dir(void **state)
{
    (void)state;
    return kn_rm_rf(g_dir) == 0 ? 0 : -1;
}

static kn_store *new_store(const char *name)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", g_dir, name);
    kn_error err = {{0}};
    kn_store *s = kn_store_open(path, 1, &err);
    if (!s) fail_msg("%s: %s", path, err.msg);
    return s;
}

static void test_list_get_delete(void **state)
{
    (void)state;
    kn_store *s = new_store("crud.db");
    kn_error err = {{0}};
    kn_topic refund = {.name = "refund", .threshold = 0.9}, fraud = {.name = "fraud", .threshold = 0.9};
    assert_true(kn_store_put_topic(s, &refund, &err) > 0);
    assert_true(kn_store_put_topic(s, &fraud, &err) > 0);
    kn_message msgs[2] = {{.text = "I want my money back"}, {.text = "Someone used my card"}};
    int64_t mid[2];
    assert_int_equal(kn_store_add_messages(s, msgs, 2, mid, NULL, &err), 0);

    kn_annotation *list = NULL;
    size_t n = 99;
    assert_int_equal(kn_store_list_annotations(s, mid[0], &list, &n, &err), 0);
    assert_int_equal(n, 0);
    kn_annotations_free(list, n);
    assert_int_equal(kn_store_list_annotations(s, 424242, &list, &n, &err), 1);
    assert_null(list);

    int64_t a1 = kn_store_annotate(s, mid[0], "refund", "liisa", &err);
    int64_t a2 = kn_store_annotate(s, mid[0], "fraud", NULL, &err);
    int64_t a3 = kn_store_annotate(s, mid[1], "fraud", "pekka", &err);
    assert_true(a1 > 0 && a2 > a1 && a3 > a2);

    assert_int_equal(kn_store_list_annotations(s, mid[0], &list, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_int_equal(list[0].id, a1);
    assert_int_equal(list[0].message_id, mid[0]);
    assert_string_equal(list[0].topic, "refund");
    assert_string_equal(list[0].annotator, "liisa");
    assert_true(list[0].created_at > 0);
    assert_int_equal(list[1].id, a2);
    assert_string_equal(list[1].topic, "fraud");
    assert_null(list[1].annotator);
    kn_annotations_free(list, n);

    kn_annotation a;
    assert_int_equal(kn_store_get_annotation(s, a3, &a, &err), 0);
    assert_int_equal(a.message_id, mid[1]);
    assert_string_equal(a.topic, "fraud");
    assert_string_equal(a.annotator, "pekka");
    kn_annotation_free(&a);
    assert_int_equal(kn_store_get_annotation(s, 424242, &a, &err), 1);

    /* fraud has two annotations: refused until both are deleted. */
    assert_int_equal(kn_store_delete_topic(s, "fraud", &err), -1);
    assert_non_null(strstr(err.msg, "2 annotations"));
    assert_int_equal(kn_store_delete_annotation(s, a2, &err), 0);
    assert_int_equal(kn_store_delete_annotation(s, a2, &err), 1);
    assert_int_equal(kn_store_get_annotation(s, a2, &a, &err), 1);
    assert_int_equal(kn_store_delete_topic(s, "fraud", &err), -1);
    assert_non_null(strstr(err.msg, "1 annotation;"));
    assert_int_equal(kn_store_delete_annotation(s, a3, &err), 0);
    assert_int_equal(kn_store_delete_topic(s, "fraud", &err), 0);

    assert_int_equal(kn_store_list_annotations(s, mid[0], &list, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_int_equal(list[0].id, a1);
    kn_annotations_free(list, n);
    assert_int_equal(kn_store_list_annotations(s, mid[1], &list, &n, &err), 0);
    assert_int_equal(n, 0);
    kn_annotations_free(list, n);
    kn_store_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_list_get_delete),
    };
    return cmocka_run_group_tests(tests, make_dir, remove_dir);
}
