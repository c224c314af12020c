#include <stdlib.h>
#include <string.h>

#include "airlock/auth.h"
#include "airlock/digest.h"
#include "airlock/http.h"
#include "airlock/ref.h"
#include "fuzz.h"

/* Image references, WWW-Authenticate challenges, token responses and
 * Content-Range values: the short strings a registry or an input file
 * hands over. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1), *f, *tok = NULL;
    struct al_ref r;
    struct al_challenge c;
    long long first, last;

    if (s == NULL)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    if (al_ref_parse(s, &r, NULL) == 0) {
        f = al_ref_format(&r);
        free(f);
        al_ref_release(&r);
    }
    memset(&c, 0, sizeof(c));
    if (al_challenge_parse(s, &c, NULL) == 0)
        al_challenge_release(&c);
    if (al_token_parse(s, size, &tok, NULL) == 0)
        al_secret_free(tok);
    if (al_http_parse_content_range(s, &first, &last) == 0 && (first < 0 || first > last))
        abort();   /* the parser's promise, which open_blob_at counts on */
    al_tag_valid(s);
    al_digest_valid(s);
    free(s);
    return 0;
}
