"""`megachat usage`: tokens and cost by model and by day, from the stored replies (every branch)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from megachat.chat.conversation import Conversation
from megachat.chat.store import Store
from tests.cli.conftest import CLI
from tests.fakeserver import sse_text_reply

DAY1 = datetime(2026, 11, 1, 9, 30, tzinfo=UTC).timestamp()
DAY2 = datetime(2026, 11, 2, 23, 59, tzinfo=UTC).timestamp()
V4_FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "megachat-v4.db"


def _reply(conv: Conversation, when: float, usage: dict | None, cost: float | None) -> None:
    reply = conv.add_assistant("answer", status="complete")
    reply.created_at, reply.usage, reply.cost_usd = when, usage, cost


def seed(db: Path) -> dict[str, str]:
    """Sonnet on day 1 with a regenerated sibling (both paid for), an unpriced proxy model and
    Opus on day 2, a failed reply without usage (nothing known, not counted), an empty one."""
    sonnet = Conversation(model="claude-sonnet-4", created_at=DAY1)
    sonnet.add_user("q").created_at = DAY1
    # 1,000 x 3 + 500 x 15 + 2,000 x 3.75 + 10,000 x 0.30 = $0.021
    full = {
        "input_tokens": 1000,
        "output_tokens": 500,
        "cache_creation_input_tokens": 2000,
        "cache_read_input_tokens": 10000,
    }
    _reply(sonnet, DAY1, full, 0.021)
    sonnet.branch_reply(sonnet.messages[-1])
    _reply(sonnet, DAY1 + 60, {"input_tokens": 1000, "output_tokens": 200}, 0.006)
    proxy = Conversation(model="proxy-x", created_at=DAY2)
    proxy.add_user("q").created_at = DAY2
    _reply(proxy, DAY2, {"input_tokens": 100, "output_tokens": 50}, None)
    opus = Conversation(model="claude-opus-4", created_at=DAY2)
    opus.add_user("q").created_at = DAY2
    _reply(opus, DAY2, {"input_tokens": 1200, "output_tokens": 3400}, 0.273)
    failed = opus.add_assistant("", status="error")
    failed.created_at = DAY2
    empty = Conversation(model="claude-opus-4", created_at=DAY2)
    empty.add_user("never answered").created_at = DAY2
    with Store(db) as store:
        store.create_many([sonnet, proxy, opus, empty])
    return {"sonnet": sonnet.id, "proxy": proxy.id, "opus": opus.id, "empty": empty.id}


def _row(replies: int, inp: int, out: int, write: int, read: int, cost, unpriced: int) -> dict:
    return {
        "replies": replies,
        "input_tokens": inp,
        "output_tokens": out,
        "cache_write_tokens": write,
        "cache_read_tokens": read,
        "cost_usd": cost,
        "unpriced_replies": unpriced,
    }


def _approx(report: dict) -> dict:
    for rows in (report["by_model"], report["by_day"], [report["total"]]):
        for row in rows:
            if row["cost_usd"] is not None:
                row["cost_usd"] = pytest.approx(row["cost_usd"])
    return report


def test_usage_json_by_model_and_day_every_branch_counts(cli: CLI) -> None:
    seed(cli.data_dir / "megachat.db")
    result = cli.call("usage", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == _approx(
        {
            "by_model": [
                {"model": "claude-opus-4", **_row(1, 1200, 3400, 0, 0, 0.273, 0)},
                {"model": "claude-sonnet-4", **_row(2, 2000, 700, 2000, 10000, 0.027, 0)},
                {"model": "proxy-x", **_row(1, 100, 50, 0, 0, None, 1)},
            ],
            "by_day": [
                {"day": "2026-11-01", **_row(2, 2000, 700, 2000, 10000, 0.027, 0)},
                {"day": "2026-11-02", **_row(2, 1300, 3450, 0, 0, 0.273, 1)},
            ],
            "total": _row(4, 3300, 4150, 2000, 10000, 0.3, 1),
        }
    )


def test_usage_since_a_day(cli: CLI) -> None:
    seed(cli.data_dir / "megachat.db")
    report = json.loads(cli.call("usage", "--since", "2026-11-02", "--json").stdout)
    assert [r["day"] for r in report["by_day"]] == ["2026-11-02"]
    assert [r["model"] for r in report["by_model"]] == ["claude-opus-4", "proxy-x"]
    assert report["total"]["replies"] == 2
    later = json.loads(cli.call("usage", "--since", "2026-11-03", "--json").stdout)
    assert later == {"by_model": [], "by_day": [], "total": _row(0, 0, 0, 0, 0, None, 0)}


def test_usage_text_table(cli: CLI) -> None:
    seed(cli.data_dir / "megachat.db")
    result = cli.call("usage")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    header = lines[0].split()
    assert header[0] == "model" and header[-1] == "cost"
    rows = {line.split()[0]: line.split() for line in lines if line.strip()}
    assert rows["claude-sonnet-4"][1:] == ["2", "2,000", "700", "2,000", "10,000", "$0.03"]
    assert rows["proxy-x"][-1] == "?"  # unknown, never $0
    assert rows["2026-11-02"][-1] == "$0.27+?"  # part of the day is unpriced
    assert rows["total"][-1] == "$0.30+?"
    # columns line up: every row of a table is as wide as its header
    model_table = lines[: lines.index("")]
    assert len({len(line) for line in model_table}) == 1
    assert "1 of 4 replies unpriced" in result.stdout


@pytest.mark.parametrize("bad", ["yesterday", "2026-13-01", "01/11/2026", ""])
def test_usage_bad_since_is_a_usage_error(cli: CLI, bad: str) -> None:
    result = cli.call("usage", "--since", bad)
    assert result.returncode == 2
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1
    assert "--since" in result.stderr and "YYYY-MM-DD" in result.stderr


def test_usage_on_an_empty_database(cli: CLI) -> None:
    report = json.loads(cli.call("usage", "--json").stdout)
    assert report == {"by_model": [], "by_day": [], "total": _row(0, 0, 0, 0, 0, None, 0)}
    assert cli.call("usage").returncode == 0


def test_an_asked_reply_is_priced_stored_and_counted(cli: CLI) -> None:
    usage = {
        "input_tokens": 1000,
        "output_tokens": 500,
        "cache_creation_input_tokens": 2000,
        "cache_read_input_tokens": 10000,
    }
    cli.server.enqueue(sse_text_reply("Priced.", model="claude-sonnet-4", usage=usage))
    result = cli.run("ask", "-m", "claude-sonnet-4", "how much?")
    assert result.returncode == 0, result.stderr
    total = json.loads(cli.call("usage", "--json").stdout)["total"]
    assert total == {**_row(1, 1000, 500, 2000, 10000, 0, 0), "cost_usd": pytest.approx(0.021)}
    [row] = json.loads(cli.call("list", "--json").stdout)
    assert (row["input_tokens"], row["output_tokens"]) == (1000, 500)
    assert row["cost_usd"] == pytest.approx(0.021)


def _read_only_mount(target: Path) -> None:
    from tests.faults.test_disk_cli import _mount

    if os.geteuid() != 0 or not _mount(target, "size=4m"):
        pytest.skip("needs root and mount to make a real read-only filesystem")


def _remount_ro(target: Path) -> None:
    done = subprocess.run(["mount", "-o", "remount,ro", str(target)], capture_output=True)
    assert done.returncode == 0, done.stderr


def test_usage_and_list_read_a_read_only_database(cli: CLI) -> None:
    target = cli.data_dir
    _read_only_mount(target)
    try:
        seed(target / "megachat.db")
        _remount_ro(target)
        report = json.loads(cli.call("usage", "--json").stdout)
        assert report["total"]["replies"] == 4
        listed = json.loads(cli.call("list", "--json").stdout)
        assert {r["id"]: r["input_tokens"] for r in listed}
    finally:
        subprocess.run(["umount", "-l", str(target)], capture_output=True)


def test_a_read_only_database_older_than_prices_reports_every_reply_unpriced(cli: CLI) -> None:
    """A v4 file that cannot be written is never migrated: it has no cost column at all."""
    target = cli.data_dir
    _read_only_mount(target)
    try:
        shutil.copyfile(V4_FIXTURE, target / "megachat.db")
        _remount_ro(target)
        result = cli.call("usage", "--json")
        assert result.returncode == 0, result.stderr
        total = json.loads(result.stdout)["total"]
        assert total["replies"] >= 1
        assert total["cost_usd"] is None and total["unpriced_replies"] == total["replies"]
        listed = json.loads(cli.call("list", "--json").stdout)
        assert all(r["cost_usd"] is None for r in listed)
        assert any(r["input_tokens"] for r in listed)
    finally:
        subprocess.run(["umount", "-l", str(target)], capture_output=True)
