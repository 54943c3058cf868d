#!/usr/bin/env bash
# Makes sure the system packages the tests need exist:
#  - a Vulkan driver Dawn accepts: Mesa lavapipe 25 (bookworm-backports mesa-vulkan-drivers);
#  - Debian's chromium (browser tests; it also ships the SwiftShader Vulkan driver).
# As root it installs what is missing with apt; otherwise it stops and names the missing package.
set -euo pipefail

need_mesa=0
need_chromium=0
lvp_icd=$(ls /usr/share/vulkan/icd.d/lvp_icd*.json 2>/dev/null | head -n1 || true)
if [ -z "$lvp_icd" ]; then
  need_mesa=1
else
  mesa_ver=$(dpkg-query -W -f='${Version}' mesa-vulkan-drivers 2>/dev/null || echo 0)
  case "$mesa_ver" in 2[5-9].*|[3-9][0-9].*) ;; *) need_mesa=1 ;; esac
fi
[ -x /usr/bin/chromium ] || need_chromium=1
[ -f /usr/lib/chromium/vk_swiftshader_icd.json ] || need_chromium=1

if [ "$need_mesa" = 0 ] && [ "$need_chromium" = 0 ]; then
  exit 0
fi

missing=()
[ "$need_mesa" = 1 ] && missing+=("mesa-vulkan-drivers (version 25+, from bookworm-backports)")
[ "$need_chromium" = 1 ] && missing+=("chromium")

if [ "$(id -u)" != 0 ]; then
  echo "coca-webgpu tests need these system packages, which are missing:" >&2
  for m in "${missing[@]}"; do echo "  - $m" >&2; done
  echo "Run 'npm test' as root to install them with apt, or install them yourself:" >&2
  echo "  add bookworm-backports to apt sources, then" >&2
  echo "  apt-get install -t bookworm-backports mesa-vulkan-drivers && apt-get install chromium" >&2
  exit 1
fi

echo "Installing system packages: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
if [ "$need_mesa" = 1 ] && ! grep -rqs "bookworm-backports" /etc/apt/sources.list /etc/apt/sources.list.d/; then
  # Same URIs and keyring as the main Debian source.
  src=/etc/apt/sources.list.d/debian.sources
  uris="http://deb.debian.org/debian"
  keyring="/usr/share/keyrings/debian-archive-keyring.gpg"
  if [ -f "$src" ]; then
    u=$(awk '/^URIs:/{print $2; exit}' "$src"); [ -n "$u" ] && uris="$u"
    k=$(awk '/^Signed-By:/{print $2; exit}' "$src"); [ -n "$k" ] && keyring="$k"
  fi
  printf 'Types: deb\nURIs: %s\nSuites: bookworm-backports\nComponents: main\nSigned-By: %s\n' "$uris" "$keyring" \
    > /etc/apt/sources.list.d/bookworm-backports.sources
fi
apt-get update -qq
if [ "$need_mesa" = 1 ]; then
  apt-get install -y -qq -t bookworm-backports mesa-vulkan-drivers libvulkan1 >/dev/null
fi
if [ "$need_chromium" = 1 ]; then
  apt-get install -y -qq chromium >/dev/null
fi
echo "System packages installed." >&2
