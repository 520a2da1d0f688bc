/* Unit tests for server/relabel.c: every action (Prometheus documentation examples
 * included), defaults, template expansion, joined source labels with a missing label,
 * hashmod against hashlib-computed MD5 values, validation errors and the label cap.
 * Static helpers are prefixed rl_ (this file shares unit_server with other test files). */
#include "server/relabel.h"
#include "test.h"

#include <stdlib.h>

/* A label set parsed from "a=1,b=2" (values may not contain ',' or '='). */
typedef struct rl_set {
    ax_label ls[AX_MAX_LABELS];
    size_t n;
    char buf[1024];
} rl_set;

static void rl_parse(rl_set *s, const char *text) {
    s->n = 0;
    snprintf(s->buf, sizeof s->buf, "%s", text);
    char *p = s->buf;
    while (*p) {
        char *eq = strchr(p, '=');
        if (!eq) break;
        *eq = 0;
        char *v = eq + 1, *end = strchr(v, ',');
        if (end) *end = 0;
        ax_label l = {p, v, (uint32_t)strlen(p), (uint32_t)strlen(v)};
        s->ls[s->n++] = l;
        if (!end) break;
        p = end + 1;
    }
}

static int rl_cmp(const void *x, const void *y) {
    const ax_label *a = x, *b = y;
    size_t n = a->name_len < b->name_len ? a->name_len : b->name_len;
    int c = memcmp(a->name, b->name, n);
    return c ? c : (int)a->name_len - (int)b->name_len;
}

/* The set as sorted "a=1,b=2". */
static void rl_str(ax_label *ls, size_t n, char *out, size_t cap) {
    qsort(ls, n, sizeof *ls, rl_cmp);
    size_t o = 0;
    out[0] = 0;
    for (size_t i = 0; i < n && o < cap; i++)
        o += (size_t)snprintf(out + o, cap - o, "%s%.*s=%.*s", i ? "," : "", (int)ls[i].name_len,
                              ls[i].name, (int)ls[i].value_len, ls[i].value);
}

static srv_relabel_spec rl_spec(const char *action) {
    srv_relabel_spec s;
    memset(&s, 0, sizeof s);
    s.action = action;
    return s;
}

/* Apply one rule to `in`; want is the sorted result or "DROP". */
static void rl_check(const srv_relabel_spec *sp, const char *in, const char *want) {
    ax_arena a;
    ax_arena_init(&a, 1 << 20);
    srv_relabel r;
    ax_err e = {0};
    if (srv_relabel_init(&r, sp, &a, &e)) {
        FAILF("init %s: %s", sp->action ? sp->action : "replace", e.msg);
        ax_arena_clear(&a);
        return;
    }
    rl_set s;
    rl_parse(&s, in);
    int rc = srv_relabel_apply(&r, 1, s.ls, &s.n, AX_MAX_LABELS, &a);
    char got[1024];
    if (rc == 0) snprintf(got, sizeof got, "DROP");
    else if (rc < 0) snprintf(got, sizeof got, "ERROR %d", rc);
    else rl_str(s.ls, s.n, got, sizeof got);
    if (strcmp(got, want)) FAILF("%s on {%s}: expected {%s}, got {%s}", sp->action ? sp->action : "replace", in, want, got);
    srv_relabel_fini(&r, 1);
    ax_arena_clear(&a);
}

static void rl_bad(const srv_relabel_spec *sp, const char *want_in_msg) {
    ax_arena a;
    ax_arena_init(&a, 1 << 20);
    srv_relabel r;
    ax_err e = {0};
    int rc = srv_relabel_init(&r, sp, &a, &e);
    if (rc != AX_EINVAL) FAILF("expected AX_EINVAL, got %d", rc);
    else if (!strstr(e.msg, want_in_msg)) FAILF("message \"%s\" lacks \"%s\"", e.msg, want_in_msg);
    if (!rc) srv_relabel_fini(&r, 1);
    ax_arena_clear(&a);
}

