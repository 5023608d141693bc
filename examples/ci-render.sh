#!/usr/bin/env bash
# Render a project's clips in CI, paying only for what is not rendered yet.
#
#   bash examples/ci-render.sh [PROMPTS_FILE]        (default: prompts.txt beside this script)
#   IMAGINE_SIM=1 bash examples/ci-render.sh          (offline, against the bundled simulator)
#
# One `imagine batch` renders every line, paced and concurrent. Cache two folders between runs
# (e.g. actions/cache on `.imagine/` and `renders/`): the ledger remembers every job, so a rerun
# reuses what is rendered, finishes what a cancelled run left running, and pays for nothing twice.
# The results, one sidecar-shaped JSON object per line of the file, are written to renders.ndjson,
# replaced on every run: a rerun gives the same lines, never duplicates.
set -euo pipefail

prompts="${1:-$(dirname "$0")/prompts.txt}"
export IMAGINE_LEDGER="${IMAGINE_LEDGER:-$PWD/.imagine/ledger.sqlite3}"
mkdir -p "$(dirname "$IMAGINE_LEDGER")"

target=()
if [ -n "${IMAGINE_SIM:-}" ]; then
    target=(--sim)
else
    : "${XAI_API_KEY:?set XAI_API_KEY (a CI secret), or IMAGINE_SIM=1 to use the simulator}"
fi

# Results on stdout (kept), progress one plain line per event on stderr (the CI log).
# -y: a script must say yes to a cost above confirm_above_usd; max_cost_usd and [budget] caps still refuse (5).
results="$(mktemp renders.ndjson.XXXXXX)"
trap 'rm -f "$results"' EXIT
status=0
imagine batch "$prompts" "${target[@]}" --json --progress plain --timeout 900 -y \
    -c 4 -d 4 -a 9:16 >"$results" || status=$?
mv "$results" renders.ndjson

case "$status" in
    0) echo "all clips rendered (or reused)" >&2 ;;
    1) echo "some jobs failed, expired or were moderated: see 'imagine list --status failed,blocked,expired'" >&2 ;;
    2) echo "bad input: fix the lines named above; the good lines were rendered" >&2 ;;
    3) echo "the API key was refused or is missing: check the XAI_API_KEY secret" >&2 ;;
    4) echo "the API could not be reached: run this job again (nothing is lost or paid twice)" >&2 ;;
    5) echo "refused by the budget (max_cost_usd): raise it or render less" >&2 ;;
    6) echo "still rendering after --timeout: run this job again to carry on (cache .imagine/)" >&2 ;;
    70) echo "imagine hit an internal error (a bug): rerun with IMAGINE_DEBUG=1 and report it" >&2 ;;
    130 | 141) echo "interrupted: run this job again to carry on" >&2 ;;
    *) echo "imagine exited $status, which this script does not know" >&2 ;;
esac

# Every finished clip, for the next step of the pipeline (one path a line).
python3 - renders.ndjson <<'PY'
import json, sys

for line in open(sys.argv[1], encoding="utf-8"):
    job = json.loads(line)
    if job["status"] == "complete":
        print(job["file"]["path"])
PY
exit "$status"
