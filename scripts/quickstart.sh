#!/bin/sh
# `make run`: start the echo backend and torii on examples/quickstart, and say what to try.
set -eu
BUILD=${1:-build}
ADMIN=127.0.0.1:9901
# The quickstart's Service points at 127.0.0.1:3000 (examples/quickstart/backend.yaml).
HTTP_PORT=3000 H2C_PORT=0 BIND_ADDRESS=127.0.0.1 POD_NAME=echo-quickstart NAMESPACE=default \
    "$BUILD/tools/echo/torii-echo" >/dev/null 2>&1 &
ECHO_PID=$!
trap 'kill $ECHO_PID 2>/dev/null || true' EXIT INT TERM
cat <<MSG

torii is starting on examples/quickstart/ (admin server on http://$ADMIN), with the echo
backend on 127.0.0.1:3000. In another terminal, try:

  curl -s -H 'Host: localhost' http://127.0.0.1:8080/echo/hello   # through torii to the echo
  curl -si -H 'Host: localhost' http://127.0.0.1:8080/other       # 404: no route matches
  $BUILD/torii status                         # every object and its conditions
  $BUILD/torii status HTTPRoute default/echo -o yaml
  curl -s http://$ADMIN/status | python3 -m json.tool | less
  curl -s http://$ADMIN/config                # what the data plane is given
  $BUILD/torii check examples/quickstart      # the same judgement, offline

Then edit examples/quickstart/route.yaml (say, make the path not start with '/'):
torii logs the rejection with file, line and field, and keeps serving the last
valid version. Ctrl-C stops torii once the requests in flight are answered (a second
Ctrl-C stops it at once).

MSG
"$BUILD/torii" run --config examples/quickstart --admin "$ADMIN"
