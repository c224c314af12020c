#!/usr/bin/env bash
# make bench: airlock against the floors (what moving the same blobs costs
# with nothing else to do) and against the documented skopeo air-gap
# workflow, on the same corpus and registries, in one run; one summary at the
# end. See docs/PERFORMANCE.md.
#
#   read floor   GET of every unique blob of the bundle from the source
#                registry (tests/bench/floor.c, libcurl, bodies discarded),
#                over 1 and over BENCH_JOBS connections, over HTTP/1.1 and
#                over HTTP/2, the best of the four
#   write floor  POST + one PUT of every unique blob into an empty registry
#                (fresh storage, nothing deduplicated), likewise
#   CPU floor    user + system of openssl dgst -sha256 plus zstd -3 (one
#                thread) over the bundle's tar
#   small images BENCH_SMALL ("400 3200") images of three small blobs (one
#                shared), exported and imported; requests per image from the
#                registries' access logs; at the smallest N, the import
#                against BENCH_BASELINE's (d7fa2b6, the code before issue 15,
#                built from git; "" skips), alternating, best of BENCH_ROUNDS
#
# Environment: BENCH_SCALE=0.25 for a quicker, smaller corpus (1.0: about
# 1 GiB); BENCH_SKOPEO=0, BENCH_NET=0 skip the skopeo workflow and the
# network profile; BENCH_SMALL="" skips the small images; BENCH_JOBS (4);
# BENCH_ROUNDS (2): the floors and airlock's main runs are measured this many
# times and the best of each kept (the machine is noisy);
# BENCH_EXPORT_ARGS / BENCH_IMPORT_ARGS add options to every airlock run
# (e.g. "-j 1", to see a ratio move).
# The network profile: the export over a link of BENCH_RTT_MS (40) round trip
# and BENCH_RATE_MBIT (500), with tc netem in a network namespace where the
# kernel has it, else through tests/bench/linkproxy.py; printed against the
# bandwidth floor (unique bytes / rate).
set -u
BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
source "$BENCH_DIR/../e2e/lib.sh"
e2e_init
SCALE=${BENCH_SCALE:-1.0}
JOBS=${BENCH_JOBS:-4}
ROUNDS=${BENCH_ROUNDS:-2}
SMALL=${BENCH_SMALL-400 3200}
BASELINE=${BENCH_BASELINE-d7fa2b6}
read -r -a XARGS_EXPORT <<<"${BENCH_EXPORT_ARGS:-}"
read -r -a XARGS_IMPORT <<<"${BENCH_IMPORT_ARGS:-}"
T=/usr/bin/time
FLOOR=$BUILD/floor
[ -x "$FLOOR" ] || { echo "bench: no $FLOOR (make bench builds it)" >&2; exit 1; }
SUMMARY=$WORK/summary
: >"$SUMMARY"
say() { printf "$@" >>"$SUMMARY"; }

# bench_registry NAME: lib.sh's start_registry (TLS, htpasswd bench:b3nch)
# with the access log on: one line a request in NAME_LOG; NAME_PID its
# process, NAME-auth.json its credentials. Whatever is in
# $WORK/registry-NAME/data already is served.
bench_registry() {
    local host
    ACCESS_LOG=1 start_registry "$1" bench b3nch
    printf -v "${1}_PID" %s "${PIDS[-1]}"
    printf -v "${1}_LOG" %s "$WORK/registry-$1/log"
    host=${1}_HOST
    authfile "${!host}" bench b3nch "$WORK/$1-auth.json"
}

