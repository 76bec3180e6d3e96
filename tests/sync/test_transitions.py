"""Every move of sync's two state machines, legal and illegal, against the tables in ``sync/transitions.py``."""

import itertools

import pytest
from django.core.exceptions import ValidationError
from django.utils import translation

from sync.models import Delivery, DeliveryStatus, InboundBatch, InboundBatchStatus
from sync.transitions import BATCH_TRANSITIONS, DELIVERY_TRANSITIONS, advance_batch, advance_delivery

MACHINES = {
    "delivery": (Delivery, DeliveryStatus, DELIVERY_TRANSITIONS, advance_delivery, "delivery"),
    "batch": (InboundBatch, InboundBatchStatus, BATCH_TRANSITIONS, advance_batch, "batch"),
}
MOVES = [
    (machine, source, target)
    for machine, (_model, statuses, _table, _advance, _noun) in MACHINES.items()
    for source, target in itertools.product(statuses, statuses)
]
LEGAL = [move for move in MOVES if move[2] in MACHINES[move[0]][2][move[1]]]
ILLEGAL = [move for move in MOVES if move not in LEGAL]


@pytest.mark.parametrize("machine", MACHINES)
def test_every_status_has_a_row_and_is_reachable(machine):
    _model, statuses, table, _advance, _noun = MACHINES[machine]
    assert set(table) == set(statuses)
    initial = {"delivery": DeliveryStatus.PENDING, "batch": InboundBatchStatus.RECEIVED}[machine]
    assert set().union(*table.values()) | {initial} == set(statuses)


def test_the_tables_are_the_documented_ones():
    assert {source: set(targets) for source, targets in DELIVERY_TRANSITIONS.items()} == {
        "pending": {"pending", "delivered", "dead", "cancelled"},
        "dead": {"pending"},
        "delivered": {"pending"},
        "cancelled": set(),
    }
    assert {source: set(targets) for source, targets in BATCH_TRANSITIONS.items()} == {
        "received": {"processing", "failed"},
        "processing": {"processing", "landed", "failed"},
        "landed": set(),
        "failed": set(),
    }


@pytest.mark.parametrize(("machine", "source", "target"), LEGAL, ids=[f"{m}-{s}-{t}" for m, s, t in LEGAL])
def test_legal_move(machine, source, target):
    model, _statuses, _table, advance, _noun = MACHINES[machine]
    record = model(status=source)
    advance(record, target)
    assert record.status == target


@pytest.mark.parametrize(("machine", "source", "target"), ILLEGAL, ids=[f"{m}-{s}-{t}" for m, s, t in ILLEGAL])
def test_illegal_move_is_refused_and_changes_nothing(machine, source, target):
    model, statuses, _table, advance, noun = MACHINES[machine]
    record = model(status=source)
    with translation.override("en"):
        with pytest.raises(ValidationError) as refused:
            advance(record, target)
        assert refused.value.code == "invalid_transition"
        labels = {value: str(label) for value, label in statuses.choices}
        assert refused.value.messages == [f"A {labels[source]} {noun} cannot become {labels[target]}."]
    assert record.status == source
