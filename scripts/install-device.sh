#!/usr/bin/env bash
# Aide device installer: takes a fresh Debian / Raspberry Pi OS (bookworm, arm64 or x86_64) to a
# running, syncing assistant. Safe to re-run: every step checks before it changes anything, and a
# re-run with no flags keeps the settings already in /etc/aide/aide.env.
#
#   sudo scripts/install-device.sh [options]        (scripts/install-device.sh --help for the list)
#
# Node.js: Aide needs Node >= 20.19; bookworm's own nodejs is 18, so the installer uses, in order:
# a Node already on PATH if new enough; --node-tarball (an official nodejs.org linux tarball you
# brought, checked against SHASUMS256.txt beside it when present); otherwise NodeSource's Node 20
# apt repository (needs internet).
set -Eeuo pipefail

PREFIX=/opt/aide
ETC_DIR=/etc/aide
STATE_DIR=/var/lib/aide
UNIT_DIR=/etc/systemd/system
BIN_LINK=/usr/local/bin/aide
AIDE_USER=aide
NODE_MIN_MAJOR=20
NODE_MIN_MINOR=19
APT_PACKAGES=(alsa-utils espeak-ng flite pocketsphinx pocketsphinx-en-us sox sqlite3 ca-certificates curl xz-utils systemd)
UNITS_TO_ENABLE=(aide-device.service aide-backup.timer aide-update-check.timer)

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SOURCE="$(dirname "$SCRIPT_DIR")"
NODE_TARBALL=""
ASSUME_YES=0
SKIP_MODELS=0
SKIP_SELFTEST=0
NO_START=0
CREDENTIALS=""
CREDENTIALS_CA=""
declare -A SET=() # settings given as flags, by variable name

usage() {
  cat <<'EOF'
Usage: sudo install-device.sh [options]

  --source DIR|FILE.tar.gz   Aide release to install (default: the checkout holding this script)
  --node-tarball FILE        official Node.js >= 20.19 linux tarball, used when Node is missing or old
  --timezone TZ              e.g. Europe/London (default: the system's)
  --locale LOCALE            e.g. en-GB (default en-GB)
  --credentials FILE         the device's credentials bundle from `aide cloud devices add <id> --out FILE`
                             (device id, broker URL, user, password, API URL, broker CA); flags below win
  --mqtt-url URL             cloud broker, e.g. mqtts://mqtt.example.org:8883 (empty: offline only)
  --mqtt-username USER       per-device MQTT user name
  --mqtt-password PASS       per-device MQTT password
  --mqtt-ca-file FILE        CA certificate of the broker
  --cloud-api-url URL        caregiver API, for the pairing code a caregiver types in (e.g. https://care.example.org)
  --provisioning-token TOK   one-time token for cloud provisioning (instead of user/password)
  --llm-base-url URL         OpenAI-compatible endpoint for hard questions (empty: offline answers only)
  --llm-model NAME           model name at that endpoint
  --llm-api-key KEY          API key for that endpoint
  --console-host ADDR        console listen address (default 0.0.0.0: reachable on the home network)
  --console-port N           console port (default 8080)
  --yes                      never prompt; keep existing or default values
  --skip-models              do not fetch or verify speech models
  --skip-selftest            do not speak, record or wait for the agent at the end
  --no-start                 install and enable the units but do not start them now
EOF
}

# ---------------------------------------------------------------- error reporting
STEP="starting"
FIX="re-run the installer; it continues where it stopped"
WARNINGS=()
step() {
  STEP="$1"
  FIX="${2:-re-run the installer; it continues where it stopped}"
  printf '\n==> %s\n' "$STEP"
}
note() { printf '    %s\n' "$*"; }
warn() {
  printf '    WARNING: %s\n' "$*"
  WARNINGS+=("$*")
}
die() {
  printf '\ninstall-device: FAILED at step "%s"\n  %s\n  what to do: %s\n' "$STEP" "$1" "${2:-$FIX}" >&2
  exit 1
}
on_error() {
  local code=$? line=$1 cmd=$2
  printf '\ninstall-device: FAILED at step "%s" (exit %s, line %s: %s)\n  what to do: %s\n' \
    "$STEP" "$code" "$line" "$cmd" "$FIX" >&2
  exit "$code"
}
trap 'on_error $LINENO "$BASH_COMMAND"' ERR

# ---------------------------------------------------------------- flags
while [ $# -gt 0 ]; do
  opt="$1"
  case "$opt" in
  -h | --help) usage; exit 0 ;;
  --yes | --non-interactive) ASSUME_YES=1; shift; continue ;;
  --skip-models) SKIP_MODELS=1; shift; continue ;;
  --skip-selftest) SKIP_SELFTEST=1; shift; continue ;;
  --no-start) NO_START=1; shift; continue ;;
  esac
  [ $# -ge 2 ] || { usage >&2; die "option $opt needs a value" "see --help"; }
  val="$2"
  case "$opt" in
  --source) SOURCE="$val" ;;
  --node-tarball) NODE_TARBALL="$val" ;;
  --credentials) CREDENTIALS="$val" ;;
  --timezone) SET[AIDE_TIMEZONE]="$val" ;;
  --locale) SET[AIDE_LOCALE]="$val" ;;
  --mqtt-url) SET[MQTT_URL]="$val" ;;
  --mqtt-username) SET[AIDE_MQTT_USERNAME]="$val" ;;
  --mqtt-password) SET[AIDE_MQTT_PASSWORD]="$val" ;;
  --mqtt-ca-file) SET[AIDE_MQTT_CA_FILE]="$val" ;;
  --cloud-api-url) SET[AIDE_CLOUD_API_URL]="$val" ;;
  --provisioning-token) SET[AIDE_PROVISIONING_TOKEN]="$val" ;;
  --llm-base-url) SET[LLM_BASE_URL]="$val" ;;
  --llm-model) SET[LLM_MODEL]="$val" ;;
  --llm-api-key) SET[LLM_API_KEY]="$val" ;;
  --console-host) SET[AIDE_HOST]="$val" ;;
  --console-port) SET[AIDE_PORT]="$val" ;;
  *) usage >&2; die "unknown option $opt" "see --help" ;;
  esac
  shift 2
