/* Unit tests for core/regex.c: RE2 syntax translated onto POSIX ERE, full anchoring,
 * group numbering, flags, classes, NUL bytes and every rejected construct.
 * Static helpers are prefixed rx_ (this file shares unit_core with test_core.c). */
#include "core/core.h"
#include "test.h"

#include <locale.h>
#include <stdlib.h>

/* Compile pat, match s (exact-size heap copy so ASan sees overreads). -1: compile error. */
static int rx_m(const char *pat, const char *s) {
    ax_regex *re = NULL;
    ax_err e = {0};
    if (ax_regex_compile(pat, strlen(pat), &re, &e)) {
        FAILF("compile \"%s\": %s", pat, e.msg);
        return -1;
    }
    size_t n = strlen(s);
    char *copy = malloc(n ? n : 1);
    memcpy(copy, s, n);
    int hit = ax_regex_match(re, copy, n, NULL, 0);
    free(copy);
    ax_regex_free(re);
    return hit;
}

#define RX_YES(p, s) do { if (rx_m(p, s) != 1) FAILF("\"%s\" should match \"%s\"", p, s); } while (0)
#define RX_NO(p, s) do { if (rx_m(p, s) != 0) FAILF("\"%s\" should not match \"%s\"", p, s); } while (0)

static void rx_bad(const char *pat, const char *want_in_msg) {
    ax_regex *re = NULL;
    ax_err e = {0};
    int rc = ax_regex_compile(pat, strlen(pat), &re, &e);
    if (rc != AX_EINVAL) {
        FAILF("\"%s\": expected AX_EINVAL, got %d", pat, rc);
        ax_regex_free(re);
        return;
    }
    if (!strstr(e.msg, want_in_msg)) FAILF("\"%s\": message \"%s\" lacks \"%s\"", pat, e.msg, want_in_msg);
    if (!strstr(e.msg, "invalid regex \"")) FAILF("\"%s\": message \"%s\" does not name the pattern", pat, e.msg);
}

/* Groups of pat on s as "a|b|-" (unset groups as '-'). */
static void rx_groups(const char *pat, const char *s, const char *want) {
    ax_regex *re = NULL;
    ax_err e = {0};
    if (ax_regex_compile(pat, strlen(pat), &re, &e)) { FAILF("compile \"%s\": %s", pat, e.msg); return; }
    ax_span g[10];
    size_t ng = ax_regex_groups(re) + 1;
    if (!ax_regex_match(re, s, strlen(s), g, ng)) { FAILF("\"%s\" no match on \"%s\"", pat, s); ax_regex_free(re); return; }
    char got[256] = "";
    size_t o = 0;
    for (size_t i = 0; i < ng && o < 200; i++) {
        if (i) got[o++] = '|';
        if (g[i].off < 0) got[o++] = '-';
        else { memcpy(got + o, s + g[i].off, (size_t)g[i].len); o += (size_t)g[i].len; }
    }
    got[o] = 0;
    if (strcmp(got, want)) FAILF("groups of \"%s\" on \"%s\": expected %s, got %s", pat, s, want, got);
    ax_regex_free(re);
}

TEST(test_regex_anchored_alternation) {
    RX_YES("a|b", "a");
    RX_YES("a|b", "b");
    RX_NO("a|b", "ab");
    RX_NO("foo", "foobar");
    RX_NO("foo", "xfoo");
    RX_YES("foo|bar.*", "barbaz");
    RX_NO("foo|bar.*", "xbar");
}

TEST(test_regex_empty_and_dotstar) {
    RX_YES("", "");
    RX_NO("", "a");
    RX_YES(".*", "");
    RX_YES(".*", "anything at all");
    RX_YES(".+", "x");
    RX_NO(".+", "");
    RX_NO(".*", "a\nb");     /* '.' does not match '\n' in RE2 */
    RX_YES("(?s).*", "a\nb");
    RX_YES("a|", "");
}

TEST(test_regex_digit_classes) {
    RX_YES("\\d+", "0123456789");
    RX_NO("\\d+", "12a");
    RX_YES("\\D+", "abc");
    RX_NO("\\D", "1");
    RX_YES("[\\d.]+", "10.0.0.1");
    RX_NO("[\\d.]+", "10.0.0.x");
    RX_YES("[^\\d]+", "abc");
    RX_NO("[^\\d]+", "ab1");
    RX_YES("\\w+\\s\\S", "foo_1 x");
    RX_YES("[[:alpha:]]+[[:digit:]]", "abc1");
    RX_NO("[[:^alpha:]]", "a");
    RX_YES("[\\D]", "x");
}

TEST(test_regex_noncapturing_groups) {
    RX_YES("(?:a|b)+", "abba");
    RX_NO("(?:a|b)+", "abc");
    RX_NO("(?:a|b)+", "");
    rx_groups("(?:a|b)+(c)", "abc", "abc|c");
    rx_groups("(?:x(y))(z)", "xyz", "xyz|y|z");
    rx_groups("(a)(?:(b)|(c))(d)", "acd", "acd|a|-|c|d");
    rx_groups("(.*):(\\d+)", "host:9100", "host:9100|host|9100");
    rx_groups("(.*)", "", "|");
}

