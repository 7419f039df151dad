#!/bin/sh
# CPU time per message of the content pipeline (rules + Bayes), rampart
# against SpamAssassin on the same messages in the same run.
# usage: bench/scan/run.sh [--build DIR | DIR] [--messages N] [--no-sa]
#                          [--no-sa-rules] [--rules-cache DIR] [--out FILE] [--keep]
# See README.md beside this file.
case "$1" in
-* | "") ;;
*) first=$1; shift; set -- --build "$first" "$@" ;; # `make bench` passes the build dir first
esac
exec /usr/bin/python3 "$(dirname "$0")/scan.py" "$@"