done

interactive() { [ "$ASSUME_YES" = 0 ] && [ -t 0 ]; }

# ---------------------------------------------------------------- credentials bundle
# Read before anything changes: a bad bundle stops the installer here. Values given as flags win.
if [ -n "$CREDENTIALS" ]; then
  STEP="reading the credentials bundle $CREDENTIALS"
  CRED_FIX="give the file written by: aide cloud devices add <device id> --out FILE"
  [ -f "$CREDENTIALS" ] && [ -r "$CREDENTIALS" ] || die "cannot read the credentials bundle $CREDENTIALS" "$CRED_FIX"
  while IFS= read -r line || [ -n "$line" ]; do
    if [[ "$line" =~ ^(AIDE_DEVICE_ID|MQTT_URL|AIDE_MQTT_USERNAME|AIDE_MQTT_PASSWORD|AIDE_CLOUD_API_URL)=\'([^\']*)\'$ ]]; then
      [ -n "${SET[${BASH_REMATCH[1]}]+x}" ] || SET[${BASH_REMATCH[1]}]="${BASH_REMATCH[2]}"
    fi
  done <"$CREDENTIALS"
  for k in AIDE_DEVICE_ID MQTT_URL AIDE_MQTT_USERNAME AIDE_MQTT_PASSWORD; do
    [ -n "${SET[$k]:-}" ] || die "the credentials bundle $CREDENTIALS has no $k='...' line" "$CRED_FIX"
  done
  CREDENTIALS_CA="$(sed -n '/^-----BEGIN CERTIFICATE-----$/,/^-----END CERTIFICATE-----$/p' "$CREDENTIALS")"
fi

# ---------------------------------------------------------------- 1. platform
step "checking the platform" "install on Debian 12 (bookworm) or Raspberry Pi OS (64-bit)"
[ "$(id -u)" = 0 ] || die "must run as root" "sudo $0 $*"
[ -r /etc/debian_version ] || die "this is not a Debian-family system (no /etc/debian_version)"
ARCH="$(uname -m)"
case "$ARCH" in
aarch64 | arm64) NODE_ARCH=arm64 ;;
x86_64 | amd64) NODE_ARCH=x64 ;;
armv7l | armv6l) die "32-bit ARM ($ARCH) is not supported" "flash the 64-bit Raspberry Pi OS image (arm64) and run this again" ;;
*) die "unsupported CPU architecture $ARCH" "use an arm64 or x86_64 machine" ;;
esac
. /etc/os-release
note "${PRETTY_NAME:-Debian} on $ARCH"
IN_CHROOT=0
if [ -r /proc/1/root ] && [ "$(stat -Lc %d:%i /)" != "$(stat -Lc %d:%i /proc/1/root/. 2>/dev/null || echo x)" ]; then IN_CHROOT=1; fi
SYSTEMD_RUNNING=0
if [ -d /run/systemd/system ] && [ "$IN_CHROOT" = 0 ]; then SYSTEMD_RUNNING=1; fi

