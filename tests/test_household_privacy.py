"""Personal data of the household ledger: sealed at rest, matched by a keyed hash, masked, validated by stdnum."""
from __future__ import annotations

import datetime as dt
import random

import pytest
from cryptography.exceptions import InvalidTag
from sqlalchemy import text
from sqlmodel import select

from dashboard import clock, privacy
from dashboard.errors import ValidationFailed
from dashboard.services import households
from dashboard.services.households import HouseholdInput, MemberInput
from dashboard.services.unit_of_work import unit_of_work
from db.models import HouseholdMember
from seed import people
from tests.factories import build_household_world


def generated_person(seed: int) -> tuple[str, str]:
    rng = random.Random(seed)
    return people.resident_id(rng, people.birth(rng, dt.date(2026, 6, 1), 20, 70), female=seed % 2 == 0), people.phone(rng)


def test_seal_round_trip_and_field_binding():
    id_number, phone = generated_person(1)
    sealed = privacy.seal(id_number, privacy.Field.ID)
    assert id_number.encode() not in sealed
    assert privacy.unseal(sealed, privacy.Field.ID) == id_number
    with pytest.raises(InvalidTag):  # an ID cipher cannot be read as a phone
        privacy.unseal(sealed, privacy.Field.PHONE)
    assert privacy.seal(id_number, privacy.Field.ID) != sealed  # a fresh nonce every time
    assert privacy.seal("", privacy.Field.PHONE) is None


def test_match_key_is_keyed_and_normalised(monkeypatch):
    id_number, _ = generated_person(2)
    key = privacy.match_key(id_number)
    assert key == privacy.match_key(f" {id_number.lower()} ")
    assert len(key) == 64 and id_number not in key
    monkeypatch.setenv(privacy.KEY_ENV, "another-key-of-at-least-thirty-two-characters")
    assert privacy.match_key(id_number) != key  # without the key nobody can recompute it from a guessed ID


def test_key_from_configuration_or_demo_file(monkeypatch, tmp_path):
    id_number, _ = generated_person(3)
    sealed = privacy.seal(id_number, privacy.Field.ID)
    assert (tmp_path / "data" / privacy.KEY_FILE).stat().st_mode & 0o777 == 0o600
    monkeypatch.setenv(privacy.KEY_ENV, "x" * 40)
    with pytest.raises(InvalidTag):
        privacy.unseal(sealed, privacy.Field.ID)
    monkeypatch.delenv(privacy.KEY_ENV)
    monkeypatch.setenv("DASHBOARD_MODE", "production")
    with pytest.raises(privacy.PrivacyKeyMissing) as missing:
        privacy.seal(id_number, privacy.Field.ID)
    assert "DASHBOARD_PRIVACY_KEY" in missing.value.en


def test_masks():
    assert privacy.mask_id("340321199001011234") == "340321********1234"
    assert privacy.mask_id("34032119900101123456") == "340321**********3456"
    assert privacy.mask_phone("13812345678") == "138****5678"
    assert privacy.mask_id("") == ""


def test_ids_are_checked_with_stdnum():
    id_number, _ = generated_person(4)
    assert privacy.id_check(id_number)
    assert not privacy.id_check(people.wrong_check_digit(id_number))
    assert privacy.id_check("3403211990010112345678")  # the national system's 22-character code: length only
    assert not privacy.id_length_ok("34032119900101")


def sample_household(world, number: str, seed: int) -> tuple[HouseholdInput, list[str]]:
    secrets_written = []
    members = []
    for offset, relation in enumerate(("户主", "配偶", "之子")):
        id_number, phone = generated_person(seed + offset)
        secrets_written += [id_number, phone]
        members.append(MemberInput(name=f"测试{relation}", id_number=id_number, relation=relation,
                                   phone=phone, health="长期慢性病（高血压）"))
    return HouseholdInput(number=number, village_id=world.villages["毛安村"], members=members), secrets_written


def test_ids_phones_and_health_are_not_in_the_database(engine, world, database_url, tmp_path):
    with unit_of_work(engine) as session:
        hh_world = build_household_world(session, world)
        data, written = sample_household(hh_world, "3408260001", 10)
        households.new_household(session, data)
    written.append("长期慢性病")
    url, schema = database_url
    if url.startswith("sqlite"):
        raw = b"".join(path.read_bytes() for path in tmp_path.glob("test.db*"))
    else:
        with engine.connect() as connection:
            raw = "\n".join(connection.execute(text(
                "SELECT row_to_json(m)::text FROM household_member m")).scalars()).encode()
    assert raw  # the rows are there …
    for secret in written:
        assert secret.encode() not in raw, "a personal datum is readable in the database"  # … but not the data
    assert "高血压".encode() not in raw
    with unit_of_work(engine) as session:
        found = households.find_person(session, written[0])
        assert [member.name for member in found] == ["测试户主"]
        assert found[0].id_masked == privacy.mask_id(written[0])
        assert privacy.unseal(found[0].id_cipher, privacy.Field.ID) == written[0]


def test_a_bad_check_digit_is_stored_and_flagged(engine, world):
    with unit_of_work(engine) as session:
        hh_world = build_household_world(session, world)
        id_number, _ = generated_person(20)
        data = HouseholdInput(number="3408260002", village_id=hh_world.villages["毛安村"],
                              members=[MemberInput(name="甲", id_number=people.wrong_check_digit(id_number))])
        household = households.new_household(session, data)
        session.flush()
        member = session.exec(select(HouseholdMember).where(HouseholdMember.household_id == household.id)).one()
        assert not member.id_valid and households.FLAG_BAD_CHECK_DIGIT in member.flags


@pytest.mark.parametrize("length", [14, 17, 19, 21, 23])
def test_the_services_refuse_an_id_of_a_wrong_length_as_the_import_does(engine, world, length):
    """``register_clue`` (a new household) and ``record_member_change`` (a person joins) refuse an ID that is not
    18, 20 or 22 characters long, with the import's message (``privacy.check_id_length``), naming only the length."""
    id_number, _ = generated_person(30)
    wrong = (id_number * 2)[:length]
    with unit_of_work(engine) as session:
        hh_world = build_household_world(session, world)
    data = HouseholdInput(number="3408260003", village_id=hh_world.villages["毛安村"],
                          members=[MemberInput(name="甲", relation="户主", id_number=wrong)])
    with pytest.raises(ValidationFailed) as refused, unit_of_work(engine) as session:
        households.register_clue(session, hh_world.actors["gaoshi"], source="self_report",
                                 received_on=clock.today(), text="申报", new=data)
    assert refused.value.key == "error.hh_import_id_length" and refused.value.params == {"length": length}
    assert wrong not in refused.value.zh and wrong not in refused.value.en
    data.members[0].id_number = id_number
    with unit_of_work(engine) as session:
        case = households.register_clue(session, hh_world.actors["gaoshi"], source="self_report",
                                         received_on=clock.today(), text="申报", new=data)
        household_id = case.household_id
    with pytest.raises(ValidationFailed) as joined, unit_of_work(engine) as session:
        households.record_member_change(session, hh_world.actors["gaoshi"], household_id, reason="marriage_in",
                                        happened_on=clock.today(),
                                        new_member=MemberInput(name="乙", relation="之儿媳", id_number=wrong))
    assert joined.value.key == "error.hh_import_id_length"
