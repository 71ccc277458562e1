# tests/support/base-tree.sh - sourced by the flagged tests (tests/compose/run.sh,
# tests/package/run.sh): a clean Debian bookworm minbase tree made once with
# debootstrap and cached outside the repository, in $PULSE_TEST_CACHE
# (default /var/cache/pulse-test/bookworm-minbase). Making it takes about 9 minutes
# here; the tests copy it (package test) or import it (compose stand-ins), never
# change it.
PULSE_TEST_CACHE=${PULSE_TEST_CACHE:-/var/cache/pulse-test}

# Prints the tree's path, making it first when it is missing.
pulse_base_tree() {
  local tree=$PULSE_TEST_CACHE/bookworm-minbase
  if [ ! -d "$tree" ]; then
    echo "base-tree: debootstrap --variant=minbase bookworm $tree (about 9 minutes, once)" >&2
    mkdir -p "$PULSE_TEST_CACHE"
    rm -rf "$tree.tmp"
    if ! debootstrap --variant=minbase bookworm "$tree.tmp" http://deb.debian.org/debian \
        >"$PULSE_TEST_CACHE/debootstrap.log" 2>&1; then
      echo "base-tree: debootstrap failed: $PULSE_TEST_CACHE/debootstrap.log" >&2
      return 1
    fi
    mv "$tree.tmp" "$tree"
  fi
  echo "$tree"
}
