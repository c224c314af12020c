#!/usr/bin/env python3
"""make mutants: breaks the product one important line at a time and runs
the suites that must notice; prints the mutants that survived.

Each mutant names an exact snippet of the product (found by content, not by
file: the code moves between files) and its replacement. The run happens in
a copy of the tree (a temporary directory), so a killed run never leaves the
working tree mutated. A snippet found nowhere is "stale", one found more than
once "ambiguous", a mutant that does not build "broken": all three fail the
run like a survivor, since the list must be kept true.

  tests/mutants/mutants.py [--list] [NAME...]
"""
import os
import shutil
import subprocess
import sys
import tempfile
import time

SOURCE_DIRS = ("common", "export", "import", "cli", "include")

# name, suites that must fail ("unit" is the unit tests), original, replacement
MUTANTS = [
    ("import-dry-run-uploads-blobs", ["test_tools.sh"],
     "    if (p->dry_run)\n        return dry_run_blob(u, e);",
     "    if (0)\n        return dry_run_blob(u, e);"),
    ("import-dry-run-pushes-manifests", ["test_tools.sh"],
     "    if (rc == 0 && u->p->dry_run)\n        dry_run_note(",
     "    if (0)\n        dry_run_note("),
    ("manifest-digest-compare", ["test_import.sh"],
     "if (b.len != (size_t)mb->size || strcmp(got, mb->digest) != 0)",
     "if (b.len != (size_t)mb->size)"),
    ("blob-digest-compare", ["test_import.sh"],
     "if (rc == 0 && (total != mb->size || strcmp(got, mb->digest) != 0))",
     "if (rc == 0 && (total != mb->size))"),
    ("blob-size-check", ["test_import.sh"],
     "    if (size != mb->size)\n        return al_err_set(e, AL_EDIGEST,",
     "    if (0)\n        return al_err_set(e, AL_EDIGEST,"),
    ("signature-verify", ["test_import.sh"],
     "        rc = al_sig_verify(r->o->key, r->b->meta_text.data, r->b->meta_text.len,\n"
     "                           sig.data, sig.len, what, e);",
     "        rc = 0;"),
    ("push-failure-skips-imagestream", ["test_cluster.sh"],
     "        if (im_pusher_dest_failed(r->pusher, i))\n"
     "            for (j = 0; j < r->plan.dests[i].img->n_tags; j++)",
     "        if (0)\n"
     "            for (j = 0; j < r->plan.dests[i].img->n_tags; j++)"),
    ("patch-carries-resourceversion", ["test_cluster.sh"],
     "        if (rv != NULL && json_is_object(md))\n"
     "            json_object_set(md, \"resourceVersion\", rv);\n        else if (rv != NULL)",
     "        if (0)\n"
     "            json_object_set(md, \"resourceVersion\", rv);\n        else if (0)"),
    ("must-gather-keeps-importpolicy", ["test_cluster.sh"],
     "    policy = policy ? json_incref(policy)",
     "    policy = 0 ? json_incref(policy)"),
    ("relied-blob-mounted-into-new-repo", ["test_since.sh"],
     "        rc = mount_or_copy(u, from, repos[i], e);\n    }\n    return rc;",
     "        rc = ((void)from, 0);\n    }\n    return rc;"),
    ("receipt-repositories-kept", ["test_since.sh"],
     "            if (held_add_repo(x, rb->repos[j]) != 0)",
     "            if (0 && held_add_repo(x, rb->repos[j]) != 0)"),
    # the review of 2026-12-01 (docs/PERFORMANCE.md, the issue 15 note)
    ("image-role-weightier", ["unit", "test_release_samples.sh"],
     "    if (role_weight(role) <= role_weight(img->role))\n        return 0;",
     "    if (role_weight(role) <= role_weight(img->role) || 1)\n        return 0;"),
    ("cluster-ca-from-certs-d", ["test_cluster.sh"],
     "    if (rc == 0 && certs_d != NULL && certs_d[0] != '\\0' && host != NULL)",
     "    if (0)"),
    ("import-media-type-is-the-manifests", ["test_import.sh"],
     "    if (strcmp(m.media_type, mf->media_type) != 0)\n        rc = al_err_set(",
     "    if (0)\n        rc = al_err_set("),
    ("manifest-ambiguous-refused", ["unit"],
     "        rc = al_err_set(e, AL_EINVAL, \"%s: ambiguous manifest: served",
     "        rc = 0; if (0) al_err_set(e, AL_EINVAL, \"%s: ambiguous manifest: served"),
    ("plan-kind-conflict", ["unit"],
     "        if ((b->kind == AL_BLOB_MANIFEST) != (kind == AL_BLOB_MANIFEST))",
     "        if (0)"),
    ("image-blobs-bounded", ["test_hostile.sh"],
     "        if (rc == 0 && blobs > IMAGE_BLOBS_MAX)",
     "        if (0)"),
    ("skipped-stream-heals", ["test_cluster.sh"],
     "        if (remove_string(ours, c->o->landed[i]))\n            changed |=",
     "        if (0)\n            changed |="),
    ("must-gather-status-checked", ["test_cluster.sh"],
     "    if (have == NULL || strcmp(have, want) != 0 || at == NULL)\n        return 0;",
     "    if (have == NULL || strcmp(have, want) != 0 || at == NULL)\n        return 0;\n    return 1;"),
    ("kube-timeout-given", ["test_cluster.sh"],
     "        rc = al_kube_new(&k, &r->creds, cfg->timeout_s, e);",
     "        rc = al_kube_new(&k, &r->creds, 0, e);"),
    ("no-kubeconfig-warns", ["test_import.sh"],
     "            r->warn(r->ud, \"warning: no kubeconfig",
     "            r->report(r->ud, \"warning: no kubeconfig"),
    ("receipt-checked-before-push", ["test_since.sh"],
     "    if (access(dir, W_OK | X_OK) != 0)",
     "    if (0)"),
    ("dry-run-cache-look-only", ["test_tools.sh"],
     "        rc = ex_cache_open(&r->cache, c->cache_dir, c->cache_max, c->dry_run, e);",
     "        rc = ex_cache_open(&r->cache, c->cache_dir, c->cache_max, 0, e);"),
    ("read-back-before-rename", ["test_volumes.sh"],
     "    for (i = 0; rc == 0 && w->read_back && i < w->n_parts; i++)",
     "    for (i = 0; rc == 0 && 0 && i < w->n_parts; i++)"),
    ("partials-held-during-commit", ["test_volumes.sh"],
     "    g_committing = held;",
     "    g_committing = NULL;"),
    ("messages-are-utf8", ["unit"],
     "    vsnprintf(e->msg, sizeof(e->msg), fmt, ap);\n    al_utf8_scrub(e->msg);",
     "    vsnprintf(e->msg, sizeof(e->msg), fmt, ap);"),
    ("import-mounts-queued", ["test_requests.sh"],
     "        p->mq[p->mq_len++] = (struct mount_job){u->blob, from, i};",
     "        (void)from;"),
    ("import-probe-waits-mount-test", ["test_requests.sh"],
     "    while (p->mounts == MOUNTS_TESTING)\n        pthread_cond_wait(",
     "    while (0)\n        pthread_cond_wait("),
    ("tar-name-safe", ["test_import.sh"],
     "    if (raw == NULL || !name_safe(raw))",
     "    if (raw == NULL || (!name_safe(raw) && 0))"),
    ("tar-entry-regular", ["test_import.sh"],
     "    if (type != AE_IFREG)\n        return al_err_set(",
     "    if (0)\n        return al_err_set("),
    ("tar-trailer-zero", ["test_import.sh"],
     "    if (!all_zero(r->out + r->last_len - (size_t)unread, (size_t)unread))",
     "    if (0)"),
    ("zstd-one-frame", ["test_import.sh"],
     "    if (!r->input_eof)\n        return src_fail(r, AL_EINVAL, \"has data after the end of its zstd stream\");",
     "    if (0)\n        return src_fail(r, AL_EINVAL, \"has data after the end of its zstd stream\");"),
    ("increment-alone-refused", ["test_since.sh"],
     "    if (rc == 0 && missing > 0)\n        rc = al_err_set(e, AL_ENOTFOUND, \"this bundle is an increment",
     "    if (0)\n        rc = al_err_set(e, AL_ENOTFOUND, \"this bundle is an increment"),
    ("retry-on-429", ["test_retry.sh"],
     "    return st == 429 || st == 500 ||",
     "    return st == 500 ||"),
    ("placed-block-header-size", ["unit"],
     "(size_t)(left < pl->rb ? left : pl->rb)",
     "(size_t)(left < pl->rb ? pl->rb : pl->rb)"),
    ("placed-edge-page-written", ["unit"],
     "    if (err == 0 && mid_hi < j->hi)",
     "    if (0)"),
    ("placed-head-page-written", ["unit"],
     "    if (j->lo < mid_lo)\n        err = pwrite_all(",
     "    if (0)\n        err = pwrite_all("),
    ("placed-entry-at-block-start-gets-header", ["unit"],
     "    return t % pl->rb == 0 ? place_header_at(pl, k)",
     "    return t % pl->rb == 0 && t == 0 ? place_header_at(pl, k)"),
    ("placed-entry-size-checked", ["unit"],
     "    if (l->t != l->data_end)\n        return al_err_set(e, AL_EDIGEST, \"'%s' has %lld bytes",
     "    if (0)\n        return al_err_set(e, AL_EDIGEST, \"'%s' has %lld bytes"),
    ("placed-every-entry-written", ["unit"],
     "        if (atomic_load(&pl->v[i].state) != PLACED_WRITTEN)",
     "        if (0)"),
    ("placed-direct-refused-falls-back", ["test_volumes.sh"],
     "        if (!direct || err == EINVAL)",
     "        if (!direct)"),
]


