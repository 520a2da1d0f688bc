/* core/labels.c: label validation and the canonical label encoding.
 *
 * A series is identified by its canonical bytes: labels sorted by name, empty values
 * dropped, each written as uvarint(name_len) name uvarint(value_len) value. The
 * registry hashes these bytes, storage keeps them, and equality of label sets is
 * equality of bytes.
 */
#include "core.h"

#include <stdlib.h>
#include <string.h>

static bool is_alpha_(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
static bool is_digit(char c) { return c >= '0' && c <= '9'; }

bool ax_metric_name_valid(const char *s, size_t len) {
    if (len == 0) return false;
    if (!is_alpha_(s[0]) && s[0] != ':') return false;
    for (size_t i = 1; i < len; i++)
        if (!is_alpha_(s[i]) && !is_digit(s[i]) && s[i] != ':') return false;
    return true;
}

bool ax_label_name_valid(const char *s, size_t len) {
    if (len == 0) return false;
    if (!is_alpha_(s[0])) return false;
    for (size_t i = 1; i < len; i++)
        if (!is_alpha_(s[i]) && !is_digit(s[i])) return false;
    return true;
}

bool ax_utf8_valid(const char *s, size_t len) {
    const uint8_t *p = (const uint8_t *)s, *end = p + len;
    while (p < end) {
        uint8_t c = *p;
        if (c < 0x80) { p++; continue; }
        size_t n;
        uint32_t cp;
        if ((c & 0xe0) == 0xc0) { n = 1; cp = c & 0x1f; }
        else if ((c & 0xf0) == 0xe0) { n = 2; cp = c & 0x0f; }
        else if ((c & 0xf8) == 0xf0) { n = 3; cp = c & 0x07; }
        else return false;
        if ((size_t)(end - p) <= n) return false;
        for (size_t i = 1; i <= n; i++) {
            if ((p[i] & 0xc0) != 0x80) return false;
            cp = (cp << 6) | (p[i] & 0x3f);
        }
        if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000)) return false;
        if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
        p += n + 1;
    }
    return true;
}

static int label_cmp(const ax_label *a, const ax_label *b) {
    size_t n = a->name_len < b->name_len ? a->name_len : b->name_len;
    int c = memcmp(a->name, b->name, n);
    if (c) return c;
    return (a->name_len > b->name_len) - (a->name_len < b->name_len);
}

static int label_qcmp(const void *a, const void *b) { return label_cmp(a, b); }

void ax_labels_sort(ax_label *ls, size_t n) {
    if (n > 32) {
        qsort(ls, n, sizeof *ls, label_qcmp);
        return;
    }
    /* insertion sort: label sets are short and usually nearly sorted */
    for (size_t i = 1; i < n; i++) {
        ax_label x = ls[i];
        size_t j = i;
        while (j > 0 && label_cmp(&ls[j - 1], &x) > 0) {
            ls[j] = ls[j - 1];
            j--;
        }
        ls[j] = x;
    }
}

int ax_labels_normalize(ax_label *ls, size_t n, size_t *n_out, ax_err *e) {
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (ls[i].value_len == 0) {
            if (ls[i].name_len == 0) return ax_err_set(e, AX_EINVAL, "empty label name");
            continue;
        }
        ls[k++] = ls[i];
    }
    if (k == 0) return ax_err_set(e, AX_EINVAL, "empty label set");
    if (k > AX_MAX_LABELS)
        return ax_err_set(e, AX_EINVAL, "too many labels: %zu > %d", k, AX_MAX_LABELS);
    bool sorted = true;
    for (size_t i = 1; i < k && sorted; i++)
        if (label_cmp(&ls[i - 1], &ls[i]) >= 0) sorted = false;
    if (!sorted) ax_labels_sort(ls, k);
    for (size_t i = 0; i < k; i++) {
        const ax_label *l = &ls[i];
        if (l->name_len == 0) return ax_err_set(e, AX_EINVAL, "empty label name");
        if (l->name_len > AX_MAX_LABEL_NAME)
            return ax_err_set(e, AX_EINVAL, "label name longer than %d bytes", AX_MAX_LABEL_NAME);
        if (l->value_len > AX_MAX_LABEL_VALUE)
            return ax_err_set(e, AX_EINVAL, "value of label %.*s longer than %d bytes",
                              (int)l->name_len, l->name, AX_MAX_LABEL_VALUE);
        if (!ax_label_name_valid(l->name, l->name_len))
            return ax_err_set(e, AX_EINVAL, "invalid label name \"%.*s\"",
                              (int)(l->name_len > 64 ? 64 : l->name_len), l->name);
        if (i > 0 && label_cmp(&ls[i - 1], l) == 0)
            return ax_err_set(e, AX_EINVAL, "duplicate label name \"%.*s\"", (int)l->name_len,
                              l->name);
        if (l->name_len == 8 && memcmp(l->name, "__name__", 8) == 0 &&
            !ax_metric_name_valid(l->value, l->value_len))
            return ax_err_set(e, AX_EINVAL, "invalid metric name \"%.*s\"",
                              (int)(l->value_len > 64 ? 64 : l->value_len), l->value);
        if (!ax_utf8_valid(l->value, l->value_len))
            return ax_err_set(e, AX_EINVAL, "value of label %.*s is not valid UTF-8",
                              (int)l->name_len, l->name);
    }
    *n_out = k;
    return 0;
}

int ax_labels_encode(ax_buf *dst, const ax_label *ls, size_t n) {
    size_t need = 0;
    for (size_t i = 0; i < n; i++) need += 20 + ls[i].name_len + ls[i].value_len;
    int rc = ax_buf_reserve(dst, need);
    if (rc) return rc;
    for (size_t i = 0; i < n; i++) {
        uint8_t *p = dst->data + dst->len;
        p += ax_uvarint_put(p, ls[i].name_len);
        memcpy(p, ls[i].name, ls[i].name_len);
        p += ls[i].name_len;
        p += ax_uvarint_put(p, ls[i].value_len);
        memcpy(p, ls[i].value, ls[i].value_len);
        p += ls[i].value_len;
        dst->len = (size_t)(p - dst->data);
    }
    return 0;
}

static int next_label(const uint8_t **pp, const uint8_t *end, ax_label *l) {
    uint64_t nl, vl;
    if (ax_uvarint_get(pp, end, &nl) || nl > (uint64_t)(end - *pp)) return AX_ECORRUPT;
    l->name = (const char *)*pp;
    l->name_len = (uint32_t)nl;
    *pp += nl;
    if (ax_uvarint_get(pp, end, &vl) || vl > (uint64_t)(end - *pp)) return AX_ECORRUPT;
    l->value = (const char *)*pp;
    l->value_len = (uint32_t)vl;
    *pp += vl;
    return 0;
}

int ax_labels_decode(const uint8_t *p, size_t len, ax_label *ls, size_t cap, size_t *n_out) {
    const uint8_t *end = p + len;
    size_t n = 0;
    while (p < end) {
        if (n == cap) return AX_ECORRUPT;
        if (next_label(&p, end, &ls[n])) return AX_ECORRUPT;
        n++;
    }
    *n_out = n;
    return 0;
}

const char *ax_labels_get(const uint8_t *p, size_t len, const char *name, size_t name_len,
                          size_t *len_out) {
    const uint8_t *end = p + len;
    ax_label l;
    while (p < end) {
        if (next_label(&p, end, &l)) return NULL;
        if (l.name_len == name_len && memcmp(l.name, name, name_len) == 0) {
            *len_out = l.value_len;
            return l.value;
        }
    }
    return NULL;
}
