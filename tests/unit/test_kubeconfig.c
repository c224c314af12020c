#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "airlock/kubeconfig.h"
#include "test.h"

#ifndef TEST_DATA
#define TEST_DATA "tests/data"
#endif

static int load(const char *file, const char *context, struct al_kube_creds *c,
                struct al_err *e)
{
    char path[512];

    snprintf(path, sizeof(path), TEST_DATA "/kubeconfig/%s", file);
    al_err_init(e);
    return al_kubeconfig_load(c, path, context, e);
}

TEST(kubeconfig_oc_login_token_and_contexts)
{
    struct al_kube_creds c;
    struct al_err e;

    CHECK_INT(load("oc-login.yaml", NULL, &c, &e), 0);
    CHECK_STR(c.server, "https://api.lab.example.com:6443");
    CHECK_STR(c.context, "default/api-lab-example-com:6443/kube:admin");
    CHECK_STR(c.token, "sha256~lab-token-value");
    CHECK_INT(c.insecure, 1);
    CHECK(c.ca_pem == NULL);
    al_kube_creds_release(&c);

    CHECK_INT(load("oc-login.yaml", "openshift/api-prod-example-com:6443/admin", &c, &e), 0);
    CHECK_STR(c.server, "https://api.prod.example.com:6443");
    CHECK_STR(c.token, "sha256~prod-token-value");
    CHECK_INT(c.insecure, 0);
    CHECK(c.ca_pem != NULL && strstr(c.ca_pem, "BEGIN CERTIFICATE") != NULL);
    al_kube_creds_release(&c);

    CHECK(load("oc-login.yaml", "nope", &c, &e) < 0);
    CHECK(strstr(e.msg, "has no context 'nope'") != NULL);
}

TEST(kubeconfig_installer_client_certificate)
{
    struct al_kube_creds c;
    struct al_err e;

    CHECK_INT(load("installer.yaml", NULL, &c, &e), 0);
    CHECK_STR(c.server, "https://api.ocp4.example.com:6443");
    CHECK(c.token == NULL);
    CHECK(c.cert_pem != NULL && strstr(c.cert_pem, "BEGIN CERTIFICATE") != NULL);
    CHECK(c.key_pem != NULL && strstr(c.key_pem, "BEGIN PRIVATE KEY") != NULL);
    al_kube_creds_release(&c);
}

TEST(kubeconfig_relative_files_and_token_file)
{
    struct al_kube_creds c;
    struct al_err e;

    CHECK_INT(load("files.yaml", NULL, &c, &e), 0);
    CHECK_STR(c.server, "https://10.0.0.1:6443");
    CHECK_STR(c.token, "sha256~from-a-file");   /* newline dropped */
    CHECK(c.ca_pem != NULL && strstr(c.ca_pem, "MIIBfile") != NULL);
    al_kube_creds_release(&c);
}

TEST(kubeconfig_basic_auth)
{
    struct al_kube_creds c;
    struct al_err e;

    CHECK_INT(load("basic.yaml", NULL, &c, &e), 0);
    CHECK_STR(c.username, "admin");
    CHECK_STR(c.password, "p@ss:word");
    CHECK_INT(c.insecure, 1);
    al_kube_creds_release(&c);
}

TEST(kubeconfig_exec_plugins_are_explained)
{
    struct al_kube_creds c;
    struct al_err e;

    CHECK(load("exec.yaml", NULL, &c, &e) < 0);
    CHECK(strstr(e.msg, "exec or auth-provider plugin") != NULL);
    CHECK(strstr(e.msg, "oc whoami -t") != NULL);
}

static int parse(const char *text, struct al_kube_creds *c, struct al_err *e)
{
    al_err_init(e);
    return al_kubeconfig_parse(c, text, strlen(text), "kubeconfig 'k'", NULL, NULL, e);
}

TEST(kubeconfig_refuses_broken_files_clearly)
{
    struct al_kube_creds c;
    struct al_err e;

    CHECK(parse("clusters: [\n  - {", &c, &e) < 0);
    CHECK(strstr(e.msg, "kubeconfig 'k' is not valid YAML (line") != NULL);
    CHECK(parse("- a\n- b\n", &c, &e) < 0);
    CHECK(strstr(e.msg, "not a kubeconfig") != NULL);
    CHECK(parse("kind: Config\n", &c, &e) < 0);
    CHECK(strstr(e.msg, "has no current-context") != NULL);
    CHECK(parse("current-context: x\ncontexts:\n- name: x\n  context: {cluster: c}\n"
                "clusters:\n- name: c\n  cluster: {server: 'http://plain'}\n", &c, &e) < 0);
    CHECK(strstr(e.msg, "has no https:// server") != NULL);
    CHECK(parse("current-context: x\ncontexts:\n- name: x\n  context: {cluster: c, user: u}\n"
                "clusters:\n- name: c\n  cluster: {server: 'https://s'}\n", &c, &e) < 0);
    CHECK(strstr(e.msg, "names user 'u', which does not exist") != NULL);
    CHECK(parse("current-context: x\ncontexts:\n- name: x\n  context: {cluster: c, user: u}\n"
                "clusters:\n- name: c\n  cluster: {server: 'https://s', "
                "certificate-authority-data: '!!!'}\nusers:\n- name: u\n  user: {}\n", &c, &e) < 0);
    CHECK(strstr(e.msg, "certificate-authority-data is not valid base64") != NULL);
    CHECK(parse("current-context: x\ncontexts:\n- name: x\n  context: {cluster: c, user: u}\n"
                "clusters:\n- name: c\n  cluster: {server: 'https://s'}\nusers:\n- name: u\n"
                "  user: {client-certificate-data: 'QUJD'}\n", &c, &e) < 0);
    CHECK(strstr(e.msg, "without a key") != NULL);
}

