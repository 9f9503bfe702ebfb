"""tasks.list, tasks.create, tasks.update, tasks.delete on the real gateway."""

from __future__ import annotations

from claw.state.config import set_value
from claw.state.home import Home
from claw.tasks.store import TaskStore
from tests.gateway.live import call, run, running, ws_client


def test_tasks_methods(home: Home) -> None:
    set_value(home.config_file, "user.timezone", "Europe/Paris")

    async def main() -> None:
        async with running(home) as srv, ws_client(srv) as ws:
            r = await call(ws, "tasks.create", {"title": "Buy milk", "due": "2030-01-05 10:00"})
            task = r["result"]["task"]
            assert task["due"] == "2030-01-05T10:00:00+01:00" and task["remind"] is False
            r = await call(ws, "tasks.create", {"title": "Call", "due": "in 1h", "remind": True})
            call_id = r["result"]["task"]["id"]
            r = await call(ws, "tasks.list")
            assert [t["id"] for t in r["result"]["tasks"]] == [call_id, task["id"]]

            r = await call(ws, "tasks.update", {"id": task["id"][:4], "status": "done"})
            assert r["result"]["task"]["status"] == "done"
            r = await call(ws, "tasks.list", {"all": False})
            assert [t["id"] for t in r["result"]["tasks"]] == [call_id]
            r = await call(ws, "tasks.list", {"all": True})
            assert len(r["result"]["tasks"]) == 2
            r = await call(ws, "tasks.update", {"id": call_id, "due": "", "title": "Call Bob"})
            updated = r["result"]["task"]
            assert updated["due"] is None and updated["remind"] is False
            assert updated["title"] == "Call Bob"

            # errors: bad time and bad title are -32602 with a reason; unknown id -32004
            r = await call(ws, "tasks.create", {"title": "x", "due": "someday"})
            err = r["error"]
            assert err["code"] == -32602 and "tomorrow 9am" in err["data"]["hint"]
            r = await call(ws, "tasks.create", {"title": "x", "remind": True})
            assert r["error"]["code"] == -32602 and r["error"]["data"]["param"] == "remind"
            r = await call(ws, "tasks.create", {"title": "   "})
            assert r["error"]["code"] == -32602 and "title" in r["error"]["data"]["reason"]
            r = await call(ws, "tasks.create", {"title": "x", "agent_id": "../x"})
            assert r["error"]["code"] == -32602
            r = await call(ws, "tasks.update", {"id": "ffff0000", "status": "done"})
            assert r["error"]["code"] == -32004
            r = await call(ws, "tasks.update", {"id": call_id, "status": "later"})
            assert r["error"]["code"] == -32602 and r["error"]["data"]["param"] == "status"
            r = await call(ws, "tasks.update", {"id": call_id})
            assert r["error"]["code"] == -32602
            r = await call(ws, "tasks.list", {"all": "yes"})
            assert r["error"]["code"] == -32602

            r = await call(ws, "tasks.delete", {"id": call_id})
            assert r["result"] == {"deleted": call_id}
            r = await call(ws, "tasks.delete", {"id": call_id})
            assert r["error"]["code"] == -32004

    run(main)
    assert [t.title for t in TaskStore(home).list(include_done=True)] == ["Buy milk"]