# timed NAME CMD...: wall seconds, peak RSS (KiB), user and system seconds of
# CMD into NAME.t
timed() {
    local name=$1
    shift
    "$T" -f "%e %M %U %S" -o "$WORK/$name.t" "$@" >"$WORK/$name.log" 2>&1 || {
        echo "bench: $name failed:" >&2; tail -5 "$WORK/$name.log" >&2; exit 1; }
}
cpu_of() { awk '{printf "%.2f", $3 + $4}' "$WORK/$1.t"; }
sum_t() { cat "$@" | awk '{s += $1; if ($2 > m) m = $2} END {printf "%.2f %d\n", s, m}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2fx", a / b}'; }
# verdict VALUE TARGET: PASS when VALUE <= TARGET
verdict() { awk -v v="$1" -v t="$2" 'BEGIN {print (v <= t) ? "PASS" : "MISS"}'; }
# verdict_min VALUE TARGET: PASS when VALUE >= TARGET
verdict_min() { awk -v v="$1" -v t="$2" 'BEGIN {print (v >= t) ? "PASS" : "MISS"}'; }
# settle: what earlier steps wrote goes to disk now, not during the next
# measurement (the kernel writes dirty pages back after 30 s, and on two cores
# that writeback would be charged to whatever runs then)
settle() { sync; }
# floor_run MODE URL CA CONNECTIONS LIST: seconds of tests/bench/floor.c
floor_run() {
    local out
    settle
    out=$("$FLOOR" "$1" "$2" "$3" bench:b3nch "$4" "$5") || {
        echo "bench: floor $1 over $4 failed" >&2; exit 1; }
    echo "$out" | awk '{print $3}'
}
# reg_cpu NAME: user + system seconds registry NAME has used so far
reg_cpu() {
    local p=${1}_PID
    awk -v t="$(getconf CLK_TCK)" '{printf "%.2f\n", ($14 + $15) / t}' "/proc/${!p}/stat"
}
minus() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a - b}'; }
# log_mark NAME: the current length of registry NAME's log;
# log_since NAME MARK: its request lines since then
log_mark() { local l=${1}_LOG; wc -l <"${!l}"; }
log_since() { local l=${1}_LOG; tail -n +"$(($2 + 1))" "${!l}" | grep -E '"(GET|HEAD|POST|PUT|PATCH|DELETE) /'; }
# shapes: request lines by method, path shape and status, most first
shapes() {
    sed -E 's/.*"(GET|HEAD|POST|PUT|PATCH|DELETE) ([^ ]*) [^"]*" ([0-9]+).*/\1 \2 \3/' |
        sed -E -e 's#^([A-Z]+) /v2/[^ <]+/blobs/uploads/[^ ?]+#\1 /v2/<R>/blobs/uploads/<UUID>#' \
            -e 's#^([A-Z]+) /v2/[^ <]+/blobs/uploads/#\1 /v2/<R>/blobs/uploads/#' \
            -e 's#^([A-Z]+) /v2/[^ <]+/blobs/sha256:[0-9a-f]+#\1 /v2/<R>/blobs/<DIGEST>#' \
            -e 's#^([A-Z]+) /v2/[^ <]+/manifests/sha256:[0-9a-f]+#\1 /v2/<R>/manifests/<DIGEST>#' \
            -e 's#^([A-Z]+) /v2/[^ <]+/manifests/[^ <]+#\1 /v2/<R>/manifests/<TAG>#' \
            -e 's#^([A-Z]+) /v2/[^ <]+/tags/list#\1 /v2/<R>/tags/list#' \
            -e 's#(_state|digest|from|mount)=[^& ]*#\1=..#g' |
        sort | uniq -c | sort -rn
}

for v in BENCH_SKOPEO BENCH_NET; do
    case ${!v:-1} in 0 | 1) ;; *) echo "bench: $v must be 0 or 1" >&2; exit 2 ;; esac
done

bench_registry src
openssl genpkey -algorithm ed25519 -out "$WORK/k" 2>/dev/null
openssl pkey -in "$WORK/k" -pubout -out "$WORK/k.pub"

echo "bench: pushing the corpus (scale $SCALE)..." >&2
python3 "$BENCH_DIR/corpus.py" "$src_HOST" "$src_CA" bench b3nch "$SCALE" "$WORK/images.txt" || exit 1
src_blobs=$WORK/registry-src/data/docker/registry/v2/blobs
unique=$(du -sb "$src_blobs" | cut -f1)
awk -v d="$src_blobs/sha256" '{h = substr($2, 8); print "floor/blobs", $2, d "/" substr(h, 1, 2) "/" h "/data"}' \
    "$WORK/images.txt.blobs" >"$WORK/put.list"
