"""The interval arithmetic the scale benchmark reports (peak overlap, busy time)."""

from primeflow_pipelines.scale_backfill import busy_seconds, peak_overlap


def test_busy_seconds_is_the_union_of_run_intervals():
    # two waves of two overlapping runs with a 10 s gap while no run executes
    runs = [(0.0, 12.0), (1.0, 13.0), (23.0, 30.0), (24.0, 32.0)]
    assert busy_seconds(runs) == 13.0 + 9.0
    assert peak_overlap(runs) == 2


def test_busy_seconds_serial_runs_and_nested_interval():
    assert busy_seconds([(0.0, 5.0), (5.0, 7.0), (1.0, 2.0)]) == 7.0
    assert busy_seconds([]) == 0.0
    assert peak_overlap([(0.0, 5.0), (5.0, 7.0)]) == 1