TEST(test_relabel_md5_rfc1321) {
    static const struct { const char *in; const char *hex; } v[] = {
        {"", "d41d8cd98f00b204e9800998ecf8427e"},
        {"a", "0cc175b9c0f1b6a831c399e269772661"},
        {"abc", "900150983cd24fb0d6963f7d28e17f72"},
        {"message digest", "f96b697d7cb7938d525a2f31aaf161d0"},
        {"abcdefghijklmnopqrstuvwxyz", "c3fcd3d76192e4007dfb496cca67e13b"},
        {"12345678901234567890123456789012345678901234567890123456789012345678901234567890",
         "57edf4a22be3c955ac49da2e2107b67a"},
        {"0123456789012345678901234567890123456789012345678901234", "6e7a4fc92eb1c3f6e652425bcc8d44b5"},
        {"01234567890123456789012345678901234567890123456789012345", "8af270b2847610e742b0791b53648c09"},
    };
    for (size_t i = 0; i < sizeof v / sizeof *v; i++) {
        uint8_t d[16];
        char hex[33];
        srv_md5_sum(v[i].in, strlen(v[i].in), d);
        for (int k = 0; k < 16; k++) snprintf(hex + 2 * k, 3, "%02x", d[k]);
        CHECK_EQ_STR(v[i].hex, hex);
    }
}

TEST(test_relabel_defaults_replace) {
    srv_relabel_spec s = rl_spec(NULL);
    const char *src[] = {"a"};
    s.source_labels = src;
    s.n_source = 1;
    s.target_label = "b";
    rl_check(&s, "a=x,c=y", "a=x,b=x,c=y"); /* regex (.*), replacement $1 */
    ax_arena a;
    ax_arena_init(&a, 1 << 20);
    srv_relabel r;
    CHECK_EQ_INT(0, srv_relabel_init(&r, &s, &a, NULL));
    CHECK_EQ_INT(SRV_RELABEL_REPLACE, r.action);
    CHECK_EQ_STR(";", r.separator);
    CHECK_EQ_STR("(.*)", r.regex_src);
    CHECK_EQ_STR("$1", r.replacement);
    srv_relabel_fini(&r, 1);
    ax_arena_clear(&a);
}

TEST(test_relabel_replace_doc_examples) {
    /* docs: combine two labels, rewrite host:port */
    srv_relabel_spec s = rl_spec("replace");
    const char *src[] = {"__address__"};
    s.source_labels = src;
    s.n_source = 1;
    s.regex = "(.*):\\d+";
    s.target_label = "host";
    rl_check(&s, "__address__=node1:9100", "__address__=node1:9100,host=node1");
    rl_check(&s, "__address__=node1", "__address__=node1"); /* no match: unchanged */
    s.replacement = "${1}_x";
    rl_check(&s, "__address__=n:1", "__address__=n:1,host=n_x");
    s.replacement = "$1_x"; /* Go: "$1_x" is the group named "1_x", which is "" */
    rl_check(&s, "__address__=n:1,host=old", "__address__=n:1");
    s.replacement = "$$1 $ $ {1} $1"; /* $$ -> $, lone $ stays */
    rl_check(&s, "__address__=n:1", "__address__=n:1,host=$1 $ $ {1} n");
    s.replacement = "$2$01"; /* out-of-range group and leading zero: "" */
    rl_check(&s, "__address__=n:1,host=h", "__address__=n:1");
}

TEST(test_relabel_replace_multiple_sources_missing_label) {
    srv_relabel_spec s = rl_spec("replace");
    const char *src[] = {"a", "missing", "b"};
    s.source_labels = src;
    s.n_source = 3;
    s.target_label = "out";
    rl_check(&s, "a=1,b=2", "a=1,b=2,out=1;;2");
    s.separator = "/";
    s.regex = "(\\d)/(.*)/(\\d)";
    s.replacement = "$3-$1";
    rl_check(&s, "a=1,b=2", "a=1,b=2,out=2-1");
    s.separator = "";
    s.regex = "12";
    s.replacement = "joined";
    rl_check(&s, "a=1,b=2", "a=1,b=2,out=joined");
}

