"""The counter table: every slot of a worker's block is exposed once."""
from prefork.metrics._counters import BLOCK_SLOTS, Counter
from prefork.metrics.exposition import FAMILIES, HISTOGRAM_SLOTS


def test_every_counter_has_one_family():
    covered = {}
    for family in FAMILIES:
        for offset in range(family.width()):
            slot = family.slot + offset
            assert slot not in covered, f"{family.name} overlaps {covered[slot]}"
            covered[slot] = family.name
    for member in Counter:
        if member is Counter.N_COUNTERS or member in HISTOGRAM_SLOTS:
            continue
        assert member.value in covered, f"{member.name} has no row in FAMILIES"
    assert Counter.N_COUNTERS <= BLOCK_SLOTS
    assert max(covered) < Counter.N_COUNTERS
