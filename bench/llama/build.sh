#!/usr/bin/env bash
# Build llama.cpp with its CUDA backend (sm_90, cudart/cuBLAS linked dynamically, so that
# LD_LIBRARY_PATH can swap in vgpu's libraries). Works offline.
#
#   bench/llama/build.sh [SRC_DIR] [BUILD_DIR]
#
# SRC_DIR   default .cache/llama/src. If it holds no CMakeLists.txt it is created from
#           .cache/llama-src/llama.cpp-*.tar.gz (the trimmed tree fetch.sh makes; what is
#           carried to the GPU machine) or else by cloning .cache/llama/gitRelease.bundle.
# BUILD_DIR default .cache/llama/build; the programs land in BUILD_DIR/bin.
#
# Environment:
#   JOBS            parallel build jobs (default: nproc)
#   CUDA_ARCH       CMAKE_CUDA_ARCHITECTURES (default 90)
#   TARGETS         what to build (default: llama-bench test-backend-ops llama-quantize
#                   llama-simple llama-server)
#   CONFIGURE_ONLY  1: stop after the CMake configure step
#   REBUILD         1: configure and build even when BUILD_DIR/bin holds every target already
#                   (by default such a build is reused as it is: a GPU machine that still has
#                   it saves the ~4 minutes)
#   EXTRA_CMAKE_ARGS  appended to the configure command (word-split)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
SRC="${1:-$ROOT/.cache/llama/src}"
BUILD="${2:-$ROOT/.cache/llama/build}"
JOBS="${JOBS:-$(nproc)}"
CUDA_ARCH="${CUDA_ARCH:-90}"
read -r -a TARGET_LIST <<< "${TARGETS:-llama-bench test-backend-ops llama-quantize llama-simple llama-server}"
read -r -a EXTRA <<< "${EXTRA_CMAKE_ARGS:-}"

log() { printf '[build] %s\n' "$*" >&2; }
die() { printf '[build] ERROR: %s\n' "$*" >&2; exit 1; }
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

t_start="$(now)"

# 0. Reuse a finished build (every target there and the configure cache says CUDA).
if [[ "${REBUILD:-0}" != 1 && "${CONFIGURE_ONLY:-0}" != 1 ]] \
    && grep -qs '^GGML_CUDA:BOOL=ON' "$BUILD/CMakeCache.txt"; then
    have=1
    for t in "${TARGET_LIST[@]}"; do [[ -x "$BUILD/bin/$t" ]] || have=0; done
    if (( have )); then
        log "already built in $BUILD/bin: ${TARGET_LIST[*]} (REBUILD=1 builds again)"
        echo "BUILD_TIME_SECONDS=0"
        exit 0
    fi
fi

# 1. Source tree. A tree unpacked from an older tarball without the server is unpacked
# again (a git clone is left alone: it has everything).
if [[ -f "$SRC/.vgpu-llama-commit" && ! -f "$SRC/tools/server/CMakeLists.txt" ]]; then
    log "$SRC has no tools/server (an older trimmed tarball): unpacking again"
    rm -rf "$SRC"
fi
if [[ ! -f "$SRC/CMakeLists.txt" ]]; then
    tarball=""
    for f in "$ROOT"/.cache/llama-src/llama.cpp-*.tar.gz; do
        if [[ -s "$f" ]]; then tarball="$f"; break; fi
    done
    bundle="$ROOT/.cache/llama/gitRelease.bundle"
    if [[ -n "$tarball" ]]; then
        log "unpacking $tarball -> $SRC"
        rm -rf "$SRC.part"
        mkdir -p "$SRC.part"
        tar -xzf "$tarball" -C "$SRC.part" --strip-components=1
        if [[ -f "$ROOT/.cache/llama-src/COMMIT" ]]; then
            cp "$ROOT/.cache/llama-src/COMMIT" "$SRC.part/.vgpu-llama-commit"
        fi
        rm -rf "$SRC"
        mv "$SRC.part" "$SRC"
    elif [[ -s "$bundle" ]]; then
        log "cloning $bundle -> $SRC"
        rm -rf "$SRC"
        git -c advice.detachedHead=false clone -q "$bundle" "$SRC"
    else
        die "no llama.cpp source: $SRC is empty and neither .cache/llama-src/llama.cpp-*.tar.gz nor $bundle exists (run bench/llama/fetch.sh on a machine with network)"
    fi
fi
SRC="$(cd "$SRC" && pwd)"
commit=""
if [[ -f "$SRC/.vgpu-llama-commit" ]]; then
    commit="$(cat "$SRC/.vgpu-llama-commit")"
elif [[ -e "$SRC/.git" ]]; then
    commit="$(git -C "$SRC" rev-parse HEAD)"
