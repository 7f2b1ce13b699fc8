"""Fractional GPUs in the live scheduler's pure parts: the spec's fraction, shares packed onto a partly
used GPU and never over-committed, and the bound share carried to the actions the adapter applies."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import ValidationError

from services.scheduler.adapters.pg_placement import fractional_shares
from services.scheduler.domain.engine.model import HoldKind
from services.scheduler.domain.snapshot import FleetIndex
from shared.events.jobs import JobSpec, milli_to_share, share_to_milli
from shared.events.scheduler import AllocationReleased
from tests.unit.scheduler.builders import T0, decisions, holding, live, node, queued

ONE_GPU = [node("n1", gpus=1)]


def spec(**fields: object) -> JobSpec:
    return JobSpec.model_validate({"name": "infer", "command": ["serve"], **fields})


def test_a_spec_asks_for_a_whole_gpu_unless_it_names_a_fraction() -> None:
    assert spec().gpu_fraction == 1 and spec().gpu_milli == 1000
    assert spec(gpu_fraction="0.25").gpu_milli == 250
    assert spec(gpu_fraction=0.5).gpu_milli == 500


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"gpu_fraction": 0}, "greater than 0"),
        ({"gpu_fraction": "1.5"}, "less than or equal to 1"),
        ({"gpu_fraction": "0.0005"}, "no more than 3 decimal places"),
        ({"gpu_fraction": "0.5", "gpus_per_replica": 2}, "needs gpus_per_replica = 1, not 2"),
    ],
)
def test_a_bad_fraction_is_refused_naming_the_field(fields: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError) as refused:
        spec(**fields)
    [error] = refused.value.errors()
    assert error["loc"] == ("gpu_fraction",)
    assert message in error["msg"]


def test_a_whole_fraction_goes_with_any_number_of_gpus() -> None:
    assert spec(gpu_fraction=1, gpus_per_replica=4).gpu_milli == 1000


def test_shares_convert_to_thousandths_and_back_exactly() -> None:
    assert [share_to_milli(Decimal(s)) for s in ("0.001", "0.5", "0.333", "1")] == [1, 500, 333, 1000]
    assert [str(milli_to_share(m)) for m in (1, 500, 250, 1000)] == ["0.001", "0.5", "0.25", "1"]


def test_an_event_written_before_shares_existed_means_a_whole_gpu() -> None:
    old = {
        "occurred_at": T0.isoformat(),
        "tenant_id": "ten_a",
        "project_id": "prj_a",
        "job_id": "j1",
        "allocation_id": "alc-j1-1-0",
        "node_id": "n1",
        "gpu_model": "A100",
        "gpu_count": 1,
        "bound_at": T0.isoformat(),
        "released_at": T0.isoformat(),
        "reason": "exited with code 0",
        "epoch": 1,
    }
    assert AllocationReleased.model_validate(old).gpu_share == 1
    half = AllocationReleased.model_validate(old | {"gpu_share": "0.5"})
    assert AllocationReleased.model_validate_json(half.model_dump_json()).gpu_share == Decimal("0.5")


def test_two_half_gpu_jobs_share_one_gpu_and_a_third_waits_for_capacity() -> None:
    pending = [queued(name, gpu_milli=500, submitted_s=i) for i, name in enumerate(("a", "b", "c"))]

    actions = decisions(live(pending, ONE_GPU))

    assert [
        (b.job.request.job_id, b.replicas[0].gpu_uuids, b.replicas[0].gpu_milli) for b in actions.binds
    ] == [
        ("a", ("n1-g0",), 500),
        ("b", ("n1-g0",), 500),
    ]
    [waiting] = actions.verdicts
    assert waiting.job.request.job_id == "c"
    assert waiting.reason.startswith(f"{HoldKind.CAPACITY}: ")


def test_a_share_is_packed_onto_the_partly_used_gpu_rather_than_a_free_one() -> None:
    held = holding("served", "n1", (1,), gpu_milli=500)

    [bind] = decisions(live([queued("half", gpu_milli=500)], [node("n1", gpus=2)], [held])).binds

    assert (bind.replicas[0].gpu_uuids, bind.replicas[0].gpu_milli) == (("n1-g1",), 500)


def test_a_gpu_is_never_over_committed_by_shares_or_taken_whole_while_shared() -> None:
    held = holding("served", "n1", (0,), gpu_milli=600)
    pending = [queued("too-big", gpu_milli=500, submitted_s=1), queued("whole", submitted_s=2)]

    actions = decisions(live(pending, ONE_GPU, [held]))

    assert actions.binds == ()
    assert {v.job.request.job_id for v in actions.verdicts} == {"too-big", "whole"}


def test_the_engine_sees_a_held_share_as_a_share() -> None:
    held = holding("served", "n1", (0,), gpu_milli=250)

    [placement] = FleetIndex(tuple(ONE_GPU)).placements(held.replicas)

    assert (placement.gpu_indices, placement.gpu_milli) == ((0,), 250)


def test_only_fractional_shares_are_counted_on_gpus() -> None:
    held = [(("g0", "g1"), 1000), (("g2",), 500), (("g2",), 250)]

    assert fractional_shares(held) == (["g2", "g2"], [500, 250])
