# Debian packages for scripts/run.sh and scripts/test.sh (sourced by both from the repository root; needs PYTHON
# and VENV set).

# True when $VENV does not exist yet and $PYTHON cannot make it: Debian's python3 without its venv module
# (a fresh Debian or Ubuntu machine), which the python3-venv package adds.
needs_python3_venv() {
  [ ! -x "$VENV/bin/python" ] && ! "$PYTHON" -c "import ensurepip" >/dev/null 2>&1
}

# need_debian_packages PKG...: install the packages with apt-get when run as root; otherwise print the one-line
# hint (the apt-get command to run) and exit 1.
need_debian_packages() {
  [ "$#" -gt 0 ] || return 0
  if [ "$(id -u)" = 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
  else
    echo "scripts/${0##*/}: these Debian packages are needed: sudo apt-get install $*" >&2
    exit 1
  fi
}
