"""GPU models and MIG flavors: what a job accepts, and quota per flavor."""

from services.scheduler.domain.engine.model import Place
from tests.unit.scheduler.engine.builders import job, node, queue, run_cycle, running, snapshot


def test_a_job_runs_only_on_a_model_it_accepts():
    fleet = (node("a100", 8, "A100"), node("h100", 8, "H100"))
    [place] = run_cycle(snapshot(fleet, [job("h", gpus=2, gpu_models=("H100",))])).of_type(Place)
    assert (place.flavor, place.placements[0].node_id) == ("H100", "h100")


def test_a_job_moves_to_another_accepted_model_when_quota_on_the_first_is_used():
    fleet = (node("a100", 8, "A100"), node("h100", 8, "H100"))
    spec = queue("p1", nominal=2, flavor="A100")
    quotas = ((spec.quotas[0]), ("H100", spec.quotas[0][1]))
    spec = type(spec)(spec.queue_id, spec.tenant_id, quotas=quotas)
    used = running(job("used", gpus=2), "a100")
    [place] = run_cycle(
        snapshot(fleet, [job("next", gpus=2, gpu_models=("A100", "H100"))], [used], queues=(spec,))
    ).of_type(Place)
    assert place.flavor == "H100"


def test_a_mig_slice_is_asked_for_by_its_flavor():
    fleet = (node("n0", 2, "A100", mig_profiles=((1, "1g.10gb"),)),)
    decisions = run_cycle(
        snapshot(fleet, [job("slice", gpu_models=("A100:1g.10gb",)), job("whole", submitted_at=1)])
    )
    flavors = {p.job_id: (p.flavor, p.placements[0].gpu_indices) for p in decisions.of_type(Place)}
    assert flavors == {"slice": ("A100:1g.10gb", (1,)), "whole": ("A100", (0,))}


def test_a_job_without_models_never_lands_on_a_mig_slice():
    fleet = (node("n0", 2, "A100", mig_profiles=((0, "1g.10gb"), (1, "1g.10gb"))),)
    decisions = run_cycle(snapshot(fleet, [job("whole")]))
    assert decisions.of_type(Place) == []
