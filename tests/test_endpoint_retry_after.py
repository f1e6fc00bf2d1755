"""A 429's ``Retry-After`` in both of its HTTP forms (RFC 9110, 10.2.3): a number of seconds,
or an HTTP date. A date in the past asks for no wait; a header that is neither asks for
nothing, and the backoff alone decides."""

from __future__ import annotations

import email.utils
import time

import httpx
import pytest

from vlmeval_core.endpoint.client import RetryPolicy, retry_after

AN_HOUR = 3600.0


def too_many_requests(value: str | None) -> httpx.Response:
    headers = {} if value is None else {"Retry-After": value}
    return httpx.Response(429, headers=headers)


def http_date(seconds_from_now: float) -> str:
    """``Retry-After``'s date form, e.g. ``Wed, 21 Oct 2015 07:28:00 GMT`` (whole seconds)."""
    return email.utils.formatdate(time.time() + seconds_from_now, usegmt=True)


@pytest.mark.parametrize(("value", "seconds"), [("120", 120.0), ("0", 0.0), ("1.5", 1.5)])
def test_a_number_of_seconds_is_that_many_seconds(value, seconds):
    assert retry_after(too_many_requests(value)) == seconds


def test_an_http_date_an_hour_ahead_asks_for_about_an_hour():
    asked = retry_after(too_many_requests(http_date(AN_HOUR)))
    assert asked is not None, "the date form is understood"
    # the date has whole seconds; the margin is for a slow machine between the two clocks
    assert AN_HOUR - 120 < asked <= AN_HOUR


def test_an_http_date_in_the_past_asks_for_no_wait():
    assert retry_after(too_many_requests(http_date(-AN_HOUR))) == 0.0
    assert retry_after(too_many_requests("Wed, 21 Oct 2015 07:28:00 GMT")) == 0.0


@pytest.mark.parametrize("value", [None, "", "soon", "-", "Wed, 99 Foo 2015"])
def test_no_header_or_one_that_is_neither_form_asks_for_nothing(value):
    assert retry_after(too_many_requests(value)) is None


def test_a_date_an_hour_ahead_is_waited_up_to_the_policys_cap():
    policy = RetryPolicy(base_s=0.01, cap_s=0.02, retry_after_cap_s=30.0)
    assert policy.wait(0, too_many_requests(http_date(AN_HOUR))) == 30.0
    assert policy.wait(0, too_many_requests(None)) <= 0.02, "no header: the backoff alone"