TEST(kubeconfig_in_cluster_service_account)
{
    struct al_kube_creds c;
    struct al_err e;
    char dir[400], path[500];
    FILE *f;

    snprintf(dir, sizeof(dir), "%s/sa", test_tmpdir());
    mkdir(dir, 0700);
    snprintf(path, sizeof(path), "%s/token", dir);
    f = fopen(path, "w");
    fputs("eyJhbGciOi.sa-token\n", f);
    fclose(f);
    snprintf(path, sizeof(path), "%s/ca.crt", dir);
    f = fopen(path, "w");
    fputs("-----BEGIN CERTIFICATE-----\nX\n-----END CERTIFICATE-----\n", f);
    fclose(f);

    unsetenv("KUBERNETES_SERVICE_HOST");
    al_err_init(&e);
    CHECK_INT(al_kube_in_cluster(&c, dir, &e), AL_ENOTFOUND);
    setenv("KUBERNETES_SERVICE_HOST", "172.30.0.1", 1);
    setenv("KUBERNETES_SERVICE_PORT", "443", 1);
    CHECK_INT(al_kube_in_cluster(&c, dir, &e), 0);
    CHECK_STR(c.server, "https://172.30.0.1:443");
    CHECK_STR(c.token, "eyJhbGciOi.sa-token");
    CHECK_STR(c.context, "in-cluster");
    al_kube_creds_release(&c);
    setenv("KUBERNETES_SERVICE_HOST", "fd02::1", 1);
    CHECK_INT(al_kube_in_cluster(&c, dir, &e), 0);
    CHECK_STR(c.server, "https://[fd02::1]:443");
    al_kube_creds_release(&c);
    unsetenv("KUBERNETES_SERVICE_HOST");
    unsetenv("KUBERNETES_SERVICE_PORT");
}

/* kubectl refuses a cluster with both; so does airlock, in one line. */
TEST(kubeconfig_insecure_with_a_ca_is_refused)
{
    struct al_kube_creds c;
    struct al_err e;

    CHECK(parse("current-context: x\ncontexts:\n- name: x\n  context: {cluster: c}\n"
                "clusters:\n- name: c\n  cluster: {server: 'https://s', "
                "insecure-skip-tls-verify: true, certificate-authority-data: 'QUJD'}\n",
                &c, &e) == AL_EINVAL);
    CHECK(strstr(e.msg, "kubeconfig 'k': the cluster of context 'x' has both "
                        "insecure-skip-tls-verify and a certificate-authority") != NULL);
    CHECK(strchr(e.msg, '\n') == NULL);
    CHECK(parse("current-context: x\ncontexts:\n- name: x\n  context: {cluster: c}\n"
                "clusters:\n- name: c\n  cluster: {server: 'https://s', "
                "insecure-skip-tls-verify: true, certificate-authority: ca.crt}\n",
                &c, &e) == AL_EINVAL);
    CHECK(strstr(e.msg, "has both insecure-skip-tls-verify") != NULL);
    /* without a CA it loads (and the import warns on every run) */
    CHECK_INT(parse("current-context: x\ncontexts:\n- name: x\n  context: {cluster: c}\n"
                    "clusters:\n- name: c\n  cluster: {server: 'https://s', "
                    "insecure-skip-tls-verify: true}\n", &c, &e), 0);
    CHECK_INT(c.insecure, 1);
    al_kube_creds_release(&c);
    /* false with a CA is the normal case */
    CHECK_INT(parse("current-context: x\ncontexts:\n- name: x\n  context: {cluster: c}\n"
                    "clusters:\n- name: c\n  cluster: {server: 'https://s', "
                    "insecure-skip-tls-verify: false, certificate-authority-data: 'QUJD'}\n",
                    &c, &e), 0);
    CHECK_INT(c.insecure, 0);
    al_kube_creds_release(&c);
}

/* A syntax error right after a token, a password or a key: the message
 * has the line and libyaml's reason, never the text. */
TEST(kubeconfig_parse_errors_quote_no_secret)
{
    const char *cases[] = {
        "users:\n- name: u\n  user:\n    token: sha256~s3cr3t-t0ken: x\n",
        "users:\n- name: u\n  user: {password: \"s3cr3t-pw\n",
        "users:\n- name: u\n  user:\n    token: \"s3cr3t\\q\"\n",
        "users:\n- name: u\n  user:\n    client-key-data: LS0tS3CR3T\n   - x\n",
        "users:\n- name: u\n  user:\n    token: s3cr3t\n\t- tab\n",
    };
    struct al_kube_creds c;
    struct al_err e;
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        CHECK(parse(cases[i], &c, &e) == AL_EINVAL);
        CHECK(strstr(e.msg, "kubeconfig 'k' is not valid YAML (line") != NULL);
        CHECK(strstr(e.msg, "s3cr") == NULL);
        CHECK(strstr(e.msg, "S3CR") == NULL);
    }
}
