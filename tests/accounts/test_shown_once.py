"""The holder behind every page that shows a secret once: sealed, per session and user, taken exactly once."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.sessions.backends.db import SessionStore
from django.http import HttpRequest
from django.test import RequestFactory
from django.utils import timezone

from accounts import shown_once
from accounts.models import OneTimeSecret, User
from accounts.shown_once import HOLD_SECONDS, see_other, shown_once_hold, shown_once_take
from tests.database_text import tables_holding

pytestmark = pytest.mark.django_db
SECRET = "the-secret-value-4f1c9a"


def _request(user: User, session_key: str | None = None) -> HttpRequest:
    request = RequestFactory().get("/")
    request.user = user
    request.session = SessionStore(session_key)
    return request


def _saved(request: HttpRequest) -> str:
    request.session.save()
    return str(request.session.session_key)


def test_a_held_secret_is_taken_once(operator: User) -> None:
    request = _request(operator)
    shown_once_hold(request, purpose="test", payload={"secret": SECRET})

    assert shown_once_take(request, purpose="test") == {"secret": SECRET}
    assert shown_once_take(request, purpose="test") is None
    assert OneTimeSecret.objects.count() == 0


def test_a_request_that_loaded_the_session_before_the_take_gets_nothing(operator: User) -> None:
    """Two concurrent GETs both load the session before either saves it: only one may show the secret."""
    holder = _request(operator)
    shown_once_hold(holder, purpose="test", payload={"secret": SECRET})
    key = _saved(holder)
    first, second = _request(operator, key), _request(operator, key)  # the first never saves before the second reads

    taken = [shown_once_take(first, purpose="test"), shown_once_take(second, purpose="test")]

    assert taken == [{"secret": SECRET}, None]


def test_it_is_stored_sealed_and_the_session_holds_only_its_id(operator: User) -> None:
    request = _request(operator)
    shown_once_hold(request, purpose="test", payload={"secret": SECRET})
    _saved(request)

    held = OneTimeSecret.objects.get()
    assert request.session[shown_once.SESSION_KEY] == {"test": str(held.pk)}
    assert tables_holding(SECRET) == []
    assert SECRET.encode() not in bytes(OneTimeSecret.objects.values_list("payload", flat=True).get())


def test_another_user_with_the_same_id_gets_nothing_and_leaves_it(operator: User, owner_a: User) -> None:
    holder = _request(operator)
    shown_once_hold(holder, purpose="test", payload={"secret": SECRET})
    intruder = _request(owner_a)
    intruder.session[shown_once.SESSION_KEY] = dict(holder.session[shown_once.SESSION_KEY])

    assert shown_once_take(intruder, purpose="test") is None
    assert shown_once_take(holder, purpose="test") == {"secret": SECRET}


def test_an_expired_secret_is_never_shown_and_is_deleted(operator: User, monkeypatch: pytest.MonkeyPatch) -> None:
    request = _request(operator)
    shown_once_hold(request, purpose="test", payload={"secret": SECRET})
    later = timezone.now() + timedelta(seconds=HOLD_SECONDS + 1)
    monkeypatch.setattr(timezone, "now", lambda: later)

    assert shown_once_take(request, purpose="test") is None
    assert OneTimeSecret.objects.count() == 0


def test_a_new_hold_replaces_the_one_not_yet_taken_and_purposes_are_apart(operator: User) -> None:
    request = _request(operator)
    shown_once_hold(request, purpose="test", payload={"secret": "first"})
    shown_once_hold(request, purpose="test", payload={"secret": "second"})
    shown_once_hold(request, purpose="other", payload={"secret": "third"})

    assert OneTimeSecret.objects.count() == 2
    assert shown_once_take(request, purpose="test") == {"secret": "second"}
    assert shown_once_take(request, purpose="other") == {"secret": "third"}


def test_the_redirect_after_a_post_is_a_303_to_the_given_page() -> None:
    response = see_other("/somewhere/")

    assert (response.status_code, response["Location"]) == (303, "/somewhere/")
