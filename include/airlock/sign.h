/* Signatures over bundle metadata (Ed25519 or ECDSA P-256 with SHA-256).
 *
 * A signature document is JSON:
 *   {"algorithm": "ed25519" | "ecdsa-p256-sha256",
 *    "key_id": "<16 hex: first 8 bytes of SHA-256 of the public key DER>",
 *    "signature": "<base64 of the raw signature (Ed25519) or DER (ECDSA)>"}
 * so that "wrong key" can be told apart from "bad signature", and so that
 * `openssl pkeyutl -verify -rawin` / `openssl dgst -sha256 -verify` can check
 * the decoded signature without airlock. */
#ifndef AIRLOCK_SIGN_H
#define AIRLOCK_SIGN_H

#include <stddef.h>

#include "airlock/buf.h"
#include "airlock/err.h"

#define AL_KEY_ID_LEN 17 /* 16 hex + NUL */

struct al_sig_key;  /* a private or public key */

/* Loads a PEM private key (PKCS#8 or traditional EC); must be Ed25519 or
 * ECDSA P-256. Errors name the file and never echo its contents. */
int al_sig_key_load_private(struct al_sig_key **out, const char *path,
                            struct al_err *e);

/* Loads a PEM public key (SubjectPublicKeyInfo), or derives it from a PEM
 * private key file. */
int al_sig_key_load_public(struct al_sig_key **out, const char *path,
                           struct al_err *e);

void al_sig_key_free(struct al_sig_key *k);   /* accepts NULL */

/* "<16 hex>", identifying the public half. */
const char *al_sig_key_id(const struct al_sig_key *k);

/* Signs `data` and appends the JSON signature document to `out`. */
int al_sig_sign(const struct al_sig_key *k, const void *data, size_t len,
                struct al_buf *out, struct al_err *e);

/* Verifies a JSON signature document over `data`. A document from another
 * key is AL_ESIG with "wrong key" and both key ids; a bad signature is
 * AL_ESIG with "bad signature". `what` names the signed thing. */
int al_sig_verify(const struct al_sig_key *k, const void *data, size_t len,
                  const char *sig_doc, size_t sig_len, const char *what,
                  struct al_err *e);

/* The key id a JSON signature document names, copied into `id` (16 hex
 * digits and a NUL), so that a caller holding several keys can pick the one
 * to verify with. AL_ESIG when the document is malformed or names no valid
 * key id; `what` names the signed thing. Nothing is verified here. */
int al_sig_doc_key_id(const char *sig_doc, size_t sig_len, char id[AL_KEY_ID_LEN],
                      const char *what, struct al_err *e);

/* The name of the signature file of `path`: "<path>.sig", written into
 * `out` of `n` bytes. AL_ETOOBIG when it does not fit. */
int al_sig_path(char *out, size_t n, const char *path, struct al_err *e);

#endif
