"""The OAuth2 client-credentials token endpoint, and tokens that expire after a number of
requests rather than seconds, so a test sees the same expiry on a slow machine."""

from __future__ import annotations

import pytest
import requests

from users_pipeline.offline import Credentials, GoRestServer

CREDENTIALS = Credentials()
# What dlt's OAuth2ClientCredentials posts: the client's id and secret in the form.
DLT_FORM = {
    "client_id": CREDENTIALS.client_id,
    "client_secret": CREDENTIALS.client_secret,
    "grant_type": "client_credentials",
}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_token_from_the_form_as_dlt_sends_it(
    styles_server: GoRestServer, session: requests.Session
) -> None:
    response = session.post(styles_server.token_url, data={**DLT_FORM, "scope": "customers:read"})
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    assert response.headers["Cache-Control"] == "no-store"
    assert response.json() == {
        "access_token": "offline-access-token-1",
        "token_type": "bearer",
        "expires_in": 3600,
        "scope": "customers:read",
    }
    logged = styles_server.requests[-1]
    assert (logged["path"], logged["status"]) == ("/oauth/token", 200)
    assert logged["form"] == {
        "client_id": CREDENTIALS.client_id,
        "grant_type": "client_credentials",
        "scope": "customers:read",
    }, "the secret is never logged"


def test_token_with_the_client_in_http_basic(
    styles_server: GoRestServer, session: requests.Session
) -> None:
    response = session.post(
        styles_server.token_url,
        data={"grant_type": "client_credentials"},
        auth=(CREDENTIALS.client_id, CREDENTIALS.client_secret),
    )
    assert response.status_code == 200
    assert set(response.json()) == {"access_token", "token_type", "expires_in"}
    page = session.get(
        styles_server.style_urls["page_number"], headers=bearer(response.json()["access_token"])
    )
    assert page.status_code == 200


@pytest.mark.parametrize(
    ("form", "auth"),
    [
        ({**DLT_FORM, "client_secret": "nope"}, None),
        ({**DLT_FORM, "client_id": "nope"}, None),
        ({"grant_type": "client_credentials"}, None),
        ({"grant_type": "client_credentials"}, (CREDENTIALS.client_id, "nope")),
        (DLT_FORM, (CREDENTIALS.client_id, "nope")),
    ],
)
def test_a_wrong_client_gets_invalid_client(
    styles_server: GoRestServer,
    session: requests.Session,
    form: dict,
    auth: tuple[str, str] | None,
) -> None:
    response = session.post(styles_server.token_url, data=form, auth=auth)
    assert (response.status_code, response.json()) == (401, {"error": "invalid_client"})
    assert response.headers["WWW-Authenticate"].startswith("Basic ")
    assert styles_server.tokens.issued == 0


def test_another_grant_and_other_methods(
    styles_server: GoRestServer, session: requests.Session
) -> None:
    refused = session.post(styles_server.token_url, data={**DLT_FORM, "grant_type": "password"})
    assert (refused.status_code, refused.json()) == (400, {"error": "unsupported_grant_type"})
    assert session.get(styles_server.token_url).status_code == 404
    posted = session.post(styles_server.style_urls["page_number"], data=DLT_FORM)
    assert posted.status_code == 501


def test_a_token_expires_after_its_requests_and_a_new_one_serves(
    styles_server: GoRestServer, session: requests.Session
) -> None:
    url = styles_server.style_urls["page_number"]
    first = session.post(styles_server.token_url, data=DLT_FORM).json()["access_token"]
    statuses = [
        session.get(url, params={"page": page}, headers=bearer(first)).status_code
        for page in (1, 2, 3, 4, 4)
    ]
    assert statuses == [200, 200, 200, 401, 401], "three requests per token in the fixture"
    expired = session.get(url, headers=bearer(first))
    assert expired.json() == {"message": "Authentication failed"}
    assert expired.headers["WWW-Authenticate"].startswith("Bearer ")
    second = session.post(styles_server.token_url, data=DLT_FORM).json()["access_token"]
    assert second != first
    assert session.get(url, params={"page": 4}, headers=bearer(second)).status_code == 200
    assert styles_server.tokens.issued == 2


def test_tokens_are_counted_apart_and_can_last_forever(
    customers: list[dict], session: requests.Session
) -> None:
    with GoRestServer([], customers=customers, token_expires_after=None) as server:
        url = server.style_urls["page_number"]
        token = session.post(server.token_url, data=DLT_FORM).json()["access_token"]
        assert {session.get(url, headers=bearer(token)).status_code for _ in range(20)} == {200}
    with GoRestServer([], customers=customers, token_expires_after=1) as server:
        url = server.style_urls["page_number"]
        one, two = (
            session.post(server.token_url, data=DLT_FORM).json()["access_token"] for _ in range(2)
        )
        assert session.get(url, headers=bearer(one)).status_code == 200
        assert session.get(url, headers=bearer(two)).status_code == 200
        assert session.get(url, headers=bearer(one)).status_code == 401
