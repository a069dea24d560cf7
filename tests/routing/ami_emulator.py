"""An Asterisk Manager Interface emulator for the AMI bridge tests.

It speaks AMI as Asterisk documents it: on connect the banner ``Asterisk Call Manager/7.0.3``;
then messages of ``Key: Value`` lines ending with an empty line (``\\r\\n\\r\\n``). Requests carry
``Action:`` and ``ActionID:``; every response and every event that belongs to an action echoes the
``ActionID``. Lists (``QueueSummary``, ``QueueStatus``) answer ``Response: Success`` with
``EventList: start`` and ``Message: … will follow``, then one event per item, then a ``…Complete``
event with ``EventList: Complete`` and ``ListItems``. ``Originate`` with ``Async: true`` answers
``Originate successfully queued``, then an ``OriginateResponse`` event. Message texts are the ones
Asterisk's manager and app_queue send ("Added interface to queue", "Unable to add interface:
Already there", "Interface paused successfully", "Redirect successful", …).

Test controls: ``silent`` (actions never answered), ``drop_on`` (close the connection when that
action arrives, once), ``unanswered`` (channels whose originate fails with reason 3, no answer).
"""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field

EOL = "\r\n"


@dataclass
class Member:
    interface: str
    name: str
    paused: bool = False
    reason: str = ""
    penalty: int = 0
    calls_taken: int = 0


@dataclass
class Caller:
    channel: str
    number: str
    wait_s: int = 0


@dataclass
class Queue:
    name: str
    strategy: str = "rrmemory"
    members: dict[str, Member] = field(default_factory=dict)
    callers: list[Caller] = field(default_factory=list)
    completed: int = 0
    abandoned: int = 0


def _message(fields: list[tuple[str, object]]) -> bytes:
    return (EOL.join(f"{k}: {v}" for k, v in fields) + EOL + EOL).encode()


def _parse(block: str) -> dict[str, list[str]]:
    headers: dict[str, list[str]] = {}
    for line in block.split(EOL):
        key, sep, value = line.partition(": ")
        if sep:
            headers.setdefault(key.lower(), []).append(value)
    return headers