TEST(test_relabel_replace_target_template_and_delete) {
    srv_relabel_spec s = rl_spec("replace");
    const char *src[] = {"k", "v"};
    s.source_labels = src;
    s.n_source = 2;
    s.regex = "(\\w+);(.*)";
    s.target_label = "tag_$1";
    s.replacement = "$2";
    rl_check(&s, "k=env,v=prod", "k=env,tag_env=prod,v=prod");
    /* expanded target not a valid label name: unchanged */
    s.regex = "(.*);(.*)";
    rl_check(&s, "k=a-b,v=x", "k=a-b,v=x");
    /* empty result deletes the target */
    s.target_label = "v";
    s.replacement = "";
    rl_check(&s, "k=a,v=x", "k=a");
    /* a constant replacement with no source labels: the input is "" */
    srv_relabel_spec c = rl_spec(NULL);
    c.target_label = "env";
    c.replacement = "prod";
    rl_check(&c, "a=1", "a=1,env=prod");
}

TEST(test_relabel_keep_drop) {
    srv_relabel_spec s = rl_spec("keep");
    const char *src[] = {"__name__"};
    s.source_labels = src;
    s.n_source = 1;
    s.regex = "node_.*|up";
    rl_check(&s, "__name__=node_load1", "__name__=node_load1");
    rl_check(&s, "__name__=up", "__name__=up");
    rl_check(&s, "__name__=upx", "DROP");
    s.action = "DROP"; /* case-insensitive */
    rl_check(&s, "__name__=up", "DROP");
    rl_check(&s, "__name__=go_goroutines", "__name__=go_goroutines");
    /* drop everything: default regex (.*) matches any input */
    srv_relabel_spec all = rl_spec("drop");
    rl_check(&all, "a=1", "DROP");
    rl_check(&all, "", "DROP");
    /* keep on a missing label matches against "" */
    srv_relabel_spec k = rl_spec("keep");
    const char *ks[] = {"team"};
    k.source_labels = ks;
    k.n_source = 1;
    k.regex = ".+";
    rl_check(&k, "a=1", "DROP");
    rl_check(&k, "team=x", "team=x");
}

TEST(test_relabel_keepequal_dropequal) {
    srv_relabel_spec s = rl_spec("keepequal");
    const char *src[] = {"a"};
    s.source_labels = src;
    s.n_source = 1;
    s.target_label = "b";
    rl_check(&s, "a=1,b=1", "a=1,b=1");
    rl_check(&s, "a=1,b=2", "DROP");
    rl_check(&s, "c=1", "c=1"); /* "" == "" */
    s.action = "dropequal";
    rl_check(&s, "a=1,b=1", "DROP");
    rl_check(&s, "a=1,b=2", "a=1,b=2");
}

TEST(test_relabel_hashmod_values) {
    /* expected = big-endian uint64(md5(x)[8:16]) % m, computed with python3 hashlib */
    srv_relabel_spec s = rl_spec("hashmod");
    const char *src[] = {"__address__"};
    s.source_labels = src;
    s.n_source = 1;
    s.target_label = "__tmp_hash";
    s.modulus = 8;
    rl_check(&s, "__address__=10.0.0.1:9100", "__address__=10.0.0.1:9100,__tmp_hash=5");
    rl_check(&s, "__address__=abc", "__address__=abc,__tmp_hash=2");
    rl_check(&s, "x=1", "__tmp_hash=6,x=1"); /* md5("") */
    s.modulus = 1000;
    rl_check(&s, "__address__=a", "__address__=a,__tmp_hash=697");
    rl_check(&s, "__address__=message digest", "__address__=message digest,__tmp_hash=704");
    /* sharding pattern from the docs: hashmod then keep */
    srv_relabel rules[2];
    ax_arena a;
    ax_arena_init(&a, 1 << 20);
    s.modulus = 8;
    CHECK_EQ_INT(0, srv_relabel_init(&rules[0], &s, &a, NULL));
    srv_relabel_spec k = rl_spec("keep");
    const char *ks[] = {"__tmp_hash"};
    k.source_labels = ks;
    k.n_source = 1;
    k.regex = "5";
    CHECK_EQ_INT(0, srv_relabel_init(&rules[1], &k, &a, NULL));
    rl_set set;
    rl_parse(&set, "__address__=10.0.0.1:9100");
    CHECK_EQ_INT(1, srv_relabel_apply(rules, 2, set.ls, &set.n, AX_MAX_LABELS, &a));
    rl_parse(&set, "__address__=abc");
    CHECK_EQ_INT(0, srv_relabel_apply(rules, 2, set.ls, &set.n, AX_MAX_LABELS, &a));
    srv_relabel_fini(rules, 2);
    ax_arena_clear(&a);
}

