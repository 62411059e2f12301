#!/usr/bin/env bash
# The system libraries MuJoCo renders evaluation videos with, headless: EGL (libglvnd's loader, Mesa's EGL and its
# software rasterizer, the OpenGL dispatch library PyOpenGL opens) and OSMesa, the fallback. Installs those missing
# with apt-get when run as root, else names them; one dpkg-query and done when nothing is missing.
set -euo pipefail
PACKAGES=(libegl1 libegl-mesa0 libgl1-mesa-dri libopengl0 libosmesa6)
if ! command -v dpkg-query >/dev/null; then
  echo "note: no dpkg here; evaluation videos need EGL or OSMesa (MUJOCO_GL=egl or osmesa)" >&2
  exit 0
fi
missing=()
for package in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
  echo "warning: evaluation videos need ${missing[*]}: sudo apt-get install ${missing[*]}" >&2
  exit 0
fi
echo "installing ${missing[*]} (headless rendering for evaluation videos)"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
