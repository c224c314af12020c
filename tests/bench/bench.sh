#!/usr/bin/env bash
# make bench: airlock against the documented skopeo air-gap workflow on the
# same corpus and the same registries, in one run; prints one table with
# times, MB/s, bundle sizes, peak RSS and the ratios between the two.
# BENCH_SCALE=0.25 for a quicker, smaller corpus (1.0: about 1 GiB).
# Then the network profile: the export over a link of BENCH_RTT_MS (40) round
# trip and BENCH_RATE_MBIT (500), with tc netem in a network namespace where
# the kernel has it, else through tests/bench/linkproxy.py; printed against
# the bandwidth floor (unique bytes / rate).
set -u
source "$(dirname "$0")/../e2e/lib.sh"
e2e_init
SCALE=${BENCH_SCALE:-1.0}
T=/usr/bin/time
[ -x "$T" ] || { echo "bench: needs GNU time (apt-get install time)" >&2; exit 1; }

start_registry src bench b3nch
start_registry mirror bench b3nch
authfile "$src_HOST" bench b3nch "$WORK/src-auth.json"
authfile "$mirror_HOST" bench b3nch "$WORK/mirror-auth.json"
mkdir -p "$WORK/certs-src" "$WORK/certs-mirror"
cp "$src_CA" "$WORK/certs-src/ca.crt"; cp "$mirror_CA" "$WORK/certs-mirror/ca.crt"
openssl genpkey -algorithm ed25519 -out "$WORK/k" 2>/dev/null
openssl pkey -in "$WORK/k" -pubout -out "$WORK/k.pub"

echo "bench: pushing the corpus (scale $SCALE)..." >&2
python3 "$(dirname "$0")/corpus.py" "$src_HOST" "$src_CA" bench b3nch "$SCALE" "$WORK/images.txt" || exit 1
unique=$(du -sb "$WORK/registry-src/data/docker/registry/v2/blobs" | cut -f1)

# timed NAME CMD...: wall seconds and peak RSS (KiB) of CMD into NAME.t
timed() {
    local name=$1
    shift
    "$T" -f "%e %M" -o "$WORK/$name.t" "$@" >"$WORK/$name.log" 2>&1 || {
        echo "bench: $name failed:" >&2; tail -5 "$WORK/$name.log" >&2; exit 1; }
}
sum_t() { cat "$@" | awk '{s += $1; if ($2 > m) m = $2} END {printf "%.2f %d\n", s, m}'; }

# airlock
args=()
while read -r img; do args+=(--image "registry.redhat.io/$img"); done <"$WORK/images.txt"
timed a-export "$BUILD/airlock-export" "${args[@]}" --pull-from "registry.redhat.io=$src_HOST" \
    --authfile "$WORK/src-auth.json" --ca-file "$src_CA" --sign-key "$WORK/k" -q -o "$WORK/a.tar.zst"
timed a-import "$BUILD/airlock-import" "$WORK/a.tar.zst" --verify-key "$WORK/k.pub" \
    --registry "$mirror_HOST/airlock" --authfile "$WORK/mirror-auth.json" --ca-file "$mirror_CA" \
    --skip-cluster -q

# the skopeo workflow: sync to dir:, tar | zstd -T0; unpack, copy per image
mkdir -p "$WORK/sk"
i=0
while read -r img; do
    i=$((i + 1))
    timed "s-export-$i" skopeo copy -q --all --preserve-digests --src-creds bench:b3nch \
        --src-cert-dir "$WORK/certs-src" "docker://$src_HOST/$img" "dir:$WORK/sk/$i"
done <"$WORK/images.txt"
timed s-pack sh -c "tar -C '$WORK/sk' -cf - . | zstd -q -T0 -3 -o '$WORK/s.tar.zst'"
mkdir -p "$WORK/un"
timed s-unpack sh -c "zstd -q -dc '$WORK/s.tar.zst' | tar -C '$WORK/un' -xf -"
i=0
while read -r img; do
    i=$((i + 1))
    timed "s-import-$i" skopeo copy -q --all --preserve-digests --dest-creds bench:b3nch \
        --dest-cert-dir "$WORK/certs-mirror" "dir:$WORK/un/$i" "docker://$mirror_HOST/skopeo/$img"
