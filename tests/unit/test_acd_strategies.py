"""ACD routing strategies and the cross-queue fairness rule, on hand-built tables of agents and callers."""
from __future__ import annotations

import dataclasses
import random

import pytest

from hotline.daemon.acd.strategies import (
    Candidate, Need, Strategy, Waiting, Widening, eligible, next_for_agent, order_candidates, required_level,
)


def cand(agent_id: int, *, idle: float = 1000.0, calls: int = 0, talk: float = 0.0, order: int = 0,
         penalty: int = 0, skills: dict[str, int] | None = None, seq: int = 0) -> Candidate:
    """A free agent with ext 1<id>; everything not given is neutral."""
    return Candidate(agent_id, f"1{agent_id:02d}", idle, calls, talk, order, penalty, skills or {}, seq)


# One table, chosen so that every strategy puts a different agent first.
#   id  idle_since  calls  talk   order  seq   billing
TABLE = [
    cand(1, idle=500.0, calls=9, talk=900.0, order=3, seq=7, skills={"billing": 3}),
    cand(2, idle=100.0, calls=5, talk=2000.0, order=2, seq=8, skills={"billing": 5}),
    cand(3, idle=300.0, calls=2, talk=1500.0, order=4, seq=6, skills={"billing": 9}),
    cand(4, idle=400.0, calls=7, talk=300.0, order=1, seq=9, skills={"billing": 5}),
    cand(5, idle=200.0, calls=4, talk=1200.0, order=5, seq=5, skills={"billing": 1}),
]


def ids(cands: list[Candidate]) -> list[int]:
    """Agent ids in order."""
    return [c.agent_id for c in cands]


def order(strategy: Strategy, free: list[Candidate] = TABLE, need: Need = Need(), waited: float = 0.0,
          seed: int = 1, sticky: int | None = None) -> list[int]:
    """Ids in the order the strategy offers the call."""
    return ids(order_candidates(strategy, list(free), need, waited, random.Random(seed), sticky))


@pytest.mark.parametrize("strategy, expected", [
    (Strategy.LONGEST_IDLE, [2, 5, 3, 4, 1]),
    (Strategy.ROUND_ROBIN, [5, 3, 1, 2, 4]),
    (Strategy.FEWEST_CALLS, [3, 5, 2, 4, 1]),
    (Strategy.LEAST_TALK_TIME, [4, 1, 5, 3, 2]),
    (Strategy.LINEAR, [4, 2, 1, 3, 5]),
    (Strategy.SKILLS, [3, 2, 4, 1, 5]),
])
def test_each_strategy_orders_the_table(strategy: Strategy, expected: list[int]) -> None:
    """Each strategy puts its own best agent first and orders the rest by the same measure."""
    assert order(strategy, need=Need("billing")) == expected


def test_ring_all_returns_everyone_free() -> None:
    """Ring-all offers the call to every free eligible agent at once (listed longest idle first)."""
    assert order(Strategy.RING_ALL) == [2, 5, 3, 4, 1]


def test_skills_ties_go_to_the_longest_idle() -> None:
    """Agents 2 and 4 both have billing 5: the one idle since earlier comes first."""
    got = order(Strategy.SKILLS, need=Need("billing"))
    assert got.index(2) < got.index(4)


def test_ties_are_broken_by_idle_since_then_agent_id_whatever_the_input_order() -> None:
    """Equal counters fall back to idle_since, then agent id; shuffling the input changes nothing."""
    same = [cand(7, idle=50.0, calls=1), cand(3, idle=50.0, calls=1), cand(5, idle=20.0, calls=1)]
    for strategy in (Strategy.FEWEST_CALLS, Strategy.LONGEST_IDLE, Strategy.ROUND_ROBIN, Strategy.LINEAR):
        assert order(strategy, same) == [5, 3, 7]
        assert order(strategy, same[::-1]) == [5, 3, 7]


