"""The plan is a pure function of the recorded steps: no database, no store, no process."""

from __future__ import annotations

import dataclasses
import itertools
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scidex_replay.errors import BadInput, CycleError
from scidex_replay.registry.records import Step
from scidex_replay.replay.order import topological
from scidex_replay.replay.plan import EXECUTE, FROZEN, UNREPLAYABLE, descendants, plan

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)
HANDLERS = ("shell", "python.call", "copy")


def mk(step_id: str, sources, target: str, *, step_type: str = "shell", t: float = 0) -> Step:
    return Step(
        step_id=step_id,
        step_type=step_type,
        method=f"method of {step_id}",
        parameters={},
        target_artifact_id=target,
        source_artifact_ids=tuple(sources),
        input_hash="0" * 64,
        output_hash="1" * 64,
        env_hash=None,
        trace_id=None,
        started_at=T0 + timedelta(seconds=t),
        completed_at=T0 + timedelta(seconds=t + 1),
    )


def ids(steps) -> list[str]:
    return [getattr(s, "step", s).step_id for s in steps]


def diamond() -> list[Step]:
    """raw -> top -> (left, right) -> bottom; recording times deliberately out of order."""
    return [
        mk("s_bottom", ["a_left", "a_right"], "a_bottom", t=0),
        mk("s_right", ["a_top"], "a_right", t=1),
        mk("s_left", ["a_top"], "a_left", t=2),
        mk("s_top", ["a_raw"], "a_top", t=3),
    ]


def test_orders_a_chain_producers_first_even_when_recorded_later():
    # the consumer has the earliest timestamp, so a sort by time alone would get it wrong
    steps = [mk("s_c", ["a_b"], "a_c", t=0), mk("s_b", ["a_a"], "a_b", t=5), mk("s_a", ["a_raw"], "a_a", t=9)]
    p = plan(steps, "a_c", handlers=HANDLERS)
    assert ids(p.steps) == ["s_a", "s_b", "s_c"]
    assert all(ps.action == EXECUTE and ps.reason == "" for ps in p.steps)
    assert p.target_artifact_id == "a_c" and p.from_step is None and len(p) == 3


def test_diamond_has_each_step_once_with_producers_first():
    order = ids(plan(diamond(), "a_bottom", handlers=HANDLERS).steps)
    assert sorted(order) == ["s_bottom", "s_left", "s_right", "s_top"]
    assert order[0] == "s_top" and order[-1] == "s_bottom"


def test_step_consuming_one_artifact_twice_is_ordered_once():
    steps = [mk("s_twice", ["a_x", "a_x"], "a_y", t=0), mk("s_x", ["a_raw"], "a_x", t=1)]
    assert ids(topological(steps)) == ["s_x", "s_twice"]


def test_recorded_cycle_raises_cycle_error_naming_the_steps():
    steps = [mk("s_one", ["a_two"], "a_one"), mk("s_two", ["a_one"], "a_two"), mk("s_free", ["a_raw"], "a_free")]
    with pytest.raises(CycleError) as info:
        plan(steps, "a_one", handlers=HANDLERS)
    message = str(info.value)
    assert "s_one" in message and "s_two" in message
    assert "s_free" not in message


def test_step_consuming_its_own_output_is_a_cycle():
    with pytest.raises(CycleError, match="s_self"):
        topological([mk("s_self", ["a_raw", "a_self"], "a_self")])


def test_from_step_freezes_every_step_that_is_not_its_descendant():
    p = plan(diamond(), "a_bottom", from_step="s_left", handlers=HANDLERS)
    actions = {ps.step.step_id: (ps.action, ps.reason) for ps in p.steps}
    assert actions == {
        "s_top": (FROZEN, "frozen: before --from"),
        "s_right": (FROZEN, "frozen: before --from"),
        "s_left": (EXECUTE, ""),
        "s_bottom": (EXECUTE, ""),
    }
    assert p.from_step == "s_left"


def test_from_the_first_step_freezes_nothing():
    p = plan(diamond(), "a_bottom", from_step="s_top", handlers=HANDLERS)
    assert {ps.action for ps in p.steps} == {EXECUTE}


def test_descendants_follow_consumers_transitively():
    assert descendants(diamond(), "s_right") == {"s_right", "s_bottom"}
    assert descendants(diamond(), "s_top") == {"s_top", "s_left", "s_right", "s_bottom"}


def test_from_a_step_outside_the_chain_is_bad_input():
    with pytest.raises(BadInput, match="s_elsewhere"):
        plan(diamond(), "a_bottom", from_step="s_elsewhere", handlers=HANDLERS)


