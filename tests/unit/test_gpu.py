"""GPU inventory, allocation, Docker device requests and ``aione gpu status``.

The allocator runs for real on a SQLite file in ``tmp_path`` with a declared
inventory (no GPU is needed). Only nvidia-smi, an outside tool, is replayed
from recorded output.
"""

from __future__ import annotations

import json
import multiprocessing
import re
import subprocess
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import docker.types
import pytest
import yaml
from pydantic import ValidationError

from hub import cli
from hub.errors import GpuAllocationError, GpuDiscoveryError
from hub.gpu import GpuAllocator, GpuDevice, GpuSettings, docker_device_request, read_status
from hub.gpu_inventory import discover_gpus, load_inventory, parse_mig_list, parse_query_gpu
from hub.profiles import ProfilesSettings

A100 = "NVIDIA A100-SXM4-40GB"
COHORT = "ai-2024-spring"


def gpus(n: int, host: str = "local") -> list[GpuDevice]:
    return [
        GpuDevice(host=host, index=i, uuid=f"GPU-{i:08d}-aaaa-bbbb-cccc-{i:012d}", name=A100,
                  memory_mib=40960)
        for i in range(n)
    ]  # fmt: skip


def migs(kinds: Sequence[str]) -> list[GpuDevice]:
    return [
        GpuDevice(index=0, uuid=f"MIG-{i:08d}-dddd-eeee-ffff-{i:012d}", name=f"{A100} MIG {k}",
                  memory_mib=int(k.split(".")[1][:-2]) * 1024, mig_type=k, mig_index=i,
                  mig_parent="GPU-parent")
        for i, k in enumerate(kinds)
    ]  # fmt: skip


def race(alloc: GpuAllocator, users: Sequence[str], groups: list[str]) -> list[dict[str, Any]]:
    """Let ``users`` allocate at the same moment from threads; one result per user."""
    barrier = threading.Barrier(len(users))
    results: list[dict[str, Any]] = []
    lock = threading.Lock()

    def one(user: str) -> None:
        barrier.wait()
        start = time.monotonic()
        try:
            got = alloc.allocate(user, "", groups)
            outcome: dict[str, Any] = {"user": user, "uuids": [d.uuid for d in got]}
        except GpuAllocationError as err:
            outcome = {"user": user, "error": str(err)}
        outcome["seconds"] = time.monotonic() - start
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=one, args=(u,)) for u in users]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def _process_worker(
    db: str, inventory: list[dict[str, Any]], users: list[str], start: Any, out: Any
) -> None:
    """Runs in a separate (spawned) process: open the allocator, wait, race."""
    alloc = GpuAllocator(db, [GpuDevice(**d) for d in inventory], {COHORT: 4})
    start.wait()
    out.put(race(alloc, users, [COHORT]))


def check_race(results: list[dict[str, Any]], inventory: list[GpuDevice]) -> list[str]:
    """Exactly one learner per GPU, everyone else told why at once; returns winners."""
    winners = [r for r in results if "uuids" in r]
    losers = [r for r in results if "error" in r]
    assert len(results) == 40
    assert len(winners) == 4
    assert sorted(u for r in winners for u in r["uuids"]) == sorted(d.uuid for d in inventory)
    assert len(losers) == 36
    for r in losers:
        assert f"'{COHORT}'" in r["error"] and "4 of its 4" in r["error"]
        assert "CPU" in r["error"] and "할당량" in r["error"]
    assert max(r["seconds"] for r in losers) < 10
    return [r["user"] for r in winners]


def test_forty_learners_in_threads_share_four_gpus(tmp_path: Path) -> None:
    inventory = gpus(4)
    alloc = GpuAllocator(tmp_path / "gpu.sqlite", inventory, {COHORT: 4})
    users = [f"learner{i:02d}" for i in range(40)]
    winners = check_race(race(alloc, users, [COHORT]), inventory)

    for user in winners:
        assert len(alloc.release(user, "")) == 1
    others = [u for u in users if u not in winners][:4]
    got = [alloc.allocate(u, "", [COHORT])[0].uuid for u in others]
    assert sorted(got) == sorted(d.uuid for d in inventory)


