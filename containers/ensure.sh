#!/usr/bin/env bash
# What `make test` runs before pytest for the container tests: install apptainer if it can
# (install-apptainer.sh), then build or reuse the image (build-image.sh). Prints the image path on stdout
# when there is one (make exports it as SERTACK_TEST_IMAGE), nothing otherwise; messages go to stderr.
# Outside CI a failure only means the container tests skip with the reason; with CI=true it fails (exit 1).
# SERTACK_SKIP_CONTAINER=1 skips all of this.
set -uo pipefail
export PATH="$PATH:/usr/local/bin"
HERE=$(cd "$(dirname "$0")" && pwd)
in_ci() { [ "${CI:-}" = true ] || [ "${CI:-}" = 1 ]; }

bash "$HERE/install-apptainer.sh" >&2 || exit 1
[ "${SERTACK_SKIP_CONTAINER:-0}" = 1 ] && exit 0
command -v apptainer >/dev/null || exit 0
if ! image=$(bash "$HERE/build-image.sh"); then
  in_ci && { echo "containers/ensure.sh: error: CI=true but the image could not be built" >&2; exit 1; }
  echo "containers/ensure.sh: the image could not be built; container tests will be skipped" >&2
  exit 0
fi
echo "$image"
