#!/usr/bin/env bash
# Sets up a fresh Debian/Ubuntu machine for discern: system media tools, npm packages, build.
# Idempotent: re-running only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v ffmpeg >/dev/null 2>&1 || need_apt+=(ffmpeg)
command -v ffprobe >/dev/null 2>&1 || need_apt+=(ffmpeg)
# espeak-ng and sox make the spoken test fixtures; the server itself needs only ffmpeg.
if [ "${1:-}" = "--test" ]; then
  command -v espeak-ng >/dev/null 2>&1 || need_apt+=(espeak-ng)
  command -v sox >/dev/null 2>&1 || need_apt+=(sox)
  # The scale-out tests start their own throwaway PostgreSQL and Redis (never the system services).
  compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || need_apt+=(postgresql)
  command -v redis-server >/dev/null 2>&1 || [ -x /usr/bin/redis-server ] || need_apt+=(redis-server)
fi
if [ ${#need_apt[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "installing from apt: ${need_apt[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

# onnxruntime-node's install script would download CUDA libraries; discern runs on the CPU
# build the package already ships (package.json "allowScripts" denies the script as well).
export ONNXRUNTIME_NODE_INSTALL=skip
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm install --no-audit --no-fund
fi
npm run build --silent
node dist/server/src/main.js migrate
