/* The spill store (common/spill.h): what is written reads back the same in memory, in a file and
 * across the move from one to the other; the process' budget is shared by the stores and given
 * back when they close; a store expected to be large starts in a file; reads past the end fail. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/spill.h"
#include "testutil.h"

#define MB ((size_t)1 << 20)

/* Writes `total` bytes of a known pattern in pieces of `piece`. */
static void fill(lm_spill *s, size_t total, size_t piece, unsigned seed) {
    unsigned char *b = malloc(piece);
    assert_non_null(b);
    for (size_t done = 0; done < total; done += piece) {
        size_t k = total - done < piece ? total - done : piece;
        for (size_t i = 0; i < k; i++) b[i] = (unsigned char)((done + i) * 2654435761u >> 13 ^ seed);
        assert_int_equal(lm_spill_write(s, b, k), 0);
    }
    free(b);
}

static void check(lm_spill *s, size_t total, unsigned seed) {
    assert_int_equal(s->size, total);
    unsigned char *b = malloc(total + 1);
    assert_non_null(b);
    assert_int_equal(lm_spill_read(s, 0, b, total), 0);
    for (size_t i = 0; i < total; i++) assert_int_equal(b[i], (unsigned char)(i * 2654435761u >> 13 ^ seed));
    /* a piece from the middle */
    if (total > 100) {
        assert_int_equal(lm_spill_read(s, 37, b, 50), 0);
        for (size_t i = 0; i < 50; i++) assert_int_equal(b[i], (unsigned char)((37 + i) * 2654435761u >> 13 ^ seed));
    }
    /* past the end */
    assert_int_equal(lm_spill_read(s, total - 1, b, 2), -1);
    assert_non_null(strstr(lm_last_error(), "shorter than written"));
    free(b);
}

static void test_memory(void **state) {
    (void)state;
    lm_spill_set_budget(64 * MB);
    lm_spill s;
    assert_int_equal(lm_spill_open(&s, 0), 0);
    fill(&s, 3 * MB + 123, 4099, 1);
    assert_non_null(lm_spill_memory(&s));
    assert_null(s.f);
    assert_memory_equal(lm_spill_memory(&s), s.mem, s.size);
    check(&s, 3 * MB + 123, 1);
    lm_spill_close(&s);
}

static void test_file(void **state) {
    (void)state;
    lm_spill_set_budget(0);
    lm_spill s;
    assert_int_equal(lm_spill_open(&s, 0), 0);
    assert_non_null(s.f);
    fill(&s, MB + 5, 1000, 2);
    assert_null(lm_spill_memory(&s));
    check(&s, MB + 5, 2);
    lm_spill_close(&s);
}

static void test_moves_to_file(void **state) {
    (void)state;
    lm_spill_set_budget(8 * MB); /* 2 MB for one store */
    lm_spill s;
    assert_int_equal(lm_spill_open(&s, 0), 0);
    fill(&s, 2 * MB, 65536, 3);
    assert_non_null(lm_spill_memory(&s)); /* exactly the limit still fits */
    const unsigned char one = 1;
    assert_int_equal(lm_spill_write(&s, &one, 1), 0); /* one byte more: to a file */
    assert_null(lm_spill_memory(&s));
    assert_int_equal(s.size, 2 * MB + 1);
    unsigned char back[2];
    assert_int_equal(lm_spill_read(&s, 2 * MB - 1, back, 2), 0);
    assert_int_equal(back[1], 1);
    lm_spill_close(&s);
    assert_int_equal(lm_spill_open(&s, 0), 0);
    fill(&s, 5 * MB + 7, 65536, 4);
    assert_null(lm_spill_memory(&s));
    assert_non_null(s.f);
    check(&s, 5 * MB + 7, 4);
    lm_spill_close(&s);
}

static void test_expected_large(void **state) {
    (void)state;
    lm_spill_set_budget(8 * MB);
    lm_spill s;
    assert_int_equal(lm_spill_open(&s, 3 * MB), 0);
    assert_non_null(s.f); /* over the 2 MB a store may hold */
    lm_spill_close(&s);
    assert_int_equal(lm_spill_open(&s, 2 * MB), 0);
    assert_null(s.f);
    lm_spill_close(&s);
}

static void test_shared_budget(void **state) {
    (void)state;
    lm_spill_set_budget(8 * MB);
    lm_spill s[5];
    for (int i = 0; i < 4; i++) {
        assert_int_equal(lm_spill_open(&s[i], 0), 0);
        fill(&s[i], 2 * MB, MB, (unsigned)i);
        assert_non_null(lm_spill_memory(&s[i]));
    }
    /* the budget is used up: the fifth store goes to a file at its first byte */
    assert_int_equal(lm_spill_open(&s[4], 0), 0);
    fill(&s[4], 1000, 1000, 9);
    assert_null(lm_spill_memory(&s[4]));
    check(&s[4], 1000, 9);
    lm_spill_close(&s[4]);
    /* closing one gives its share back */
    lm_spill_close(&s[0]);
    assert_int_equal(lm_spill_open(&s[0], 0), 0);
    fill(&s[0], MB, 4096, 7);
    assert_non_null(lm_spill_memory(&s[0]));
    check(&s[0], MB, 7);
    for (int i = 1; i < 4; i++) check(&s[i], 2 * MB, (unsigned)i);
    for (int i = 0; i < 4; i++) lm_spill_close(&s[i]);
}

static void test_empty(void **state) {
    (void)state;
    lm_spill_set_budget(8 * MB);
    lm_spill s;
    assert_int_equal(lm_spill_open(&s, 0), 0);
    assert_non_null(lm_spill_memory(&s));
    unsigned char b;
    assert_int_equal(lm_spill_read(&s, 0, &b, 0), 0);
    assert_int_equal(lm_spill_read(&s, 0, &b, 1), -1);
    lm_spill_close(&s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_memory),         cmocka_unit_test(test_file),          cmocka_unit_test(test_moves_to_file),
        cmocka_unit_test(test_expected_large), cmocka_unit_test(test_shared_budget), cmocka_unit_test(test_empty),
    };
    return lm_test_result(cmocka_run_group_tests(tests, NULL, NULL));
}
