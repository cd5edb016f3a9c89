"""scripts/bench_baseline.py: what it keeps of a mirror run and how it sums the runs up."""

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"


def _script(name: str) -> ModuleType:
    """A module of scripts/ (they import their siblings by bare name)."""
    sys.path.insert(0, str(SCRIPTS))
    spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


_baseline = _script("bench_baseline")
BaselineError = _baseline.BaselineError
mirror_figures, record, summarize = _baseline.mirror_figures, _baseline.record, _baseline.summarize


def _run(us: float, per_s: float = 1000.0) -> dict[str, object]:
    return {
        "bridge_py_cpu_us_per_award": us,
        "bridge_py_cpu_us_per_award_by_phase": {
            "import": us / 2,
            "submit": us / 4,
            "index": us / 4,
        },
        "mirror_awards_per_s": per_s,
        "mirror_sequential_awards_per_s": per_s / 2,
        "naive_awards_per_s": 3.0,
    }


def test_the_medians_of_each_side_and_their_ratio() -> None:
    base = [mirror_figures(_run(u, 1000)) for u in (800, 760, 790)]
    cur = [mirror_figures(_run(u, 4000)) for u in (210, 200, 190)]
    out = summarize("fe187e0", base, cur, {"cpu": "AMD EPYC"})
    assert out["bridge_py_cpu_baseline"]["commit"] == "fe187e0"
    assert out["bridge_py_cpu_baseline"]["machine"] == {"cpu": "AMD EPYC"}
    assert out["bridge_py_cpu_baseline"]["runs_us_per_award"] == [800, 760, 790]
    assert out["bridge_py_cpu_baseline"]["median_us_per_award"] == 790
    assert out["bridge_py_cpu_current"]["median_us_per_award"] == 200
    assert out["bridge_py_cpu_current"]["median_by_phase"] == {
        "import": 100,
        "submit": 50,
        "index": 50,
    }
    assert out["bridge_py_cpu_vs_baseline"] == round(200 / 790, 3)
    assert out["mirror_awards_per_s_vs_baseline"] == 4.0


def test_a_run_without_the_cpu_figures_is_refused_by_name() -> None:
    broken = _run(100)
    del broken["bridge_py_cpu_us_per_award_by_phase"]
    with pytest.raises(BaselineError, match="mirror_cpu_s"):  # nor an older bench's seconds
        mirror_figures(broken)
    no_rate = _run(100)
    del no_rate["mirror_awards_per_s"]
    with pytest.raises(BaselineError, match="mirror_awards_per_s"):
        mirror_figures(no_rate)


@pytest.mark.parametrize("sides", [([], []), ([1], []), ([1], [1, 2])])
def test_uneven_or_missing_runs_are_refused(sides: tuple[list[int], list[int]]) -> None:
    base = [mirror_figures(_run(100)) for _ in sides[0]]
    cur = [mirror_figures(_run(50)) for _ in sides[1]]
    with pytest.raises(BaselineError, match="as many runs"):
        summarize("x", base, cur)


def test_record_merges_into_the_results_and_stamps_its_figures(tmp_path: Path) -> None:
    path = tmp_path / "results.json"
    path.write_text('{"api_balance_rps": 4949.2, "scales": {"api_balance_rps": 1.0}}')
    record(path, {"bridge_py_cpu_vs_baseline": 0.27}, 1.0)
    got = json.loads(path.read_text())
    assert got["api_balance_rps"] == 4949.2
    assert got["bridge_py_cpu_vs_baseline"] == 0.27
    assert set(got["scales"]) == {"api_balance_rps", "bridge_py_cpu_vs_baseline"}
    assert "bridge_py_cpu_vs_baseline" in got["measured_at"]


def test_an_older_bench_s_phase_seconds_give_the_same_figure() -> None:
    older = {  # fe187e0's bench wrote the CPU seconds of each phase and the awards
        "mirror_awards": 100_000,
        "mirror_cpu_s": {
            "import_py": 47.11,
            "submit_py": 23.22,
            "index_py": 7.04,
            "submit_anvil": 8.8,
        },
        "mirror_awards_per_s": 1186.7,
        "mirror_sequential_awards_per_s": 1109.2,
    }
    got = mirror_figures(older)
    assert got["us_per_award"] == 773.7
    assert got["by_phase"] == {"import": 471.1, "submit": 232.2, "index": 70.4}
    older["mirror_awards"] = 0
    with pytest.raises(BaselineError):
        mirror_figures(older)


def test_the_report_judges_the_ratio_against_half() -> None:
    verdict = _script("bench_report").verdict
    assert verdict("bridge_py_cpu_vs_baseline", 0.414) == "<= 0.5  met"
    assert verdict("bridge_py_cpu_vs_baseline", 0.52) == "<= 0.5  MISSED"
    assert verdict("bridge_py_cpu_us_per_award", 103.7) == "<= 100  MISSED"
    assert verdict("mirror_awards_per_s", 12_000.0) == ">= 10,000  met"
