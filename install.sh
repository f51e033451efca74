#!/bin/sh
# shellcheck shell=dash
# install.sh: build fwdoctor and install it with its man page and shell completions, optionally
# with an alert job (cron or systemd timer).
#
#   sudo ./install.sh                     build, install $PREFIX/bin/fwdoctor (PREFIX=/usr/local),
#                                         the man page and bash, zsh and fish completions
#   sudo ./install.sh --timer             ... plus fwdoctor.service + fwdoctor.timer, enabled
#   sudo ./install.sh --cron              ... plus /etc/cron.d/fwdoctor (mails changes to root)
#   sudo ./install.sh --uninstall         remove the binary, man page, completions, cron file, units
#   sudo ./install.sh --uninstall --timer remove only the timer and service
#
# Every step is a function; main() at the end only parses options and calls them, so a
# truncated download cannot run half a script.
set -u

PREFIX="${PREFIX:-/usr/local}"
DESTDIR="${DESTDIR:-}"
SRC_DIR=$(CDPATH='' cd -- "$(dirname -- "$0")" && pwd)
CRON_FILE=/etc/cron.d/fwdoctor
UNIT_DIR=/etc/systemd/system
STATE_DIR=/var/lib/fwdoctor

say() { printf 'install.sh: %s\n' "$*"; }
err() { printf 'install.sh: error: %s\n' "$*" >&2; exit 1; }
need_cmd() { command -v "$1" >/dev/null 2>&1 || err "need '$1' (command not found)"; }

usage() {
    cat <<'USAGE'
Usage: install.sh [OPTIONS]

Build fwdoctor (cargo build --release) and install it: $PREFIX/bin/fwdoctor, the man page
($PREFIX/share/man/man1/fwdoctor.1) and completions for bash, zsh and fish under $PREFIX/share.

Options:
  --prefix DIR      install under DIR (default: $PREFIX or /usr/local)
  --binary PATH     install this binary instead of building one
  --cron            also install /etc/cron.d/fwdoctor (hourly `fwdoctor check --cron`)
  --timer           also install and enable fwdoctor.service + fwdoctor.timer (systemd)
  --textfile DIR    with --cron/--timer: also write DIR/fwdoctor.prom for node_exporter
  --no-docs         skip the man page and the completions
  --uninstall       remove what install.sh installs (only the cron file/timer when
                    --cron/--timer are given as well); the state in /var/lib/fwdoctor stays
  -h, --help        this help

Environment: PREFIX, DESTDIR (stage into DESTDIR; systemctl is then not run).
USAGE
}

# Run a command, or say what failed.
ensure() { "$@" || err "command failed: $*"; }

# Fill @BINDIR@, @EXTRA_ARGS@ and @RW_PATHS@ in a template from contrib/.
render() {
    sed -e "s|@BINDIR@|$PREFIX/bin|g" \
        -e "s|@EXTRA_ARGS@|$EXTRA_ARGS|g" \
        -e "s|@RW_PATHS@|$RW_PATHS|g" "$SRC_DIR/contrib/$1"
}

# Write stdin to $DESTDIR$1 with mode $2, atomically.
put() {
    _dst="$DESTDIR$1"
    ensure mkdir -p "$(dirname -- "$_dst")"
    cat >"$_dst.tmp.$$" || err "cannot write $_dst"
    ensure chmod "$2" "$_dst.tmp.$$"
    ensure mv -f "$_dst.tmp.$$" "$_dst"
    say "installed $1"
}