def test_forty_learners_in_two_processes_share_four_gpus(tmp_path: Path) -> None:
    inventory = gpus(4)
    db = str(tmp_path / "gpu.sqlite")
    ctx = multiprocessing.get_context("spawn")
    start, out = ctx.Barrier(2), ctx.Queue()  # both processes race from the same moment
    dumped = [d.model_dump() for d in inventory]
    users = [f"learner{i:02d}" for i in range(40)]
    procs = [
        ctx.Process(target=_process_worker, args=(db, dumped, users[i::2], start, out))
        for i in range(2)
    ]
    for p in procs:
        p.start()
    try:
        results = out.get(timeout=120) + out.get(timeout=120)
    finally:
        for p in procs:
            p.join(timeout=30)
    assert [p.exitcode for p in procs] == [0, 0]
    winners = check_race(results, inventory)
    status = read_status(db)
    assert sorted(g.user for g in status.gpus if g.user) == sorted(winners)
    assert [(q.group, q.in_use, q.limit) for q in status.quotas] == [(COHORT, 4, 4)]


def test_restart_keeps_allocations_and_allocate_is_idempotent(tmp_path: Path) -> None:
    db = tmp_path / "state" / "gpu.sqlite"
    first = GpuAllocator(db, gpus(3), {COHORT: 3})
    mine = first.allocate("kim", "", [COHORT])
    assert first.allocate("kim", "", [COHORT], count=2) == mine  # same server: same GPU

    restarted = GpuAllocator(db, gpus(3), {COHORT: 3})
    assert restarted.allocation("kim", "") == mine
    assert restarted.allocate("kim", "", [COHORT]) == mine
    other = restarted.allocate("lee", "", [COHORT])
    assert other != mine
    assert restarted.allocate("kim", "project", [COHORT]) not in (mine, other)
    assert restarted.release("kim", "") == [mine[0].uuid]
    assert restarted.release("kim", "") == []


def test_reconcile_releases_servers_that_are_not_running(tmp_path: Path) -> None:
    alloc = GpuAllocator(tmp_path / "gpu.sqlite", gpus(4), {COHORT: 4})
    for user in ("a", "b", "c"):
        alloc.allocate(user, "", [COHORT])
    alloc.allocate("a", "second", [COHORT])

    assert alloc.reconcile({("a", ""), ("b", "")}, min_age_s=3600) == []
    released = alloc.reconcile({("a", ""), ("b", "")})
    assert [(r.user, r.server, r.cohort) for r in released] == [
        ("a", "second", COHORT),
        ("c", "", COHORT),
    ]
    assert all(len(r.uuids) == 1 for r in released)
    held = {(g.user, g.server) for g in alloc.status().gpus if g.user}
    assert held == {("a", ""), ("b", "")}
    assert alloc.reconcile({("a", ""), ("b", "")}) == []


def test_quota_smaller_than_gpus(tmp_path: Path) -> None:
    alloc = GpuAllocator(tmp_path / "gpu.sqlite", gpus(4), {COHORT: 2, "ai-2024-fall": 1})
    alloc.allocate("a", "", [COHORT])
    alloc.allocate("b", "", [COHORT])
    with pytest.raises(GpuAllocationError, match=f"cohort '{COHORT}' uses 2 of its 2"):
        alloc.allocate("c", "", [COHORT])
    assert len(alloc.allocate("d", "", ["ai-2024-fall"])) == 1
    assert len(alloc.allocate("staff", "", ["teachers"])) == 1  # no quota group: not capped
    with pytest.raises(GpuAllocationError, match="No GPUs free right now \\(4 of 4 in use\\)"):
        alloc.allocate("staff2", "", [])