TEST(test_regex_group_count) {
    ax_regex *re = NULL;
    CHECK_EQ_INT(0, ax_regex_compile("(?:a)(b)(?:(c))", 15, &re, NULL));
    CHECK_EQ_INT(2, ax_regex_groups(re));
    ax_regex_free(re);
    /* groups past the count come back unset */
    CHECK_EQ_INT(0, ax_regex_compile("(a)", 3, &re, NULL));
    ax_span g[4];
    CHECK(ax_regex_match(re, "a", 1, g, 4));
    CHECK_EQ_INT(0, g[0].off);
    CHECK_EQ_INT(1, g[1].len);
    CHECK_EQ_INT(-1, g[2].off);
    CHECK_EQ_INT(-1, g[3].off);
    ax_regex_free(re);
}

TEST(test_regex_case_insensitive) {
    RX_YES("(?i)foo", "FoO");
    RX_YES("(?i)[a-c]+", "AbC");
    RX_NO("(?i)[^a]", "A");
    RX_NO("foo", "FOO");
    RX_YES("(?is)a.b", "A\nB");
    /* scoped flags as RE2: (?i:re) for the group, (?i) to the end of the enclosing group */
    RX_YES("a(?i)b", "aB");
    RX_NO("a(?i)b", "AB");
    RX_YES("(?i:PRO)duc", "produc");
    RX_NO("(?i:PRO)duc", "proDUC");
    RX_YES("pro((?i)DUC)x", "producx");
    RX_NO("pro((?i)DUC)x", "producX");
    RX_YES("(?i)a(?-i:b)c", "AbC");
    RX_NO("(?i)a(?-i:b)c", "ABC");
    RX_YES("(?s:a.b)", "a\nb");
    rx_bad("(?x)a", "flags");
    rx_bad("(?i)*a", "repetition");
}

TEST(test_regex_escapes_and_brackets) {
    RX_YES("a\\.b", "a.b");
    RX_NO("a\\.b", "axb");
    RX_YES("[\\.]", ".");
    RX_NO("[\\.]", "\\");      /* POSIX would read [\.] as backslash or dot */
    RX_YES("[]a]+", "]a]");
    RX_YES("[a\\]]+", "a]");
    RX_YES("[-a]+", "-a");
    RX_YES("[a-]+", "-a");
    RX_YES("[\\^x]+", "^x");
    RX_YES("[\\^\\-]+", "-^");
    RX_YES("[^]]", "a");
    RX_NO("[^]]", "]");
    RX_YES("\\x41\\x{42}", "AB");
    RX_YES("\\Qa.b*\\E+", "a.b**");
    RX_YES("a{2}", "aa");
    RX_NO("a{2}", "aaa");
    RX_YES("a{1,}", "aaaa");
    RX_YES("a{", "a{");      /* not a repetition: a literal brace, as in RE2 */
    RX_YES("x{,2}", "x{,2}");
    RX_YES("\\(\\)\\[\\]\\{\\}\\|\\$\\^\\*\\+\\?", "()[]{}|$^*+?");
    RX_YES("caf\xc3\xa9+", "caf\xc3\xa9\xc3\xa9");   /* a quantifier takes the whole UTF-8 char */
    RX_YES("\\x{e9}", "\xc3\xa9");
}

TEST(test_regex_nul_bytes) {
    ax_regex *re = NULL;
    CHECK_EQ_INT(0, ax_regex_compile(".*", 2, &re, NULL));
    CHECK(ax_regex_match(re, "ab", 2, NULL, 0));
    CHECK(!ax_regex_match(re, "a\0b", 3, NULL, 0));
    /* not NUL-terminated: only len bytes count */
    CHECK_EQ_INT(1, ax_regex_match(re, "abc", 2, NULL, 0));
    ax_regex_free(re);
    CHECK_EQ_INT(0, ax_regex_compile("ab", 2, &re, NULL));
    CHECK(ax_regex_match(re, "abc", 2, NULL, 0));
    ax_regex_free(re);
    /* a NUL in the pattern compiles and never matches */
    CHECK_EQ_INT(0, ax_regex_compile("a\0", 2, &re, NULL));
    CHECK(!ax_regex_match(re, "a", 1, NULL, 0));
    ax_regex_free(re);
}

TEST(test_regex_long_subject) {
    size_t n = 100000;
    char *s = malloc(n);
    memset(s, 'x', n);
    ax_regex *re = NULL;
    CHECK_EQ_INT(0, ax_regex_compile("x+", 2, &re, NULL));
    ax_span g[1];
    CHECK(ax_regex_match(re, s, n, g, 1));
    CHECK_EQ_INT((long)n, g[0].len);
    ax_regex_free(re);
    free(s);
}

/* Lazy quantifiers match the same whole strings as greedy ones; they are run greedy and
 * flagged, since only capture groups could differ. */
