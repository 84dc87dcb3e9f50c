"""Logging in to the dashboard: argon2 passwords, the signed session cookie, CSRF, lock-out, TOTP."""

from __future__ import annotations

import base64
from datetime import timedelta
from http.cookies import SimpleCookie

from sqlmodel import select

from bot import auth
from models.auth import LoginAttempt, StaffTotp
from models.contact_log import ContactLog
from models.people import Person
from tests.browser import EMAILS, PASSWORD, client, csrf_of, log_in, logged_in, staff_cast


def _cookie(response, name: str) -> str:
    for header in response.headers.get_list("set-cookie"):
        if header.startswith(f"{name}="):
            return header
    raise AssertionError(f"no {name} cookie in {response.headers.get_list('set-cookie')}")


def _code_for(service, person_id: int, steps_ahead: int = 0) -> str:
    with service.tx() as session:
        secret = session.get(StaffTotp, person_id).secret
    return auth.totp_code(secret, auth.totp_step(service.now()) + steps_ahead)


def _enable_totp(service, http, person_id: int) -> None:
    page = http.get("/account/2fa")
    assert page.status_code == 200 and "Slå på tofaktorinnlogging" in page.text
    done = http.post("/account/2fa", data={"csrf": csrf_of(page.text), "action": "enable",
                                           "code": _code_for(service, person_id)})
    assert done.status_code == 303


def test_it_redirects_to_login_without_a_session(service):
    staff_cast(service)
    response = client(service).get("/dashboard/youth/3?kind=note")
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=%2Fdashboard%2Fyouth%2F3%3Fkind%3Dnote"


def test_it_logs_a_worker_in_with_email_and_password_and_out_again(service):
    staff_cast(service)
    http = client(service)
    form = http.get("/login")
    assert form.status_code == 200
    assert 'name="email"' in form.text and 'name="password"' in form.text and 'name="csrf"' in form.text
    response = log_in(http, " Kari@OT.example ", next="/dashboard/entries")
    assert response.status_code == 303 and response.headers["location"] == "/dashboard/entries"
    assert http.get("/dashboard").status_code == 200

    page = http.get("/dashboard")
    out = http.post("/logout", data={"csrf": csrf_of(page.text)})
    assert out.status_code == 303 and out.headers["location"] == "/login"
    assert http.get("/dashboard").status_code == 303


def test_it_ends_the_session_on_the_server_at_logout(service):
    staff_cast(service)
    http = logged_in(service, "primary")
    stolen = http.cookies.get("tettpa_session")
    http.post("/logout", data={"csrf": csrf_of(http.get("/dashboard").text)})
    replay = client(service)
    replay.cookies.set("tettpa_session", stolen)
    assert replay.get("/dashboard").status_code == 303


def test_it_sets_a_signed_httponly_lax_session_cookie(service):
    staff_cast(service)
    response = log_in(client(service), EMAILS["primary"])
    header = _cookie(response, "tettpa_session")
    attributes = header.lower()
    assert "httponly" in attributes and "samesite=lax" in attributes and "secure" not in attributes
    value = SimpleCookie(header)["tettpa_session"].value
    token, _, signature = value.rpartition(".")
    assert token and signature

    service.settings.public_url = "https://tettpa.example.no"
    assert "secure" in _cookie(log_in(client(service), EMAILS["primary"]), "tettpa_session").lower()


def test_it_refuses_a_forged_session_cookie(service):
    staff_cast(service)
    http = logged_in(service, "primary")
    value = http.cookies.get("tettpa_session")
    forged = client(service)
    forged.cookies.set("tettpa_session", value[:-3] + ("AAA" if not value.endswith("AAA") else "BBB"))
    assert forged.get("/dashboard").status_code == 303
    unsigned = client(service)
    unsigned.cookies.set("tettpa_session", value.rpartition(".")[0])
    assert unsigned.get("/dashboard").status_code == 303


def test_it_refuses_a_wrong_password_without_telling_whether_the_address_exists(service):
    staff_cast(service)
    wrong = log_in(client(service), EMAILS["primary"], "feil-passord-her")
    unknown = log_in(client(service), "ingen@ot.example", "feil-passord-her")
    assert wrong.status_code == unknown.status_code == 401
    assert "Feil e-post eller passord." in wrong.text and "Feil e-post eller passord." in unknown.text
    assert "tettpa_session" not in wrong.headers.get("set-cookie", "")