def test_user_in_two_cohorts_is_charged_to_the_one_with_most_room(tmp_path: Path) -> None:
    alloc = GpuAllocator(tmp_path / "gpu.sqlite", gpus(6), {"alpha": 2, "beta": 3})
    alloc.allocate("x", "", ["alpha"])  # alpha: 1 left; beta: 3 left
    alloc.allocate("both", "", ["alpha", "beta"])
    uses = {q.group: q.in_use for q in alloc.status().quotas}
    assert uses == {"alpha": 1, "beta": 1}

    alloc.allocate("both", "two", ["alpha", "beta"])  # beta: 2 left, alpha: 1 left -> beta
    alloc.allocate("both", "three", ["alpha", "beta"])  # tie at 1 left -> alphabetical: alpha
    cohorts = {(g.user, g.server): g.cohort for g in alloc.status().gpus if g.user}
    assert cohorts[("both", "two")] == "beta"
    assert cohorts[("both", "three")] == "alpha"

    alloc.allocate("y", "", ["beta"])  # alpha 2/2, beta 3/3
    with pytest.raises(GpuAllocationError) as err:
        alloc.allocate("both", "four", ["beta", "alpha"])
    assert "cohort 'alpha' uses 2 of its 2, cohort 'beta' uses 3 of its 3" in str(err.value)


def test_shared_mode_caps_learners_per_gpu_and_never_mixes_with_exclusive(
    tmp_path: Path,
) -> None:
    inventory = gpus(3)
    alloc = GpuAllocator(tmp_path / "gpu.sqlite", inventory)
    solo = alloc.allocate("solo", "", [])[0]
    assert solo == inventory[0]

    seats = [alloc.allocate(f"s{i}", "", [], shared_max=3)[0] for i in range(6)]
    assert seats == [inventory[1]] * 3 + [inventory[2]] * 3  # packed, never on the solo GPU
    with pytest.raises(GpuAllocationError, match="No GPUs free"):
        alloc.allocate("s6", "", [], shared_max=3)
    alloc.release("s0", "")
    with pytest.raises(GpuAllocationError, match="No GPUs free"):
        alloc.allocate("exclusive", "", [])  # a GPU with shared users is not free
    assert alloc.allocate("s7", "", [], shared_max=3) == [inventory[1]]
    modes = {g.user: g.mode for g in alloc.status().gpus if g.user}
    assert modes["solo"] == "exclusive" and modes["s7"] == "shared"


def test_shared_mode_respects_the_smallest_cap_on_a_gpu(tmp_path: Path) -> None:
    alloc = GpuAllocator(tmp_path / "gpu.sqlite", gpus(2))
    first = alloc.allocate("a", "", [], shared_max=2)
    assert alloc.allocate("b", "", [], shared_max=8) == first
    assert alloc.allocate("c", "", [], shared_max=8) != first  # a allows only 2 on its GPU


def test_shared_mode_quota_counts_distinct_gpus(tmp_path: Path) -> None:
    alloc = GpuAllocator(tmp_path / "gpu.sqlite", gpus(2), {COHORT: 1})
    held = {alloc.allocate(f"s{i}", "", [COHORT], shared_max=4)[0].uuid for i in range(4)}
    assert len(held) == 1
    assert [(q.in_use, q.limit) for q in alloc.status().quotas] == [(1, 1)]
    with pytest.raises(GpuAllocationError, match="uses 1 of its 1"):
        alloc.allocate("s4", "", [COHORT], shared_max=4)


def test_mig_slices_are_allocated_by_type(tmp_path: Path) -> None:
    inventory = migs(["1g.10gb", "1g.10gb", "3g.40gb"])
    alloc = GpuAllocator(tmp_path / "gpu.sqlite", inventory)
    got = [alloc.allocate(u, "", [], mig_type="1g.10gb")[0] for u in ("a", "b")]
    assert got == inventory[:2]
    with pytest.raises(GpuAllocationError, match="No MIG 1g.10gb GPU slices free"):
        alloc.allocate("c", "", [], mig_type="1g.10gb")
    assert alloc.allocate("c", "", [], mig_type="3g.40gb") == [inventory[2]]
    with pytest.raises(GpuAllocationError, match="has no MIG 2g.20gb"):
        alloc.allocate("d", "", [], mig_type="2g.20gb")
    with pytest.raises(GpuAllocationError, match="has no GPUs"):
        alloc.allocate("d", "", [])  # whole GPUs asked, only MIG slices exist


