#!/usr/bin/env bash
# Runs a command with lavapipe from Mesa 25.0 (Debian bookworm-backports)
# instead of the system's Mesa 22.3, without installing anything: the
# packages are unpacked under target/mesa25 and the Vulkan loader is pointed
# at them for this command only. Debian 12's llvmpipe loads every storage and
# workgroup value one lane at a time; Mesa 25's does not, so the two show how
# much of the wgpu backend's time on lavapipe is the shaders and how much the
# driver (docs/performance.md, "wgpu on lavapipe").
# Usage: scripts/with-mesa25.sh target/release/groupscale bench --backend wgpu
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)/target/mesa25
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
debs=(
    pool/main/m/mesa/mesa-vulkan-drivers_25.0.7-2~bpo12+1_amd64.deb
    pool/main/libd/libdrm/libdrm2_2.4.123-1~bpo12+1_amd64.deb
    pool/main/libd/libdrm/libdrm-amdgpu1_2.4.123-1~bpo12+1_amd64.deb
)
lib=$root/usr/lib/x86_64-linux-gnu
if [ ! -f "$root/lvp_icd.json" ]; then
    mkdir -p "$root/debs"
    for deb in "${debs[@]}"; do
        curl --fail --silent --show-error --output "$root/debs/$(basename "$deb")" "$mirror/$deb"
        dpkg-deb --extract "$root/debs/$(basename "$deb")" "$root"
    done
    # The packaged manifest names the library without a path; the loader
    # would then find the system's Mesa 22.3 instead.
    printf '{"file_format_version": "1.0.0", "ICD": {"library_path": "%s/libvulkan_lvp.so", "api_version": "1.4.305"}}\n' \
        "$lib" > "$root/lvp_icd.json"
fi
export VK_ICD_FILENAMES=$root/lvp_icd.json
export LD_LIBRARY_PATH=$lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
exec "$@"
