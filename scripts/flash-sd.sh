#!/usr/bin/env bash
# Prepares a Raspberry Pi OS (64-bit, bookworm) image so the device installs Aide by itself on its
# first boot: for installers who set up many devices in a day. Run it on a Linux PC:
#
#   sudo scripts/flash-sd.sh --image 2024-11-19-raspios-bookworm-arm64-lite.img \
#        --release aide-0.2.0-linux-arm64.tar.gz --node-tarball node-v20.19.5-linux-arm64.tar.xz \
#        -- --timezone Europe/London --mqtt-url mqtts://mqtt.example.org:8883 --provisioning-token TOKEN
#
# then write the image to each card (Raspberry Pi Imager: "Use custom", where you can also set the
# Wi-Fi and the login user; or dd). Everything after `--` is passed to install-device.sh on the
# device. On first boot aide-firstboot.service runs the installer (logging to the journal and
# /var/log/aide-firstboot.log); it retries at every boot until it succeeds, then removes itself.
#
# --root DIR customises an already mounted (or unpacked) root file system instead of an image.
# --credentials FILE puts a device's bundle from `aide cloud devices add <id> --out FILE` into the
# image (root-only, deleted with the rest after a successful install): that card is then for that
# one device. The bundle is checked here, before the image is touched.
set -Eeuo pipefail

IMAGE=""
ROOT=""
RELEASE=""
NODE_TARBALL=""
CREDENTIALS=""
INSTALLER_ARGS=()
SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PAYLOAD=/opt/aide-firstboot

die() {
  echo "flash-sd: $1" >&2
  [ -n "${2:-}" ] && echo "  what to do: $2" >&2
  exit 1
}
trap 'die "failed at line $LINENO: $BASH_COMMAND"' ERR

while [ $# -gt 0 ]; do
  case "$1" in
  --image) IMAGE="$2"; shift 2 ;;
  --root) ROOT="$2"; shift 2 ;;
  --release) RELEASE="$2"; shift 2 ;;
  --node-tarball) NODE_TARBALL="$2"; shift 2 ;;
  --credentials) CREDENTIALS="$2"; shift 2 ;;
  --) shift; INSTALLER_ARGS=("$@"); break ;;
  -h | --help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) die "unknown option $1" "see --help" ;;
  esac
done
[ "$(id -u)" = 0 ] || die "must run as root (mounting the image)" "sudo $0 ..."
[ -n "$RELEASE" ] || die "--release is required" "a release tarball built for arm64, or an Aide folder"
[ -e "$RELEASE" ] || die "--release $RELEASE does not exist"
[ -z "$NODE_TARBALL" ] || [ -f "$NODE_TARBALL" ] || die "--node-tarball $NODE_TARBALL does not exist"
for a in "${INSTALLER_ARGS[@]}"; do
  case "$a" in
  *$'\n'*) die "installer arguments must not contain line breaks" ;;
  --credentials) die "--credentials after -- would name a file on the device, which is not there" "give --credentials FILE before --: flash-sd.sh copies the bundle into the image" ;;
  esac
done
if [ -n "$CREDENTIALS" ]; then
  # The same check as install-device.sh's, so a bad bundle is found now, not at first boot.
  CRED_FIX="give the file written by: aide cloud devices add <device id> --out FILE"
  [ -f "$CREDENTIALS" ] && [ -r "$CREDENTIALS" ] || die "cannot read the credentials bundle $CREDENTIALS" "$CRED_FIX"
  for k in AIDE_DEVICE_ID MQTT_URL AIDE_MQTT_USERNAME AIDE_MQTT_PASSWORD; do
    grep -Eq "^$k='[^']+'\$" "$CREDENTIALS" || die "the credentials bundle $CREDENTIALS has no $k='...' line" "$CRED_FIX"
  done
fi

LOOP=""
MNT=""
cleanup() {
  if [ -n "$MNT" ]; then
    umount "$MNT/boot/firmware" 2>/dev/null || true
    umount "$MNT" 2>/dev/null || true
    rmdir "$MNT" 2>/dev/null || true
  fi
  if [ -n "$LOOP" ]; then losetup -d "$LOOP" || true; fi
}
trap cleanup EXIT

if [ -n "$IMAGE" ]; then
  [ -f "$IMAGE" ] || die "--image $IMAGE does not exist" "download Raspberry Pi OS Lite (64-bit) and unpack the .img.xz"
  LOOP="$(losetup --find --show --partscan "$IMAGE")"
  [ -b "${LOOP}p2" ] || die "$IMAGE has no second partition (root file system)" "use a Raspberry Pi OS image"
  MNT="$(mktemp -d)"
  mount "${LOOP}p2" "$MNT"
  mkdir -p "$MNT/boot/firmware"
  mount "${LOOP}p1" "$MNT/boot/firmware"
  ROOT="$MNT"
