#!/bin/bash -eu
# projects/keyhole/build.sh for an OSS-Fuzz enrolment: the build script
# lives in keyhole's tree, where its test runs (scripts/fuzz.sh oss-fuzz).
exec bash -eu "$SRC/keyhole/.clusterfuzzlite/build.sh"
