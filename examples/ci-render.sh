#!/usr/bin/env bash
# Render a project's clips in CI, paying only for what is not rendered yet.
#
# The ledger lives in the workspace (cache it between runs, with renders/, to never pay twice);
# results come back as NDJSON, one sidecar-shaped object per job; the exit code says what happened
# (0 all complete, 1 a job failed or was moderated, 3 key problem, 4 API unreachable, 6 timed out).
#
# Try it offline: IMAGINE_SIM=1 bash examples/ci-render.sh
set -euo pipefail

export IMAGINE_LEDGER="${IMAGINE_LEDGER:-$PWD/.imagine/ledger.sqlite3}"
target=(--sim)
if [ -z "${IMAGINE_SIM:-}" ]; then
    : "${XAI_API_KEY:?set XAI_API_KEY (a CI secret), or IMAGINE_SIM=1 to use the simulator}"
    target=()
fi

status=0
while IFS= read -r prompt; do
    case "$prompt" in ''|'#'*) continue ;; esac
    imagine gen "${target[@]}" --json --progress plain --timeout 900 -d 4 -a 9:16 \
        -o "assets/{slug}-{short}" "$prompt" >> renders.ndjson || status=$?
done < "$(dirname "$0")/prompts.txt"

# Every path the run produced, for the next step of the pipeline.
python3 -c 'import json,sys; [print(json.loads(l)["file"]["path"]) for l in open("renders.ndjson")]'
exit "$status"
