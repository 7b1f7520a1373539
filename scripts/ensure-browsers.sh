#!/usr/bin/env bash
# npm `pretest`: make sure the browsers (and redis-server, which a store test needs) the suite runs against exist.
# Playwright cannot download its own browsers on this kind of machine, so Debian's packages are the source.
# CHROMIUM_PATH / FIREFOX_PATH point elsewhere (for example at Playwright's own builds) and are then only checked.
set -euo pipefail

chromium="${CHROMIUM_PATH:-/usr/bin/chromium}"
firefox="${FIREFOX_PATH:-/usr/bin/firefox-esr}"

missing=()
[ -x "$chromium" ] || missing+=(chromium)
[ -x "$firefox" ] || missing+=(firefox-esr)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
# WebKit (Safari's engine): WebKitGTK's WebDriver and MiniBrowser (in the same package's dependencies), run by the
# tests on an Xvfb display they start themselves. WEBKIT_DRIVER_PATH / WEBKIT_BROWSER_PATH point elsewhere.
if [ ! -x "${WEBKIT_DRIVER_PATH:-/usr/bin/WebKitWebDriver}" ] ||
  [ ! -x "${WEBKIT_BROWSER_PATH:-/usr/lib/x86_64-linux-gnu/webkit2gtk-4.1/MiniBrowser}" ]; then
  missing+=(webkit2gtk-driver)
fi
command -v Xvfb >/dev/null 2>&1 || missing+=(xvfb)

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

# An override that points nowhere is a mistake to report, not something apt can fix.
if [ -n "${CHROMIUM_PATH:-}" ] && [ ! -x "$CHROMIUM_PATH" ]; then
  echo "ensure-browsers: CHROMIUM_PATH=$CHROMIUM_PATH is not an executable" >&2
  exit 1
fi
if [ -n "${FIREFOX_PATH:-}" ] && [ ! -x "$FIREFOX_PATH" ]; then
  echo "ensure-browsers: FIREFOX_PATH=$FIREFOX_PATH is not an executable" >&2
  exit 1
fi

packages="${missing[*]}"
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "ensure-browsers: installing $packages (Debian packages)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update
  # shellcheck disable=SC2086 # one word per package
  apt-get install -y $packages
  exit 0
fi

{
  echo "ensure-browsers: missing: $packages"
  echo "Install them, then run the tests again:"
  echo "  sudo apt-get update && sudo apt-get install -y $packages"
  echo "or point the tests at browsers you have:"
  echo "  CHROMIUM_PATH=/path/to/chromium FIREFOX_PATH=/path/to/firefox npm test"
} >&2
exit 1
