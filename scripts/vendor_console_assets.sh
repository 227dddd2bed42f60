#!/usr/bin/env bash
# Reproduce src/touchflow/console/static/vendor/ from the npm registry (issue 15, ADR 0037).
# Versions are pinned here and nowhere else; the script copies only the files the console loads, each
# package's licence, and writes VENDORED.json with name, version and the sha256 of every copied file.
# Usage: scripts/vendor_console_assets.sh [scratch-dir]   (needs npm; the console itself never does)
set -euo pipefail

PACKAGES=(
  "@tabler/core@1.6.1"
  "htmx.org@2.0.11"
  "vega@6.4.0"
  "vega-lite@6.4.1"
  "vega-embed@7.3.0"
  "axe-core@4.14.1"
)

root="$(cd "$(dirname "$0")/.." && pwd)"
dest="$root/src/touchflow/console/static/vendor"
scratch="${1:-/tmp/console-assets}"
mkdir -p "$scratch"
cd "$scratch"
[ -f package.json ] || echo '{"name":"console-assets","private":true}' > package.json
npm install --no-audit --no-fund --ignore-scripts --save-exact "${PACKAGES[@]}"

rm -rf "$dest"
mkdir -p "$dest"
nm="$scratch/node_modules"

copy() {  # copy <package-dir> <file-under-package> <dest-subdir>
  mkdir -p "$dest/$3"
  cp "$nm/$1/$2" "$dest/$3/"
}

copy @tabler/core dist/css/tabler.min.css tabler/css
copy @tabler/core dist/js/tabler.min.js tabler/js
# The npm package of @tabler/core ships no LICENSE file (package.json says "MIT"); write the text of
# https://github.com/tabler/tabler/blob/main/LICENSE beside the files.
cat > "$dest/tabler/LICENSE" <<'LICENSE'
MIT License

Copyright (c) 2018-2025 codecalm.net Paweł Kuna

Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.
LICENSE
copy htmx.org dist/htmx.min.js htmx
copy htmx.org LICENSE htmx
copy vega build/vega.min.js vega
copy vega LICENSE vega
copy vega-lite build/vega-lite.min.js vega-lite
copy vega-lite LICENSE vega-lite
copy vega-embed build/vega-embed.min.js vega-embed
copy vega-embed LICENSE vega-embed
copy axe-core axe.min.js axe-core
copy axe-core LICENSE axe-core
copy axe-core LICENSE-3RD-PARTY.txt axe-core

python3 - "$dest" "$nm" "${PACKAGES[@]}" <<'PY'
import hashlib, json, pathlib, sys
dest, nm, specs = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2]), sys.argv[3:]
folders = {"@tabler/core": "tabler", "htmx.org": "htmx"}
out = []
for spec in specs:
    name, _, version = spec.rpartition("@")
    installed = json.loads((nm / name / "package.json").read_text())["version"]
    assert installed == version, (name, installed, version)
    folder = dest / folders.get(name, name)
    files = {str(p.relative_to(dest)): hashlib.sha256(p.read_bytes()).hexdigest()
             for p in sorted(folder.rglob("*")) if p.is_file()}
    out.append({"name": name, "version": version, "license_file": str((folder / "LICENSE").relative_to(dest)),
                "files": files})
(dest / "VENDORED.json").write_text(json.dumps(out, indent=2, sort_keys=True) + "\n")
PY
echo "vendored into $dest"
