"""Reason classification: what the runner and the container end say, in words."""

from __future__ import annotations

from graders.sandbox import (
    INVALID_NOTEBOOK,
    KERNEL_DIED,
    OUT_OF_MEMORY,
    OUTPUT_TRUNCATED,
    SANDBOX_ERROR,
    TIMEOUT,
    UNKNOWN_KERNEL,
    NotebookOutcome,
    Reason,
    SandboxResult,
    classify,
)

LIMITS = {"mem_limit": 512 * 1024**2, "submission_timeout": 300, "output_limit": 4 * 1024**2}


def codes(outcome: NotebookOutcome | None, result: SandboxResult) -> list[str]:
    return [r.code for r in classify(outcome, result, LIMITS)]


def test_a_normal_run_has_no_reason() -> None:
    assert classify(NotebookOutcome("nb", "ok"), SandboxResult(), LIMITS) == []


def test_runner_statuses_map_to_reasons() -> None:
    ok = SandboxResult()
    assert codes(NotebookOutcome("nb", "timeout", "cells [2] ran past 30 s"), ok) == [TIMEOUT]
    assert codes(NotebookOutcome("nb", "unresponsive"), ok) == [TIMEOUT]
    assert codes(NotebookOutcome("nb", "kernel_died", "the kernel exited with code 0"), ok) == [
        KERNEL_DIED
    ]
    assert codes(NotebookOutcome("nb", "kernel_failed"), ok) == [KERNEL_DIED]
    assert codes(NotebookOutcome("nb", "unknown_kernel"), ok) == [UNKNOWN_KERNEL]


def test_memory_wins_over_a_dead_kernel_and_is_noted_otherwise() -> None:
    died = NotebookOutcome("nb", "kernel_died", "the kernel was killed by signal 9")
    reasons = classify(died, SandboxResult(oom_kills=1), LIMITS)
    assert reasons == [
        Reason(
            OUT_OF_MEMORY,
            "the kernel was killed by signal 9 after going over the memory limit (512M)",
        )
    ]
    assert codes(died, SandboxResult(oom_killed=True)) == [OUT_OF_MEMORY]
    assert codes(NotebookOutcome("nb", "ok"), SandboxResult(oom_kills=2)) == [OUT_OF_MEMORY]


def test_truncated_output_adds_a_reason() -> None:
    outcome = NotebookOutcome("nb", "timeout", "x", truncated_bytes=10)
    assert codes(outcome, SandboxResult()) == [TIMEOUT, OUTPUT_TRUNCATED]
    assert "4M output limit" in str(classify(outcome, SandboxResult(), LIMITS)[1])


def test_no_result_is_explained_by_the_container_end() -> None:
    assert codes(None, SandboxResult(timed_out=True)) == [TIMEOUT]
    assert "past 300 s" in str(classify(None, SandboxResult(timed_out=True), LIMITS)[0])
    assert codes(None, SandboxResult(oom_killed=True)) == [OUT_OF_MEMORY]
    assert codes(None, SandboxResult(output_overflow=True)) == [OUTPUT_TRUNCATED]
    broken = classify(None, SandboxResult(error="the container could not be created: boom"), LIMITS)
    assert broken == [Reason(SANDBOX_ERROR, "the container could not be created: boom")]


def test_reason_text() -> None:
    assert str(Reason(INVALID_NOTEBOOK, "not JSON")) == "invalid notebook: not JSON"
    assert str(Reason(TIMEOUT, "")) == "timeout"