done <"$WORK/images.txt"

read -r ae arss <"$WORK/a-export.t"
read -r ai irss <"$WORK/a-import.t"
read -r se srss < <(sum_t "$WORK"/s-export-*.t "$WORK/s-pack.t")
read -r si sirss < <(sum_t "$WORK/s-unpack.t" "$WORK"/s-import-*.t)
asize=$(stat -c %s "$WORK/a.tar.zst")
ssize=$(stat -c %s "$WORK/s.tar.zst")
mbs() { awk -v b="$unique" -v s="$1" 'BEGIN {printf "%.1f", b / 1048576 / s}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2fx", a / b}'; }
printf '\ncorpus: %d images, %.1f MiB of unique blobs; %s cores\n\n' "$(wc -l <"$WORK/images.txt")" \
    "$(awk -v b="$unique" 'BEGIN {print b / 1048576}')" "$(nproc)"
printf '%-22s %12s %12s %12s\n' "" airlock "skopeo+tar" "ratio"
printf '%-22s %11ss %11ss %12s\n' "export time" "$ae" "$se" "$(ratio "$se" "$ae") faster"
printf '%-22s %12s %12s\n' "export MB/s" "$(mbs "$ae")" "$(mbs "$se")"
printf '%-22s %11ss %11ss %12s\n' "import time" "$ai" "$si" "$(ratio "$si" "$ai") faster"
printf '%-22s %12s %12s\n' "import MB/s" "$(mbs "$ai")" "$(mbs "$si")"
printf '%-22s %12s %12s %12s\n' "bundle / unique blobs" "$(ratio "$asize" "$unique")" "$(ratio "$ssize" "$unique")" ""
printf '%-22s %9s MiB %9s MiB\n' "peak RSS export" "$((arss / 1024))" "$((srss / 1024))"
printf '%-22s %9s MiB %9s MiB\n' "peak RSS import" "$((irss / 1024))" "$((sirss / 1024))"

# ---- the network profile ----
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
    python3 "$(dirname "$0")/linkproxy.py" 0 127.0.0.1 "$src_PORT" "$RTT_MS" "$RATE" \
        "$WORK/link.port" 2>"$WORK/link.err" &
    PIDS+=($!)
    for _ in $(seq 100); do [ -s "$WORK/link.port" ] && break; sleep 0.1; done
    net_host=127.0.0.1:$(cat "$WORK/link.port")
    net_mode="linkproxy.py (this kernel has no netem)"
fi
authfile "$net_host" bench b3nch "$WORK/net-auth.json"
echo "bench: network profile, $RTT_MS ms round trip, $RATE Mbit/s, via $net_mode..." >&2
for j in 1 4; do
    rm -f "$WORK/n.tar.zst"
    timed "n-export-$j" "${RUN[@]}" "$BUILD/airlock-export" "${args[@]}" \
        --pull-from "registry.redhat.io=$net_host" --authfile "$WORK/net-auth.json" \
        --ca-file "$src_CA" --sign-key "$WORK/k" -q -j "$j" -o "$WORK/n.tar.zst"
done
floor=$(awk -v b="$unique" -v r="$RATE" 'BEGIN {printf "%.2f", b * 8 / (r * 1e6)}')
read -r n1 _ <"$WORK/n-export-1.t"
read -r n4 _ <"$WORK/n-export-4.t"
printf '\nnetwork profile: %s ms round trip, %s Mbit/s (%s)\n\n' "$RTT_MS" "$RATE" "$net_mode"
printf '%-22s %11ss\n' "bandwidth floor" "$floor"
printf '%-22s %11ss %12s\n' "export, --jobs 1" "$n1" "$(ratio "$n1" "$floor") floor"
printf '%-22s %11ss %12s\n' "export, --jobs 4" "$n4" "$(ratio "$n4" "$floor") floor"