def log(msg):
    print(f"mutants: {msg}", flush=True)


def find(tree, snippet):
    """[(path, count)] of the source files holding `snippet`."""
    hits = []
    for d in SOURCE_DIRS:
        for root, _, files in os.walk(os.path.join(tree, d)):
            for f in files:
                if f.endswith((".c", ".h")):
                    p = os.path.join(root, f)
                    n = open(p, encoding="utf-8", errors="replace").read().count(snippet)
                    if n:
                        hits.append((p, n))
    return hits


def copy_tree(top, dest):
    """The working tree as git sees it (tracked and new files, with their
    uncommitted changes), without build output."""
    files = subprocess.run(["git", "ls-files", "-z", "-co", "--exclude-standard"], cwd=top,
                           check=True, capture_output=True).stdout.split(b"\0")
    for f in files:
        if not f:
            continue
        src = os.path.join(top, f.decode())
        if not os.path.isfile(src):
            continue
        dst = os.path.join(dest, f.decode())
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        shutil.copy2(src, dst)


def not_oks(logf, n=3):
    """The first `n` failed checks of a log, to show what caught a mutant."""
    with open(logf, errors="replace") as f:
        lines = [line.strip() for line in f if line.startswith(("not ok", "e2e: "))]
    return "; ".join(lines[:n])