# ---------------------------------------------------------------- 2. packages
step "installing Debian packages (audio, speech fallbacks)" "check the internet connection and /etc/apt/sources.list, then re-run"
# Reminders need a correct clock: add systemd-timesyncd unless another NTP client is there (apt would
# remove chrony or ntp to install it).
has_ntp=0
for p in chrony ntp ntpsec openntpd systemd-timesyncd; do
  if dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then has_ntp=1; fi
done
[ "$has_ntp" = 1 ] || APT_PACKAGES+=(systemd-timesyncd)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  note "all ${#APT_PACKAGES[@]} packages already installed"
else
  export DEBIAN_FRONTEND=noninteractive
  # Refresh package lists only when they are missing or older than a day.
  if [ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*_Packages*' -mmin -1440 2>/dev/null | head -1)" ]; then
    apt-get update -q
  fi
  note "installing: ${missing[*]}"
  apt-get install -y -q --no-install-recommends "${missing[@]}" >/tmp/aide-apt.log 2>&1 ||
    die "apt-get install failed (log: /tmp/aide-apt.log): $(tail -3 /tmp/aide-apt.log | tr '\n' ' ')"
fi

# ---------------------------------------------------------------- 3. Node.js
step "checking Node.js (>= $NODE_MIN_MAJOR.$NODE_MIN_MINOR)" "install Node.js 20 (--node-tarball FILE from nodejs.org, or internet for NodeSource)"
node_ok() {
  command -v node >/dev/null 2>&1 || return 1
  local v major minor
  v="$(node -v 2>/dev/null)" || return 1
  v="${v#v}"; major="${v%%.*}"; minor="${v#*.}"; minor="${minor%%.*}"
  [ "$major" -gt "$NODE_MIN_MAJOR" ] || { [ "$major" -eq "$NODE_MIN_MAJOR" ] && [ "$minor" -ge "$NODE_MIN_MINOR" ]; }
}
if node_ok; then
  note "node $(node -v) at $(command -v node)"
elif [ -n "$NODE_TARBALL" ]; then
  [ -f "$NODE_TARBALL" ] || die "--node-tarball $NODE_TARBALL does not exist"
  name="$(basename "$NODE_TARBALL")"
  case "$name" in node-v*-linux-"$NODE_ARCH".tar.*) ;; *) die "--node-tarball must be node-vX.Y.Z-linux-$NODE_ARCH.tar.gz or .tar.xz for this $ARCH machine, got $name" ;; esac
  sums="$(dirname "$NODE_TARBALL")/SHASUMS256.txt"
  if [ -f "$sums" ]; then
    want="$(awk -v n="$name" '$2 == n { print $1 }' "$sums")"
    [ -n "$want" ] || die "$name is not listed in $sums"
    got="$(sha256sum "$NODE_TARBALL" | cut -d' ' -f1)"
    [ "$want" = "$got" ] || die "$name has sha256 $got but SHASUMS256.txt says $want" "download the tarball again"
    note "sha256 matches SHASUMS256.txt"
  else
    warn "no SHASUMS256.txt beside $name: checksum not verified"
  fi
  dir="${name%.tar.*}"
  mkdir -p "$PREFIX"
  rm -rf "$PREFIX/$dir.partial"
  mkdir "$PREFIX/$dir.partial"
  tar -xf "$NODE_TARBALL" -C "$PREFIX/$dir.partial" --strip-components=1
  rm -rf "${PREFIX:?}/$dir"
  mv "$PREFIX/$dir.partial" "$PREFIX/$dir"
  ln -sfn "$dir" "$PREFIX/node"
  for b in node npm npx; do
    if [ -e "$PREFIX/node/bin/$b" ]; then ln -sfn "$PREFIX/node/bin/$b" "/usr/local/bin/$b"; fi
  done
  hash -r
  node_ok || die "the Node in $name is older than $NODE_MIN_MAJOR.$NODE_MIN_MINOR or does not run on this machine"
  note "installed node $(node -v) from $name into $PREFIX/$dir"