def test_it_refuses_youths_and_parents_even_with_a_password_hash(service):
    s = staff_cast(service)
    with service.tx() as session:
        youth = session.get(Person, s.youth)
        youth.email = "ola@example.no"
        youth.password_hash = session.get(Person, s.primary).password_hash
    assert log_in(client(service), "ola@example.no").status_code == 401


def test_it_refuses_a_login_form_without_its_csrf_token(service):
    staff_cast(service)
    http = client(service)
    http.get("/login")
    response = http.post("/login", data={"email": EMAILS["primary"], "password": PASSWORD, "csrf": "gjettet"})
    assert response.status_code == 400 and "tettpa_session" not in response.headers.get("set-cookie", "")
    fresh = client(service)  # a form posted from another site carries no nonce cookie
    response = fresh.post("/login", data={"email": EMAILS["primary"], "password": PASSWORD,
                                          "csrf": csrf_of(http.get("/login").text)})
    assert response.status_code == 400


def test_it_refuses_a_form_post_without_the_sessions_csrf_token(service):
    s = staff_cast(service)
    http = logged_in(service, "primary")
    response = http.post(f"/dashboard/youth/{s.youth}/notes", data={"text": "Ringte", "csrf": "feil"})
    assert response.status_code == 403
    other = logged_in(service, "secondary")  # another session's token is no good either
    response = http.post(f"/dashboard/youth/{s.youth}/notes",
                         data={"text": "Ringte", "csrf": csrf_of(other.get("/dashboard").text)})
    assert response.status_code == 403
    with service.tx() as session:
        assert session.exec(select(ContactLog).where(ContactLog.kind == "note")).all() == []


def test_it_locks_an_address_after_repeated_failures_and_opens_it_again_later(service, clock):
    staff_cast(service)
    for _ in range(5):
        assert log_in(client(service), EMAILS["primary"], "feil-passord-her").status_code in (401, 429)
    locked = log_in(client(service), EMAILS["primary"])
    assert locked.status_code == 429 and "For mange mislykkede forsøk" in locked.text
    clock.advance(minutes=14)
    assert log_in(client(service), EMAILS["primary"]).status_code == 429
    clock.advance(minutes=2)
    assert log_in(client(service), EMAILS["primary"]).status_code == 303


def test_it_locks_unknown_addresses_alike(service):
    staff_cast(service)
    for _ in range(5):
        log_in(client(service), "ingen@ot.example", "feil-passord-her")
    assert log_in(client(service), "ingen@ot.example", "feil-passord-her").status_code == 429


def test_it_counts_only_failures_since_the_last_successful_login(service, clock):
    staff_cast(service)
    for _ in range(4):
        log_in(client(service), EMAILS["primary"], "feil-passord-her")
    assert log_in(client(service), EMAILS["primary"]).status_code == 303
    for _ in range(4):
        log_in(client(service), EMAILS["primary"], "feil-passord-her")
    assert log_in(client(service), EMAILS["primary"]).status_code == 303


def test_it_follows_the_lockout_settings(service):
    staff_cast(service)
    service.settings.login_max_failures = 2
    for _ in range(2):
        log_in(client(service), EMAILS["primary"], "feil-passord-her")
    assert log_in(client(service), EMAILS["primary"]).status_code == 429


def test_it_ends_an_idle_session_after_the_timeout(service, clock):
    staff_cast(service)
    http = logged_in(service, "primary")
    clock.advance(minutes=50)
    assert http.get("/dashboard").status_code == 200
    clock.advance(minutes=50)  # active 50 minutes ago: still in
    assert http.get("/dashboard").status_code == 200
    clock.advance(minutes=61)
    assert http.get("/dashboard").status_code == 303


def test_it_ends_a_session_after_a_working_day_however_active(service, clock):
    staff_cast(service)
    http = logged_in(service, "primary")
    for _ in range(12):
        clock.advance(minutes=59)
        http.get("/dashboard")
    clock.advance(minutes=30)
    assert http.get("/dashboard").status_code == 303


def test_it_does_not_send_a_person_elsewhere_after_login(service):
    staff_cast(service)
    for target in ("https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:alert(1)"):
        response = log_in(client(service), EMAILS["primary"], next=target)
        assert response.headers["location"] == "/dashboard", target


def test_it_stores_passwords_with_argon2(service):
    s = staff_cast(service)
    with service.tx() as session:
        stored = session.get(Person, s.primary).password_hash
    assert stored.startswith("$argon2id$") and PASSWORD not in stored


