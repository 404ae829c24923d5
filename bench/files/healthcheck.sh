#!/bin/sh
# Exit 0 when the benchmark's app config is in place.
test -s "$(dirname "$0")/../conf/app.conf"