else
  note "Node missing or too old (bookworm ships 18); adding NodeSource's Node 20 repository"
  FIX="no internet? bring the official tarball: --node-tarball node-v20.x.y-linux-$NODE_ARCH.tar.xz (with its SHASUMS256.txt)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends gnupg ca-certificates curl >/dev/null
  install -d -m 0755 /etc/apt/keyrings
  curl -fsSL https://deb.nodesource.com/gpgkey/nodesource-repo.gpg.key | gpg --dearmor --yes -o /etc/apt/keyrings/nodesource.gpg
  echo "deb [signed-by=/etc/apt/keyrings/nodesource.gpg] https://deb.nodesource.com/node_20.x nodistro main" \
    >/etc/apt/sources.list.d/nodesource.list
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q nodejs
  hash -r
  node_ok || die "NodeSource installed node $(node -v 2>/dev/null || echo none), still too old"
fi

# ---------------------------------------------------------------- 4. user
step "creating the aide system user" "check /etc/passwd and /etc/group are writable"
if id -u "$AIDE_USER" >/dev/null 2>&1; then
  note "user $AIDE_USER exists"
else
  useradd --system --user-group --home-dir "$STATE_DIR" --no-create-home --shell /usr/sbin/nologin \
    --comment "Aide voice assistant" "$AIDE_USER"
  note "created user $AIDE_USER"
fi
id -nG "$AIDE_USER" | tr ' ' '\n' | grep -qx audio || { usermod -a -G audio "$AIDE_USER"; note "added $AIDE_USER to the audio group"; }

# ---------------------------------------------------------------- 5. release
step "installing Aide into $PREFIX" "pass --source with an Aide release folder or tarball built for this CPU"
STAGE=""
cleanup_stage() { [ -n "$STAGE" ] && rm -rf "$STAGE"; return 0; }
trap cleanup_stage EXIT
mkdir -p "$PREFIX/releases"
chmod 0755 "$PREFIX" "$PREFIX/releases"
if [ -f "$SOURCE" ]; then
  STAGE="$(mktemp -d "$PREFIX/releases/.staging-XXXXXX")"
  tar -xf "$SOURCE" -C "$STAGE"
  if [ ! -f "$STAGE/package.json" ] && [ "$(ls -A "$STAGE" | wc -l)" = 1 ]; then SRC_DIR="$STAGE/$(ls -A "$STAGE")"; else SRC_DIR="$STAGE"; fi
  FINGERPRINT="tarball $(sha256sum "$SOURCE" | cut -d' ' -f1)"
elif [ -d "$SOURCE" ]; then
  SRC_DIR="$(cd "$SOURCE" && pwd)"
  # Same files, sizes and times (plus the lockfile for node_modules) = same release.
  FINGERPRINT="dir $(cd "$SRC_DIR" && find . \( -path ./node_modules -o -path ./.git -o -path ./data \) -prune -o -type f -printf '%P %s %T@\n' | LC_ALL=C sort | sha256sum | cut -d' ' -f1)"
else
  die "--source $SOURCE does not exist"
fi
[ -f "$SRC_DIR/package.json" ] && [ -f "$SRC_DIR/bin/aide.js" ] || die "$SOURCE is not an Aide release (no package.json and bin/aide.js)"
VERSION="$(node -p "require('$SRC_DIR/package.json').version")"
[[ "$VERSION" =~ ^[0-9]+\.[0-9]+\.[0-9]+([-+][0-9A-Za-z.-]+)?$ ]] || die "package.json version must look like 1.2.3, got $VERSION"
REL="$PREFIX/releases/$VERSION"
if [ -f "$REL/.aide-fingerprint" ] && [ "$(cat "$REL/.aide-fingerprint")" = "$FINGERPRINT" ]; then
  note "release $VERSION already installed, unchanged"
  RELEASE_CHANGED=0