def test_step_type_without_handler_is_unreplayable():
    steps = [mk("s_inst", ["a_raw"], "a_meas", step_type="lab.instrument", t=0), mk("s_use", ["a_meas"], "a_out", t=1)]
    p = plan(steps, "a_out", handlers=HANDLERS)
    assert [(ps.action, ps.reason) for ps in p.steps] == [
        (UNREPLAYABLE, "unreplayable: no handler for step_type lab.instrument"),
        (EXECUTE, ""),
    ]


def test_frozen_takes_precedence_over_unreplayable_upstream_of_from():
    steps = [mk("s_inst", ["a_raw"], "a_meas", step_type="lab.instrument", t=0), mk("s_use", ["a_meas"], "a_out", t=1)]
    p = plan(steps, "a_out", from_step="s_use", handlers=HANDLERS)
    assert [ps.action for ps in p.steps] == [FROZEN, EXECUTE]


def test_no_handlers_at_all_makes_every_step_unreplayable():
    assert {ps.action for ps in plan(diamond(), "a_bottom").steps} == {UNREPLAYABLE}


def test_order_is_the_same_for_every_permutation_of_the_input():
    steps = diamond() + [mk("s_side", ["a_raw"], "a_side", t=3), mk("s_tail", ["a_bottom", "a_side"], "a_tail", t=4)]
    orders = {tuple(ids(topological(perm))) for perm in itertools.permutations(steps)}
    assert len(orders) == 1


def test_ties_are_broken_by_recording_time_then_step_id():
    steps = [mk("s_b", ["a_raw"], "a_b", t=0), mk("s_a", ["a_raw"], "a_a", t=0), mk("s_early", ["a_raw"], "a_e", t=-1)]
    assert ids(topological(steps)) == ["s_early", "s_a", "s_b"]


# -- properties on random DAGs -------------------------------------------------


@st.composite
def dags(draw, max_steps: int = 9):
    """Random DAGs of steps: step j may consume the output of any step i < j (and raw sources).

    Step ids are a random permutation and recording times random, so neither
    hints at the dependency order. Returns (steps, edges) with edges (producer, consumer).
    """
    n = draw(st.integers(1, max_steps))
    names = draw(st.permutations([f"s_{k:02d}" for k in range(n)]))
    times = draw(st.lists(st.integers(0, 3), min_size=n, max_size=n))
    steps, edges = [], set()
    for j in range(n):
        parents = draw(st.lists(st.integers(0, j - 1), max_size=3, unique=True)) if j else []
        sources = [f"a_{names[i]}" for i in parents] + (["a_raw"] if draw(st.booleans()) else [])
        steps.append(mk(names[j], sources, f"a_{names[j]}", t=times[j]))
        edges |= {(names[i], names[j]) for i in parents}
    return steps, edges


@settings(max_examples=150, deadline=None)
@given(dags(), st.randoms(use_true_random=False))
def test_topological_respects_every_edge_and_lists_each_step_once(dag, rnd):
    steps, edges = dag
    shuffled = list(steps)
    rnd.shuffle(shuffled)
    order = ids(topological(shuffled))
    assert sorted(order) == sorted(s.step_id for s in steps)
    pos = {s: i for i, s in enumerate(order)}
    assert all(pos[a] < pos[b] for a, b in edges)
    assert order == ids(topological(steps))  # input order does not matter


@settings(max_examples=150, deadline=None)
@given(dags(), st.data())
def test_a_cycle_added_to_a_dag_is_detected_and_named(dag, data):
    steps, edges = dag
    ring = data.draw(st.lists(st.sampled_from([s.step_id for s in steps]), min_size=1, unique=True))
    by_id = {s.step_id: s for s in steps}
    extra = {(ring[k], ring[(k + 1) % len(ring)]) for k in range(len(ring))}
    cyclic = []
    for s in steps:
        add = tuple(f"a_{p}" for p, c in sorted(extra) if c == s.step_id)
        cyclic.append(mk(s.step_id, s.source_artifact_ids + add, s.target_artifact_id))
    all_edges = edges | extra
    with pytest.raises(CycleError) as info:
        topological(cyclic)
    named = str(info.value).split(": ", 1)[1].split(" -> ")
    assert named[0] == named[-1] and len(named) >= 2
    assert set(named) <= set(by_id)
    # each consecutive pair is a recorded edge: the message shows a real cycle
    assert all((a, b) in all_edges for a, b in zip(named, named[1:]))


def test_siblings_recorded_in_the_same_second_keep_their_recording_order():
    root = mk("s_root", ["a_raw"], "a_root")
    first = dataclasses.replace(mk("s_zzz", ["a_root"], "a_first", t=5), completed_at=T0 + timedelta(seconds=5.1))
    second = dataclasses.replace(mk("s_aaa", ["a_root"], "a_second", t=5), completed_at=T0 + timedelta(seconds=5.2))
    for steps in ([root, first, second], [second, first, root]):
        assert ids(topological(steps)) == ["s_root", "s_zzz", "s_aaa"]