TEST(test_relabel_labelmap) {
    srv_relabel_spec s = rl_spec("labelmap");
    s.regex = "__meta_kubernetes_pod_label_(.+)";
    rl_check(&s, "__meta_kubernetes_pod_label_app=web,__meta_kubernetes_pod_label_tier=fe,x=1",
             "__meta_kubernetes_pod_label_app=web,__meta_kubernetes_pod_label_tier=fe,app=web,tier=fe,x=1");
    s.regex = "(a)(b)?";
    s.replacement = "new_$1$2";
    rl_check(&s, "a=1,ab=2", "a=1,ab=2,new_a=1,new_ab=2");
    /* a mapped name that is invalid is skipped */
    s.regex = "(.*)";
    s.replacement = "9$1";
    rl_check(&s, "a=1", "a=1");
    /* renaming onto a later label: Prometheus reads the values before the rule */
    s.regex = "x_(.*)";
    s.replacement = "x_$1$1";
    rl_check(&s, "x_a=1,x_aa=2", "x_a=1,x_aa=1,x_aaaa=2");
}

TEST(test_relabel_labeldrop_labelkeep) {
    srv_relabel_spec s = rl_spec("labeldrop");
    s.regex = "tmp_.*";
    rl_check(&s, "tmp_a=1,tmp_b=2,keep=3", "keep=3");
    s.action = "labelkeep";
    s.regex = "__name__|job|instance";
    rl_check(&s, "__name__=up,job=j,instance=i,pod=p", "__name__=up,instance=i,job=j");
    rl_check(&s, "a=1", "");
}

TEST(test_relabel_lowercase_uppercase) {
    srv_relabel_spec s = rl_spec("lowercase");
    const char *src[] = {"a", "b"};
    s.source_labels = src;
    s.n_source = 2;
    s.target_label = "out";
    rl_check(&s, "a=HeLLo,b=X1", "a=HeLLo,b=X1,out=hello;x1");
    s.action = "uppercase";
    rl_check(&s, "a=HeLLo,b=x1", "a=HeLLo,b=x1,out=HELLO;X1");
    const char *one[] = {"missing"};
    s.source_labels = one;
    s.n_source = 1;
    rl_check(&s, "out=old", ""); /* empty result deletes */
}

TEST(test_relabel_empty_values_are_missing) {
    srv_relabel_spec s = rl_spec("labelkeep");
    s.regex = ".*";
    rl_check(&s, "a=,b=1", "b=1");
}