def test_several_gpus_for_one_server(tmp_path: Path) -> None:
    alloc = GpuAllocator(tmp_path / "gpu.sqlite", gpus(3), {COHORT: 3})
    assert len(alloc.allocate("big", "", [COHORT], count=2)) == 2
    with pytest.raises(GpuAllocationError, match="you asked for 2"):
        alloc.allocate("big2", "", [COHORT], count=2)
    assert len(alloc.allocate("small", "", [COHORT])) == 1
    assert len(alloc.release("big", "")) == 2
    alloc.allocate("other", "", [])
    with pytest.raises(
        GpuAllocationError, match="Not enough GPUs free .*2 of 3 in use, you asked for 2"
    ):
        alloc.allocate("big3", "", [], count=2)


def test_invalid_requests_and_inventories_are_refused(tmp_path: Path) -> None:
    alloc = GpuAllocator(tmp_path / "gpu.sqlite", gpus(1))
    with pytest.raises(ValueError, match="must be >= 1"):
        alloc.allocate("a", "", [], count=0)
    with pytest.raises(ValueError, match="one slice"):
        alloc.allocate("a", "", [], count=2, mig_type="1g.10gb")
    with pytest.raises(ValueError, match="listed twice"):
        GpuAllocator(tmp_path / "other.sqlite", gpus(1) + gpus(1))
    whole = GpuDevice(index=0, uuid="GPU-parent", name=A100, memory_mib=40960)
    with pytest.raises(ValueError, match="listed whole and as MIG"):
        GpuAllocator(tmp_path / "other.sqlite", [whole, *migs(["1g.10gb"])])


def test_status_rows_and_devices_gone_from_the_inventory(tmp_path: Path) -> None:
    db = tmp_path / "gpu.sqlite"
    alloc = GpuAllocator(db, gpus(2), {COHORT: 2})
    alloc.allocate("kim", "", [COHORT])
    rows = alloc.status().gpus
    assert [(g.device.index, g.user, g.present) for g in rows] == [
        (0, "kim", True),
        (1, None, True),
    ]
    assert rows[0].since is not None and rows[1].since is None

    GpuAllocator(db, gpus(2)[1:], {COHORT: 2})  # GPU 0 removed while kim holds it
    rows = read_status(db).gpus
    assert [(g.device.index, g.user, g.present) for g in rows] == [
        (1, None, True),
        (0, "kim", False),
    ]


def test_read_status_of_a_missing_file_names_the_fix(tmp_path: Path) -> None:
    with pytest.raises(GpuAllocationError, match="--state-dir"):
        read_status(tmp_path / "nothing.sqlite")


def test_state_file_that_is_not_a_database_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "gpu.sqlite"
    bad.write_text("not sqlite")
    with pytest.raises(GpuAllocationError, match="not usable"):
        GpuAllocator(bad, gpus(1))


# -- Docker -----------------------------------------------------------------


def test_docker_device_request_exposes_exactly_the_allocated_uuids() -> None:
    devices = gpus(2)
    config = docker_device_request(devices)
    (request,) = config.host_config["device_requests"]
    assert isinstance(request, docker.types.DeviceRequest)
    assert request.driver == "nvidia"
    assert request.device_ids == [d.uuid for d in devices]
    assert request.capabilities == [["gpu"]]
    assert request.count == 0  # device_ids, not a count: no "all GPUs" by accident
    assert config.environment == {
        "NVIDIA_VISIBLE_DEVICES": ",".join(d.uuid for d in devices),
        "NVIDIA_DRIVER_CAPABILITIES": "compute,utility",
    }


