"""Routing at start-up: the default queues (``routing/defaults.yaml``) and the routing agents of
the staff accounts, then the running :class:`~skycall.routing_service.RoutingService`.

Queues are created only when missing, and agents only when missing, so what supervisors change
afterwards (an agent's skills and languages, a queue edited in the database) survives restarts.
Every staff account with the role agent or supervisor is a routing agent whose id is its username;
an account created while the server runs gets its agent the first time it opens the desk
(:meth:`RoutingService.ensure_agent`).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import date
from pathlib import Path
from typing import Annotated

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from console.tables import User
from routing.engine import RoutingEngine
from routing.hours import parse_hours
from routing.models import AgentProfile, PriorityRules, QueueSpec
from routing.queries import RoutingError
from skycall.events import EventBus
from skycall.routing_service import CallLegs, RoutingService, bus_publisher
from skycall.settings import Settings

log = logging.getLogger(__name__)

DEFAULT_QUEUES = Path(__file__).resolve().parent.parent / "routing" / "defaults.yaml"
AGENT_ROLES = ("agent", "supervisor")
"""Staff roles that take calls: each such account is a routing agent (id = username)."""

Level = Annotated[int, Field(ge=1, le=5)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class QueueNames(_Strict):
    zh: str = Field(min_length=1)
    en: str = Field(min_length=1)


class HoursIn(_Strict):
    weekly: dict[str, str] = Field(min_length=1, description="weekday or range → 'HH:MM-HH:MM[,HH:MM-HH:MM]'")
    holidays: tuple[date, ...] = ()


class QueueIn(_Strict):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")
    name: QueueNames
    language: str = Field(min_length=2, max_length=8)
    skills: dict[str, Level] = Field(default_factory=dict)
    ring_timeout_s: int = Field(20, ge=1, le=600)
    wrap_up_s: int = Field(30, ge=0, le=3600)
    red_list_first: bool = True
    caller_level: bool = True
    hours: HoursIn | None = None


class AgentDefaults(_Strict):
    languages: tuple[str, ...] = Field(("zh", "en"), min_length=1)
    skill_level: Level = 3


class RoutingDefaults(_Strict):
    """The contents of ``routing/defaults.yaml`` (or the file named by ``SKYCALL_ROUTING_QUEUES_PATH``)."""

    timezone: str = "Asia/Shanghai"
    agent_defaults: AgentDefaults = AgentDefaults()
    queues: tuple[QueueIn, ...] = Field(min_length=1)

    @field_validator("queues")
    @classmethod
    def _unique_ids(cls, queues: tuple[QueueIn, ...]) -> tuple[QueueIn, ...]:
        ids = [q.id for q in queues]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"queue ids must be unique; repeated: {', '.join(dupes)}")
        return queues

    @model_validator(mode="after")
    def _hours_parse(self) -> RoutingDefaults:
        self.queue_specs()  # a bad weekday, interval or time zone is refused here, naming the queue
        return self

    def queue_specs(self) -> list[QueueSpec]:
        specs = []
        for q in self.queues:
            try:
                hours = (
                    None
                    if q.hours is None
                    else parse_hours(timezone=self.timezone, weekly=q.hours.weekly, holidays=q.hours.holidays)
                )
            except (ValueError, KeyError) as exc:
                raise ValueError(f"queue {q.id!r}: hours: {exc}") from None
            specs.append(
                QueueSpec(
                    queue_id=q.id,
                    language=q.language,
                    required_skills=dict(q.skills),
                    priority_rules=PriorityRules(red_list_first=q.red_list_first, caller_level=q.caller_level),
                    ring_timeout_s=float(q.ring_timeout_s),
                    wrap_up_s=float(q.wrap_up_s),
                    name=f"{q.name.zh} · {q.name.en}",
                    hours=hours,
                )
            )
        return specs

    def agent_profile(self, agent_id: str, *, name: str = "") -> AgentProfile:
        """A new agent: the default languages and every skill a default queue requires."""
        skills = {skill: self.agent_defaults.skill_level for q in self.queues for skill in q.skills}
        return AgentProfile(
            agent_id=agent_id, skills=skills, languages=frozenset(self.agent_defaults.languages), name=name
        )


class RoutingDefaultsError(ValueError):
    """The queue file is missing or wrong; the message names the entry and what to write."""


def load_routing_defaults(path: Path | None = None) -> RoutingDefaults:
    source = path or DEFAULT_QUEUES
    try:
        raw = yaml.safe_load(source.read_text(encoding="utf-8"))
    except OSError as exc:
        raise RoutingDefaultsError(f"cannot read the routing queues file {source}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise RoutingDefaultsError(f"{source} is not valid YAML: {exc}") from None
    try:
        return RoutingDefaults.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'file'}: {e['msg']}" for e in exc.errors())
        raise RoutingDefaultsError(f"{source}: {problems}") from None


def ensure_queues(routing: RoutingEngine, defaults: RoutingDefaults) -> list[str]:
    """Create the default queues that do not exist yet; returns the ids created."""
    created = []
    for spec in defaults.queue_specs():
        try:
            routing.queue(queue_id=spec.queue_id)
        except RoutingError:
            routing.save_queue(queue=spec)
            created.append(spec.queue_id)
    return created


def sync_agents(routing: RoutingEngine, defaults: RoutingDefaults, sessions: sessionmaker[Session]) -> int:
    """A routing agent for every active staff account with the role agent or supervisor that has
    none yet; returns how many were created. Existing agents keep their skills and state."""
    with sessions() as db:
        staff = db.execute(
            select(User.username, User.display_name).where(User.role.in_(AGENT_ROLES), User.active.is_(True))
        ).all()
    created = 0
    for username, display_name in staff:
        try:
            routing.agent(agent_id=username)
        except RoutingError:
            routing.save_agent(agent=defaults.agent_profile(username, name=display_name or ""))
            created += 1
    return created


async def start_routing(
    settings: Settings, *, engine: Engine, sessions: sessionmaker[Session], bus: EventBus
) -> RoutingService:
    """Build the engine (publishing on ``bus`` from any thread), create the default queues and the
    staff's agents, subscribe to call ends and start the ticker. Call inside the running loop."""
    defaults = load_routing_defaults(settings.routing_queues_path)
    legs = CallLegs()
    routing = RoutingEngine(
        engine=engine,
        publish=bus_publisher(bus, asyncio.get_running_loop(), legs),
        number_key=settings.signing_key().encode(),
    )
    created = await asyncio.to_thread(ensure_queues, routing, defaults)
    agents = await asyncio.to_thread(sync_agents, routing, defaults, sessions)
    log.info("routing: %d default queues created, %d agents created", len(created), agents)
    service = RoutingService(
        engine=routing,
        sessions=sessions,
        legs=legs,
        new_agent=defaults.agent_profile,
        tick_s=settings.routing_tick_s,
        timezone=defaults.timezone,
    )
    bus.subscribe(service.on_event, name="routing")
    service.start()
    return service