TEST(test_relabel_chain_in_order) {
    ax_arena a;
    ax_arena_init(&a, 1 << 20);
    srv_relabel r[3];
    srv_relabel_spec s0 = rl_spec("replace");
    const char *src0[] = {"__address__"};
    s0.source_labels = src0;
    s0.n_source = 1;
    s0.target_label = "__param_target";
    srv_relabel_spec s1 = rl_spec("replace");
    const char *src1[] = {"__param_target"};
    s1.source_labels = src1;
    s1.n_source = 1;
    s1.target_label = "instance";
    srv_relabel_spec s2 = rl_spec(NULL);
    s2.target_label = "__address__";
    s2.replacement = "blackbox:9115";
    CHECK_EQ_INT(0, srv_relabel_init(&r[0], &s0, &a, NULL));
    CHECK_EQ_INT(0, srv_relabel_init(&r[1], &s1, &a, NULL));
    CHECK_EQ_INT(0, srv_relabel_init(&r[2], &s2, &a, NULL));
    rl_set set;
    rl_parse(&set, "__address__=example.com");
    CHECK_EQ_INT(1, srv_relabel_apply(r, 3, set.ls, &set.n, AX_MAX_LABELS, &a));
    char got[256];
    rl_str(set.ls, set.n, got, sizeof got);
    CHECK_EQ_STR("__address__=blackbox:9115,__param_target=example.com,instance=example.com", got);
    srv_relabel_fini(r, 3);
    ax_arena_clear(&a);
}

TEST(test_relabel_cap_and_arena_limits) {
    ax_arena a;
    ax_arena_init(&a, 1 << 20);
    srv_relabel r;
    srv_relabel_spec s = rl_spec(NULL);
    s.target_label = "new";
    s.replacement = "v";
    CHECK_EQ_INT(0, srv_relabel_init(&r, &s, &a, NULL));
    rl_set set;
    rl_parse(&set, "a=1,b=2");
    CHECK_EQ_INT(AX_ELIMIT, srv_relabel_apply(&r, 1, set.ls, &set.n, 2, &a));
    rl_parse(&set, "a=1,b=2");
    CHECK_EQ_INT(1, srv_relabel_apply(&r, 1, set.ls, &set.n, 3, &a));
    CHECK_EQ_INT(3, set.n);
    srv_relabel_fini(&r, 1);
    ax_arena_clear(&a);
    /* an arena with no room left */
    ax_arena big, none;
    ax_arena_init(&big, 1 << 20);
    ax_arena_init(&none, 0);
    CHECK_EQ_INT(0, srv_relabel_init(&r, &s, &big, NULL));
    rl_parse(&set, "a=1");
    CHECK(srv_relabel_apply(&r, 1, set.ls, &set.n, 8, &none) < 0);
    srv_relabel_fini(&r, 1);
    ax_arena_clear(&big);
    srv_relabel_fini(NULL, 3);
}

TEST(test_relabel_validation_errors) {
    srv_relabel_spec s = rl_spec("replace");
    s.target_label = "x";
    s.regex = "(.*?)_total";
    rl_bad(&s, "lazy quantifiers are not supported where capture groups are used");
    s = rl_spec("nope");
    rl_bad(&s, "unknown relabel action \"nope\"");
    s = rl_spec("replace");
    rl_bad(&s, "requires 'target_label'");
    s.target_label = "a-b";
    rl_bad(&s, "invalid 'target_label'");
    s.target_label = "$";
    rl_bad(&s, "invalid 'target_label'");
    s = rl_spec("hashmod");
    s.target_label = "x";
    rl_bad(&s, "non-zero modulus");
    s.modulus = 4;
    s.target_label = NULL;
    rl_bad(&s, "requires 'target_label'");
    s = rl_spec("lowercase");
    s.target_label = "${1}";
    rl_bad(&s, "invalid 'target_label'");
    s = rl_spec("labeldrop");
    s.regex = "a";
    s.target_label = "x";
    rl_bad(&s, "requires only 'regex'");
    s.target_label = NULL;
    const char *src[] = {"a"};
    s.source_labels = src;
    s.n_source = 1;
    rl_bad(&s, "requires only 'regex'");
    s = rl_spec("keepequal");
    s.target_label = "x";
    s.regex = "a";
    rl_bad(&s, "requires only 'source_labels'");
    s = rl_spec("keep");
    s.regex = "(a";
    rl_bad(&s, "invalid regex");
    s.regex = "(?P<n>a)";
    rl_bad(&s, "named groups");
    const char *badsrc[] = {"a-b"};
    s = rl_spec("keep");
    s.source_labels = badsrc;
    s.n_source = 1;
    rl_bad(&s, "source_labels");
}