def test_round_robin_with_memory_cycles_through_the_members() -> None:
    """Offering to the head and bumping its counter walks the whole member list before repeating."""
    free = [cand(i, seq=0, idle=100.0 + i) for i in range(1, 5)]
    offered = []
    for seq in range(1, 9):
        first = order_candidates(Strategy.ROUND_ROBIN, free, Need(), 0.0, random.Random(0))[0]
        offered.append(first.agent_id)
        free = [dataclasses.replace(c, last_offered_seq=seq) if c is first else c for c in free]
    assert offered == [1, 2, 3, 4, 1, 2, 3, 4]


@pytest.mark.parametrize("strategy", [s for s in Strategy])
def test_lower_penalty_tier_comes_first_in_every_strategy(strategy: Strategy) -> None:
    """An agent with a higher penalty is only reached after every lower-penalty agent, whatever its merits."""
    free = [cand(1, penalty=2, idle=1.0, calls=0, talk=0.0, order=0, skills={"billing": 10}),
            cand(2, penalty=0, idle=900.0, calls=50, talk=9000.0, order=9, skills={"billing": 2}),
            cand(3, penalty=1, idle=5.0, calls=1, talk=10.0, order=1, skills={"billing": 9}),
            cand(4, penalty=0, idle=800.0, calls=40, talk=8000.0, order=8, skills={"billing": 2})]
    got = order(strategy, free, need=Need("billing"))
    if strategy is Strategy.RING_ALL:
        assert sorted(got) == [2, 4]  # rung together: only the lowest tier present
    else:
        assert set(got[:2]) == {2, 4} and got[2:] == [3, 1]


def test_ring_all_uses_the_next_tier_when_the_lowest_is_busy() -> None:
    """With no penalty-0 agent free, ring-all rings the penalty-1 agents."""
    free = [cand(1, penalty=1), cand(2, penalty=2), cand(3, penalty=1, idle=10.0)]
    assert order(Strategy.RING_ALL, free) == [3, 1]


@pytest.mark.parametrize("strategy", [s for s in Strategy])
def test_sticky_agent_comes_first_regardless_of_strategy(strategy: Strategy) -> None:
    """The agent who served the caller last is offered first when free and eligible, even from a higher tier."""
    free = [*TABLE, cand(9, idle=99999.0, calls=99, talk=99999.0, order=99, penalty=5, seq=99,
                         skills={"billing": 2})]
    got = order(strategy, free, need=Need("billing", 2), sticky=9)
    assert got[0] == 9
    assert got.count(9) == 1


def test_sticky_agent_who_is_not_free_or_not_eligible_is_ignored() -> None:
    """A sticky agent missing from the free list, or lacking the skill level, leaves normal routing alone."""
    normal = order(Strategy.LONGEST_IDLE, need=Need("billing", 3))
    assert order(Strategy.LONGEST_IDLE, need=Need("billing", 3), sticky=42) == normal
    assert order(Strategy.LONGEST_IDLE, need=Need("billing", 3), sticky=5) == normal
    assert 5 not in normal  # agent 5 has billing 1


def test_random_uses_the_rng_same_seed_same_order() -> None:
    """RANDOM depends on the seed only: same seed same order (even from a shuffled list), other seeds differ."""
    free = [cand(i) for i in range(1, 11)]
    first = order(Strategy.RANDOM, free, seed=7)
    assert order(Strategy.RANDOM, free[::-1], seed=7) == first
    assert sorted(first) == list(range(1, 11))
    others = {tuple(order(Strategy.RANDOM, free, seed=s)) for s in range(20)}
    assert len(others) > 10


def test_random_keeps_penalty_tiers() -> None:
    """A random order still never puts a higher tier before a lower one."""
    free = [cand(i, penalty=i % 2) for i in range(1, 9)]
    for seed in range(10):
        got = order(Strategy.RANDOM, free, seed=seed)
        assert [i % 2 for i in got] == [0, 0, 0, 0, 1, 1, 1, 1]


