# Debian's stock kernels for the QEMU guests of scripts/kernel-matrix and scripts/guest-tests.
# Source it with $cache set; it defines:
#   debian_mirror         the machine's own Debian mirror, read from apt's configuration
#   fetch_kernel SUITE    the path of SUITE's cloud-amd64 vmlinuz, fetched and unpacked
#                         (never installed) under $cache, with its modules beside it
#   kernel_module VMLINUZ NAME DIR   copies module NAME.ko of that kernel to DIR, uncompressed
#                         (busybox insmod reads plain .ko files); false if the kernel has none

say() { echo "${0##*/}: $*" >&2; }

# The mirror is read from apt's own configuration (deb822 .sources and one-line .list files).
debian_mirror() {
  {
    for file in /etc/apt/sources.list.d/*.sources; do
      [ -f "$file" ] && awk 'BEGIN { RS = ""; FS = "\n" }
        { uris = ""; suites = ""; comps = ""
          for (i = 1; i <= NF; i++) {
            if ($i ~ /^URIs:/) uris = $i; if ($i ~ /^Suites:/) suites = $i; if ($i ~ /^Components:/) comps = $i }
          sub(/^URIs:[ \t]*/, "", uris)
          if (suites ~ /(bookworm|trixie|forky|sid|stable|testing|unstable)([ \t]|$)/ && comps ~ /main/ && uris !~ /security/)
            { split(uris, u, /[ \t]+/); print u[1] } }' "$file"
    done
    cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
      awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { if ($(i+1) !~ /security/ && $i !~ /security/) print $i; break } }'
  } | head -n 1
}

fetch_kernel() {
  local suite=$1 apt="$cache/apt/$1"
  local keyring=/usr/share/keyrings/debian-archive-keyring.gpg mirror
  mirror=$(debian_mirror || true)
  [ -n "$mirror" ] || { say "no Debian mirror found in /etc/apt/sources.list or /etc/apt/sources.list.d"; return 1; }
  mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial" "$cache/debs" "$cache/kernels"
  echo "deb [signed-by=$keyring] $mirror $suite main" >"$apt/sources.list"
  local options=(-o "Dir::Etc::SourceList=$apt/sources.list" -o Dir::Etc::SourceParts=/nonexistent
                 -o "Dir::State::Lists=$apt/lists" -o "Dir::Cache=$apt/cache" -o Dir::State::status=/dev/null
                 -o Debug::NoLocking=1 -o APT::Sandbox::User=root)
  if [ -z "$(find "$apt/lists" -name '*Packages*' -mmin -1440 2>/dev/null)" ]; then
    apt-get "${options[@]}" update -qq >&2
  fi
  local package
  package=$(apt-cache "${options[@]}" depends linux-image-cloud-amd64 2>/dev/null |
            awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
  [ -n "$package" ] || { say "$suite: no linux-image-cloud-amd64 in $mirror"; return 1; }
  # Newer kernels split the image: the vmlinuz is in linux-binary-VERSION, the modules in
  # linux-modules-VERSION.
  local packages=("$package") part
  for part in $(apt-cache "${options[@]}" depends "$package" 2>/dev/null | awk '/Depends: linux-(binary|modules)-/ { print $2 }'); do
    packages+=("$part")
    packages+=($(apt-cache "${options[@]}" depends "$part" 2>/dev/null | awk '/Depends: linux-modules-/ { print $2 }'))
  done
  packages=($(printf '%s\n' "${packages[@]}" | awk '!seen[$0]++'))
  local unpacked="$cache/kernels/$package"
  if [ -z "$(find "$unpacked" \( -name 'vmlinuz-*' -o -name vmlinuz \) -type f 2>/dev/null | head -n 1)" ] ||
     [ -z "$(find "$unpacked" -path '*/modules/*' -name 'dummy.ko*' 2>/dev/null | head -n 1)" ]; then
    (cd "$cache/debs" && apt-get "${options[@]}" download "${packages[@]}" >&2)
    rm -rf "$unpacked" "$unpacked.partial"
    for each in "${packages[@]}"; do
      dpkg-deb -x "$cache/debs/${each}_"*.deb "$unpacked.partial"
    done
    mv "$unpacked.partial" "$unpacked"
  fi
  local vmlinuz
  vmlinuz=$(find "$unpacked" \( -name 'vmlinuz-*' -o -name vmlinuz \) -type f | head -n 1)
  [ -n "$vmlinuz" ] || { say "$suite: no vmlinuz in ${packages[*]}"; return 1; }
  echo "$vmlinuz"
}

kernel_module() {
  local vmlinuz=$1 name=$2 directory=$3 module
  module=$(find "$(dirname "$(dirname "$vmlinuz")")" -name "$name.ko" -o -name "$name.ko.xz" -o -name "$name.ko.zst" | head -n 1)
  mkdir -p "$directory"
  case "$module" in
    *.xz) xz -dc "$module" >"$directory/$name.ko" ;;
    *.zst) zstd -qdc "$module" >"$directory/$name.ko" ;;
    ?*) cp "$module" "$directory/$name.ko" ;;
    *) return 1 ;;
  esac
}