TEST(test_regex_lazy_matches_like_greedy) {
    RX_YES("a*?", "aaa");
    RX_YES("a+?b", "aab");
    RX_NO("a+?b", "b");
    RX_YES("a??b", "ab");
    RX_YES("a{1,2}?", "aa");
    RX_NO("a{1,2}?", "aaa");
    RX_YES(".*?(?i:PRO).*", "xproduction");
    RX_NO(".*(?i:TION).*?", "xproduct");
    ax_regex *re = NULL;
    ax_err e = {0};
    CHECK_EQ_INT(0, ax_regex_compile("x.*?y", 5, &re, &e));
    CHECK(ax_regex_lazy(re));
    ax_regex_free(re);
    CHECK_EQ_INT(0, ax_regex_compile("x.*y", 4, &re, &e));
    CHECK(!ax_regex_lazy(re));
    ax_regex_free(re);
    rx_bad("a*??", "repetition");
}

TEST(test_regex_errors) {
    rx_bad("a**", "repetition");
    rx_bad("*a", "missing argument");
    rx_bad("(|*)", "missing argument");
    rx_bad("(?=a)", "lookaround");
    rx_bad("(?!a)", "lookaround");
    rx_bad("(?<=a)b", "lookaround");
    rx_bad("(a)\\1", "backreferences");
    rx_bad("(?P<name>a)", "named groups");
    rx_bad("(?<name>a)", "named groups");
    rx_bad("(a", "missing closing )");
    rx_bad("a)", "unexpected )");
    rx_bad("[a", "missing closing ]");
    rx_bad("[z-a]", "range");
    rx_bad("a\\", "trailing backslash");
    rx_bad("\\pL", "Unicode");
    rx_bad("\\q", "invalid escape");
    rx_bad("a{1001}", "1000");
    rx_bad("a{3,2}", "repeat");
    rx_bad("[[:nope:]]", "class");
    rx_bad("[\xc3\xa9]", "non-ASCII");
    ax_err e = {0};
    ax_regex *re = (ax_regex *)&e; /* must stay untouched on failure */
    CHECK_EQ_INT(AX_EINVAL, ax_regex_compile("(", 1, &re, &e));
    CHECK(re == (ax_regex *)&e);
    CHECK_EQ_INT(AX_EINVAL, e.code);
    ax_regex_free(NULL);
}

TEST(test_regex_truncations_do_not_crash) {
    const char *p = "(?i)^(?:[\\d\\w.-]+|\\x{41}{2,3}|\\Qa*\\E)(x|y)*$\\b[[:alpha:]]";
    size_t n = strlen(p);
    for (size_t i = 0; i <= n; i++) {
        char *copy = malloc(i ? i : 1);
        memcpy(copy, p, i);
        ax_regex *re = NULL;
        if (ax_regex_compile(copy, i, &re, NULL) == 0) {
            ax_span g[4];
            (void)ax_regex_match(re, "abc", 3, g, 4);
            ax_regex_free(re);
        }
        free(copy);
    }
}

TEST(test_regex_bytes_under_utf8_locale) {
    /* matching stays byte-wise in the C locale even when the process is in a UTF-8 one */
    char *saved = setlocale(LC_ALL, NULL);
    char keep[64];
    snprintf(keep, sizeof keep, "%s", saved ? saved : "C");
    if (!setlocale(LC_ALL, "C.UTF-8")) setlocale(LC_ALL, "C.utf8");
    RX_YES(".*", "caf\xc3\xa9");
    RX_YES("[^/]+", "\xc3\xa9\xff");
    RX_YES("caf\xc3\xa9+", "caf\xc3\xa9\xc3\xa9");
    RX_YES(".+", "\xff\xfe");
    RX_NO("a.b", "a\nb");
    setlocale(LC_ALL, keep);
}

TEST(test_regex_groups_of_usual_relabel_shapes) {
    /* expected groups are leftmost-first (RE2) results, checked with Python's re */
    rx_groups("(.*):(\\d+)", "a:b:1", "a:b:1|a:b|1");
    rx_groups("([^:]+)(?::\\d+)?;(\\d+)", "10.0.0.1:8080;9100", "10.0.0.1:8080;9100|10.0.0.1|9100");
    rx_groups("([^:]+)(?::\\d+)?;(\\d+)", "host;80", "host;80|host|80");
    rx_groups("(.+);(.*)", "a;b;c", "a;b;c|a;b|c");
    rx_groups("(https?)://([^/]+)(/.*)?", "https://x", "https://x|https|x|-");
    rx_groups("(.*)_(total|count|sum)", "a_sum_count", "a_sum_count|a_sum|count");
    rx_groups("(\\w+)-(\\d+)-(.*)", "a-1-2-3", "a-1-2-3|a|1|2-3");
    rx_groups("(.*)(\\d+)", "abc123", "abc123|abc12|3");
    rx_groups("(a|ab)(c|bcd)(d*)", "abcd", "abcd|a|bcd|");
}