fi
log "source: $SRC${commit:+ (commit $commit)}"

# 2. Toolchain.
if ! command -v nvcc >/dev/null; then
    for d in /usr/local/cuda/bin /usr/local/cuda-13/bin /opt/cuda/bin; do
        if [[ -x "$d/nvcc" ]]; then export PATH="$d:$PATH"; break; fi
    done
fi
command -v nvcc >/dev/null || die "nvcc not found (PATH or /usr/local/cuda/bin)"
command -v cmake >/dev/null || die "cmake not found"
generator=("-G" "Unix Makefiles")
command -v ninja >/dev/null && generator=("-G" "Ninja")
log "nvcc: $(nvcc --version | tail -n1); cmake: $(cmake --version | head -n1); ${generator[1]}; $JOBS jobs"

# 3. Configure.
mkdir -p "$BUILD"
BUILD="$(cd "$BUILD" && pwd)"
cfg=(
    -S "$SRC" -B "$BUILD" "${generator[@]}"
    -DCMAKE_BUILD_TYPE=Release
    -DGGML_CUDA=ON
    -DCMAKE_CUDA_ARCHITECTURES="$CUDA_ARCH"
    -DGGML_NATIVE=OFF
    -DGGML_CUDA_NCCL=OFF
    -DGGML_CCACHE=OFF
    -DLLAMA_CURL=OFF
    -DLLAMA_OPENSSL=OFF
    -DLLAMA_BUILD_SERVER=ON
    -DLLAMA_BUILD_UI=OFF
    -DLLAMA_USE_PREBUILT_UI=OFF
    -DLLAMA_BUILD_APP=OFF
    -DLLAMA_BUILD_TESTS=ON
    -DLLAMA_BUILD_TOOLS=ON
    -DLLAMA_BUILD_EXAMPLES=ON
)
if [[ -n "$commit" && ! -e "$SRC/.git" ]]; then
    cfg+=(-DLLAMA_BUILD_COMMIT="${commit:0:7}" -DLLAMA_BUILD_NUMBER=0)
fi
cfg+=("${EXTRA[@]}")
t0="$(now)"
log "cmake ${cfg[*]}"
cmake "${cfg[@]}" > "$BUILD/configure.log" 2>&1 || { tail -n 40 "$BUILD/configure.log" >&2; die "configure failed (log: $BUILD/configure.log)"; }
t_cfg="$(secs "$t0" "$(now)")"
grep -q '^GGML_CUDA:BOOL=ON' "$BUILD/CMakeCache.txt" || die "GGML_CUDA is not ON in $BUILD/CMakeCache.txt"
log "configure: ${t_cfg}s (log: $BUILD/configure.log)"
if [[ "${CONFIGURE_ONLY:-0}" == 1 ]]; then
    log "CONFIGURE_ONLY=1: not building"
    exit 0
fi

# 4. Build.
t0="$(now)"
log "building ${TARGET_LIST[*]} ..."
if ! cmake --build "$BUILD" -j "$JOBS" --target "${TARGET_LIST[@]}" > "$BUILD/build.log" 2>&1; then
    grep -E -B2 -A8 'error|Error' "$BUILD/build.log" | tail -n 60 >&2 || tail -n 60 "$BUILD/build.log" >&2
    die "build failed (log: $BUILD/build.log)"
fi
t_build="$(secs "$t0" "$(now)")"
for t in "${TARGET_LIST[@]}"; do
    [[ -x "$BUILD/bin/$t" ]] || die "target $t built but $BUILD/bin/$t is missing"
done

# 5. Check that the CUDA libraries are dynamic dependencies (what vgpu replaces).
cuda_so=""
for f in "$BUILD"/bin/libggml-cuda.so "$BUILD"/bin/libggml-cuda.so*; do
    if [[ -e "$f" ]]; then cuda_so="$f"; break; fi
done
if [[ -z "$cuda_so" ]]; then
    die "no libggml-cuda.so in $BUILD/bin (was GGML_CUDA built as a shared library?)"
fi
needed="$(objdump -p "$cuda_so" 2>/dev/null | awk '/NEEDED/ { print $2 }' | tr '\n' ' ' || true)"
log "$(basename "$cuda_so") needs: ${needed:-?}"
for lib in libcudart.so libcublas.so libcuda.so; do
    [[ -z "$needed" || "$needed" == *"$lib"* ]] || die "$cuda_so does not need $lib dynamically"
done

log "built in $BUILD/bin: ${TARGET_LIST[*]}"
log "time: configure ${t_cfg}s, build ${t_build}s, total $(secs "$t_start" "$(now)")s"
echo "BUILD_TIME_SECONDS=$(secs "$t_start" "$(now)")"
