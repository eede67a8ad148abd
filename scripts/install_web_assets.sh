#!/usr/bin/env bash
# Install Leaflet and the map plugins, and Swagger UI and ReDoc for the API's /docs and /redoc,
# from the npm registry into geo_enforce/web/static/vendor/ (gitignored, served by the API at
# /static/vendor/; the map's files are inlined by the offline map export).
# The page never fetches from the internet: folium's CDN URLs are rewritten to these files.
# Idempotent: a stamp naming the pinned versions skips the work when nothing changed.
set -euo pipefail
cd "$(dirname "$0")/.."

DEST=geo_enforce/web/static/vendor
PKGS=(
  leaflet@1.9.4
  leaflet.vectorgrid@1.3.0
  leaflet-side-by-side@2.2.0
  leaflet.fullscreen@3.0.2
  leaflet.locatecontrol@0.79.0
  proj4@2.12.1
  swagger-ui-dist@5.35.0
  redoc@2.5.4
)
stamp="$DEST/.installed-$(printf '%s\n' "${PKGS[@]}" | sha256sum | cut -c1-16)"
if [ -f "$stamp" ]; then
  exit 0
fi
command -v npm >/dev/null || { echo "install_web_assets: npm is required (apt-get install npm)" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "install_web_assets: fetching ${PKGS[*]}"
(cd "$work" && npm pack --silent "${PKGS[@]}" >/dev/null)
unpack() { # unpack <name@version> <folder>: npm pack names the tarball <name>-<version>.tgz
  mkdir -p "$work/$2"
  tar xzf "$work/${1/@/-}.tgz" -C "$work/$2" --strip-components=1
}
unpack "${PKGS[0]}" leaflet
unpack "${PKGS[1]}" vectorgrid
unpack "${PKGS[2]}" sidebyside
unpack "${PKGS[3]}" fullscreen
unpack "${PKGS[4]}" locate
unpack "${PKGS[5]}" proj4
unpack "${PKGS[6]}" swagger-ui
unpack "${PKGS[7]}" redoc

rm -rf "$DEST.tmp"
mkdir -p "$DEST.tmp"/{leaflet/images,vectorgrid,sidebyside,fullscreen,locate,proj4,swagger-ui,redoc}
cp "$work"/leaflet/dist/leaflet.js "$work"/leaflet/dist/leaflet.css "$DEST.tmp/leaflet/"
cp "$work"/leaflet/dist/images/*.png "$DEST.tmp/leaflet/images/"
cp "$work"/vectorgrid/dist/Leaflet.VectorGrid.bundled.min.js "$DEST.tmp/vectorgrid/"
cp "$work"/fullscreen/Control.FullScreen.js "$work"/fullscreen/Control.FullScreen.css \
  "$work"/fullscreen/icon-fullscreen.svg "$DEST.tmp/fullscreen/"
cp "$work"/locate/dist/L.Control.Locate.min.js "$work"/locate/dist/L.Control.Locate.min.css \
  "$DEST.tmp/locate/"
cp "$work"/proj4/dist/proj4.js "$DEST.tmp/proj4/"
cp "$work"/swagger-ui/swagger-ui-bundle.js "$work"/swagger-ui/swagger-ui.css \
  "$work"/swagger-ui/favicon-32x32.png "$DEST.tmp/swagger-ui/"
cp "$work"/redoc/bundles/redoc.standalone.js "$DEST.tmp/redoc/"
# leaflet-side-by-side ships only its CommonJS source: wrap it for the browser's global L.
# (Its range.css points at an image the package does not contain; the thumb is styled in
# geo_enforce/webmap/static/geoenforce.css instead.)
{
  echo "(function () {"
  sed -e "s/^var L = require('leaflet')/var L = window.L/" \
      -e "/^require('.\/.*\.css')/d" \
      -e "s/^module.exports = .*$//" "$work"/sidebyside/index.js
  echo "})();"
} > "$DEST.tmp/sidebyside/leaflet-side-by-side.js"
cp "$work"/sidebyside/layout.css "$DEST.tmp/sidebyside/"
for lic in leaflet/LICENSE vectorgrid/LICENSE sidebyside/LICENSE fullscreen/LICENSE \
  locate/LICENSE proj4/LICENSE.md swagger-ui/LICENSE swagger-ui/NOTICE redoc/LICENSE; do
  [ -f "$work/$lic" ] && cp "$work/$lic" "$DEST.tmp/${lic%%/*}/" || true
done

rm -rf "$DEST"
mv "$DEST.tmp" "$DEST"
touch "$stamp"
echo "install_web_assets: installed into $DEST"