def test_it_computes_totp_codes_as_rfc_6238():
    # RFC 6238 appendix B (SHA-1): the 8-digit code at T=59 is 94287082; six digits are its last six.
    secret = base64.b32encode(b"12345678901234567890").decode()
    assert auth.totp_code(secret, 59 // 30) == "287082"
    assert auth.totp_code(secret, 1111111109 // 30) == "081804"


def test_it_asks_for_a_totp_code_when_the_person_has_set_one_up(service, clock):
    s = staff_cast(service)
    http = logged_in(service, "primary")
    _enable_totp(service, http, s.primary)
    clock.advance(seconds=60)

    again = client(service)
    response = log_in(again, EMAILS["primary"])
    assert response.headers["location"] == "/login/totp"
    assert again.get("/dashboard").headers["location"] == "/login/totp"
    form = again.get("/login/totp")
    wrong = again.post("/login/totp", data={"csrf": csrf_of(form.text), "code": "000000"})
    assert wrong.status_code == 401 and "Feil kode" in wrong.text
    right = again.post("/login/totp", data={"csrf": csrf_of(form.text), "code": _code_for(service, s.primary)})
    assert right.status_code == 303 and right.headers["location"] == "/dashboard"
    assert again.get("/dashboard").status_code == 200


def test_it_refuses_a_totp_code_used_twice(service):
    s = staff_cast(service)
    http = logged_in(service, "primary")
    _enable_totp(service, http, s.primary)
    # The code that switched it on cannot log anyone in in the same 30 seconds.
    used = _code_for(service, s.primary)
    again = client(service)
    log_in(again, EMAILS["primary"])
    form = again.get("/login/totp")
    assert again.post("/login/totp", data={"csrf": csrf_of(form.text), "code": used}).status_code == 401


def test_it_locks_out_after_repeated_wrong_codes(service):
    s = staff_cast(service)
    _enable_totp(service, logged_in(service, "primary"), s.primary)
    http = client(service)
    log_in(http, EMAILS["primary"])
    statuses = []
    for _ in range(5):
        form = http.get("/login/totp")
        if form.status_code != 200:
            break
        statuses.append(http.post("/login/totp", data={"csrf": csrf_of(form.text), "code": "123456"}).status_code)
    assert statuses[-1] == 429
    assert log_in(client(service), EMAILS["primary"]).status_code == 429
    with service.tx() as session:
        assert not session.exec(select(LoginAttempt).where(LoginAttempt.ok.is_(True),
                                                           LoginAttempt.at > service.now())).all()


def test_it_makes_everyone_set_up_totp_when_required(service):
    s = staff_cast(service)
    service.settings.require_2fa = True
    http = client(service)
    response = log_in(http, EMAILS["coordinator"])
    assert response.headers["location"] == "/account/2fa"
    assert http.get("/dashboard").headers["location"] == "/account/2fa"
    page = http.get("/account/2fa")
    assert "krever tofaktorinnlogging" in page.text and "<svg" in page.text
    assert "otpauth://totp/" in page.text
    with service.tx() as session:
        secret = session.get(StaffTotp, s.coordinator).secret
    assert secret in page.text
    done = http.post("/account/2fa", data={"csrf": csrf_of(page.text), "action": "enable",
                                           "code": _code_for(service, s.coordinator)})
    assert done.status_code == 303 and done.headers["location"] == "/dashboard"
    assert http.get("/dashboard").status_code == 200
    assert "Slå av" not in http.get("/account/2fa").text  # required: it cannot be switched off


def test_it_lets_a_person_switch_totp_off_with_a_code(service, clock):
    s = staff_cast(service)
    http = logged_in(service, "primary")
    _enable_totp(service, http, s.primary)
    page = http.get("/account/2fa")
    off = http.post("/account/2fa", data={"csrf": csrf_of(page.text), "action": "disable",
                                          "code": _code_for(service, s.primary, steps_ahead=1)})
    assert off.status_code == 303
    assert log_in(client(service), EMAILS["primary"]).headers["location"] == "/dashboard"


def test_it_sends_headers_that_keep_pages_private_and_scripts_out(service):
    staff_cast(service)
    http = logged_in(service, "primary")
    for response in (http.get("/dashboard"), client(service).get("/login")):
        assert "script-src" not in response.headers["content-security-policy"]
        assert "default-src 'none'" in response.headers["content-security-policy"]
        assert response.headers["cache-control"] == "no-store"
        assert response.headers["x-frame-options"] == "DENY"
    assert timedelta(hours=1) == service.settings.session_timeout
