#!/usr/bin/env bash
# Build the registry-free sertack image (containers/sertack-debootstrap.def), or reuse it when it exists.
# The last line on stdout is the image's path; progress, build time and size go to stderr.
#
#   bash containers/build-image.sh                  # CPU TensorFlow
#   GPU=1 bash containers/build-image.sh            # + the [gpu] extra (NVIDIA CUDA/cuDNN wheels)
#
# The image is named by a content hash over the definition, pyproject.toml, the pinned versions
# (containers/constraints.txt), the sercore/ and runner/ sources and the build arguments, and kept in an image
# cache outside the checkout (SERTACK_IMAGE_DIR, default /var/cache/sertack/images), so repeated test runs
# and fresh clones on the same machine reuse it. It is built under a temporary name and renamed into place.
#
# Knobs (environment): SERTACK_IMAGE_DIR; GPU (0/1); SERTACK_DEBIAN_MIRROR (default: the bookworm archive in
# this machine's apt config, else deb.debian.org; passed as a build argument, never written to a file);
# PIP_INDEX_URL (default: pip's configured index-url, else PyPI); SERTACK_CA_BUNDLE (default: PIP_CERT or pip's
# configured cert; trusted by pip in %post, for HTTPS through a local CA); SERTACK_IMAGE_KEEP (3: older images
# in the cache beyond this many are removed, each named on stderr); APPTAINER (binary, default apptainer);
# SERTACK_SQUASHFS_ARGS (mksquashfs options, default "-comp zstd -Xcompression-level 3": several times faster
# than mksquashfs' gzip -9 and smaller; needs Linux >= 4.14 or a squashfuse with zstd on the nodes, else
# use "-comp gzip").
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
DIR=${SERTACK_IMAGE_DIR:-/var/cache/sertack/images}
GPU=${GPU:-0}
KEEP=${SERTACK_IMAGE_KEEP:-3}
SQUASH=${SERTACK_SQUASHFS_ARGS:--comp zstd -Xcompression-level 3}
APPTAINER=${APPTAINER:-apptainer}
PY=${PY:-python3}
say() { echo "build-image.sh: $*" >&2; }
die() { say "error: $*"; exit 1; }

command -v "$APPTAINER" >/dev/null || die "$APPTAINER not found (bash containers/install-apptainer.sh, or module load apptainer)"
[ "$GPU" = 0 ] || [ "$GPU" = 1 ] || die "GPU=$GPU: expected 0 or 1"

# Print the Debian archive that serves bookworm in this machine's apt config (deb822 first, then one-line lists).
debian_mirror() {
  local f uri=""
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -e "$f" ] || continue
    uri=$(awk 'BEGIN{RS="";FS="\n"} {u="";s="";t=""; for(i=1;i<=NF;i++){ if($i ~ /^URIs:/){sub(/^URIs:[ \t]*/,"",$i); u=$i} if($i ~ /^Suites:/){sub(/^Suites:[ \t]*/,"",$i); s=" "$i" "} if($i ~ /^Types:/){t=$i} } if(t ~ /deb([ \t]|$)/ && s ~ / bookworm /){split(u,a,/[ \t]+/); print a[1]; exit} }' "$f")
    [ -n "$uri" ] && break
  done
  if [ -z "$uri" ]; then
    uri=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null | sed -E 's/\[[^]]*\]//' \
          | awk '$1=="deb" && $3=="bookworm" {print $2; exit}')
  fi
  echo "${uri:-http://deb.debian.org/debian}" | sed 's:/*$::'
}
pip_config() { "$PY" -m pip config get "global.$1" 2>/dev/null || true; }

# ---- stage exactly what goes into the image; the hash is over this folder
CTX=$(mktemp -d "${TMPDIR:-/tmp}/sertack-image-ctx.XXXXXX")
trap 'rm -rf "$CTX"' EXIT
cd "$REPO"
cp containers/sertack-debootstrap.def pyproject.toml "$CTX/"
cp containers/constraints.txt "$CTX/constraints.txt"
find sercore runner -type f ! -path "*/__pycache__/*" ! -name "*.pyc" -exec cp --parents -p -t "$CTX" {} +
# pyproject names README.md as the long description: a stub, so README edits do not rebuild the image
echo "sertack: see the repository's README.md" > "$CTX/README.md"
INDEX=${PIP_INDEX_URL:-$(pip_config index-url)}
INDEX=${INDEX:-https://pypi.org/simple}
HASH=$( (cd "$CTX" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum; echo "GPU=$GPU INDEX=$INDEX") \
        | sha256sum | cut -c1-12)
NAME=sertack-$([ "$GPU" = 1 ] && echo gpu- || true)$HASH.sif
IMAGE=$DIR/$NAME

mkdir -p "$DIR"
exec 9>"$DIR/.$NAME.lock"
flock 9  # a concurrent build of the same image: wait for it, then reuse its result
if [ -s "$IMAGE" ]; then
  say "reusing $IMAGE (content hash $HASH, $(du -m "$IMAGE" | cut -f1) MB)"
  echo "$IMAGE"; exit 0
fi

CA=${SERTACK_CA_BUNDLE:-${PIP_CERT:-$(pip_config cert)}}
if [ -n "$CA" ] && [ -s "$CA" ]; then cp "$CA" "$CTX/host-ca-bundle.crt"; else : > "$CTX/host-ca-bundle.crt"; fi
MIRROR=${SERTACK_DEBIAN_MIRROR:-$(debian_mirror)}
command -v debootstrap >/dev/null || die "debootstrap not found (apt-get install debootstrap)"
fakeroot=()
[ "$(id -u)" = 0 ] || fakeroot=(--fakeroot)
TMP=$DIR/.$NAME.tmp.$$
LOG=$DIR/${NAME%.sif}.build.log
say "building $IMAGE (GPU=$GPU; log: $LOG)"
start=$SECONDS
# every log line gets the time, so the phases (debootstrap, %post's pip, %test, mksquashfs) can be timed
stamp() { while IFS= read -r line; do printf '[%(%H:%M:%S)T] %s\n' -1 "$line"; done; }
if ! (cd "$CTX" && "$APPTAINER" build "${fakeroot[@]}" --build-arg "MIRROR=$MIRROR" --build-arg "HASH=$HASH" \
        --build-arg "GPU=$GPU" --build-arg "PIP_INDEX_URL=$INDEX" --mksquashfs-args "$SQUASH" \
        "$TMP" sertack-debootstrap.def) 2>&1 | stamp >"$LOG"; then
  rm -f "$TMP"
  tail -20 "$LOG" >&2
  die "apptainer build failed (full log: $LOG)"
fi
mv -f "$TMP" "$IMAGE"
say "built $IMAGE in $((SECONDS - start)) s, $(du -m "$IMAGE" | cut -f1) MB (content hash $HASH)"
# keep the cache bounded: the newest $KEEP images stay
ls -1t "$DIR"/sertack-*.sif 2>/dev/null | tail -n +$((KEEP + 1)) | while read -r old; do
  say "removing old image $old (SERTACK_IMAGE_KEEP=$KEEP)"
  rm -f "$old" "${old%.sif}.build.log" "$DIR/.$(basename "$old").lock"
done
echo "$IMAGE"
