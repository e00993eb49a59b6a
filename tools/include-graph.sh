#!/bin/sh
# Prints which source folders include headers from which others, and fails
# (exit 1) when the layering is broken: gateway/ (the core) must include
# nothing from the folders above it, and no two folders may include each
# other.  Run from anywhere: sh tools/include-graph.sh
cd "$(dirname "$0")/.." || exit 2
FOLDERS="gateway http1 h2 ws mounts fops cgi proxy plugins main"
edges=$(for f in $FOLDERS; do
    [ -d "$f" ] || continue
    grep -ho '^#include "[a-z0-9_]*/' "$f"/*.[ch] 2>/dev/null |
        sed 's/#include "//; s#/##' | sort -u |
        while read -r to; do [ "$to" != "$f" ] && [ "$to" != tests ] && echo "$f $to"; done
done)
status=0
for f in $FOLDERS; do
    [ -d "$f" ] || continue
    deps=$(echo "$edges" | awk -v f="$f" '$1 == f { printf "%s%s", sep, $2; sep = " " }')
    echo "$f -> ${deps:-(nothing)}"
done
bad=$(echo "$edges" | awk '$1 == "gateway" { print "gateway/ includes " $2 "/" }')
if [ -n "$bad" ]; then
    echo "layering: $bad" >&2
    status=1
fi
echo "$edges" | while read -r a b; do
    [ -n "$a" ] || continue
    if echo "$edges" | grep -qx "$b $a"; then
        echo "layering: $a/ and $b/ include each other" >&2
        exit 1
    fi
done || status=1
exit $status