def test_docker_device_request_hides_every_gpu_from_cpu_learners() -> None:
    config = docker_device_request([])
    assert config.host_config == {}
    assert config.environment == {"NVIDIA_VISIBLE_DEVICES": "void"}


def test_docker_device_request_refuses_devices_of_several_hosts() -> None:
    with pytest.raises(ValueError, match="several hosts"):
        docker_device_request([gpus(1, "node1")[0], gpus(1, "node2")[0]])


# -- nvidia-smi (an outside tool: its recorded output is replayed) ------------

# Recorded with nvidia-smi 580.159.04 on an NVIDIA H200 (MIG off), 2026-11-26.
QUERY_H200 = "0, GPU-f0bfff09-a92d-2f25-c80d-b7fa340b4110, NVIDIA H200, 143771, Disabled\n"
LIST_H200 = "GPU 0: NVIDIA H200 (UUID: GPU-f0bfff09-a92d-2f25-c80d-b7fa340b4110)\n"
# A host with two A100 80GB PCIe, GPU 0 in MIG mode (one 3g.40gb and two 1g.10gb
# instances), GPU 1 not: lines as published in nvidia-smi output of MIG hosts
# (NVIDIA's MIG user guide; drivers 525 and later pad the MIG lines like this).
QUERY_MIG_HOST = """\
0, GPU-9f0cc172-1db7-8b47-7302-fa9b2ade0c7b, NVIDIA A100 80GB PCIe, 81920, Enabled
1, GPU-c92e2d5d-4a69-f1cd-4df0-305f8606705a, NVIDIA A100 80GB PCIe, 81920, Disabled
"""
LIST_MIG_HOST = """\
GPU 0: NVIDIA A100 80GB PCIe (UUID: GPU-9f0cc172-1db7-8b47-7302-fa9b2ade0c7b)
  MIG 3g.40gb     Device  0: (UUID: MIG-47bb5436-f317-556f-af01-ff693d020c79)
  MIG 1g.10gb     Device  1: (UUID: MIG-5a6ef5fb-e69b-5021-a35e-ad1781308f59)
  MIG 1g.10gb     Device  2: (UUID: MIG-3ba76b8d-4677-5637-bb32-ce72da625fa2)
GPU 1: NVIDIA A100 80GB PCIe (UUID: GPU-c92e2d5d-4a69-f1cd-4df0-305f8606705a)
"""
# Driver R450 printed MIG UUIDs in the older MIG-GPU-<uuid>/<gi>/<ci> form.
LIST_R450 = """\
GPU 0: A100-SXM4-40GB (UUID: GPU-5d5ba0d6-d33d-2b2c-524d-9e3d8d2b8a77)
  MIG 1g.5gb Device 0: (UUID: MIG-GPU-5d5ba0d6-d33d-2b2c-524d-9e3d8d2b8a77/7/0)
"""


class ReplayedNvidiaSmi:
    """Answers like nvidia-smi from recorded output; records the commands it got."""

    def __init__(self, query: str, listing: str = "", returncode: int = 0) -> None:
        self.query, self.listing, self.returncode = query, listing, returncode
        self.commands: list[list[str]] = []

    def __call__(self, cmd: list[str], **_: Any) -> subprocess.CompletedProcess[str]:
        self.commands.append(cmd)
        out = self.listing if cmd[-1] == "-L" else self.query
        err = (
            ""
            if self.returncode == 0
            else "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver."
        )
        return subprocess.CompletedProcess(cmd, self.returncode, out, err)  # fmt: skip


