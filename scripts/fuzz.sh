#!/usr/bin/env bash
# make fuzz: run every fuzz target of the module, one after the other, each for
# FUZZTIME (default 10s). The seed corpora (testdata/fuzz/<FuzzName>/ beside
# each package, crashers found earlier included) also run with every plain
# `go test`; this script searches for new failing inputs. A failing input is
# written under the package's testdata/fuzz/<FuzzName>/: fix the code, keep the
# file as a regression test.
#
# Environment: GO (go command, default go), FUZZTIME (a go test -fuzztime
# value: a duration such as 30s or a count such as 10000x), FUZZ (a regular
# expression selecting targets by name, default all), FUZZPARALLEL (fuzzing
# workers per target, default GOMAXPROCS).
set -euo pipefail
cd "$(dirname "$0")/.."

GO=${GO:-go}
FUZZTIME=${FUZZTIME:-10s}
FUZZ=${FUZZ:-.}
parallel=()
if [[ -n ${FUZZPARALLEL:-} ]]; then
	parallel=(-parallel "$FUZZPARALLEL")
fi

failed=()
ran=0
# Each package directory with fuzz targets, then each target in it.
while IFS= read -r dir; do
	while IFS= read -r target; do
		[[ $target =~ $FUZZ ]] || continue
		echo "== $dir $target ($FUZZTIME)"
		ran=$((ran + 1))
		if ! "$GO" test -run '^$' -fuzz "^${target}\$" -fuzztime "$FUZZTIME" "${parallel[@]}" "./$dir"; then
			failed+=("$dir $target")
		fi
	done < <(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go | sed 's/^func //' | sort -u)
done < <(git ls-files -- '*_test.go' | xargs grep -l '^func Fuzz' | xargs -n1 dirname | sort -u)

echo "== $ran fuzz targets run for $FUZZTIME each, ${#failed[@]} failed"
if ((${#failed[@]} > 0)); then
	printf 'FAILED: %s\n' "${failed[@]}"
	exit 1
fi
