#!/usr/bin/env bash
# The course's full run on a machine with a GPU, into one folder that travels:
#
#   scripts/reproduce.sh DATA_DIR OUT [notebooks/NN_name.ipynb ...]      (default: every notebook)
#
# DATA_DIR holds cifar-10-batches-py/ and cifar-100-python/ (torchvision's layouts). OUT gets results/
# (records and run_summary.json), figures/, notebooks/ (the executed copies) and checkpoints/; OUT.tgz
# packs all of it but the checkpoints. Run it again with the same OUT to continue a run that was cut
# short: finished training runs are reused, an interrupted one continues from its last epoch. Then,
# where the repository lives:
#
#   python -m helpers.run --store-from OUT && python -m helpers.report
#
# stores the notebooks that finished over their sources, with their records and figures, and rebuilds
# the report. PYTHON picks the interpreter (default: .venv/bin/python if there is one, else python3);
# JOBS how many notebooks run at the same time on the one GPU (default 4; 08 waits for those it reads).
set -uo pipefail
if [[ $# -lt 2 ]]; then echo "usage: $0 DATA_DIR OUT [NOTEBOOK ...]" >&2; exit 2; fi
data=$1 out=$2; shift 2
if [[ ! -d $data/cifar-10-batches-py ]]; then
  echo "$0: $data has no cifar-10-batches-py/: give the folder that holds the datasets" >&2; exit 2
fi
data=$(cd "$data" && pwd)
mkdir -p "$out" && out=$(cd "$out" && pwd)
notebooks=()
for nb in "$@"; do notebooks+=("$(cd "$(dirname "$nb")" && pwd)/$(basename "$nb")"); done
cd "$(dirname "$0")/.."
py=${PYTHON:-$([[ -x .venv/bin/python ]] && echo .venv/bin/python || echo python3)}
COURSE_RUN_DIR=$out COURSE_PROGRESS=text "$py" -m helpers.run --profile full --data-dir "$data" \
  --jobs "${JOBS:-4}" --output-dir "$out/notebooks" "${notebooks[@]}"
status=$?
mkdir -p "$out/results" "$out/figures" "$out/notebooks"
tar czf "$out.tgz.tmp" -C "$out" results figures notebooks && mv "$out.tgz.tmp" "$out.tgz" \
  && echo "packed $out.tgz ($(du -h "$out.tgz" | cut -f1)); where the repository lives: python -m helpers.run --store-from OUT"
exit $status