floor_bytes=$(awk '{print $3}' "$WORK/put.list" | xargs stat -c %s | awk '{s += $1} END {print s}')
nblobs=$(wc -l <"$WORK/put.list")

args=()
while read -r img; do args+=(--image "registry.redhat.io/$img"); done <"$WORK/images.txt"

# ---- the floors and airlock, back to back, best of BENCH_ROUNDS ----
# Each round writes into registries of its own (nothing deduplicated).
for r in $(seq "$ROUNDS"); do
    echo "bench: round $r of $ROUNDS: read floor, export, write floor, import, CPU floor..." >&2
    bench_registry "mirror$r"
    bench_registry "wfa$r"
    bench_registry "wfb$r"
    rf1=$(floor_run get "https://$src_HOST" "$src_CA" 1 "$WORK/images.txt.blobs") || exit 1
    rfj=$(floor_run get "https://$src_HOST" "$src_CA" "$JOBS" "$WORK/images.txt.blobs") || exit 1
    rf1h2=$(floor_run get-h2 "https://$src_HOST" "$src_CA" 1 "$WORK/images.txt.blobs") || exit 1
    rfjh2=$(floor_run get-h2 "https://$src_HOST" "$src_CA" "$JOBS" "$WORK/images.txt.blobs") || exit 1
    settle
    c0=$(reg_cpu src)
    timed "a-export-$r" "$BUILD/airlock-export" "${args[@]}" --pull-from "registry.redhat.io=$src_HOST" \
        --authfile "$WORK/src-auth.json" --ca-file "$src_CA" --sign-key "$WORK/k" -q -o "$WORK/a.tar.zst" \
        "${XARGS_EXPORT[@]}"
    src_cpu=$(minus "$(reg_cpu src)" "$c0")
    h=wfa${r}_HOST ca=wfa${r}_CA
    wf1=$(floor_run put "https://${!h}" "${!ca}" 1 "$WORK/put.list") || exit 1
    h=wfb${r}_HOST ca=wfb${r}_CA
    wfj=$(floor_run put "https://${!h}" "${!ca}" "$JOBS" "$WORK/put.list") || exit 1
    rm -rf "$WORK/registry-wfa$r/data" "$WORK/registry-wfb$r/data"
    h=mirror${r}_HOST ca=mirror${r}_CA
    settle
    c0=$(reg_cpu "mirror$r")
    timed "a-import-$r" "$BUILD/airlock-import" "$WORK/a.tar.zst" --verify-key "$WORK/k.pub" \
        --registry "${!h}/airlock" --authfile "$WORK/mirror$r-auth.json" --ca-file "${!ca}" \
        --skip-cluster -q "${XARGS_IMPORT[@]}"
    mir_cpu=$(minus "$(reg_cpu "mirror$r")" "$c0")
    rm -rf "$WORK/registry-mirror$r/data"
    zstd -q -dc "$WORK/a.tar.zst" >"$WORK/bundle.tar"
    settle
    timed "cpu-sha-$r" openssl dgst -sha256 "$WORK/bundle.tar"
    timed "cpu-zstd-$r" sh -c 'exec zstd -q -3 --single-thread -c "$1" >/dev/null' sh "$WORK/bundle.tar"
    tarsize=$(stat -c %s "$WORK/bundle.tar")
    rm -f "$WORK/bundle.tar"
    # one line a round: the columns that the minima below are taken of
    read -r ae arss au as <"$WORK/a-export-$r.t"
    read -r ai irss iu is <"$WORK/a-import-$r.t"
    echo "$rf1 $rfj $wf1 $wfj $ae $ai $au $as $iu $is $src_cpu $mir_cpu $(cpu_of "cpu-sha-$r") $(cpu_of "cpu-zstd-$r") $arss $irss $rf1h2 $rfjh2" \
        >>"$WORK/rounds"
