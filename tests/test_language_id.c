/* test_language_id.c - the language guess (src/text/language_id.h) on real sentences nobody
 * on the project wrote: the SIB-200 test sets in English and Finnish (the same FLORES
 * sentences in both languages) and Banking77's English customer messages, from ../shared. */
#include "test_util.h"

#include "text/csv.h"
#include "text/language_id.h"

/* Guesses the text column of every row of a TSV/CSV file; counts right, wrong and no-guess. */
static void guess_file(const char *rel, char delim, const char *column, const char *want, size_t max_rows,
                       size_t *right, size_t *wrong, size_t *none)
{
    char path[4200];
    test_path(path, sizeof path, test_shared(), rel);
    kn_error err;
    kn_csv *csv = kn_csv_open(path, delim, &err);
    if (!csv) {
        print_message("%s\n", err.msg);
        fail();
    }
    kn_csv_row row;
    assert_int_equal(kn_csv_next(csv, &row, &err), 1);
    long col = kn_csv_column(&row, column);
    assert_true(col >= 0);
    *right = *wrong = *none = 0;
    size_t rows = 0;
    while (rows < max_rows && kn_csv_next(csv, &row, &err) == 1) {
        const char *got = kn_language_guess(row.fields[col], row.lengths[col], NULL);
        if (!got) (*none)++;
        else if (strcmp(got, want) == 0) (*right)++;
        else (*wrong)++;
        rows++;
    }
    kn_csv_close(csv);
    print_message("%s: %zu right, %zu wrong, %zu not guessed of %zu\n", rel, *right, *wrong, *none, rows);
}

static void test_sib200_english_and_finnish(void **state)
{
    (void)state;
    size_t right, wrong, none;
    guess_file("datasets/sib200/eng_Latn/test.tsv", '\t', "text", "en", 1000, &right, &wrong, &none);
    assert_true(right >= 0.97 * (right + wrong + none));
    assert_true(wrong <= 2);
    guess_file("datasets/sib200/fin_Latn/test.tsv", '\t', "text", "fi", 1000, &right, &wrong, &none);
    assert_true(right >= 0.97 * (right + wrong + none));
    assert_true(wrong <= 2);
}

static void test_banking77_english(void **state)
{
    (void)state;
    size_t right, wrong, none;
    guess_file("datasets/banking77/test.csv", ',', "text", "en", 3080, &right, &wrong, &none);
    /* Customer messages are short ("top up failed?"): some are too short to call. */
    assert_true(right >= 0.95 * (right + wrong + none));
    assert_true(wrong <= 0.01 * (right + wrong + none));
}

static void test_short_and_neutral_texts_get_no_guess(void **state)
{
    (void)state;
    double conf = 1;
    assert_null(kn_language_guess("", 0, &conf));
    assert_true(conf == 0);
    assert_null(kn_language_guess("ok", 2, NULL));
    assert_null(kn_language_guess("12345 67890 2026-12-07", 22, NULL));
    const char *sv = "Jag har glömt min pinkod och kan inte logga in på banken";
    const char *got = kn_language_guess(sv, strlen(sv), &conf);
    assert_non_null(got);
    assert_string_equal(got, "sv");
    assert_true(conf > 0.5 && conf <= 1.0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sib200_english_and_finnish),
        cmocka_unit_test(test_banking77_english),
        cmocka_unit_test(test_short_and_neutral_texts_get_no_guess),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