def test_discover_gives_mig_slices_of_mig_gpus_and_whole_other_gpus() -> None:
    smi = ReplayedNvidiaSmi(QUERY_MIG_HOST, LIST_MIG_HOST)
    devices = discover_gpus(run=smi)
    assert [(d.uuid, d.mig_type, d.index, d.mig_index) for d in devices] == [
        ("MIG-47bb5436-f317-556f-af01-ff693d020c79", "3g.40gb", 0, 0),
        ("MIG-5a6ef5fb-e69b-5021-a35e-ad1781308f59", "1g.10gb", 0, 1),
        ("MIG-3ba76b8d-4677-5637-bb32-ce72da625fa2", "1g.10gb", 0, 2),
        ("GPU-c92e2d5d-4a69-f1cd-4df0-305f8606705a", None, 1, None),
    ]
    assert devices[1].name == "NVIDIA A100 80GB PCIe MIG 1g.10gb"
    assert devices[1].memory_mib == 10240 and devices[3].memory_mib == 81920
    assert devices[1].mig_parent == "GPU-9f0cc172-1db7-8b47-7302-fa9b2ade0c7b"
    assert smi.commands[0][:2] == [
        "nvidia-smi",
        "--query-gpu=index,uuid,name,memory.total,mig.mode.current",
    ]
    assert smi.commands[1] == ["nvidia-smi", "-L"]


def test_discover_on_a_recorded_h200() -> None:
    smi = ReplayedNvidiaSmi(QUERY_H200, LIST_H200)
    (device,) = discover_gpus(run=smi)
    assert device == GpuDevice(
        index=0, uuid="GPU-f0bfff09-a92d-2f25-c80d-b7fa340b4110", name="NVIDIA H200",
        memory_mib=143771,
    )  # fmt: skip
    assert len(smi.commands) == 1  # no GPU in MIG mode: nvidia-smi -L is not needed
    assert parse_mig_list(LIST_H200) == []


def test_gpus_without_mig_support_report_na() -> None:
    smi = ReplayedNvidiaSmi("0, GPU-aaaa, Tesla T4, 15360, [N/A]\n")
    assert [d.name for d in discover_gpus(run=smi)] == ["Tesla T4"]


def test_mig_gpu_without_instances_is_left_out(caplog: pytest.LogCaptureFixture) -> None:
    smi = ReplayedNvidiaSmi(QUERY_MIG_HOST, LIST_MIG_HOST.split("  MIG")[0] + "\n")
    devices = discover_gpus(run=smi)
    assert [d.index for d in devices] == [1]
    assert "no MIG devices" in caplog.text and "-cgi" in caplog.text


def test_discover_on_another_host_goes_through_ssh() -> None:
    smi = ReplayedNvidiaSmi("0, GPU-aaaa, Tesla T4, 15360\n")
    (device,) = discover_gpus("gpu-node-1", run=smi)
    assert device.host == "gpu-node-1" and device.memory_mib == 15360
    assert smi.commands[0][:4] == ["ssh", "-o", "BatchMode=yes", "gpu-node-1"]


def test_r450_mig_uuids_parse() -> None:
    (device,) = parse_mig_list(LIST_R450)
    assert device.uuid == "MIG-GPU-5d5ba0d6-d33d-2b2c-524d-9e3d8d2b8a77/7/0"
    assert device.mig_type == "1g.5gb" and device.memory_mib == 5120


def test_missing_nvidia_smi_says_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # a real lookup that finds no nvidia-smi
    with pytest.raises(GpuDiscoveryError, match="not found on local.*gpu.inventory"):
        discover_gpus()


def test_failing_nvidia_smi_shows_its_message() -> None:
    with pytest.raises(GpuDiscoveryError, match="couldn't communicate with the NVIDIA driver"):
        discover_gpus(run=ReplayedNvidiaSmi("", returncode=9))


def test_unexpected_query_output_names_the_line() -> None:
    with pytest.raises(GpuDiscoveryError, match="line 2 has 2 fields"):
        parse_query_gpu("0, GPU-aaaa, Tesla T4, 15360\n1, oops\n")
    with pytest.raises(GpuDiscoveryError, match="line 1 does not parse"):
        parse_query_gpu("zero, GPU-aaaa, Tesla T4, 15360\n")


