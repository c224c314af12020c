#!/usr/bin/env bash
# make install and uninstall: the programs, man pages that lint clean and
# name every option, bash completion, the contrib files; PREFIX, DESTDIR,
# BINDIR and MANDIR honoured.
source "$(dirname "$0")/lib.sh"
e2e_init
command -v groff >/dev/null || { echo "missing test tool: groff (groff-base, see .ci/run)" >&2; exit 1; }

# install_to NAME ARGS...: make install into $WORK/NAME (the DESTDIR)
install_to() {
    local name=$1
    shift
    make -C "$TOP" -s install BUILD="$BUILD" DESTDIR="$WORK/$name" "$@" >"$WORK/$name.log" 2>&1
}
install_to d
check_eq "make install DESTDIR=... exits 0" 0 "$?"
P="$WORK/d/usr/local"
for f in bin/airlock-export bin/airlock-import share/man/man1/airlock-export.1 share/man/man1/airlock-import.1 \
    share/bash-completion/completions/airlock-export share/bash-completion/completions/airlock-import \
    share/airlock/nightly-export.sh share/airlock/airlock-export.service share/airlock/airlock-export.timer \
    share/airlock/airlock-export.cron share/airlock/airlock-export.env; do
    check "it installs /usr/local/$f" test -s "$P/$f"
done
check "the programs are executable" test -x "$P/bin/airlock-export" -a -x "$P/bin/airlock-import"
check "and run" "$P/bin/airlock-import" --version
check "the nightly script is executable" test -x "$P/share/airlock/nightly-export.sh"

for prog in airlock-export airlock-import; do
    man=$P/share/man/man1/$prog.1
    groff -man -ww -z "$man" >"$WORK/$prog.lint" 2>&1
    check_eq "$prog.1 is clean under groff -man -ww -z" "0 " "$? $(head -c 300 "$WORK/$prog.lint")"
    for s in NAME SYNOPSIS DESCRIPTION OPTIONS "EXIT STATUS" ENVIRONMENT FILES EXAMPLES; do
        check "$prog.1 has $s" grep -q "^\\.SH \"\\?$s" "$man"
    done
    opts=$("$BUILD/$prog" --help | grep -oE -- '--[a-z][a-z-]+' | sort -u)
    check "$prog --help lists options" test "$(wc -l <<<"$opts")" -gt 10
    missing_man= missing_comp=
    for o in $opts; do
        grep -qF -- "$(sed 's/-/\\-/g' <<<"$o")" "$man" || missing_man+=" $o"
        grep -qE -- "$o( |\"|$)" "$P/share/bash-completion/completions/$prog" || missing_comp+=" $o"
    done
    check_eq "$prog.1 names every option of --help" "" "$missing_man"
    check_eq "its completion offers every option" "" "$missing_comp"
done
check "the completion loads in bash" bash -c "source '$P/share/bash-completion/completions/airlock-import' && complete -p airlock-import"

install_to e PREFIX=/opt/al BINDIR=/opt/bin MANDIR=/opt/man
check_eq "PREFIX, BINDIR and MANDIR: exit 0" 0 "$?"
check "the programs in BINDIR" test -x "$WORK/e/opt/bin/airlock-export"
check "the man pages in MANDIR" test -s "$WORK/e/opt/man/man1/airlock-import.1"
check "the rest under PREFIX" test -s "$WORK/e/opt/al/share/airlock/airlock-export.timer"
make -C "$TOP" -s uninstall BUILD="$BUILD" DESTDIR="$WORK/e" PREFIX=/opt/al BINDIR=/opt/bin MANDIR=/opt/man \
    >"$WORK/un.log" 2>&1
check_eq "make uninstall exits 0" 0 "$?"
check_eq "and leaves no file behind" "" "$(find "$WORK/e" -type f)"

e2e_finish
