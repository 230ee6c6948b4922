"""Holder sessions in the desk database: a desk restart (a new app on the same database) keeps
the holder signed in; the ID number is stored sealed, never in clear; idle and absolute
timeouts and sign-out end the session (its row gone); a sealed number opens only with its own
session's id."""

from __future__ import annotations

import os

import pytest
from cryptography.exceptions import InvalidTag
from sqlalchemy import select, update
from starlette.testclient import TestClient

from clients.web.db import HOLDER_SESSIONS
from clients.web.holder_sessions import seal, unseal
from tests.clients.web.conftest import csrf_of
from tests.clients.web.test_holder_pages import (
    MINE,
    PERSON,
    HolderBackend,
    dev_client,
    holder_backend,
    holder_sign_in,
    make_client,
)

__all__ = ["dev_client", "holder_backend"]  # the fixtures, shared with the holder pages' tests

COOKIE = "yihao-holder"


def _rows(client: TestClient) -> list[dict[str, object]]:
    with client.app.state.desk.engine.connect() as conn:  # type: ignore[attr-defined]
        return [dict(r._mapping) for r in conn.execute(select(HOLDER_SESSIONS))]


def _restarted(settings, clock, cookie: str) -> TestClient:
    """A new desk (new app, new stores) on the same database, with the holder's cookie."""
    fresh = HolderBackend()
    client = make_client(settings.with_overrides(dev=True), clock, fresh)
    client.cookies.set(COOKIE, cookie, path="/me")
    client.holder_backend = fresh  # type: ignore[attr-defined]
    return client


def test_a_holder_session_survives_a_desk_restart(dev_client, caplog, web_settings, clock):
    holder_sign_in(dev_client, caplog)
    cookie = dev_client.cookies[COOKIE]
    with _restarted(web_settings, clock, cookie) as again:
        page = again.get("/me")
        assert page.status_code == 200 and f'data-licence="{MINE}"' in page.text
        asked = again.holder_backend.portal.asked  # type: ignore[attr-defined]
        assert asked[0][1]["holder_number"] == PERSON  # unsealed from the row


def test_the_id_number_is_not_stored_in_clear(dev_client, caplog) -> None:
    holder_sign_in(dev_client, caplog)
    cookie = dev_client.cookies[COOKIE]
    rows = _rows(dev_client)
    signed_in = [r for r in rows if r["holder_sealed"] is not None]
    assert len(signed_in) == 1 and signed_in[0]["via"] == "dev"
    stored = " ".join(str(v) for r in rows for v in r.values())
    assert PERSON not in stored and PERSON.lower() not in stored.lower()
    assert cookie not in stored  # only the id's SHA-256


def test_idle_and_absolute_timeouts_refuse_after_a_restart(
    dev_client, caplog, web_settings, clock
) -> None:
    holder_sign_in(dev_client, caplog)
    cookie = dev_client.cookies[COOKIE]
    clock.advance(601)  # idle 600 s
    with _restarted(web_settings, clock, cookie) as again:
        assert again.get("/me").headers["location"] == "/me/signin?m=expired"
        assert again.get("/me").headers["location"] == "/me/signin?m=signin_required"
    assert [r for r in _rows(dev_client) if r["holder_sealed"] is not None] == []

    holder_sign_in(dev_client, caplog)
    cookie = dev_client.cookies[COOKIE]
    for _ in range(6):  # used every 590 s: never idle, but 3540 s old
        clock.advance(590)
        assert dev_client.get("/me").status_code == 200
    clock.advance(61)  # 3601 s old: past the absolute 3600 s
    with _restarted(web_settings, clock, cookie) as again:
        assert again.get("/me").headers["location"] == "/me/signin?m=expired"


def test_sign_out_deletes_the_session(dev_client, caplog, web_settings, clock) -> None:
    holder_sign_in(dev_client, caplog)
    cookie = dev_client.cookies[COOKIE]
    page = dev_client.get("/me")
    out = dev_client.post("/me/signout", data={"csrf_token": csrf_of(page.text)})
    assert out.headers["location"] == "/me/signin?m=signed_out"
    assert [r for r in _rows(dev_client) if r["holder_sealed"] is not None] == []
    with _restarted(web_settings, clock, cookie) as again:
        assert again.get("/me").headers["location"] == "/me/signin?m=signin_required"


def test_a_sealed_number_opens_only_with_its_own_session_id() -> None:
    sealed = seal("one-session-id", PERSON)
    assert PERSON not in sealed and unseal("one-session-id", sealed) == PERSON
    assert seal("one-session-id", PERSON) != sealed  # a fresh nonce each time
    with pytest.raises(InvalidTag):
        unseal("another-session-id", sealed)


@pytest.mark.postgres
def test_two_desks_on_postgresql_share_a_holder_session(
    postgres, web_settings, clock, caplog
) -> None:
    url = postgres.create_database(f"web_holder_{os.getpid()}")
    settings = web_settings.with_overrides(database_url=url, dev=True)
    with make_client(settings, clock, HolderBackend()) as first:
        holder_sign_in(first, caplog)
        cookie = first.cookies[COOKIE]
        with _restarted(settings, clock, cookie) as second:  # another desk, same database
            assert second.get("/me").status_code == 200
            out = second.post("/me/signout", data={"csrf_token": csrf_of(second.get("/me").text)})
            assert out.headers["location"] == "/me/signin?m=signed_out"
        assert first.get("/me").headers["location"] == "/me/signin?m=signin_required"


def test_an_altered_sealed_number_ends_the_session(dev_client, caplog) -> None:
    holder_sign_in(dev_client, caplog)
    other = seal("someone-elses-session-id", "11010519491231003X")
    with dev_client.app.state.desk.engine.begin() as conn:  # type: ignore[attr-defined]
        conn.execute(
            update(HOLDER_SESSIONS)
            .where(HOLDER_SESSIONS.c.holder_sealed.is_not(None))
            .values(holder_sealed=other)
        )
    assert dev_client.get("/me").headers["location"] == "/me/signin?m=signin_required"
    assert [r for r in _rows(dev_client) if r["holder_sealed"] is not None] == []


def test_an_organisations_session_keeps_who_acts_for_it_sealed(tmp_path) -> None:
    from clients.web.db import open_database
    from clients.web.holder_sessions import HolderSessionStore

    engine = open_database(f"sqlite:///{tmp_path / 'web.db'}")
    store = HolderSessionStore(engine, lambda: 1000.0, idle_seconds=600, absolute_seconds=3600)
    company = "91350100M000100Y43"
    made = store.create(company, "assertion", PERSON)
    found, _ = store.find(made.session_id)
    assert found is not None and (found.holder_number, found.actor) == (company, PERSON)
    with engine.connect() as conn:
        (sealed,) = conn.execute(select(HOLDER_SESSIONS.c.holder_sealed)).one()
    assert PERSON not in sealed and company not in sealed
    person, _ = store.find(store.create(PERSON, "dev").session_id)
    assert person is not None and (person.holder_number, person.actor) == (PERSON, "")
    engine.dispose()
