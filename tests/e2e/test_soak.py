"""A brief no-loss soak (the full one is `make soak`): tasks against a target that fails 30 % of
calls with 503, hangs past the attempt's timeout or closes the connection, while the runner is
killed twice with SIGKILL. Its own local stack, state directory and target process.

The lanes' VisibilityTimeout is shortened from the template's 360 s (how long a message that a
killed runner had received, but not yet claimed, stays hidden) so the test ends in well under
a minute and a half; `make soak` keeps the template's value."""

from __future__ import annotations

from pathlib import Path

from bench import soak


def test_no_task_is_lost_or_finished_twice_while_the_runner_is_killed(tmp_path: Path) -> None:
    lines: list[str] = []
    result = soak.run(
        tasks=100, kills=2, clients=4, lane_visibility=8, claim_margin=2.0, schedule_seconds=3.0,
        hang=0.03, close=0.03, hang_seconds=3.0, attempt_timeout=1, settle_timeout=60.0,
        workdir=tmp_path, say=lines.append,
    )
    print(result["verdict"])
    context = "\n".join(lines) + "\n" + result["verdict"]
    assert len(result["kills"]) == 2, context
    assert result["createErrors"] == 0, context
    assert result["created"] == 100, context
    assert result["lost"] == 0, context
    assert result["doubleFinished"] == 0, context
    assert result["completedWithout2xx"] == 0, context
    assert result["changedAfterFinishing"] == 0, context
    assert result["terminalTransitionsMissingFromStream"] == 0, context
    assert result["strandedTimeouts"] == 0, context  # a lost message the sweep timed out
    assert result["pass"], context