fi
[ -n "$ROOT" ] || die "give --image FILE.img or --root DIR"
[ -r "$ROOT/etc/debian_version" ] || die "$ROOT is not a Debian root file system"

echo "==> copying the installer, release and settings into $ROOT$PAYLOAD"
rm -rf "${ROOT:?}$PAYLOAD"
install -d -m 0700 "$ROOT$PAYLOAD"
install -m 0755 "$SCRIPT_DIR/install-device.sh" "$ROOT$PAYLOAD/install-device.sh"
if [ -d "$RELEASE" ]; then
  # Uncompressed: node_modules is most of it and compresses slowly; the card has room.
  RELEASE_FILE=aide.tar
  tar -C "$RELEASE" --exclude=./.git --exclude=./data -cf "$ROOT$PAYLOAD/$RELEASE_FILE" .
else
  RELEASE_FILE="$(basename "$RELEASE")"
  cp "$RELEASE" "$ROOT$PAYLOAD/$RELEASE_FILE"
fi
if [ -n "$NODE_TARBALL" ]; then
  cp "$NODE_TARBALL" "$ROOT$PAYLOAD/"
  sums="$(dirname "$NODE_TARBALL")/SHASUMS256.txt"
  if [ -f "$sums" ]; then cp "$sums" "$ROOT$PAYLOAD/"; fi
  INSTALLER_ARGS=(--node-tarball "$PAYLOAD/$(basename "$NODE_TARBALL")" "${INSTALLER_ARGS[@]}")
fi
if [ -n "$CREDENTIALS" ]; then
  install -m 0600 "$CREDENTIALS" "$ROOT$PAYLOAD/device.credentials"
  INSTALLER_ARGS=(--credentials "$PAYLOAD/device.credentials" "${INSTALLER_ARGS[@]}")
  echo "==> device credentials for $(sed -n "s/^AIDE_DEVICE_ID='\(.*\)'\$/\1/p" "$CREDENTIALS") in $PAYLOAD/device.credentials (root-only)"
fi
# One argument per line (they may hold secrets: root-only, deleted after a successful install).
printf '%s\n' --source "$PAYLOAD/$RELEASE_FILE" --yes "${INSTALLER_ARGS[@]}" >"$ROOT$PAYLOAD/installer.args"
chmod 0600 "$ROOT$PAYLOAD/installer.args"

cat >"$ROOT$PAYLOAD/firstboot.sh" <<EOF
#!/bin/bash
# Runs install-device.sh with the arguments prepared by flash-sd.sh; on success removes itself.
set -uo pipefail
exec > >(tee -a /var/log/aide-firstboot.log) 2>&1
echo "aide-firstboot: \$(date -u +%FT%TZ) starting"
mapfile -t args < $PAYLOAD/installer.args
if $PAYLOAD/install-device.sh "\${args[@]}"; then
  systemctl disable aide-firstboot.service 2>/dev/null || rm -f /etc/systemd/system/multi-user.target.wants/aide-firstboot.service
  rm -rf $PAYLOAD
  echo "aide-firstboot: done"
else
  echo "aide-firstboot: the installer failed; it runs again at the next boot (journalctl -u aide-firstboot)"
  exit 1
fi
EOF
chmod 0700 "$ROOT$PAYLOAD/firstboot.sh"

cat >"$ROOT/etc/systemd/system/aide-firstboot.service" <<EOF
[Unit]
Description=Aide first-boot installation
Wants=network-online.target
After=network-online.target time-sync.target
ConditionPathExists=$PAYLOAD/firstboot.sh

[Service]
Type=oneshot
ExecStart=$PAYLOAD/firstboot.sh
TimeoutStartSec=1h
StandardOutput=journal+console

[Install]
WantedBy=multi-user.target
EOF
chmod 0644 "$ROOT/etc/systemd/system/aide-firstboot.service"
mkdir -p "$ROOT/etc/systemd/system/multi-user.target.wants"
ln -sfn /etc/systemd/system/aide-firstboot.service "$ROOT/etc/systemd/system/multi-user.target.wants/aide-firstboot.service"

echo "==> done: first boot runs install-device.sh with the ${#INSTALLER_ARGS[@]} argument(s) in $PAYLOAD/installer.args (root-only)"
if [ -n "$IMAGE" ]; then
  echo "    write $IMAGE to each card with Raspberry Pi Imager (Use custom) or:"
  echo "    sudo dd if=$IMAGE of=/dev/sdX bs=4M conv=fsync status=progress"
fi
