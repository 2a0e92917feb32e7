#!/usr/bin/env bash
# Mutation testing, one module at a time (docs/TESTING.md): `make mutate` or `make mutate MODULES="ledger gold"`.
# Each module runs in its own folder out/mutate/NAME (mutmut reads its settings from the pyproject.toml
# of the folder it runs in and keeps its cache there), with only the fast tests that aim at it.
# JOBS sets mutmut's parallel children (default 1: the machine is shared).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PY="${PY:-$ROOT/.venv/bin/python}"
MUTMUT="$(dirname "$PY")/mutmut"
JOBS="${JOBS:-1}"
OUTDIR="${OUTDIR:-$ROOT/out/mutate}"

# module -> "file | fast tests aimed at it"
declare -A MOD=(
  [ledger]="marketphys/core/ledger.py|tests/core/test_bite_ledger.py tests/core/test_bite_learner.py"
  [learner]="marketphys/core/learner.py|tests/core/test_bite_learner.py tests/core/test_bite_ledger.py"
  [theta]="marketphys/core/theta.py|tests/core/test_bite_theta.py"
  [black76]="marketphys/pipeline/black76.py|tests/pipeline/test_options_black76.py tests/pipeline/test_bite_black76.py"
  [gex]="marketphys/pipeline/gex.py|tests/pipeline/test_options_gex.py tests/pipeline/test_bite_gex.py"
  [gold]="marketphys/pipeline/gold.py|tests/pipeline/test_options_gold.py tests/pipeline/test_bite_gold.py"
  [book]="marketphys/pipeline/book.py|tests/pipeline/test_bite_book.py tests/pipeline/test_pipeline_book.py"
  [integrator]="marketphys/core/integrator.py|tests/core/test_bite_integrator.py tests/core/test_engine_physics.py"
  [fields]="marketphys/core/fields.py|tests/core/test_bite_fields.py tests/core/test_engine_physics.py"
  [walls]="marketphys/core/walls.py|tests/core/test_bite_walls.py tests/core/test_engine_physics.py tests/core/test_engine_loop.py::test_walls_keep_identity_decay_and_stay_bounded tests/core/test_engine_loop.py::test_strike_walls_thicken_and_erode"
  [producers]="marketphys/core/producers.py|tests/core/test_bite_producers.py tests/core/test_engine_loop.py::test_user_producer_in_a_few_lines tests/core/test_engine_loop.py::test_bad_producer_output_names_the_producer tests/core/test_engine_loop.py::test_push_producer_and_viscosity_validation tests/core/test_engine_loop.py::test_strike_walls_thicken_and_erode"
  [engine]="marketphys/core/engine.py|tests/core/test_bite_engine.py tests/core/test_bite_ledger.py::test_late_frame_theta_equals_a_run_that_never_sees_it tests/core/test_engine_loop.py::test_learning_only_from_resolved_entries tests/core/test_engine_loop.py::test_bad_input_raises_a_clear_error_and_leaves_state_intact tests/core/test_engine_loop.py::test_live_mode_skips_and_counts_bad_frames tests/core/test_engine_loop.py::test_forecast_prices_are_spot_plus_ticks tests/core/test_engine_loop.py::test_engine_pickles_mid_run_and_continues_identically tests/core/test_engine_head.py::test_particle_starts_at_the_mid_with_the_last_ticks_motion tests/core/test_engine_head.py::test_latent_start_is_the_documented_ablation tests/core/test_engine_head.py::test_engine_emits_bands_by_default"
)
MODULES="${MODULES:-ledger learner theta black76 gex gold}"

for name in $MODULES; do
  spec="${MOD[$name]:?unknown module $name (known: ${!MOD[*]})}"
  file="${spec%%|*}"; tests=""
  for t in ${spec#*|}; do   # a module's own test file may not exist yet (the score before it)
    [[ $t == tests/* && ! -e "$ROOT/${t%%::*}" ]] || tests="$tests $t"
  done
  work="$OUTDIR/$name"
  rm -rf "$work"; mkdir -p "$work"
  cp -r "$ROOT/marketphys" "$ROOT/tests" "$work/"
  ln -s "$ROOT/shaders" "$work/shaders"; ln -s "$ROOT/data" "$work/data"
  {
    echo '[tool.mutmut]'
    echo 'source_paths = ["marketphys"]'
    echo "only_mutate = [\"$file\"]"
    printf 'pytest_add_cli_args_test_selection = [%s]\n' "$(printf '"%s", ' $tests)"
    echo 'pytest_add_cli_args = ["-p", "no:xdist", "-p", "no:randomly", "-q", "-x"]'
    echo 'also_copy = ["shaders", "data"]'
    echo '[tool.pytest.ini_options]'
    echo 'testpaths = ["tests"]'
    echo 'markers = ["slow: long", "metal: macOS", "browser: chromium"]'
  } > "$work/pyproject.toml"
  echo "== $name: $file with $tests"
  start=$(date +%s)
  (cd "$work" && "$MUTMUT" run --max-children "$JOBS" > run.log 2>&1 || true)
  (cd "$work" && "$MUTMUT" results --all true > results.txt 2>&1 || true)
  "$PY" - "$work" "$name" "$(( $(date +%s) - start ))" <<'PY'
import collections, re, sys
work, name, secs = sys.argv[1:]
rows = [l.strip() for l in open(f"{work}/results.txt") if ":" in l]
status = collections.Counter(l.rsplit(":", 1)[1].strip() for l in rows)
killed = status.get("killed", 0) + status.get("timeout", 0)
total = sum(status.values())
print(f"{name}: {killed}/{total} killed ({100 * killed / max(total, 1):.1f} %) in {secs} s; {dict(status)}")
for l in rows:
    if not l.endswith("killed"):
        print("   ", l)
PY
done
