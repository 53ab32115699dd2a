# Installs, when missing, what building and testing Shoal needs on Debian. Sourced by run.sh and test.sh.

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

apt_install() {
    local missing=()
    for package in "$@"; do
        dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        echo "Installing: ${missing[*]}"
        as_root apt-get update -qq
        DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
}

install_build_deps() {
    command -v swift >/dev/null || { echo "swift is required (Swift 6 toolchain, https://swift.org/install)"; exit 1; }
    # Lua 5.1 with the cjson and bit libraries: the scripting engine (EVAL, FUNCTION).
    apt_install liblz4-dev pkg-config liblua5.1-0-dev lua-cjson-dev lua-bitop-dev
}

install_test_deps() {
    install_build_deps
    # The real peers: redis-cli, redis-benchmark, redis-server (reference), and redis-py.
    apt_install redis-tools redis-server python3-pip netcat-openbsd lz4 nutcracker
    # ip (a non-loopback source address for the protected-mode test), prlimit (the full-disk test).
    apt_install iproute2 util-linux
    # promtool checks the /metrics exposition; a real Prometheus scrapes it in a test.
    apt_install prometheus
    # Django: its own Redis cache backend is a real transactional client (set_many pipelines MULTI/EXEC).
    python3 -c 'import redis, pytest, django' 2>/dev/null \
        || python3 -m pip install -q --disable-pip-version-check redis pytest django \
        || python3 -m pip install -q --break-system-packages redis pytest django
}
