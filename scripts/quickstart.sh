#!/bin/sh
# `make run`: start torii on examples/quickstart and say what to try.
set -eu
BUILD=${1:-build}
ADMIN=127.0.0.1:9901
cat <<MSG

torii is starting on examples/quickstart/ (admin server on http://$ADMIN).
In another terminal, try:

  $BUILD/torii status                         # every object and its conditions
  $BUILD/torii status HTTPRoute default/echo -o yaml
  curl -s http://$ADMIN/status | python3 -m json.tool | less
  curl -s http://$ADMIN/config                # what the data plane is given
  $BUILD/torii check examples/quickstart      # the same judgement, offline

Then edit examples/quickstart/route.yaml (say, make the path not start with '/'):
torii logs the rejection with file, line and field, and keeps serving the last
valid version. Ctrl-C stops torii.

MSG
exec "$BUILD/torii" run --config examples/quickstart --admin "$ADMIN"