else
  NEW="$PREFIX/releases/.new-$VERSION"
  rm -rf "$NEW"
  if [ -n "$STAGE" ]; then
    mv "$SRC_DIR" "$NEW" # unpacked from the tarball already, on the same file system
  else
    mkdir "$NEW"
    (cd "$SRC_DIR" && tar --exclude=./.git --exclude=./data --exclude=./node_modules/.cache -cf - .) | tar -xf - -C "$NEW"
  fi
  if [ ! -d "$NEW/node_modules" ]; then
    command -v npm >/dev/null || die "the release has no node_modules and npm is not installed" "use a release tarball that includes node_modules"
    note "installing production dependencies (npm ci --omit=dev)"
    (cd "$NEW" && npm ci --omit=dev --no-audit --no-fund)
  fi
  chown -R root:root "$NEW"
  chmod -R u+rwX,go+rX,go-w "$NEW"
  chmod 0755 "$NEW/bin/aide.js"
  (cd "$NEW" && node -e "require('better-sqlite3')(':memory:').close()") 2>/tmp/aide-native.log ||
    die "the release's native modules do not load on this machine: $(head -2 /tmp/aide-native.log | tr '\n' ' ')" \
      "build the release on $NODE_ARCH with the same Node major version (npm ci --omit=dev), or run npm rebuild in it"
  echo "$FINGERPRINT" >"$NEW/.aide-fingerprint"
  if [ -d "$REL" ]; then mv "$REL" "$PREFIX/releases/.old-$VERSION-$$"; fi
  mv "$NEW" "$REL"
  rm -rf "$PREFIX/releases/.old-$VERSION-$$"
  note "installed release $VERSION in $REL"
  RELEASE_CHANGED=1
fi
cleanup_stage
STAGE=""
# ---------------------------------------------------------------- 6. data folder
step "preparing $STATE_DIR (data and keys, owner only)"
for d in "$STATE_DIR" "$STATE_DIR/keys" "$STATE_DIR/backups" "$STATE_DIR/models"; do
  install -d -o "$AIDE_USER" -g "$AIDE_USER" -m 0700 "$d"
done
# Repair ownership after a restore or a run of aide as root (files only; keeps modes).
find "$STATE_DIR" \( ! -user "$AIDE_USER" -o ! -group "$AIDE_USER" \) -exec chown "$AIDE_USER:$AIDE_USER" {} +
note "$(stat -c '%A %U:%G %n' "$STATE_DIR")"