# The --textfile directory goes verbatim into the cron line and the unit file: only a plain
# absolute path (letters, digits, / . _ -) is accepted, so it cannot add a command or a word.
valid_textfile_dir() {
    case "$1" in
        /*) ;;
        *) err "--textfile: give an absolute directory (starting with /), not '$1'" ;;
    esac
    case "$1" in
        *[!A-Za-z0-9/._-]*)
            err "--textfile: only letters, digits and / . _ - are allowed in the directory (it goes into the cron line and the systemd unit)" ;;
    esac
    case "/$1/" in
        */../*|*/./*) err "--textfile: no '.' or '..' components in the directory, please" ;;
    esac
}

have_systemd() { [ -z "$DESTDIR" ] && [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; }

build() {
    if [ -n "$BINARY" ]; then
        [ -x "$BINARY" ] || err "$BINARY is not an executable file"
        return 0
    fi
    need_cmd cargo
    say "building (cargo build --release --locked)"
    (cd "$SRC_DIR" && ensure cargo build --release --locked)
    BINARY="${CARGO_TARGET_DIR:-$SRC_DIR/target}/release/fwdoctor"
}

# The installed binary is stripped (about a sixth of the size with debug info); the build's own
# copy keeps its symbols. Without strip(1) (binutils) it is installed as built.
install_binary() {
    if command -v strip >/dev/null 2>&1; then
        _stripped="${TMPDIR:-/tmp}/fwdoctor.strip.$$"
        ensure strip -o "$_stripped" "$BINARY"
        put "$PREFIX/bin/fwdoctor" 0755 <"$_stripped"
        rm -f "$_stripped"
    else
        say "note: strip not found (binutils): installing the binary with its debug info"
        put "$PREFIX/bin/fwdoctor" 0755 <"$BINARY"
    fi
    case ":$PATH:" in
        *":$PREFIX/bin:"*) ;;
        *) say "note: $PREFIX/bin is not in PATH" ;;
    esac
}

install_cron() {
    render fwdoctor.cron | put "$CRON_FILE" 0644
    if [ -e "$DESTDIR$UNIT_DIR/fwdoctor.timer" ]; then
        say "note: fwdoctor.timer is installed too; both will run (harmless: the second run of a pair is silent)"
    fi
}

install_timer() {
    render fwdoctor.service | put "$UNIT_DIR/fwdoctor.service" 0644
    render fwdoctor.timer | put "$UNIT_DIR/fwdoctor.timer" 0644
    if have_systemd; then
        ensure systemctl daemon-reload
        ensure systemctl enable --now fwdoctor.timer
        say "enabled fwdoctor.timer: systemctl list-timers fwdoctor.timer; journalctl -u fwdoctor"
    else
        say "systemd is not running here: enable later with systemctl enable --now fwdoctor.timer"
    fi
}

# Where the man page and the completions go (the places each shell looks under a prefix).
man_file() { printf '%s\n' "$PREFIX/share/man/man1/fwdoctor.1"; }
completion_file() {
    case "$1" in
        bash) printf '%s\n' "$PREFIX/share/bash-completion/completions/fwdoctor" ;;
        zsh) printf '%s\n' "$PREFIX/share/zsh/site-functions/_fwdoctor" ;;
        fish) printf '%s\n' "$PREFIX/share/fish/vendor_completions.d/fwdoctor.fish" ;;
    esac
}

# Generate with the binary being installed, so the docs match it; a failure stops the install.
# (Into a variable first: sh has no pipefail, and a half-written page must not be installed.)
install_docs() {
    _txt=$("$BINARY" man) || err "$BINARY man failed"
    printf '%s\n' "$_txt" | put "$(man_file)" 0644
    for _sh in bash zsh fish; do
        _txt=$("$BINARY" completions "$_sh") || err "$BINARY completions $_sh failed"
        printf '%s\n' "$_txt" | put "$(completion_file "$_sh")" 0644
    done
}

uninstall_docs() {
    remove "$(man_file)"
    for _sh in bash zsh fish; do remove "$(completion_file "$_sh")"; done
}

uninstall_binary() { remove "$PREFIX/bin/fwdoctor"; }

uninstall_cron() { remove "$CRON_FILE"; }

uninstall_timer() {
    if have_systemd && [ -e "$UNIT_DIR/fwdoctor.timer" ]; then
        systemctl disable --now fwdoctor.timer >/dev/null 2>&1 || true
    fi
    remove "$UNIT_DIR/fwdoctor.timer"
    remove "$UNIT_DIR/fwdoctor.service"
    if have_systemd; then systemctl daemon-reload || true; fi
}

remove() {
    if [ -e "$DESTDIR$1" ]; then
        ensure rm -f "$DESTDIR$1"
        say "removed $1"
    fi
}

main() {
    CRON=0 TIMER=0 UNINSTALL=0 BINARY="" TEXTFILE="" DOCS=1
    while [ $# -gt 0 ]; do
        case "$1" in
            --prefix) [ $# -ge 2 ] || err "--prefix needs a directory"; PREFIX=$2; shift ;;
            --prefix=*) PREFIX=${1#--prefix=} ;;
            --binary) [ $# -ge 2 ] || err "--binary needs a path"; BINARY=$2; shift ;;
            --textfile) [ $# -ge 2 ] || err "--textfile needs a directory"; TEXTFILE=$2; shift ;;
            --cron) CRON=1 ;;
            --timer) TIMER=1 ;;
            --uninstall) UNINSTALL=1 ;;
            --no-docs) DOCS=0 ;;
            -h|--help) usage; return 0 ;;
            *) usage >&2; err "unknown option: $1" ;;
        esac
        shift
    done
    [ -z "$TEXTFILE" ] || valid_textfile_dir "$TEXTFILE"
    if [ -n "$TEXTFILE" ] && [ "$CRON" = 0 ] && [ "$TIMER" = 0 ] && [ "$UNINSTALL" = 0 ]; then
        err "--textfile DIR is written by the alert job: give --cron or --timer with it"
    fi
    EXTRA_ARGS="" RW_PATHS=""
    if [ -n "$TEXTFILE" ]; then
        EXTRA_ARGS=" --textfile $TEXTFILE"
        RW_PATHS=" -$TEXTFILE"
    fi

    if [ "$UNINSTALL" = 1 ]; then
        [ "$CRON" = 1 ] && uninstall_cron
        [ "$TIMER" = 1 ] && uninstall_timer
        if [ "$CRON" = 0 ] && [ "$TIMER" = 0 ]; then
            uninstall_cron
            uninstall_timer
            uninstall_binary
            uninstall_docs
            say "kept $STATE_DIR (the alert state); remove it by hand if you like"
        fi
        return 0
    fi

    build
    install_binary
    [ "$DOCS" = 1 ] && install_docs
    [ "$CRON" = 1 ] && install_cron
    [ "$TIMER" = 1 ] && install_timer
    if [ "$DOCS" = 1 ]; then
        say "done: sudo $PREFIX/bin/fwdoctor check; man fwdoctor"
    else
        say "done: sudo $PREFIX/bin/fwdoctor check; fwdoctor --help"
    fi
    return 0
}

main "$@" || exit 1
