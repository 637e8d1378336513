#!/usr/bin/env bash
# Train a recognizer or detector run on a CUDA machine that has JAX but neither TensorFlow nor
# network nor the data (the project's GPU machines), from the bundle `engocr train bundle`
# packed here for that run.
#
#   engocr train bundle --run runs/rec/mixer2-scratch     # here: writes .gpu/ (git-ignored)
#   device run, carry [".gpu"]:
#     bash scripts/gpu_train.sh runs/rec/mixer2-scratch 8 $OUT --batch 128
#   here: cp -r FILES_AT/mixer2-scratch/. runs/rec/mixer2-scratch/   (then commit; `engocr
#     train rec --run runs/rec/mixer2-scratch` resumes it on this CPU)
# A detector run the same way (its bundle holds the real photos instead of the crops):
#   engocr train bundle --run runs/det/RUN --photo-mb 20; bash scripts/gpu_train.sh runs/det/RUN 8 $OUT
#
# Arguments: RUN MINUTES OUT [more `engocr train rec|det` options]. Environment: BUNDLE (.gpu),
# PYTHON (python3), WORKERS (rendering processes; all cores but one), KERAS_BACKEND (jax).
# Copies the run's state, metrics, best weights and checkpoint (each file under 16 MiB) to
# OUT/<run name>, also when the training stops with an error.
set -euo pipefail
if [ $# -lt 3 ]; then
  echo "usage: scripts/gpu_train.sh RUN MINUTES OUT [engocr train rec options]" >&2; exit 2
fi
run=$1 minutes=$2 out=$3; shift 3
bundle=${BUNDLE:-.gpu}
python=${PYTHON:-python3}
[ -f "$run/config.json" ] || { echo "gpu_train: $run is not a run folder (no config.json)" >&2; exit 2; }
if grep -q '"strides"' "$run/config.json"; then kind=det real=photos.tar; else kind=rec real=crops.npz; fi
for part in fonts.tar.gz words.txt $real; do
  [ -f "$bundle/$part" ] || { echo "gpu_train: $bundle/$part missing: run 'engocr train bundle --run $run' and carry $bundle" >&2; exit 2; }
done

scratch=$(mktemp -d)
if compgen -G "$bundle/wheels/*.whl" >/dev/null; then
  "$python" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir \
    --target "$scratch/site" "$bundle"/wheels/*.whl
fi
mkdir -p "$scratch/fonts" && tar -xzf "$bundle/fonts.tar.gz" -C "$scratch/fonts"
export PYTHONPATH="$scratch/site:$PWD${PYTHONPATH:+:$PYTHONPATH}"
export KERAS_BACKEND=${KERAS_BACKEND:-jax} ENGOCR_FONTS="$scratch/fonts"
export ENGOCR_WORDS="$bundle/words.txt" XDG_CACHE_HOME="$scratch/cache" PYTHONUNBUFFERED=1
cores=$(nproc)
workers=${WORKERS:-$(( cores > 2 ? cores - 1 : 1 ))}

copy_back() {
  dest="$out/$(basename "$run")"
  mkdir -p "$dest/ckpt"
  for f in config.json recipe.json state.json metrics.csv init.json best.weights.h5 \
           average.weights.h5; do
    [ -f "$run/$f" ] && cp "$run/$f" "$dest/"
  done
  [ -d "$run/ckpt" ] && cp "$run"/ckpt/* "$dest/ckpt/" 2>/dev/null
  find "$dest" -type f -size +16M -printf "gpu_train: %p is over 16 MiB\n" >&2
  echo "gpu_train: copied the run to $dest"
}
trap copy_back EXIT
if [ $kind = det ]; then
  mkdir -p "$scratch/data" && tar -xf "$bundle/photos.tar" -C "$scratch/data"
  export ENGOCR_DATA="$scratch/data"
  "$python" -m engocr train det --run "$run" --minutes "$minutes" --data "$scratch/data" \
    --workers "$workers" "$@"
else
  "$python" -m engocr train rec --run "$run" --minutes "$minutes" --crops "$bundle/crops.npz" \
    --workers "$workers" "$@"
fi