done
# the minimum of every column over the rounds (the maximum for the RSS)
read -r rf1 rfj wf1 wfj ae ai au as iu is src_cpu mir_cpu sha_cpu zstd_cpu arss irss rf1h2 rfjh2 < <(awk '
    {for (i = 1; i <= NF; i++) if (NR == 1 || (i != 15 && i != 16 ? $i < m[i] : $i > m[i])) m[i] = $i}
    END {for (i = 1; i <= NF; i++) printf "%s ", m[i]; print ""}' "$WORK/rounds")
read -r acpu au as < <(awk 'BEGIN {m = -1} {c = $7 + $8; if (m < 0 || c < m) {m = c; u = $7; s = $8}}
    END {printf "%.2f %s %s\n", m, u, s}' "$WORK/rounds")
cpufloor=$(awk 'BEGIN {m = -1} {c = $13 + $14; if (m < 0 || c < m) m = c} END {printf "%.2f", m}' "$WORK/rounds")
rf=$(printf '%s\n' "$rf1" "$rfj" "$rf1h2" "$rfjh2" | sort -g | head -1)
wf=$(awk -v a="$wf1" -v b="$wfj" 'BEGIN {print (a < b) ? a : b}')
mbs() { awk -v b="$floor_bytes" -v s="$1" 'BEGIN {printf "%.1f", b / 1048576 / s}'; }
asize=$(stat -c %s "$WORK/a.tar.zst")

say '\ncorpus: %d images, %d unique blobs, %.1f MiB (bundle tar %.1f MiB); %s cores; airlock --jobs %s%s; best of %s rounds\n\n' \
    "$(wc -l <"$WORK/images.txt")" "$nblobs" "$(awk -v b="$floor_bytes" 'BEGIN {print b / 1048576}')" \
    "$(awk -v b="$tarsize" 'BEGIN {print b / 1048576}')" "$(nproc)" "$JOBS" \
    "${BENCH_EXPORT_ARGS:+; export $BENCH_EXPORT_ARGS}${BENCH_IMPORT_ARGS:+; import $BENCH_IMPORT_ARGS}" "$ROUNDS"
say '%-32s %9s %9s %8s %7s %5s\n' "against the floor" airlock floor ratio target ""
say '%-32s %8ss %8ss %8s %7s %5s\n' "export wall / read floor" "$ae" "$rf" "$(ratio "$ae" "$rf")" "<= 2.0" \
    "$(verdict "$(ratio "$ae" "$rf" | tr -d x)" 2.0)"
say '%-32s %8ss %8ss %8s %7s %5s\n' "export CPU / CPU floor" "$acpu" "$cpufloor" "$(ratio "$acpu" "$cpufloor")" \
    "<= 2.0" "$(verdict "$(ratio "$acpu" "$cpufloor" | tr -d x)" 2.0)"
say '%-32s %8ss %8ss %8s %7s %5s\n' "import wall / write floor" "$ai" "$wf" "$(ratio "$ai" "$wf")" "<= 1.3" \
    "$(verdict "$(ratio "$ai" "$wf" | tr -d x)" 1.3)"
say '%-32s %5s MiB %18s %7s %5s\n' "peak RSS export" "$((arss / 1024))" "" "<= 64" "$(verdict "$((arss / 1024))" 64)"
say '%-32s %5s MiB %18s %7s %5s\n' "peak RSS import" "$((irss / 1024))" "" "<= 64" "$(verdict "$((irss / 1024))" 64)"
say '\n  read floor:  GET, HTTP/1.1: 1 connection %ss, %s connections %ss; HTTP/2: %ss, %ss (%s MB/s at the best)\n' \
    "$rf1" "$JOBS" "$rfj" "$rf1h2" "$rfjh2" "$(mbs "$rf")"
say '  write floor: POST + PUT (HTTP/1.1), 1 connection %ss, %s connections %ss (%s MB/s)\n' \
    "$wf1" "$JOBS" "$wfj" "$(mbs "$wf")"
say '  CPU floor:   openssl dgst -sha256 %ss + zstd -3 --single-thread %ss of user + system over the tar\n' \
    "$sha_cpu" "$zstd_cpu"
say '  export:      %ss user + %ss system (the source registry %ss); %s MB/s; bundle / unique blobs %s\n' \
    "$au" "$as" "$src_cpu" "$(mbs "$ae")" "$(ratio "$asize" "$unique")"
say '  import:      %ss user + %ss system (the mirror registry %ss); %s MB/s\n' \
    "$iu" "$is" "$mir_cpu" "$(mbs "$ai")"
# On few cores the export shares them with the source registry: their CPU
# together over the cores is the least wall time any overlap could reach.
# All from one round, the export's fastest.
read -r b_ae b_cpu b_src < <(awk 'BEGIN {m = -1} {if (m < 0 || $5 < m) {m = $5; c = $7 + $8; r = $11}}
    END {printf "%s %.2f %s\n", m, c, r}' "$WORK/rounds")
cpu_bound=$(awk -v a="$b_cpu" -v r="$b_src" -v n="$(nproc)" 'BEGIN {printf "%.2f", (a + r) / n}')
say '  export CPU bound: airlock %ss + the source registry %ss of CPU on %s cores: at least %ss\n' \
    "$b_cpu" "$b_src" "$(nproc)" "$cpu_bound"
say '               (%s the read floor); the export took %ss, the cores %s%% busy\n' \
    "$(ratio "$cpu_bound" "$rf")" "$b_ae" "$(awk -v b="$cpu_bound" -v w="$b_ae" 'BEGIN {printf "%.0f", 100 * b / w}')"

# ---- the skopeo workflow: sync to dir:, tar | zstd -T0; unpack, copy per image ----
if [ "${BENCH_SKOPEO:-1}" = 1 ]; then
    echo "bench: the skopeo workflow..." >&2
    bench_registry mirrorsk
    mkdir -p "$WORK/certs-src" "$WORK/certs-mirror" "$WORK/sk"
    cp "$src_CA" "$WORK/certs-src/ca.crt"
    cp "$mirrorsk_CA" "$WORK/certs-mirror/ca.crt"
    settle
    i=0
    while read -r img; do
        i=$((i + 1))
        timed "s-export-$i" skopeo copy -q --all --preserve-digests --src-creds bench:b3nch \
            --src-cert-dir "$WORK/certs-src" "docker://$src_HOST/$img" "dir:$WORK/sk/$i"
    done <"$WORK/images.txt"
    settle
    timed s-pack sh -c "tar -C '$WORK/sk' -cf - . | zstd -q -T0 -3 -o '$WORK/s.tar.zst'"
    mkdir -p "$WORK/un"
    timed s-unpack sh -c "zstd -q -dc '$WORK/s.tar.zst' | tar -C '$WORK/un' -xf -"
    settle
    i=0
    while read -r img; do
        i=$((i + 1))
        timed "s-import-$i" skopeo copy -q --all --preserve-digests --dest-creds bench:b3nch \
            --dest-cert-dir "$WORK/certs-mirror" "dir:$WORK/un/$i" "docker://$mirrorsk_HOST/skopeo/$img"
    done <"$WORK/images.txt"
    read -r se srss < <(sum_t "$WORK"/s-export-*.t "$WORK/s-pack.t")
    read -r si sirss < <(sum_t "$WORK/s-unpack.t" "$WORK"/s-import-*.t)
    ssize=$(stat -c %s "$WORK/s.tar.zst")
    rm -rf "$WORK/sk" "$WORK/un" "$WORK/s.tar.zst"
    say '\nagainst the skopeo workflow      airlock skopeo+tar   ratio\n'
    say '%-28s %9ss %9ss %8s faster\n' "export time" "$ae" "$se" "$(ratio "$se" "$ae")"
    say '%-28s %9ss %9ss %8s faster\n' "import time" "$ai" "$si" "$(ratio "$si" "$ai")"
    say '%-28s %10s %10s\n' "bundle / unique blobs" "$(ratio "$asize" "$unique")" "$(ratio "$ssize" "$unique")"
    say '%-28s %6s MiB %6s MiB\n' "peak RSS export" "$((arss / 1024))" "$((srss / 1024))"
    say '%-28s %6s MiB %6s MiB\n' "peak RSS import" "$((irss / 1024))" "$((sirss / 1024))"
fi

# ---- the network profile ----
if [ "${BENCH_NET:-1}" = 1 ]; then
    RTT_MS=${BENCH_RTT_MS:-40}
    RATE=${BENCH_RATE_MBIT:-500}
    NS=airlock-bench-$$
    trap 'ip netns del "$NS" 2>/dev/null; e2e_cleanup' EXIT
    RUN=()
    net_host=
    if ip netns add "$NS" 2>/dev/null; then
        if ip netns exec "$NS" ip link set lo up &&
            ip netns exec "$NS" tc qdisc add dev lo root netem delay "$((RTT_MS / 2))ms" \
                rate "${RATE}mbit" 2>/dev/null; then
            ip netns exec "$NS" docker-registry serve "$WORK/registry-src/config.yml" \
                >"$WORK/ns-registry.log" 2>&1 &
            PIDS+=($!)
            for _ in $(seq 100); do
                ip netns exec "$NS" bash -c "exec 3<>/dev/tcp/127.0.0.1/$src_PORT" 2>/dev/null && break
                sleep 0.1
            done
            RUN=(ip netns exec "$NS")
            net_host=$src_HOST
            net_mode="tc netem in a network namespace"
        else
            ip netns del "$NS" 2>/dev/null
        fi
    fi
    if [ -z "$net_host" ]; then
        python3 "$BENCH_DIR/linkproxy.py" 0 127.0.0.1 "$src_PORT" "$RTT_MS" "$RATE" \
            "$WORK/link.port" 2>"$WORK/link.err" &
        PIDS+=($!)
        for _ in $(seq 100); do [ -s "$WORK/link.port" ] && break; sleep 0.1; done
        net_host=127.0.0.1:$(cat "$WORK/link.port")
        net_mode="linkproxy.py (this kernel has no netem)"
    fi
    authfile "$net_host" bench b3nch "$WORK/net-auth.json"
    echo "bench: network profile, $RTT_MS ms round trip, $RATE Mbit/s, via $net_mode..." >&2
    for j in 1 "$JOBS"; do
        rm -f "$WORK/n.tar.zst"
        settle
        timed "n-export-$j" "${RUN[@]}" "$BUILD/airlock-export" "${args[@]}" \
            --pull-from "registry.redhat.io=$net_host" --authfile "$WORK/net-auth.json" \
            --ca-file "$src_CA" --sign-key "$WORK/k" -q -j "$j" -o "$WORK/n.tar.zst" "${XARGS_EXPORT[@]}"
    done
    floor=$(awk -v b="$unique" -v r="$RATE" 'BEGIN {printf "%.2f", b * 8 / (r * 1e6)}')
    read -r n1 _ <"$WORK/n-export-1.t"
    read -r nj _ <"$WORK/n-export-$JOBS.t"
    say '\nnetwork profile: %s ms round trip, %s Mbit/s (%s)\n' "$RTT_MS" "$RATE" "$net_mode"
    say '%-28s %9ss\n' "bandwidth floor" "$floor"
    say '%-28s %9ss %8s floor\n' "export, --jobs 1" "$n1" "$(ratio "$n1" "$floor")"
    say '%-28s %9ss %8s floor\n' "export, --jobs $JOBS" "$nj" "$(ratio "$nj" "$floor")"
fi
rm -f "$WORK/a.tar.zst" "$WORK/n.tar.zst"

# ---- many small images ----
# The baseline's airlock-import, built from git (BENCH_BASELINE): the target
# for many small images is a ratio to the code before it, which only a run
# of both on the same machine in the same hour measures.
base_import= base_why=
if [ -n "$SMALL" ] && [ -n "$BASELINE" ]; then
    top=$(cd "$BENCH_DIR/../.." && pwd)
    if ! git -C "$top" cat-file -e "$BASELINE^{commit}" 2>/dev/null; then
        base_why="no commit $BASELINE in $top (not a git checkout, or a shallow one)"
    else
        echo "bench: building the baseline's airlock-import ($BASELINE)..." >&2
        mkdir -p "$WORK/baseline"
        if git -C "$top" archive "$BASELINE" | tar -x -C "$WORK/baseline" &&
            make -C "$WORK/baseline" -j2 BUILD=build build/airlock-import >"$WORK/baseline.log" 2>&1; then
            base_import=$WORK/baseline/build/airlock-import
        else
            base_why="building $BASELINE failed (see the log with KEEP=1: $WORK/baseline.log)"
        fi
    fi
fi

# Each N gets its own source (written into its storage before it starts)
# and its own empty mirror.
small_rows=()
for n in $SMALL; do
    echo "bench: $n small images..." >&2
    mkdir -p "$WORK/registry-ssrc$n/data"
    python3 "$BENCH_DIR/smallcorpus.py" "$WORK/registry-ssrc$n/data" "$n" "$WORK/small$n.txt" || exit 1
    bench_registry "ssrc$n"
    bench_registry "smir$n"
    shost=ssrc${n}_HOST sca=ssrc${n}_CA mhost=smir${n}_HOST mca=smir${n}_CA
    # the registry serves what was written: the last image's manifest by
    # tag, and its config blob by digest, both as written
    last_img=$(tail -1 "$WORK/small$n.txt")
    cfg=$(curl -sf --cacert "${!sca}" -u bench:b3nch \
        -H "Accept: application/vnd.docker.distribution.manifest.v2+json" \
        "https://${!shost}/v2/${last_img%:*}/manifests/${last_img##*:}" | jq -r .config.digest)
    [ "$(curl -sf --cacert "${!sca}" -u bench:b3nch "https://${!shost}/v2/${last_img%:*}/blobs/$cfg" |
        sha256sum | cut -d' ' -f1)" = "${cfg#sha256:}" ] || {
        echo "bench: the small-images registry does not serve its corpus ($last_img)" >&2; exit 1; }
    sed 's#^#registry.redhat.io/#' "$WORK/small$n.txt" >"$WORK/small$n.refs"
    settle
    m=$(log_mark "ssrc$n") c0=$(reg_cpu "ssrc$n")
    timed "sm-export-$n" "$BUILD/airlock-export" --images-from "$WORK/small$n.refs" \
        --pull-from "registry.redhat.io=${!shost}" --authfile "$WORK/ssrc$n-auth.json" --ca-file "${!sca}" \
        --sign-key "$WORK/k" -q -o "$WORK/small$n.tar.zst" "${XARGS_EXPORT[@]}"
    log_since "ssrc$n" "$m" >"$WORK/small$n.export.req"
    minus "$(reg_cpu "ssrc$n")" "$c0" >"$WORK/small$n.export.regcpu"
    settle
    m=$(log_mark "smir$n") c0=$(reg_cpu "smir$n")
    timed "sm-import-$n" "$BUILD/airlock-import" "$WORK/small$n.tar.zst" --verify-key "$WORK/k.pub" \
        --registry "${!mhost}/airlock" --authfile "$WORK/smir$n-auth.json" --ca-file "${!mca}" \
        --skip-cluster -q "${XARGS_IMPORT[@]}"
    log_since "smir$n" "$m" >"$WORK/small$n.import.req"
    minus "$(reg_cpu "smir$n")" "$c0" >"$WORK/small$n.import.regcpu"
    if [ -n "$base_import" ] && [ "$n" = "${SMALL%% *}" ]; then
        # the same bundle, each import into an empty mirror of its own, the
        # two programs alternating
        echo "bench: $n small images, the import against the baseline's..." >&2
        for r in $(seq "$ROUNDS"); do
            for who in base new; do
                bench_registry "sb$who$r"
                bhost=sb$who${r}_HOST bca=sb$who${r}_CA
                bin=$BUILD/airlock-import
                [ "$who" = base ] && bin=$base_import
                settle
                timed "sb-$who-$r" "$bin" "$WORK/small$n.tar.zst" --verify-key "$WORK/k.pub" \
                    --registry "${!bhost}/airlock" --authfile "$WORK/sb$who$r-auth.json" \
                    --ca-file "${!bca}" --skip-cluster -q "${XARGS_IMPORT[@]}"
                kill "${PIDS[-1]}"
            done
        done
    fi
    rm -f "$WORK/small$n.tar.zst"
    small_rows+=("$n")
done
if [ ${#small_rows[@]} -gt 0 ]; then
    say '\nmany small images (each: a 4 KiB base layer shared by all, a 2 KiB layer and a config of its own)\n'
    say '%-6s %-7s %8s %8s %7s %9s %8s %8s %14s\n' images program wall images/s ms/image \
        req/image "CPU" "reg. CPU" "peak RSS"
    for n in "${small_rows[@]}"; do
        for p in export import; do
            read -r w rss u sy <"$WORK/sm-$p-$n.t"
            req=$(wc -l <"$WORK/small$n.$p.req")
            say '%-6s %-7s %7ss %8s %7s %9s %7ss %7ss %4s MiB %s\n' "$n" "$p" "$w" \
                "$(awk -v n="$n" -v w="$w" 'BEGIN {printf "%.1f", n / w}')" \
                "$(awk -v n="$n" -v w="$w" 'BEGIN {printf "%.2f", w * 1000 / n}')" \
                "$(awk -v n="$n" -v r="$req" 'BEGIN {printf "%.2f", r / n}')" \
                "$(awk -v u="$u" -v s="$sy" 'BEGIN {printf "%.2f", u + s}')" \
                "$(cat "$WORK/small$n.$p.regcpu")" "$((rss / 1024))" \
                "$(verdict "$((rss / 1024))" 64)"
        done
    done
    say '  (CPU: user + system of airlock; reg. CPU: of the registry it talked to; RSS target <= 64 MiB)\n' 
    if [ -n "$base_import" ]; then
        bw=$(cat "$WORK"/sb-base-*.t | awk '{print $1}' | sort -g | head -1)
        nw=$(cat "$WORK"/sb-new-*.t | awk '{print $1}' | sort -g | head -1)
        r=$(awk -v a="$bw" -v b="$nw" 'BEGIN {printf "%.2f", a / b}')
        say 'import of %s images against %s (the code before issue 15), alternating, best of %s:\n' \
            "${small_rows[0]}" "$BASELINE" "$ROUNDS"
        say '  %ss against %ss: %sx as fast (target >= 2.0) %s\n' "$nw" "$bw" "$r" "$(verdict_min "$r" 2.0)"
    elif [ -n "$BASELINE" ]; then
        say 'import against %s: not measured: %s\n' "$BASELINE" "$base_why"
    fi
    first=${small_rows[0]} last=${small_rows[${#small_rows[@]} - 1]}
    if [ "$first" != "$last" ]; then
        for p in export import; do
            read -r w1 _ <"$WORK/sm-$p-$first.t"
            read -r w2 _ <"$WORK/sm-$p-$last.t"
            r=$(awk -v a="$w1" -v b="$w2" -v n1="$first" -v n2="$last" 'BEGIN {printf "%.2f", (b / n2) / (a / n1)}')
            say '%s: time per image at %s / at %s: %sx (flat: <= 1.2) %s\n' "$p" "$last" "$first" "$r" \
                "$(verdict "$r" 1.2)"
        done
    fi
    for p in import export; do
        say '\n%s requests per image at %s, by method, path and status (count, count / %s):\n' \
            "$p" "$last" "$last"
        shapes <"$WORK/small$last.$p.req" | awk -v n="$last" '{c = $1; $1 = ""; printf "  %6d %7.3f %s\n", c, c / n, $0}' \
            >>"$SUMMARY"
    done
fi

cat "$SUMMARY"
