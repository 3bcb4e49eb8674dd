#!/usr/bin/env bash
# ctest entry (CMakeLists.txt, render_sampler_pytest): the training renderer's tests that need
# neither soundfonts nor the npm samples. Exits 77 (skipped) without a Python 3 with numpy and
# pytest (Debian: python3-numpy, python3-pytest; scripts/setup.sh installs them).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
for py in "${LM_PYTHON:-}" /usr/bin/python3 python3; do
  [ -n "$py" ] || continue
  if "$py" -c 'import numpy, pytest' >/dev/null 2>&1; then
    PYTHONDONTWRITEBYTECODE=1 exec "$py" -m pytest -q -p no:cacheprovider --rootdir "$here" "$here/test_lm_sampler.py"
  fi
done
echo "render sampler tests skipped: no python3 with numpy and pytest" >&2
exit 77
