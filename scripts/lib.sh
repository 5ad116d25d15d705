# Shared by the README's commands: build directories and the configure+build step.
# shellcheck shell=bash
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
jobs=$(nproc 2>/dev/null || echo 2)

# build_tree DIR [cmake options...]: configure (once) and build with Ninja.
build_tree() {
  local dir=$1
  shift
  if [[ ! -f $dir/build.ninja ]]; then
    mkdir -p "$dir"
    cmake -S "$root" -B "$dir" -G Ninja "$@" >"$dir/configure.log" 2>&1 || {
      cat "$dir/configure.log" >&2
      return 1
    }
  fi
  cmake --build "$dir" -j "$jobs"
}

step() {
  printf '\n==> %s\n' "$*"
}
