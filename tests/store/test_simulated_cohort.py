"""`iliad7 simulate cohort`: the simulated trial replayed through the database's own actions.

The database must hold exactly what the simulator decided (same seed, same slots, same
values, same fates), reached only through the actions the web pages use, with an intact
audit chain and the arm nowhere in it.
"""

from __future__ import annotations

import pytest

from iliad7.simulate import load_parameters, simulate_cohort

SEED = 11
N = 4

pytestmark = pytest.mark.django_db


@pytest.fixture
def replayed(sites: dict[str, object]) -> object:
    from iliad7.store.simulation import run_simulated_cohort

    return run_simulated_cohort(n=N, seed=SEED)


def test_database_holds_what_the_simulation_decided(replayed: object) -> None:
    from iliad7.store.actions import randomization_of
    from iliad7.store.models import ItemValue, Participant

    cohort = simulate_cohort(load_parameters(), SEED, N)
    participants = list(Participant.objects.order_by("id"))
    assert len(participants) == len(cohort.screened)
    randomized = {item.screening_index: item for item in cohort.randomized}
    for index, participant in enumerate(participants):
        item = randomized.get(index)
        if item is None:
            assert participant.status == "screen_failed"
            continue
        result = randomization_of(participant)
        assert result is not None
        assert (result.randomization_number, result.kit_code) == (item.randomization_number, item.kit_code)
        simulated = item.participant
        expected_status = "died" if simulated.death_day is not None else "completed"
        assert participant.status == expected_status
        baseline_alc = ItemValue.objects.get(participant=participant, form="LAB", item="alc", visit="BASELINE")
        assert float(baseline_alc.value) == pytest.approx(simulated.alc[0], rel=1e-3)
        assert baseline_alc.unit == "cells/mm3"


def test_no_data_after_death_and_no_dose_after_discharge(replayed: object) -> None:
    from iliad7.protocol import load_protocol
    from iliad7.store.actions import doses_given
    from iliad7.store.models import ItemValue, Participant

    cohort = simulate_cohort(load_parameters(), SEED, N)
    schedule = load_protocol().schedule
    by_index = {item.screening_index: item.participant for item in cohort.randomized}
    for index, participant in enumerate(Participant.objects.order_by("id")):
        simulated = by_index.get(index)
        if simulated is None:
            continue
        for value in ItemValue.objects.filter(participant=participant).exclude(visit=""):
            day = schedule.visit(value.visit).target_day
            if simulated.death_day is not None:
                assert day <= simulated.death_day
        for dose in doses_given(participant):
            if simulated.discharge_day is not None:
                assert (dose.given_at.date() - simulated.baseline.day0).days < simulated.discharge_day


def test_audit_chain_is_intact_and_never_names_an_arm(replayed: object) -> None:
    from iliad7.audit import trail
    from iliad7.store.models import AuditRecord

    report = trail.verify()
    assert report.ok, report
    for record in AuditRecord.objects.all():
        text = f"{record.old_value} {record.new_value}".lower()
        assert "placebo" not in text and '"cyt107"' not in text, record.action


def test_part_way_cohort_stops_follow_up_on_the_study_day(sites: dict[str, object]) -> None:
    from iliad7.store.models import Participant
    from iliad7.store.simulation import run_simulated_cohort

    run = run_simulated_cohort(n=N, seed=SEED, as_of=5)
    assert run.randomized == N and run.completed == 0
    statuses = set(Participant.objects.exclude(status="screen_failed").values_list("status", flat=True))
    assert statuses <= {"randomized", "on_treatment", "died"}


def test_stop_before_randomization_leaves_consented_participants_waiting(sites: dict[str, object]) -> None:
    from iliad7.store.models import Participant
    from iliad7.store.simulation import run_simulated_cohort

    run_simulated_cohort(n=N, seed=SEED, stop_before="randomization")
    waiting = Participant.objects.filter(status="consented")
    assert waiting.count() == N
    assert not Participant.objects.exclude(usubjid=None).exists()


def test_visit_data_went_through_the_edit_checks_and_fates_have_their_forms(replayed: object) -> None:
    """Every simulated form was saved by save_form (which stores nothing on a failed check)."""
    from iliad7.store.models import ItemValue, Participant

    for participant in Participant.objects.exclude(status="screen_failed"):
        forms = set(ItemValue.objects.filter(participant=participant).values_list("form", flat=True))
        assert {"LAB", "HOSPITAL-STAY", "END-OF-STUDY"} <= forms
        if participant.status == "died":
            assert "DEATH" in forms
        end = ItemValue.objects.get(participant=participant, form="END-OF-STUDY", item="end_status")
        assert end.value == ("died" if participant.status == "died" else "completed")
