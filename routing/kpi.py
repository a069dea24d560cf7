"""Contact-center KPIs from call outcome records, per queue, per agent and per interval.

Definitions (the boundary rules are part of the contract, tests pin them):

* a **short abandon** is a call that was not answered and whose wait was ≤ ``short_abandon_s``
  (default 5 s); it is counted separately and left out of offered, abandoned and every rate;
* **offered** = all calls − short abandons; **abandoned** = unanswered calls that waited longer,
  except those whose caller chose to leave a **voicemail** (an overflow offer), counted apart: they
  stay in offered (not answered) but are not abandons;
* **answer rate** = answered / offered;
* **service level X/Y**: answered with a wait **≤ Y s** (the boundary counts) / offered;
* **ASA** = total wait of answered calls / answered; **AHT** = (talk + after-call work) / answered;
  **ACW** = after-call work / answered;
* **longest wait**: the longest wait of any call, answered or not (short abandons included);
* **missed calls**: offers that rang an agent and were not answered (ring-no-answer);
* **occupancy** (per agent) = (reserved + on call + wrap-up) / (available + reserved + on call + wrap-up);
  not-ready time counts for neither side.

Ratios are ``None`` when their denominator is zero: "no calls" is not "0 %".
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime


@dataclass(frozen=True)
class CallOutcome:
    """What happened to one queued call."""

    call_id: str
    queue_id: str
    enqueued_at: datetime
    wait_s: float  # enqueue → answer, or enqueue → caller hung up
    answered: bool
    agent_id: str | None = None
    talk_s: float = 0.0
    acw_s: float = 0.0
    missed_by: tuple[str, ...] = ()  # agents that let it ring without answering, in order
    voicemail: bool = False  # not answered: the caller left a voicemail instead of waiting


@dataclass(frozen=True)
class AgentTime:
    """Seconds one agent spent in each state over an interval."""

    agent_id: str
    available_s: float = 0.0
    reserved_s: float = 0.0
    on_call_s: float = 0.0
    wrap_up_s: float = 0.0
    not_ready_s: float = 0.0


@dataclass(frozen=True)
class QueueKpis:
    calls: int
    offered: int
    answered: int
    abandoned: int
    short_abandoned: int
    answer_rate: float | None
    service_level: float | None
    service_target_s: float
    asa_s: float | None
    aht_s: float | None
    acw_s: float | None
    longest_wait_s: float | None
    missed_calls: int
    voicemail: int = 0


@dataclass(frozen=True)
class AgentKpis:
    agent_id: str
    answered: int
    aht_s: float | None
    acw_s: float | None
    missed_calls: int
    occupancy: float | None


def _ratio(top: float, bottom: float) -> float | None:
    return top / bottom if bottom else None


def _check_thresholds(*, service_target_s: float, short_abandon_s: float) -> None:
    if service_target_s < 0 or short_abandon_s < 0:
        raise ValueError(
            f"thresholds must be ≥ 0 s, got service_target_s={service_target_s!r}, short_abandon_s={short_abandon_s!r}"
        )


def queue_kpis(
    *, outcomes: Iterable[CallOutcome], service_target_s: float = 20.0, short_abandon_s: float = 5.0
) -> QueueKpis:
    """KPIs over ``outcomes`` (filter them to one queue or interval first, or use :func:`kpis_by_interval`)."""
    _check_thresholds(service_target_s=service_target_s, short_abandon_s=short_abandon_s)
    rows = list(outcomes)
    answered = [o for o in rows if o.answered]
    short = [o for o in rows if not o.answered and not o.voicemail and o.wait_s <= short_abandon_s]
    voicemail = sum(1 for o in rows if o.voicemail and not o.answered)
    abandoned = len(rows) - len(answered) - len(short) - voicemail
    offered = len(rows) - len(short)
    within = sum(1 for o in answered if o.wait_s <= service_target_s)
    talk = sum(o.talk_s for o in answered)
    acw = sum(o.acw_s for o in answered)
    return QueueKpis(
        calls=len(rows),
        offered=offered,
        answered=len(answered),
        abandoned=abandoned,
        short_abandoned=len(short),
        answer_rate=_ratio(len(answered), offered),
        service_level=_ratio(within, offered),
        service_target_s=service_target_s,
        asa_s=_ratio(sum(o.wait_s for o in answered), len(answered)),
        aht_s=_ratio(talk + acw, len(answered)),
        acw_s=_ratio(acw, len(answered)),
        longest_wait_s=max((o.wait_s for o in rows), default=None),
        missed_calls=sum(len(o.missed_by) for o in rows),
        voicemail=voicemail,
    )


def occupancy(*, time: AgentTime) -> float | None:
    busy = time.reserved_s + time.on_call_s + time.wrap_up_s
    return _ratio(busy, busy + time.available_s)


def agent_kpis(*, agent_id: str, outcomes: Iterable[CallOutcome], time: AgentTime | None = None) -> AgentKpis:
    rows = list(outcomes)
    handled = [o for o in rows if o.answered and o.agent_id == agent_id]
    talk = sum(o.talk_s for o in handled)
    acw = sum(o.acw_s for o in handled)
    if time is not None and time.agent_id != agent_id:
        raise ValueError(f"agent time is for {time.agent_id!r}, not {agent_id!r}")
    return AgentKpis(
        agent_id=agent_id,
        answered=len(handled),
        aht_s=_ratio(talk + acw, len(handled)),
        acw_s=_ratio(acw, len(handled)),
        missed_calls=sum(o.missed_by.count(agent_id) for o in rows),
        occupancy=None if time is None else occupancy(time=time),
    )


def interval_start(at: datetime, *, interval_s: int) -> datetime:
    """The start of the ``interval_s``-long interval (aligned on the UTC epoch) that holds ``at``."""
    if interval_s <= 0:
        raise ValueError(f"interval_s must be > 0, got {interval_s!r}")
    if at.tzinfo is None:
        raise ValueError(f"timestamps must be timezone-aware, got naive {at.isoformat()}")
    epoch = at.timestamp()
    return datetime.fromtimestamp(epoch - epoch % interval_s, UTC)


def kpis_by_interval(
    *,
    outcomes: Sequence[CallOutcome],
    interval_s: int = 900,
    service_target_s: float = 20.0,
    short_abandon_s: float = 5.0,
) -> dict[tuple[str, datetime], QueueKpis]:
    """KPIs per (queue, interval start); a call belongs to the interval in which it was enqueued."""
    groups: dict[tuple[str, datetime], list[CallOutcome]] = defaultdict(list)
    for o in outcomes:
        groups[(o.queue_id, interval_start(o.enqueued_at, interval_s=interval_s))].append(o)
    return {
        key: queue_kpis(outcomes=rows, service_target_s=service_target_s, short_abandon_s=short_abandon_s)
        for key, rows in sorted(groups.items())
    }