def test_nobody_eligible_gives_an_empty_list() -> None:
    """No free agent has the skill: nothing to offer."""
    assert order(Strategy.SKILLS, need=Need("french")) == []
    assert order(Strategy.RING_ALL, [], need=Need()) == []


# ---- skills and widening --------------------------------------------------------------------

WIDENING = Need("billing", 8, (Widening(after=60.0, min_level=5), Widening(after=180.0, min_level=2)))


def test_required_level_drops_at_each_widening_step() -> None:
    """Level 8 until 60 s, 5 from 60 s, 2 from 180 s."""
    assert [required_level(WIDENING, w) for w in (0.0, 59.9, 60.0, 179.0, 180.0, 3600.0)] == [8, 8, 5, 5, 2, 2]


def test_widening_steps_in_any_order_never_raise_the_bar() -> None:
    """Steps listed out of order, or one with a higher level, cannot make the requirement stricter."""
    need = Need("billing", 6, (Widening(180.0, 2), Widening(60.0, 5), Widening(120.0, 9)))
    assert [required_level(need, w) for w in (0.0, 60.0, 120.0, 180.0)] == [6, 5, 5, 2]


def test_caller_needing_level_8_gets_a_level_5_agent_only_after_the_widening_time() -> None:
    """Only a level-5 agent is free: nobody is offered before 60 s, the level-5 agent from 60 s on."""
    free = [cand(1, skills={"billing": 5}), cand(2, skills={"billing": 3}), cand(3, skills={"sales": 10})]
    assert order(Strategy.SKILLS, free, need=WIDENING, waited=59.0) == []
    assert order(Strategy.SKILLS, free, need=WIDENING, waited=60.0) == [1]
    assert order(Strategy.SKILLS, free, need=WIDENING, waited=200.0) == [1, 2]


def test_widening_to_level_zero_admits_agents_without_the_skill() -> None:
    """A last step to level 0 means 'anyone': an agent without the skill becomes eligible."""
    need = Need("billing", 5, (Widening(600.0, 0),))
    sales = cand(1, skills={"sales": 7})
    assert not eligible(sales, need, 599.0)
    assert eligible(sales, need, 600.0)


def test_eligible_rules() -> None:
    """No skill needed: anyone; a skill needed: the level in force, missing skill counts as 0."""
    agent = cand(1, skills={"billing": 5, "french": 2})
    assert eligible(agent, Need(), 0.0)
    assert eligible(agent, Need("billing"), 0.0)
    assert eligible(agent, Need("billing", 5), 0.0)
    assert not eligible(agent, Need("billing", 6), 0.0)
    assert not eligible(agent, Need("german"), 0.0)
    assert not eligible(agent, Need("french", 3), 0.0)
    assert eligible(agent, Need("french", 3, (Widening(30.0, 2),)), 30.0)


# ---- fairness across queues ------------------------------------------------------------------

NOW = 10_000.0
AGENT = cand(1, skills={"billing": 6})


def call(key: object, queue: str, waited: float, priority: int = 0, need: Need = Need()) -> Waiting:
    """A waiting call that joined ``waited`` seconds before NOW."""
    return Waiting(key, queue, NOW - waited, priority, need)


def test_longest_waiting_across_queues_goes_first() -> None:
    """Equal weights: the caller who waited longest, whatever the queue."""
    waiting = [call("a", "sales", 30.0), call("b", "support", 90.0), call("c", "sales", 60.0)]
    assert next_for_agent(AGENT, waiting, NOW, {"sales": 1.0, "support": 1.0}).key == "b"


def test_queue_weights_scale_the_waited_time() -> None:
    """Sales weighs 2: a sales caller of 50 s (score 100) beats a support caller of 90 s (score 90)."""
    waiting = [call("support", "support", 90.0), call("sales", "sales", 50.0)]
    assert next_for_agent(AGENT, waiting, NOW, {"sales": 2.0, "support": 1.0}).key == "sales"
    assert next_for_agent(AGENT, waiting, NOW, {"sales": 1.0, "support": 1.0}).key == "support"