# -- settings -----------------------------------------------------------------


def test_gpu_settings_declared_inventory_and_quotas(tmp_path: Path) -> None:
    settings = GpuSettings.model_validate(
        {
            "inventory": [
                {"index": 0, "uuid": "GPU-aaaa", "name": A100, "memory_mib": 40960},
                {"index": 1, "uuid": "MIG-bbbb", "name": "MIG", "memory_mib": 10240,
                 "mig_type": "1g.10gb"},
            ],
            "quotas": {COHORT: 4},
        }
    )  # fmt: skip
    assert [d.uuid for d in load_inventory(settings)] == ["GPU-aaaa", "MIG-bbbb"]
    assert settings.state_path(tmp_path) == tmp_path / "gpu-allocations.sqlite"
    assert GpuSettings(state_file=Path("/x.sqlite")).state_path(tmp_path) == Path("/x.sqlite")
    assert GpuSettings().inventory == "discover"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"quotas": {COHORT: -1}}, "use 0 or more"),
        ({"inventory": "auto"}, "discover"),
        ({"inventory": [{"index": 0, "uuid": "MIG-a", "name": "x", "memory_mib": 1}]}, "mig_type"),
        ({"inventory": [{"index": 0, "uuid": "GPU-a", "name": "x", "memory_mib": 1,
                         "mig_type": "1g.10gb"}]}, "whole GPU"),
        ({"inventory": [{"index": 0, "uuid": "nvidia0", "name": "x", "memory_mib": 1}]}, "pattern"),
        ({"quota": {}}, "Extra inputs are not permitted"),
    ],
)  # fmt: skip
def test_gpu_settings_errors_name_the_problem(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        GpuSettings.model_validate(data)


# -- aione gpu status ------------------------------------------------------------


def test_cli_status_table_and_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    alloc = GpuAllocator(tmp_path / "gpu-allocations.sqlite", gpus(2), {COHORT: 2})
    alloc.allocate("kim", "", [COHORT])

    assert cli.main(["gpu", "status", "--state-dir", str(tmp_path)]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["GPU", "MODEL", "MEMORY", "LEARNER", "COHORT", "SINCE"]
    assert table[1].startswith("local:0") and "kim" in table[1] and "40 GiB" in table[1]
    assert "0m ago" in table[1]
    assert table[2].startswith("local:1") and table[2].split()[-3:] == ["-", "-", "-"]
    assert table[-1].split() == [COHORT, "1", "2"]

    assert cli.main(["gpu", "status", "--json", "--state-file", str(alloc.db_path)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["gpus"][0]["learner"] == "kim" and data["gpus"][0]["model"] == A100
    assert data["gpus"][1]["learner"] is None
    assert data["quotas"] == [{"group": COHORT, "limit": 2, "in_use": 1}]


def test_cli_status_uses_the_state_dir_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    GpuAllocator(tmp_path / "gpu-allocations.sqlite", gpus(1))
    monkeypatch.setenv("AIONE_STATE_DIR", str(tmp_path))
    assert cli.main(["gpu", "status"]) == 0
    out = capsys.readouterr().out
    assert "local:0" in out and "no cohort quotas" in out


def test_cli_status_without_state_exits_1_with_the_fix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["gpu", "status", "--state-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--state-dir" in err[0] and str(tmp_path) in err[0]


def test_the_settings_examples_in_the_docs_are_valid() -> None:
    text = (Path(__file__).parents[2] / "docs" / "gpu.md").read_text(encoding="utf-8")
    full, declared = [yaml.safe_load(b) for b in re.findall(r"```yaml\n(.*?)```", text, re.S)]
    assert len(ProfilesSettings.model_validate(full["profiles"]).profiles) == 4
    assert GpuSettings.model_validate(full["gpu"]).quotas["ai-2024-spring"] == 4
    assert len(GpuSettings.model_validate(declared["gpu"]).inventory) == 2
