/* The volume list both ways, and its signature over the very bytes read. */
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "airlock/parts.h"
#include "test.h"

#define H(c) c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c \
             c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c

static void three_parts(struct al_bundle_parts *p)
{
    static const char *const digests[] = {"sha256:" H("1"), "sha256:" H("2"),
                                          "sha256:" H("3")};
    size_t i;

    memset(p, 0, sizeof(*p));
    p->v = calloc(3, sizeof(*p->v));
    for (i = 0; i < 3; i++) {
        char name[300];
        snprintf(name, sizeof(name), "%s/b.tar.zst.%03zu", test_tmpdir(), i);
        p->v[i].name = strdup(name);
        p->v[i].size = i < 2 ? 1048576 : 12345;
        snprintf(p->v[i].digest, sizeof(p->v[i].digest), "%s", digests[i]);
        p->n++;
    }
    p->split = 1048576;
    p->size = 2 * 1048576 + 12345;
    snprintf(p->digest, sizeof(p->digest), "sha256:%s", H("9"));
}

static void list_path(char *out, size_t n)
{
    snprintf(out, n, "%s/b.tar.zst.parts", test_tmpdir());
}

TEST(parts_list_reads_back_what_was_written)
{
    struct al_sig_key *key = NULL;
    struct al_bundle_parts p;
    struct al_parts_list l;
    struct al_err e;
    char path[300];
    size_t i;

    test_new_key("parts.key", &key);
    three_parts(&p);
    list_path(path, sizeof(path));
    al_err_init(&e);
    CHECK_INT(al_parts_list_write(path, "edc6125e", &p, key, &e), 0);
    CHECK_INT(al_parts_list_read(&l, path, key, &e), 0);
    CHECK_STR(l.bundle_id, "edc6125e");
    CHECK_INT(l.parts.size, p.size);
    CHECK_STR(l.parts.digest, p.digest);
    CHECK_INT(l.parts.split, p.split);
    CHECK_INT(l.parts.n, 3);
    for (i = 0; i < 3 && i < l.parts.n; i++) {
        char want[32];
        snprintf(want, sizeof(want), "b.tar.zst.%03zu", i);   /* relative */
        CHECK_STR(l.parts.v[i].name, want);
        CHECK_INT(l.parts.v[i].size, p.v[i].size);
        CHECK_STR(l.parts.v[i].digest, p.v[i].digest);
    }
    al_parts_list_release(&l);
    al_parts_list_remove(path);
    al_bundle_parts_release(&p);
    al_sig_key_free(key);
}

/* Flips the first digit of split_size: still a valid list, not the one
 * that was signed. */
static void tamper(const char *path)
{
    size_t len;
    char *text = test_read_file(path, &len);
    char *at = strstr(text, "\"split_size\": ");
    FILE *f;

    CHECK(at != NULL);
    if (at == NULL)
        return;
    at += strlen("\"split_size\": ");
    *at = *at == '1' ? '2' : '1';
    f = fopen(path, "w");
    fwrite(text, 1, len, f);
    fclose(f);
    free(text);
}

TEST(parts_list_refuses_a_byte_changed_after_signing)
{
    struct al_sig_key *key = NULL, *other = NULL;
    struct al_bundle_parts p;
    struct al_parts_list l;
    struct al_err e;
    char path[300], sig[320];

    test_new_key("parts-a.key", &key);
    test_new_key("parts-b.key", &other);
    three_parts(&p);
    list_path(path, sizeof(path));
    al_err_init(&e);
    CHECK_INT(al_parts_list_write(path, "edc6125e", &p, key, &e), 0);
    CHECK_INT(al_parts_list_read(&l, path, other, &e), AL_ESIG);   /* another key */
    tamper(path);
    CHECK_INT(al_parts_list_read(&l, path, key, &e), AL_ESIG);
    CHECK(strstr(e.msg, "volume list '") != NULL);
    CHECK(l.parts.n == 0 && l.bundle_id == NULL);
    /* without a key the list is merely parsed (--insecure-skip-signature) */
    CHECK_INT(al_parts_list_read(&l, path, NULL, &e), 0);
    CHECK_INT(l.parts.split, 2048576);
    al_parts_list_release(&l);
    CHECK_INT(al_sig_path(sig, sizeof(sig), path, &e), 0);
    remove(sig);
    CHECK_INT(al_parts_list_read(&l, path, key, &e), AL_ESIG);
    CHECK(strstr(e.msg, "has no signature") != NULL);
    al_parts_list_remove(path);
    al_bundle_parts_release(&p);
    al_sig_key_free(key);
    al_sig_key_free(other);
}

TEST(sig_path_is_the_file_name_and_sig)
{
    struct al_err e;
    char out[16];

    al_err_init(&e);
    CHECK_INT(al_sig_path(out, sizeof(out), "b.parts", &e), 0);
    CHECK_STR(out, "b.parts.sig");
    CHECK_INT(al_sig_path(out, sizeof(out), "a-long-name.parts", &e), AL_ETOOBIG);
}