# ---------------------------------------------------------------- 7. settings
step "writing $ETC_DIR/aide.env" "fix the value named above and re-run (or edit $ETC_DIR/aide.env)"
install -d -o root -g "$AIDE_USER" -m 0750 "$ETC_DIR"
declare -A CUR=()
ORDER=()
if [ -f "$ETC_DIR/aide.env" ]; then
  while IFS= read -r line || [ -n "$line" ]; do
    [[ "$line" =~ ^([A-Z][A-Z0-9_]*)=(.*)$ ]] || continue
    k="${BASH_REMATCH[1]}"; v="${BASH_REMATCH[2]}"
    if [[ "$v" =~ ^\'(.*)\'$ ]]; then v="${BASH_REMATCH[1]}"; fi
    CUR[$k]="$v"; ORDER+=("$k")
  done <"$ETC_DIR/aide.env"
fi
system_tz() {
  if [ -r /etc/timezone ]; then head -1 /etc/timezone; elif [ -L /etc/localtime ]; then readlink /etc/localtime | sed 's|.*/zoneinfo/||'; else echo UTC; fi
}
# setting NAME DEFAULT PROMPT [secret]: flag > existing value > prompt > default.
setting() {
  local k="$1" def="$2" prompt="$3" secret="${4:-}" v
  if [ -n "${SET[$k]+x}" ]; then v="${SET[$k]}"
  elif [ -n "${CUR[$k]+x}" ]; then v="${CUR[$k]}"
  elif interactive && [ -n "$prompt" ]; then
    if [ -n "$secret" ]; then read -r -s -p "    $prompt: " v; echo; else read -r -p "    $prompt [$def]: " v; fi
    v="${v:-$def}"
  else v="$def"; fi
  case "$v" in *"'"* | *$'\n'*) die "$k must not contain a single quote or a line break" ;; esac
  CUR[$k]="$v"
  [[ " ${ORDER[*]} " == *" $k "* ]] || ORDER+=("$k")
}
setting AIDE_TIMEZONE "$(system_tz)" "Time zone of the person (e.g. Europe/London)"
setting AIDE_LOCALE en-GB "Language and region (e.g. en-GB)"
setting AIDE_HOST 0.0.0.0 ""
setting AIDE_PORT 8080 ""
# The console shows health records: browsers on the home network must present this secret.
setting AIDE_CONSOLE_TOKEN "$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')" ""
setting AIDE_AUDIO_CAPTURE true ""
setting AIDE_MODELS_DIR "$STATE_DIR/models" ""
# The broker CA from the credentials bundle goes beside the settings (readable by the agent only).
if [ -n "$CREDENTIALS_CA" ] && [ -z "${SET[AIDE_MQTT_CA_FILE]+x}" ]; then
  printf '%s\n' "$CREDENTIALS_CA" >"$ETC_DIR/broker-ca.crt.tmp"
  chown root:"$AIDE_USER" "$ETC_DIR/broker-ca.crt.tmp"
  chmod 0640 "$ETC_DIR/broker-ca.crt.tmp"
  mv -f "$ETC_DIR/broker-ca.crt.tmp" "$ETC_DIR/broker-ca.crt"
  SET[AIDE_MQTT_CA_FILE]="$ETC_DIR/broker-ca.crt"
  note "broker CA from the credentials bundle: $ETC_DIR/broker-ca.crt"
fi
setting MQTT_URL "" "Cloud MQTT URL (empty: offline only)"
if [ -n "${CUR[MQTT_URL]}" ]; then
  setting AIDE_MQTT_USERNAME "" "MQTT user name of this device (empty: use a provisioning token)"
  if [ -n "${CUR[AIDE_MQTT_USERNAME]}" ]; then setting AIDE_MQTT_PASSWORD "" "MQTT password" secret
  else setting AIDE_PROVISIONING_TOKEN "" "Provisioning token" secret; fi
fi
for k in AIDE_DEVICE_ID AIDE_MQTT_CA_FILE AIDE_CLOUD_API_URL AIDE_PROVISIONING_TOKEN LLM_BASE_URL LLM_MODEL LLM_API_KEY; do
  if [ -n "${SET[$k]+x}" ]; then setting "$k" "" ""; fi
done
if [ -z "${CUR[LLM_BASE_URL]+x}" ]; then setting LLM_BASE_URL "" "OpenAI-compatible LLM URL for hard questions (empty: offline answers only)"; fi
if [ -n "${CUR[LLM_BASE_URL]}" ] && [ -z "${CUR[LLM_API_KEY]+x}" ]; then setting LLM_API_KEY "" "LLM API key" secret; fi
{
  echo "# Aide device settings, written by install-device.sh (re-runs keep these values)."
  echo "# Every variable: aide config device. Apply changes: sudo systemctl restart aide-device"
  for k in "${ORDER[@]}"; do
    if [ -n "${CUR[$k]}" ]; then printf "%s='%s'\n" "$k" "${CUR[$k]}"; fi
  done
} >"$ETC_DIR/aide.env.tmp"
chown root:"$AIDE_USER" "$ETC_DIR/aide.env.tmp"
chmod 0640 "$ETC_DIR/aide.env.tmp"
# The agent validates its settings at start (exit 78 on a bad value); check them now with the new
# release's own schema, before they or the release go live.
if ! (set -a && . "$ETC_DIR/aide.env.tmp" && cd "$REL" && AIDE_DATA_DIR="$STATE_DIR" node --import tsx --input-type=module \
  -e "const m = await import('./device/config.ts'); try { m.loadDeviceConfig(); } catch (e) { console.error(e.message); process.exit(78); }"); then
  rm -f "$ETC_DIR/aide.env.tmp"
  die "these settings are invalid (listed above); nothing was changed" "re-run with a corrected flag, or edit $ETC_DIR/aide.env"
fi
if cmp -s "$ETC_DIR/aide.env.tmp" "$ETC_DIR/aide.env"; then
  rm -f "$ETC_DIR/aide.env.tmp"
  note "settings unchanged and valid"
  SETTINGS_CHANGED=0
else
  mv -f "$ETC_DIR/aide.env.tmp" "$ETC_DIR/aide.env"
  note "settings valid, written (mode 0640 root:$AIDE_USER)"
  SETTINGS_CHANGED=1
fi
if [ "$(readlink "$PREFIX/current" 2>/dev/null)" != "releases/$VERSION" ]; then
  ln -sfn "releases/$VERSION" "$PREFIX/.current.tmp"
  mv -Tf "$PREFIX/.current.tmp" "$PREFIX/current"
  note "$PREFIX/current -> releases/$VERSION"
  RELEASE_CHANGED=1
fi
cat >"$BIN_LINK.tmp" <<EOF
#!/bin/sh
# Installed by install-device.sh: runs the current Aide release with the device settings.
# Commands that touch the store run as the $AIDE_USER user so its files never become root's.
set -a
[ -r $ETC_DIR/aide.env ] && . $ETC_DIR/aide.env
set +a
export AIDE_DATA_DIR="\${AIDE_DATA_DIR:-$STATE_DIR}"
if [ "\$(id -u)" = 0 ] && id -u $AIDE_USER >/dev/null 2>&1; then
  case "\${1:-}" in
  update | doctor | "" | -h | --help) ;;
  *) cd "\$AIDE_DATA_DIR" 2>/dev/null || cd /
     exec runuser -u $AIDE_USER -- $PREFIX/current/bin/aide.js "\$@" ;;
  esac
