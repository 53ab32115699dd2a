#!/usr/bin/env bash
# Builds the Dockerfile unchanged and runs the image on this machine, where no registry is reachable:
#   1. makes the two base images locally: debian:bookworm-slim (debootstrap) and swift:6.3-bookworm (that plus
#      this machine's Swift toolchain, its build dependencies, and the local Swift package mirror);
#   2. buildah bud --isolation chroot --pull=never -t shoal:verify .
#   3. runs the image with buildah run (podman run does not work here) on a loopback test port and checks with
#      redis-cli that it answers, needs the password, stores, snapshots into /data, passes its health check,
#      stops cleanly on SIGTERM (exit 0), and reloads the snapshot when started again.
# Takes about 10-20 minutes on 2 cores, most of it the base images (cached in $SHOAL_CONTAINER_WORK afterwards).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/deps.sh
apt_install buildah debootstrap redis-tools
WORK=${SHOAL_CONTAINER_WORK:-/var/tmp/shoal-container}
PORT=${SHOAL_CONTAINER_PORT:-16479}
# The Debian archive this machine's apt uses (the first deb822 URI serving bookworm, or a one-line `deb` entry),
# so the repository names no registry itself; DEBIAN_MIRROR overrides it.
debian_archive() {
    local file
    for file in /etc/apt/sources.list.d/*.sources; do
        [ -f "$file" ] || continue
        awk '/^URIs:/ { uri = $2 } /^Suites:/ && /bookworm( |$)/ && uri != "" { print uri; exit }' "$file"
    done | head -1
    grep -hE '^deb [^ ]+ bookworm ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
        | awk '{ print $2 }' | head -1
}
MIRROR=${DEBIAN_MIRROR:-$(debian_archive | head -1)}
[ -n "$MIRROR" ] || { echo "No Debian bookworm archive in /etc/apt; set DEBIAN_MIRROR"; exit 1; }
SWIFT_TOOLCHAIN=${SWIFT_TOOLCHAIN:-/opt/swift}
PACKAGE_MIRROR=${SWIFT_PACKAGE_MIRROR:-/opt/swift-packages}
mkdir -p "$WORK"
export BUILDAH_ISOLATION=chroot
step() { echo "== $*"; }

if ! buildah inspect --type image docker.io/library/debian:bookworm-slim >/dev/null 2>&1; then
    step "debootstrap bookworm (minbase) -> debian:bookworm-slim"
    rm -rf "$WORK/rootfs"
    debootstrap --variant=minbase bookworm "$WORK/rootfs" "$MIRROR" >"$WORK/debootstrap.log" 2>&1
    rm -rf "$WORK/rootfs/var/cache/apt/archives/"*.deb "$WORK/rootfs/var/lib/apt/lists/"*
    ctr=$(buildah from scratch)
    buildah copy "$ctr" "$WORK/rootfs" / >/dev/null
    buildah config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin --cmd /bin/bash "$ctr"
    buildah commit --rm "$ctr" docker.io/library/debian:bookworm-slim >/dev/null
fi

if ! buildah inspect --type image docker.io/library/swift:6.3-bookworm >/dev/null 2>&1; then
    step "debian:bookworm-slim + Swift toolchain + package mirror -> swift:6.3-bookworm"
    ctr=$(buildah from --pull=never docker.io/library/debian:bookworm-slim)
    # The official image's dependencies of the toolchain.
    buildah run "$ctr" -- sh -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        binutils git gnupg2 libc6-dev libcurl4-openssl-dev libedit2 libgcc-12-dev libncurses6 libtinfo6 liblzma5 \
        libpython3-dev libsqlite3-0 \
        libstdc++-12-dev libxml2-dev libz3-dev pkg-config tzdata zlib1g-dev ca-certificates >/dev/null \
        && rm -rf /var/lib/apt/lists/*'
    buildah copy "$ctr" "$SWIFT_TOOLCHAIN" /opt/swift >/dev/null
    buildah copy "$ctr" "$PACKAGE_MIRROR" /opt/swift-packages >/dev/null
    buildah run "$ctr" -- sh -c 'git config --system url./opt/swift-packages/.insteadOf https://github.com/ \
        && ln -s /opt/swift/usr/bin/swift /usr/bin/swift && swift --version'
    buildah config --env PATH=/opt/swift/usr/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$ctr"
    buildah commit --rm "$ctr" docker.io/library/swift:6.3-bookworm >/dev/null
fi

step "buildah bud --isolation chroot --pull=never -t shoal:verify ."
start=$(date +%s)
buildah bud --isolation chroot --pull=never --layers -t localhost/shoal:verify . >"$WORK/bud.log" 2>&1 \
    || { tail -40 "$WORK/bud.log"; exit 1; }
echo "built in $(( $(date +%s) - start )) s; image size: $(buildah images --format '{{.Size}}' localhost/shoal:verify)"
buildah inspect --type image --format '{{.OCIv1.Config.User}} {{.OCIv1.Config.Entrypoint}} {{.OCIv1.Config.ExposedPorts}} {{.OCIv1.Config.Volumes}} {{.OCIv1.Config.StopSignal}}' localhost/shoal:verify

ctr=$(buildah from --pull=never localhost/shoal:verify)
SERVER_PID=""
cleanup() {
    [ -n "$SERVER_PID" ] && kill -9 "$SERVER_PID" 2>/dev/null || true
    buildah rm "$ctr" >/dev/null 2>&1 || true
}
trap cleanup EXIT
run_server() {
    # The image's entrypoint with extra flags appended, as `docker run IMAGE --flag value` does. Loopback and a
    # test port only: buildah's chroot isolation shares this machine's network.
    buildah run --env SHOAL_PASSWORD=verify-secret "$ctr" -- /usr/local/bin/shoal-server /etc/shoal/shoal.conf \
        --bind 127.0.0.1 --port "$PORT" --maxmemory 64mb >"$WORK/server.log" 2>&1 &
    SERVER_PID=$!
    for _ in $(seq 1 100); do redis-cli -p "$PORT" ping 2>/dev/null | grep -q -E "PONG|NOAUTH" && return 0; sleep 0.2; done
    cat "$WORK/server.log"; exit 1
}
cli() { redis-cli -p "$PORT" --no-auth-warning -a verify-secret "$@"; }

step "run the image"
run_server
[ "$(redis-cli -p "$PORT" GET k 2>&1)" = "NOAUTH Authentication required." ] || { echo "password not enforced"; exit 1; }
[ "$(cli SET greeting 'hello from the container')" = OK ]
[ "$(cli GET greeting)" = "hello from the container" ]
[ "$(cli CONFIG GET maxmemory | tail -1)" = 67108864 ] || { echo "extra flags not applied"; exit 1; }
[ "$(cli CONFIG GET dir | tail -1)" = /data ]
[ "$(cli SAVE)" = OK ]
buildah run --env SHOAL_PASSWORD=verify-secret "$ctr" -- /usr/local/bin/shoal-server --ping --port "$PORT" \
    || { echo "health check failed"; exit 1; }
buildah run "$ctr" -- sh -c 'ls -ln /data/dump.shoal && id -u'
# Anchored: the root-owned `buildah run` process carries the same words later in its command line.
server=$(pgrep -f "^/usr/local/bin/shoal-server /etc/shoal/shoal.conf --bind 127.0.0.1 --port $PORT")
echo "server pid $server runs as uid $(ps -o uid= -p "$server" | tr -d ' ')"
[ "$(ps -o uid= -p "$server" | tr -d ' ')" = 10001 ] || { echo "server does not run as the shoal user"; exit 1; }

step "SIGTERM"
cli SET after-save yes >/dev/null
kill -TERM "$server"
wait "$SERVER_PID" && status=0 || status=$?
grep -E "Received SIGTERM|DB saved|bye bye" "$WORK/server.log"
[ "$status" -eq 0 ] || { echo "exit status $status after SIGTERM"; exit 1; }

step "restart from /data"
run_server
[ "$(cli GET after-save)" = yes ] || { echo "snapshot not reloaded"; exit 1; }
grep "DB loaded" "$WORK/server.log"
cli SHUTDOWN NOSAVE >/dev/null 2>&1 || true
wait "$SERVER_PID" || true
SERVER_PID=""
echo "container verified"