def test_a_queue_without_a_weight_weighs_one() -> None:
    """A missing weight is 1.0, not 0: its callers still age."""
    waiting = [call("x", "other", 100.0), call("y", "sales", 60.0)]
    assert next_for_agent(AGENT, waiting, NOW, {"sales": 1.5}).key == "x"


def test_vip_goes_first_but_never_starves_others() -> None:
    """A VIP (priority 1 = 60 s) passes a caller of 40 s, but a caller who has waited 2 min beats a newer VIP."""
    vip = call("vip", "sales", 10.0, priority=1)  # score 70
    assert next_for_agent(AGENT, [call("n", "sales", 40.0), vip], NOW, {}).key == "vip"
    assert next_for_agent(AGENT, [call("n", "sales", 120.0), vip], NOW, {}).key == "n"
    # However many VIPs keep arriving, the normal caller's score keeps growing past each fresh one.
    fresh_vips = [call(f"v{i}", "sales", 5.0, priority=2) for i in range(50)]  # score 125 each
    assert next_for_agent(AGENT, [*fresh_vips, call("n", "sales", 126.0)], NOW, {}).key == "n"


def test_priority_step_sets_what_a_priority_point_is_worth() -> None:
    """With a 5-minute step a VIP of 10 s beats a normal caller of 2 minutes."""
    waiting = [call("n", "sales", 120.0), call("vip", "sales", 10.0, priority=1)]
    assert next_for_agent(AGENT, waiting, NOW, {}, priority_step=300.0).key == "vip"


def test_callback_keeps_its_place_by_the_original_join_time() -> None:
    """A callback entry carries the caller's old joined_at, so it beats someone who joined after it."""
    callback = Waiting("cb", "sales", NOW - 400.0, 0, Need())
    newer = call("new", "sales", 200.0)
    assert next_for_agent(AGENT, [newer, callback], NOW, {}).key == "cb"


def test_only_calls_the_agent_is_eligible_for() -> None:
    """A call needing a level the agent lacks is skipped until widening lets the agent take it."""
    hard = Need("billing", 8, (Widening(300.0, 5),))
    waiting = [call("hard", "billing", 200.0, need=hard), call("easy", "sales", 20.0)]
    assert next_for_agent(AGENT, waiting, NOW, {}).key == "easy"
    waiting = [call("hard", "billing", 301.0, need=hard), call("easy", "sales", 20.0)]
    assert next_for_agent(AGENT, waiting, NOW, {}).key == "hard"
    assert next_for_agent(AGENT, [call("hard", "billing", 10.0, need=hard)], NOW, {}) is None
    assert next_for_agent(AGENT, [], NOW, {}) is None


def test_ties_earliest_join_then_key_order() -> None:
    """Equal scores: the earlier joined_at wins; equal join times: the smaller key, whatever the list order."""
    # Same score 120: sales waited 60 s at weight 2, support waited 120 s at weight 1 (joined earlier).
    waiting = [call("s", "sales", 60.0), call("t", "support", 120.0)]
    assert next_for_agent(AGENT, waiting, NOW, {"sales": 2.0}).key == "t"
    same = [call(3, "sales", 50.0), call(1, "sales", 50.0), call(2, "sales", 50.0)]
    assert next_for_agent(AGENT, same, NOW, {}).key == 1
    assert next_for_agent(AGENT, same[::-1], NOW, {}).key == 1


def test_keys_that_cannot_be_compared_fall_back_to_list_order() -> None:
    """Opaque keys (here plain objects) still give a deterministic answer: the first in the list."""
    a, b = object(), object()
    same = [call(a, "sales", 50.0), call(b, "sales", 50.0)]
    assert next_for_agent(AGENT, same, NOW, {}).key is a