fi
exec $PREFIX/current/bin/aide.js "\$@"
EOF
chmod 0755 "$BIN_LINK.tmp"
mv -f "$BIN_LINK.tmp" "$BIN_LINK"

# ---------------------------------------------------------------- 8. store
step "migrating the device store" "see the error above; the previous data is untouched (migrations are transactional)"
out="$("$BIN_LINK" migrate device)"
note "$out"

# ---------------------------------------------------------------- 9. models
step "fetching and verifying speech models" "run 'sudo aide models fetch' when the device is online"
if [ "$SKIP_MODELS" = 1 ]; then
  note "skipped (--skip-models)"
elif ! "$BIN_LINK" --help 2>/dev/null | grep -qE '^ +models'; then
  warn "this release has no 'aide models' command yet: speech uses the Debian engines (espeak-ng, flite, pocketsphinx)"
else
  if ! "$BIN_LINK" models fetch; then
    warn "model download failed (offline?): speech falls back to the Debian engines until 'sudo aide models fetch' succeeds"
  fi
  "$BIN_LINK" models verify || die "installed models failed verification (checksum mismatch or missing files)" "sudo aide models fetch, then sudo aide models verify"
fi

# ---------------------------------------------------------------- 10. units
step "installing systemd units" "check the unit files with: systemd-analyze verify $UNIT_DIR/aide-device.service"
units_changed=0
for f in "$PREFIX/current/systemd/"*.service "$PREFIX/current/systemd/"*.timer; do
  dest="$UNIT_DIR/$(basename "$f")"
  if ! cmp -s "$f" "$dest"; then install -m 0644 "$f" "$dest"; units_changed=1; note "installed $dest"; fi
done
[ "$units_changed" = 1 ] || note "units unchanged"
if [ "$SYSTEMD_RUNNING" = 0 ]; then
  why="systemd is not running here"
  [ "$IN_CHROOT" = 1 ] && why="running in a chroot (image build or test): systemd is not PID 1"
  note "$why: units installed but NOT started; enabling them for the next boot"
  systemctl enable "${UNITS_TO_ENABLE[@]}" 2>&1 | sed 's/^/    /'
  note "after boot: sudo systemctl start aide-device (or reboot), then: aide status"