def suite_cmd(tree, s):
    return [os.path.join(tree, "build", "unit-tests")] if s == "unit" else \
        [os.path.join(tree, "tests", "e2e", "run-all.sh"), s]


def run(cmd, cwd, env, logf):
    with open(logf, "ab") as f:
        return subprocess.run(cmd, cwd=cwd, env=env, stdout=f, stderr=subprocess.STDOUT).returncode


def main():
    args = sys.argv[1:]
    if args[:1] == ["--list"]:
        for name, suites, _, _ in MUTANTS:
            print(f"{name}: {' '.join(suites)}")
        return 0
    chosen = [m for m in MUTANTS if not args or m[0] in args]
    top = subprocess.run(["git", "rev-parse", "--show-toplevel"], check=True,
                         capture_output=True, text=True).stdout.strip()
    env = dict(os.environ)
    env.setdefault("AIRLOCK_SHARED", os.path.realpath(os.path.join(top, "..", "shared")))
    keep = os.environ.get("KEEP")
    tmp = tempfile.mkdtemp(prefix="airlock-mutants.")
    tree = os.path.join(tmp, "tree")
    logdir = os.path.join(tmp, "logs")
    os.makedirs(logdir)
    copy_tree(top, tree)
    env["BUILD"] = os.path.join(tree, "build")
    failures, survivors = [], []
    try:
        if run(["make", "-j2", "all", env["BUILD"] + "/unit-tests"], tree, env, os.path.join(logdir, "build.log")):
            log("the unmutated tree does not build (see the log)")
            return 1
        # every suite must pass unmutated, or every mutant would look killed
        for s in sorted({s for m in chosen for s in m[1]}):
            logf = os.path.join(logdir, "baseline-" + s + ".log")
            if run(suite_cmd(tree, s), tree, env, logf) != 0:
                log(f"baseline: {s} fails without a mutant: {not_oks(logf)}")
                return 1
            log(f"baseline: {s} passes")
        for name, suites, orig, repl in chosen:
            hits = find(tree, orig)
            if not hits:
                log(f"{name}: STALE (snippet not found: {orig.splitlines()[0].strip()!r})")
                failures.append(name)
                continue
            if len(hits) > 1 or hits[0][1] > 1:
                log(f"{name}: AMBIGUOUS (snippet in {', '.join(os.path.relpath(p, tree) for p, _ in hits)})")
                failures.append(name)
                continue
            path = hits[0][0]
            text = open(path, encoding="utf-8").read()
            logf = os.path.join(logdir, name + ".log")
            start = time.time()
            try:
                with open(path, "w", encoding="utf-8") as f:
                    f.write(text.replace(orig, repl))
                if run(["make", "-j2", "all", env["BUILD"] + "/unit-tests"], tree, env, logf):
                    log(f"{name}: BROKEN (does not build; {logf})")
                    failures.append(name)
                    continue
                killed_by = None
                for s in suites:
                    if run(suite_cmd(tree, s), tree, env, logf) != 0:
                        killed_by = s
                        break
            finally:
                with open(path, "w", encoding="utf-8") as f:
                    f.write(text)
                os.utime(path)
            took = int(time.time() - start)
            where = os.path.relpath(path, tree)
            if killed_by:
                log(f"{name} ({where}): killed by {killed_by} in {took} s: {not_oks(logf)}")
            else:
                log(f"{name} ({where}): SURVIVED {' '.join(suites)} ({logf})")
                survivors.append(name)
    finally:
        if keep:
            log(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    log(f"{len(chosen)} mutants, {len(survivors)} survived"
        + (f": {' '.join(survivors)}" if survivors else "")
        + (f"; {len(failures)} stale, ambiguous or broken: {' '.join(failures)}" if failures else ""))
    return 1 if survivors or failures else 0


if __name__ == "__main__":
    sys.exit(main())
