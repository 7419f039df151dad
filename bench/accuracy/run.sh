#!/bin/sh
# Accuracy benchmark: k-fold cross-validation of rampart (CLI: rules +
# Bayes), the Bayes stage alone, and SpamAssassin on the training corpus.
# usage: bench/accuracy/run.sh [--quick] [--k K] [--out FILE] [--build DIR]
#                              [--no-sa] [--no-rampart] [--jobs N] [--keep]
# See README.md beside this file.
exec /usr/bin/python3 "$(dirname "$0")/accuracy.py" "$@"
