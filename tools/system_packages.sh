#!/usr/bin/env bash
# Debian packages the pictures and their tests need, installed only when missing:
# off-screen OpenGL through EGL (libegl1, libgl1-mesa-dri) and headless Chromium for the
# browser test of the HTML page. Run by `make test` (and so by .ci/run). Without root or
# sudo it says what is missing and carries on: those tests then skip with the reason.
set -euo pipefail
need=()
ldconfig -p | grep -q 'libEGL\.so\.1' || need+=(libegl1)
dpkg -s libgl1-mesa-dri >/dev/null 2>&1 || need+=(libgl1-mesa-dri)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
((${#need[@]})) || exit 0
if [ "$(id -u)" -eq 0 ]; then
    sudo=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    sudo=(sudo -n)
else
    echo "system_packages: missing ${need[*]} and no root: apt-get install ${need[*]}" >&2
    exit 0
fi
echo "system_packages: installing ${need[*]}"
"${sudo[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends \
    "${need[@]}" >/dev/null
