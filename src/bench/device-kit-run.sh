#!/usr/bin/env bash
# coca-webgpu device kit: benchmarks and profiles CoCa ViT-B/32 and ViT-L/14 (weights generated in place)
# on this machine's GPU through Dawn's Vulkan backend, and writes everything to one JSON file.
#
#   ./run.sh [--out FILE] [--allow-lavapipe] [--quick] [--config NAME[,NAME]] [--config-file open_clip_config.json]
#
# --out             where the JSON goes (default: result.json next to this script)
# --allow-lavapipe  measure Mesa's CPU driver when no GPU driver is found (never done silently)
# --quick           fewer runs; with --config-file, a small model: a check that the kit works
# Needs only bash, coreutils and xz (or python3): Node, Dawn and a Vulkan loader come with the kit.
# VK_DRIVER_FILES / VK_ICD_FILENAMES, if set, choose the Vulkan driver instead of the search below.
set -euo pipefail

kit="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="$kit/result.json"
allow_software=0
forward=()
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out="$2"; shift 2 ;;
    --allow-lavapipe) allow_software=1; shift ;;
    -h | --help) sed -n '2,12p' "$0"; exit 0 ;;
    *) forward+=("$1"); shift ;;
  esac
done

die() {
  echo "run.sh: $*" >&2
  exit 1
}

# Node: the kit's own binary, unpacked once.
node="$kit/.unpacked/node"
if [ ! -x "$node" ]; then
  mkdir -p "$kit/.unpacked"
  if command -v xz > /dev/null; then
    xz -dc "$kit/node.xz" > "$node.partial"
  elif command -v python3 > /dev/null; then
    python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' "$kit/node.xz" "$node.partial"
  else
    die "cannot unpack node.xz: install xz-utils (or python3)"
  fi
  chmod +x "$node.partial"
  mv "$node.partial" "$node"
fi

# The Vulkan driver: every GPU driver manifest (ICD) found, NVIDIA's container location first; Mesa's
# CPU driver (lavapipe) only with --allow-lavapipe. Dawn then prefers a discrete GPU among them.
is_software() { grep -qiE 'lvp|lavapipe|llvmpipe|swiftshader' <<< "$(basename "$1") $(cat "$1" 2> /dev/null)"; }
if [ -n "${VK_DRIVER_FILES:-${VK_ICD_FILENAMES:-}}" ]; then
  export COCA_KIT_ICD_CHOICE="set by the caller"
else
  gpu_icds=()
  cpu_icds=()
  for dir in /usr/local/nvidia/share/vulkan/icd.d /usr/local/nvidia/etc/vulkan/icd.d /etc/vulkan/icd.d \
    /usr/local/etc/vulkan/icd.d /usr/local/share/vulkan/icd.d /usr/share/vulkan/icd.d; do
    for icd in "$dir"/*.json; do
      [ -f "$icd" ] || continue
      if is_software "$icd"; then cpu_icds+=("$icd"); else gpu_icds+=("$icd"); fi
    done
  done
  chosen=("${gpu_icds[@]+"${gpu_icds[@]}"}")
  if [ "$allow_software" = 1 ]; then chosen+=("${cpu_icds[@]+"${cpu_icds[@]}"}"); fi
  if [ "${#chosen[@]}" = 0 ]; then
    die "no Vulkan GPU driver found (no ICD manifest in /usr/local/nvidia/share/vulkan/icd.d, /etc/vulkan/icd.d, /usr/share/vulkan/icd.d, ...). Install the GPU's Vulkan driver (NVIDIA: the driver's nvidia_icd.json and libGLX_nvidia), set VK_DRIVER_FILES, or pass --allow-lavapipe to measure the CPU software driver."
  fi
  VK_DRIVER_FILES="$(IFS=:; echo "${chosen[*]}")"
  export VK_DRIVER_FILES VK_ICD_FILENAMES="$VK_DRIVER_FILES"
  export COCA_KIT_ICD_CHOICE="run.sh search$([ "$allow_software" = 1 ] && echo ', lavapipe allowed')"
fi
for lib in /usr/local/nvidia/lib64 /usr/local/nvidia/lib; do
  [ -d "$lib" ] && export LD_LIBRARY_PATH="$lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
done

# The Vulkan loader: the system's if it has one, else the kit's.
has_system_loader() {
  [[ "$(ldconfig -p 2> /dev/null)" == *"libvulkan.so.1 "* ]] && return 0
  for lib in /usr/lib/x86_64-linux-gnu /lib/x86_64-linux-gnu /usr/lib64 /usr/lib; do
    [ -e "$lib/libvulkan.so.1" ] && return 0
  done
  return 1
}
if has_system_loader; then
  export COCA_KIT_LOADER=system
else
  export COCA_KIT_LOADER=kit LD_LIBRARY_PATH="$kit/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi

export COCA_SHADERS_DIR="$kit/shaders" COCA_DAWN_FLAGS="${COCA_DAWN_FLAGS:-backend=vulkan}"
flags=()
if [ "$allow_software" = 1 ]; then flags+=(--allow-software); fi
exec "$node" "$kit/coca-bench.mjs" --out "$out" ${flags[@]+"${flags[@]}"} ${forward[@]+"${forward[@]}"}
