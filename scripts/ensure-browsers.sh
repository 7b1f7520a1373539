#!/usr/bin/env bash
# npm `pretest`: make sure the browsers the suite runs against exist and are new enough, and that redis-server (which
# a store test needs) exists. Playwright cannot download its own browsers on this kind of machine, so Debian's
# packages are the source: as root with apt-get, a missing package is installed and an outdated browser upgraded;
# otherwise the script stops with the command to run. CHROMIUM_PATH / FIREFOX_PATH point elsewhere (for example at
# Playwright's own builds) and are then only checked, never installed over.
#
# The oldest versions the suite passes on (README, "Supported browsers"): keep the two in step.
set -euo pipefail

MIN_CHROMIUM=150
MIN_FIREFOX=153

chromium="${CHROMIUM_PATH:-/usr/bin/chromium}"
firefox="${FIREFOX_PATH:-/usr/bin/firefox-esr}"

# Major version from `--version` ("Chromium 156.0.8078.108 built on Debian…", "Mozilla Firefox 153.7.0esr"); empty
# when the binary cannot say. Debian's chromium wrapper prints a harmless "[: unexpected operator" on stderr.
major() {
  { "$1" --version 2>/dev/null || true; } | grep -oE '[0-9]+\.[0-9.]+' | head -n 1 | cut -d. -f1
}

# Prints why a browser is not usable (nothing when it is): missing, or older than the minimum.
check() {
  local path=$1 min=$2 v
  if [ ! -x "$path" ]; then
    echo "missing"
    return
  fi
  v=$(major "$path" || true)
  if [ -z "$v" ]; then
    echo "unknown version (\`$path --version\` printed none)"
  elif [ "$v" -lt "$min" ]; then
    echo "version $v is older than the $min the suite needs"
  fi
}

problems() {
  chromium_problem=$(check "$chromium" "$MIN_CHROMIUM")
  firefox_problem=$(check "$firefox" "$MIN_FIREFOX")
}
problems

install=()
upgrade=()
notes=()
# An override is the user's own browser: report it, apt cannot fix it.
overrides=()
consider() { # <package> <path> <problem> <override variable>
  [ -n "$3" ] || return 0
  if [ -n "${!4:-}" ]; then overrides+=("$4=$2: $3")
  elif [ "$3" = missing ]; then install+=("$1"); notes+=("$1: missing")
  else upgrade+=("$1"); notes+=("$1 ($2): $3"); fi
}
consider chromium "$chromium" "$chromium_problem" CHROMIUM_PATH
consider firefox-esr "$firefox" "$firefox_problem" FIREFOX_PATH
if ! command -v redis-server >/dev/null 2>&1; then install+=(redis-server); notes+=("redis-server: missing"); fi
# WebKit (Safari's engine): WebKitGTK's WebDriver and MiniBrowser (in the same package's dependencies), run by the
# tests on an Xvfb display they start themselves. WEBKIT_DRIVER_PATH / WEBKIT_BROWSER_PATH point elsewhere.
if [ ! -x "${WEBKIT_DRIVER_PATH:-/usr/bin/WebKitWebDriver}" ] ||
  [ ! -x "${WEBKIT_BROWSER_PATH:-/usr/lib/x86_64-linux-gnu/webkit2gtk-4.1/MiniBrowser}" ]; then
  install+=(webkit2gtk-driver); notes+=("webkit2gtk-driver: missing")
fi
if ! command -v Xvfb >/dev/null 2>&1; then install+=(xvfb); notes+=("xvfb: missing"); fi
# The WebKit launcher with a persistent profile (scripts/webkit-launcher.py): WebKitGTK's GObject API from Python.
if ! /usr/bin/python3 -c "import gi; gi.require_version('WebKit2', '4.1'); from gi.repository import WebKit2" \
  >/dev/null 2>&1; then
  install+=(python3-gi gir1.2-webkit2-4.1); notes+=("python3-gi / gir1.2-webkit2-4.1: missing")
fi

need="The suite needs Chromium >= $MIN_CHROMIUM and Firefox >= $MIN_FIREFOX"

if [ ${#overrides[@]} -gt 0 ]; then
  for o in "${overrides[@]}"; do echo "ensure-browsers: $o" >&2; done
  echo "$need: point the variable at a newer browser." >&2
  exit 1
fi

if [ ${#notes[@]} -eq 0 ]; then
  exit 0
fi
for n in "${notes[@]}"; do echo "ensure-browsers: $n" >&2; done

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "ensure-browsers: ${install[*]:+installing ${install[*]}  }${upgrade[*]:+upgrading ${upgrade[*]}  }(Debian's packages)" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update
  if [ ${#install[@]} -gt 0 ]; then apt-get install -y "${install[@]}"; fi
  if [ ${#upgrade[@]} -gt 0 ]; then apt-get install -y --only-upgrade "${upgrade[@]}"; fi
  # An upgrade reaches only what the configured repositories offer: check again.
  problems
  if [ -z "$chromium_problem$firefox_problem" ]; then
    exit 0
  fi
  if [ -n "$chromium_problem" ]; then echo "ensure-browsers: after apt-get, $chromium: $chromium_problem" >&2; fi
  if [ -n "$firefox_problem" ]; then echo "ensure-browsers: after apt-get, $firefox: $firefox_problem" >&2; fi
  {
    echo "$need. Debian's security repository (<release>-security) carries newer builds;"
    echo "or point CHROMIUM_PATH / FIREFOX_PATH at newer browsers."
  } >&2
  exit 1
fi

{
  echo "$need. Install or upgrade, then run the tests again:"
  echo "  sudo apt-get update"
  if [ ${#install[@]} -gt 0 ]; then echo "  sudo apt-get install -y ${install[*]}"; fi
  if [ ${#upgrade[@]} -gt 0 ]; then echo "  sudo apt-get install -y --only-upgrade ${upgrade[*]}"; fi
  echo "or point the tests at browsers you have:"
  echo "  CHROMIUM_PATH=/path/to/chromium FIREFOX_PATH=/path/to/firefox npm test"
} >&2
exit 1