else
  systemctl daemon-reload
  systemctl enable "${UNITS_TO_ENABLE[@]}" --quiet
  if [ "$NO_START" = 1 ]; then
    note "enabled, not started (--no-start)"
  else
    FIX="see: journalctl -u aide-device -n 50 --no-pager; fix it and re-run (the unit was stopped)"
    if systemctl is-active --quiet aide-device.service && [ "$RELEASE_CHANGED$SETTINGS_CHANGED$units_changed" = 000 ]; then
      note "aide-device already running, nothing changed"
    elif ! systemctl restart aide-device.service; then
      # Never leave a half-configured agent restart-looping.
      systemctl stop aide-device.service || true
      die "aide-device did not become ready: $(systemctl status aide-device --no-pager -n 5 2>&1 | tail -5 | tr '\n' ' ')"
    fi
    systemctl start aide-backup.timer aide-update-check.timer
    note "aide-device is $(systemctl is-active aide-device.service)"
  fi
fi

# ---------------------------------------------------------------- 11. self-test
step "self-test" "run: aide doctor"
PORT="${CUR[AIDE_PORT]}"
IP="$( (hostname -I 2>/dev/null || true) | awk '{print $1}')"
rm -f "$STATE_DIR/pairing-code" # written by earlier installers: a local code the cloud never knew
# The pairing code comes from the caregiver API (the device signs in with its MQTT credentials).
if [ -n "${CUR[AIDE_CLOUD_API_URL]:-}" ] && [ -n "${CUR[AIDE_MQTT_USERNAME]:-}" ]; then
  if PAIRING="$("$BIN_LINK" pair 2>&1)"; then :; else
    warn "could not get a pairing code: $PAIRING"
    PAIRING="not available yet; once the cloud is reachable run: aide pair"
  fi
else
  PAIRING="none: this device is offline-only. To link it to a caregiver, set MQTT_URL, AIDE_MQTT_USERNAME, AIDE_MQTT_PASSWORD and AIDE_CLOUD_API_URL in $ETC_DIR/aide.env, then run: aide pair"
fi
if [ "$SKIP_SELFTEST" = 1 ]; then
  note "skipped (--skip-selftest)"
else
  if aplay -l 2>/dev/null | grep -q '^card '; then
    if runuser -u "$AIDE_USER" -- sh -c "espeak-ng -v '${CUR[AIDE_LOCALE]%%-*}' 'Hello. I am Aide, your health assistant. I am installed and ready.' --stdout | aplay -q"; then
      note "spoke a test sentence: did you hear it?"
    else warn "could not play the test sentence (aide doctor shows the audio setup)"; fi
  else
    warn "no speaker found (aplay -l lists no card): connect one, then run: aide doctor"
  fi
  if arecord -l 2>/dev/null | grep -q '^card '; then
    t="$(runuser -u "$AIDE_USER" -- mktemp)"
    if runuser -u "$AIDE_USER" -- arecord -q -d 1 -f S16_LE -r 16000 -c 1 "$t" && [ "$(stat -c %s "$t")" -gt 16000 ]; then
      note "recorded one second from the microphone ($(stat -c %s "$t") bytes)"
    else warn "could not record from the microphone (aide doctor shows the audio setup)"; fi
    rm -f "$t"
  else
    warn "no microphone found (arecord -l lists no card): connect one, then run: aide doctor"
  fi
  if [ "$SYSTEMD_RUNNING" = 1 ] && [ "$NO_START" = 0 ]; then
    if curl -fsS --retry 10 --retry-delay 2 --retry-all-errors "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1; then
      note "agent ready: $(curl -fsS "http://127.0.0.1:$PORT/readyz")"
    else warn "agent not answering /readyz on port $PORT: journalctl -u aide-device -n 50"; fi
  fi
fi

printf '\nAide %s is installed.\n' "$VERSION"
printf '  console:      http://%s:%s/?token=%s\n' "${IP:-<this device>}" "$PORT" "${CUR[AIDE_CONSOLE_TOKEN]}"
printf '  pairing:      %s\n' "$PAIRING"
printf '  settings:     %s/aide.env    data: %s    checks: aide doctor\n' "$ETC_DIR" "$STATE_DIR"
if [ ${#WARNINGS[@]} -gt 0 ]; then
  printf '  %s warning(s):\n' "${#WARNINGS[@]}"
  for w in "${WARNINGS[@]}"; do printf '   - %s\n' "$w"; done
fi