class AmiEmulator:
    def __init__(self, *, username: str = "skycall", secret: str = "not-a-real-secret") -> None:
        self.username, self.secret = username, secret
        self.queues: dict[str, Queue] = {}
        self.channels: set[str] = set()
        self.dialplan: dict[tuple[str, str], str] = {}  # (context, exten) → queue that extension runs
        self.silent: set[str] = set()
        self.drop_on: set[str] = set()
        self.unanswered: set[str] = set()
        self.received: list[dict[str, list[str]]] = []
        self.connections = 0
        self._writers: set[asyncio.StreamWriter] = set()
        self._server: asyncio.Server | None = None
        self._unique = itertools.count(1)

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return int(self._server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        for writer in list(self._writers):
            writer.close()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def actions(self, name: str) -> list[dict[str, list[str]]]:
        return [a for a in self.received if a["action"][0].lower() == name.lower()]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.add(writer)
        writer.write(f"Asterisk Call Manager/7.0.3{EOL}".encode())
        logged_in = False
        try:
            while True:
                try:
                    raw = await reader.readuntil((EOL + EOL).encode())
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                request = _parse(raw.decode().strip())
                if "action" not in request:
                    continue
                self.received.append(request)
                name = request["action"][0]
                action_id = request.get("actionid", [""])[0]
                if name in self.drop_on:
                    self.drop_on.discard(name)
                    return
                if name in self.silent:
                    continue
                if name.lower() == "login":
                    logged_in = self._login(writer, request, action_id)
                elif not logged_in:
                    writer.write(
                        _message([("Response", "Error"), ("ActionID", action_id), ("Message", "Permission denied")])
                    )
                else:
                    self._answer(writer, name, request, action_id)
                await writer.drain()
        finally:
            self._writers.discard(writer)
            writer.close()

    def _login(self, writer: asyncio.StreamWriter, request: dict[str, list[str]], action_id: str) -> bool:
        ok = request.get("username") == [self.username] and request.get("secret") == [self.secret]
        if not ok:
            writer.write(
                _message([("Response", "Error"), ("ActionID", action_id), ("Message", "Authentication failed")])
            )
            return False
        writer.write(
            _message([("Response", "Success"), ("ActionID", action_id), ("Message", "Authentication accepted")])
        )
        writer.write(
            _message([("Event", "FullyBooted"), ("Privilege", "system,all"), ("Uptime", 1), ("Status", "Fully Booted")])
        )
        return True

    def _answer(self, writer: asyncio.StreamWriter, name: str, request: dict[str, list[str]], action_id: str) -> None:
        one = {k: v[0] for k, v in request.items()}

        def respond(ok: bool, message: str, *extra: tuple[str, object]) -> None:
            fields = [("Response", "Success" if ok else "Error"), ("ActionID", action_id), ("Message", message)]
            writer.write(_message([*fields, *extra]))

        handler = getattr(self, "_" + name.lower(), None)
        if handler is None:
            respond(False, "Invalid/unknown command")
            return
        handler(writer, one, request, action_id, respond)

    # -- actions (named after AMI actions) ------------------------------------------------------

    def _ping(self, writer, one, request, action_id, respond) -> None:
        writer.write(_message([("Response", "Success"), ("ActionID", action_id), ("Ping", "Pong"), ("Timestamp", "0")]))

    def _queuesummary(self, writer, one, request, action_id, respond) -> None:
        chosen = [q for q in self.queues.values() if one.get("queue") in (None, q.name)]
        respond(True, "Queue summary will follow", ("EventList", "start"))
        for q in chosen:
            free = sum(1 for m in q.members.values() if not m.paused)
            writer.write(
                _message(
                    [("Event", "QueueSummary"), ("ActionID", action_id), ("Queue", q.name),
                     ("LoggedIn", len(q.members)), ("Available", free), ("Callers", len(q.callers)),
                     ("HoldTime", 12), ("TalkTime", 95),
                     ("LongestHoldTime", max((c.wait_s for c in q.callers), default=0))]
                )
            )  # fmt: skip
        writer.write(
            _message([("Event", "QueueSummaryComplete"), ("ActionID", action_id), ("EventList", "Complete"),
                      ("ListItems", len(chosen))])
        )  # fmt: skip

    def _queuestatus(self, writer, one, request, action_id, respond) -> None:
        chosen = [q for q in self.queues.values() if one.get("queue") in (None, q.name)]
        respond(True, "Queue status will follow", ("EventList", "start"))
        items = 0
        for q in chosen:
            items += 1
            writer.write(
                _message(
                    [("Event", "QueueParams"), ("ActionID", action_id), ("Queue", q.name), ("Max", 0),
                     ("Strategy", q.strategy), ("Calls", len(q.callers)), ("Holdtime", 12), ("TalkTime", 95),
                     ("Completed", q.completed), ("Abandoned", q.abandoned), ("ServiceLevel", 20),
                     ("ServicelevelPerf", "80.0"), ("ServicelevelPerf2", "80.0"), ("Weight", 0)]
                )
            )  # fmt: skip
            for m in q.members.values():
                items += 1
                writer.write(
                    _message(
                        [("Event", "QueueMember"), ("ActionID", action_id), ("Queue", q.name), ("Name", m.name),
                         ("Location", m.interface), ("StateInterface", m.interface), ("Membership", "dynamic"),
                         ("Penalty", m.penalty), ("CallsTaken", m.calls_taken), ("LastCall", 0), ("LastPause", 0),
                         ("LoginTime", 0), ("InCall", 0), ("Status", 5 if m.paused else 1),
                         ("Paused", int(m.paused)), ("PausedReason", m.reason), ("Wrapuptime", 0)]
                    )
                )  # fmt: skip
            for position, c in enumerate(q.callers, start=1):
                items += 1
                writer.write(
                    _message(
                        [("Event", "QueueEntry"), ("ActionID", action_id), ("Queue", q.name),
                         ("Position", position), ("Channel", c.channel), ("Uniqueid", f"1700000000.{position}"),
                         ("CallerIDNum", c.number), ("CallerIDName", "unknown"), ("ConnectedLineNum", "unknown"),
                         ("ConnectedLineName", "unknown"), ("Wait", c.wait_s), ("Priority", 0)]
                    )
                )  # fmt: skip
        writer.write(
            _message([("Event", "QueueStatusComplete"), ("ActionID", action_id), ("EventList", "Complete"),
                      ("ListItems", items)])
        )  # fmt: skip

    def _queueadd(self, writer, one, request, action_id, respond) -> None:
        q = self.queues.get(one.get("queue", ""))
        if q is None:
            respond(False, "Unable to add interface to queue: No such queue")
        elif one["interface"] in q.members:
            respond(False, "Unable to add interface: Already there")
        else:
            paused = one.get("paused", "false").lower() in ("true", "1", "yes")
            name = one.get("membername", one["interface"])
            q.members[one["interface"]] = Member(one["interface"], name, paused, penalty=int(one.get("penalty", 0)))
            respond(True, "Added interface to queue")

    def _queueremove(self, writer, one, request, action_id, respond) -> None:
        q = self.queues.get(one.get("queue", ""))
        if q is None:
            respond(False, "Unable to remove interface from queue: No such queue")
        elif q.members.pop(one["interface"], None) is None:
            respond(False, "Unable to remove interface: Not there")
        else:
            respond(True, "Removed interface from queue")

    def _queuepause(self, writer, one, request, action_id, respond) -> None:
        paused = one.get("paused", "").lower() in ("true", "1", "yes")
        found = [
            q.members[one["interface"]]
            for q in self.queues.values()
            if one.get("queue") in (None, q.name) and one["interface"] in q.members
        ]
        if not found:
            respond(False, "Interface not found")
            return
        for m in found:
            m.paused, m.reason = paused, one.get("reason", "") if paused else ""
        respond(True, "Interface paused successfully" if paused else "Interface unpaused successfully")

    def _redirect(self, writer, one, request, action_id, respond) -> None:
        channel = one.get("channel", "")
        if channel not in self.channels:
            respond(False, f"Channel does not exist: {channel}")
            return
        queue = self.dialplan.get((one.get("context", ""), one.get("exten", "")))
        if queue is not None:
            self.queues[queue].callers.append(Caller(channel, "+861012345678"))
        respond(True, "Redirect successful")

    def _originate(self, writer, one, request, action_id, respond) -> None:
        channel = one.get("channel", "")
        respond(True, "Originate successfully queued")
        answered = channel not in self.unanswered
        unique = f"1700000001.{next(self._unique)}"
        writer.write(
            _message(
                [("Event", "OriginateResponse"), ("Privilege", "call,all"), ("ActionID", action_id),
                 ("Response", "Success" if answered else "Failure"), ("Channel", channel),
                 ("Context", one.get("context", "")), ("Exten", one.get("exten", "")),
                 ("Reason", 4 if answered else 3), ("Uniqueid", unique if answered else "<null>"),
                 ("CallerIDNum", "<unknown>"), ("CallerIDName", "<unknown>")]
            )
        )  # fmt: skip
