"""`numsim serve` as real processes on loopback: driven over the network, two of them
sharing one pool through a real redis-server, and the README's curl session."""

import os
import re
import subprocess
import time
import uuid

import httpx
import pytest

from served import AUTH, ROOT, SAMPLE, TOKEN, serve

US = "+12125550143"


def test_serve_over_the_network(tmp_path):
    with serve(tmp_path / "numbers.db") as url, httpx.Client(base_url=url, headers=AUTH) as http:
        assert httpx.get(f"{url}/numbers").status_code == 401
        report = http.post(
            "/numbers/import", content=SAMPLE.read_bytes(), headers={"Content-Type": "text/csv"}
        ).json()
        assert report["added"] == 9 and report["ok"]
        lease = http.post("/allocations", json={"template": "us-appointments", "destination": US})
        assert lease.status_code == 201
        number = lease.json()["number"]
        assert http.get("/pool").json()["numbers"][number]["in_use"] == 1
        assert http.delete(f"/allocations/{lease.json()['lease_id']}").json()["released"]
        ready = http.get("/readyz")  # the sample's credential variables are not set here
        assert ready.status_code == 200 and ready.json()["status"] == "degraded"
        assert "env:TWILIO_AUTH_TOKEN" in str(ready.json()["credentials"]["unresolved"])
        assert http.get("/numbers/export").text.startswith("e164,provider")


@pytest.mark.redis
def test_two_serve_processes_share_one_pool_through_redis(tmp_path, redis_server):
    db = tmp_path / "numbers.db"
    redis = ("--redis", redis_server.url, "--namespace", f"svc-{uuid.uuid4().hex}")
    with serve(db, *redis) as one, serve(db, *redis) as two:
        first, second = (
            httpx.Client(base_url=one, headers=AUTH),
            httpx.Client(base_url=two, headers=AUTH),
        )
        with first, second:
            number = {"e164": "+14155550100", "provider": "twilio", "stir_shaken_attested": True}
            assert first.post("/numbers", json={**number, "templates": ["t"]}).status_code == 201
            acquire = {"template": "t", "destination": US}
            for _ in range(100):  # the other process learns the template by its sync
                lease = second.post("/allocations", json=acquire)
                if lease.status_code != 404:
                    break
                time.sleep(0.05)
            assert lease.status_code == 201, lease.text
            refused = first.post("/allocations", json=acquire)  # one channel, shared
            assert refused.status_code == 409 and refused.json()["reasons"] == {
                "+14155550100": "busy"
            }
            assert first.delete(f"/allocations/{lease.json()['lease_id']}").json()["released"]
            assert second.get("/pool").json()["numbers"]["+14155550100"]["in_use"] == 0
            again = first.post("/allocations", json=acquire)
            assert again.status_code == 201
            assert second.delete(f"/allocations/{again.json()['lease_id']}").json()["released"]


def readme_session(name="serve-session"):
    """A README curl session: the shell lines before and after `numsim serve`."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(rf"<!-- {name} -->\n```sh\n(.*?)```", text, re.S)
    assert block, f"README.md lost its {name}"
    lines = block.group(1).splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("numsim serve"))
    return lines[:start], lines[start + 1 :]


def test_the_readme_curl_session_runs(tmp_path):
    before, after = readme_session()
    assert any("NUMSIM_API_TOKEN" in line for line in before)
    with serve(tmp_path / "numbers.db") as url:
        script = "\n".join(["set -euo pipefail", *after]).replace("http://127.0.0.1:8080", url)
        result = subprocess.run(
            ["bash", "-c", script],
            cwd=ROOT,
            env={**os.environ, "NUMSIM_API_TOKEN": TOKEN},
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 0, result.stdout + result.stderr
    assert '"added":9' in result.stdout and '"released":true' in result.stdout
    assert '"changed":false' in result.stdout and '"template":"us-appointments"' in result.stdout
    assert '"check":"compliance"' in result.stdout  # +13125550199 is not STIR/SHAKEN attested


TWILIO_SID = "AC" + "0" * 32
TWILIO_TOKEN = "twilio-secret-token-" + uuid.uuid4().hex[:8]
UK = "+442079460018"


def until(check, seconds=10.0):
    """Poll `check()` until it is truthy (another process syncing); its last value."""
    deadline = time.monotonic() + seconds
    while not (value := check()) and time.monotonic() < deadline:
        time.sleep(0.05)
    return value


@pytest.mark.redis
def test_calls_placed_or_attached_over_http_end_on_any_process(tmp_path, redis_server):
    """The loop closed: POST /calls on one process, its signed terminal callback to the
    other frees the channel; a call placed by the caller and attached with PUT on one
    process is freed by its callback to the other."""
    from numsim.testing import FakeTwilio

    number = "+14155550100"
    db = tmp_path / "numbers.db"
    with FakeTwilio.started(TWILIO_SID, TWILIO_TOKEN, numbers=[number]) as twilio:
        options = ("--redis", redis_server.url, "--namespace", f"loop-{uuid.uuid4().hex}")
        options += ("--provider-url", f"twilio={twilio.url}")
        env = {"TWILIO_TOKEN": TWILIO_TOKEN}
        with serve(db, *options, env=env) as one, serve(db, *options, env=env) as two:
            first = httpx.Client(base_url=one, headers=AUTH)
            second = httpx.Client(base_url=two, headers=AUTH)
            row = {"e164": number, "provider": "twilio", "templates": ["t"]}
            row |= {"account": TWILIO_SID, "credentials": "env:TWILIO_TOKEN"}
            assert first.post("/numbers", json=row).status_code == 201

            def in_use():
                return [c.get("/pool").json()["numbers"][number]["in_use"] for c in (first, second)]

            call = {
                "template": "t",
                "destination": UK,
                "answer": "<Response><Say>hi</Say></Response>",
            }
            placed = first.post("/calls", json=call)
            assert placed.status_code == 201, placed.text
            sid = placed.json()["call_id"]
            made = twilio.calls[sid]
            assert made.to == UK and made.status_callback.startswith(
                f"{one}/callbacks/twilio/status?"
            )
            assert until(lambda: second.post("/calls", json=call).status_code == 409)
            made.status_callback = made.status_callback.replace(one, two)  # any process
            assert twilio.finish(sid, "completed", duration=12) == 200
            assert in_use() == [0, 0]

            lease = until(
                lambda: second.post("/allocations", json={"template": "t", "destination": UK})
            )
            assert lease.status_code == 201
            own = "CA" + uuid.uuid4().hex  # placed by the caller, not through numsim
            attached = first.put(
                f"/allocations/{lease.json()['lease_id']}/call", json={"call_id": own}
            )
            assert attached.json()["attached"] is True
            status = {"CallSid": own, "AccountSid": TWILIO_SID, "CallStatus": "no-answer"}
            assert twilio.post(f"{two}/callbacks/twilio/status", status) == 200
            assert in_use() == [0, 0]
            signed = {
                "X-Twilio-Signature": twilio.signature(f"{two}/callbacks/twilio/status", status)
            }
            forged = {**status, "CallStatus": "completed"}  # the body changed after signing
            refused = httpx.post(f"{two}/callbacks/twilio/status", data=forged, headers=signed)
            assert refused.status_code == 403
            first.close()
            second.close()


def test_a_token_sent_in_the_query_is_refused_and_never_logged(tmp_path):
    with serve(tmp_path / "numbers.db") as url:  # the block checks the output for TOKEN
        refused = httpx.get(f"{url}/pool?token={TOKEN}&access_token={TOKEN}")
        assert refused.status_code == 401


@pytest.mark.parametrize("half_sent", ["headers", "body"])
def test_a_half_sent_request_is_closed_after_the_read_timeout(tmp_path, half_sent):
    import socket

    with serve(tmp_path / "numbers.db", "--read-timeout", "1") as url:
        port = int(url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=15) as sock:
            if half_sent == "headers":
                sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
            else:
                head = b"POST /numbers HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n"
                sock.sendall(head + f"Authorization: Bearer {TOKEN}\r\n\r\n".encode() + b"{")
            started = time.monotonic()
            assert sock.recv(1024) == b""  # closed by the server, not by our 15 s
            assert time.monotonic() - started < 10


def test_the_readme_calls_session_runs(tmp_path):
    """POST /calls, GET /calls/{token} and PUT /allocations/{id}/call as the README
    shows them, against a real serve whose Twilio account is a FakeTwilio."""
    from numsim.testing import FakeTwilio

    before, after = readme_session("calls-session")
    assert any("TWILIO_AUTH_TOKEN" in line for line in before)
    account = "AC00000000000000000000000000000001"
    numbers = ["+14155550100", "+14155550101"]
    env = {"TWILIO_AUTH_TOKEN": TWILIO_TOKEN}
    with FakeTwilio.started(account, TWILIO_TOKEN, numbers=numbers) as twilio:
        options = ("--provider-url", f"twilio={twilio.url}", "--inbound-url", "https://a.example/x")
        with serve(tmp_path / "numbers.db", *options, env=env) as url:
            script = "\n".join(["set -euo pipefail", *after]).replace("http://127.0.0.1:8080", url)
            result = subprocess.run(
                ["bash", "-c", script],
                cwd=ROOT,
                env={**os.environ, "NUMSIM_API_TOKEN": TOKEN},
                capture_output=True,
                text=True,
                timeout=60,
            )
        assert result.returncode == 0, result.stdout + result.stderr
        [call] = twilio.calls.values()
        assert call.to == "+442079460018" and call.from_ in numbers
    assert '"outcome":"placed"' in result.stdout and '"attached":true' in result.stdout


def test_a_plivo_call_placed_over_http_is_freed_by_its_signed_hangup_callback(tmp_path):
    from numsim.testing import FakePlivo

    account, token, number = "MA" + "B" * 18, "plivo-" + uuid.uuid4().hex, "+912240000011"
    with FakePlivo.started(account, token, numbers=[number]) as plivo:
        options = ("--provider-url", f"plivo={plivo.url}")
        with serve(tmp_path / "n.db", *options, env={"PLIVO_TOKEN": token}) as url:
            http = httpx.Client(base_url=url, headers=AUTH)
            row = {"e164": number, "provider": "plivo", "trai_registered": True, "templates": ["t"]}
            row |= {"account": account, "credentials": "env:PLIVO_TOKEN"}
            assert http.post("/numbers", json=row).status_code == 201
            call = {
                "template": "t",
                "destination": "+919876543210",
                "answer": "https://a.example/x",
            }
            placed = http.post("/calls", json=call)
            assert placed.status_code == 201, placed.text
            made = plivo.calls[placed.json()["call_id"]]
            assert made.hangup_url.startswith(f"{url}/callbacks/plivo/status?numsim_call=")
            assert http.get("/pool").json()["numbers"][number]["in_use"] == 1
            assert plivo.finish(made.request_uuid, "completed", duration=30) == 200
            assert http.get("/pool").json()["numbers"][number]["in_use"] == 0
            http.close()


def test_an_exotel_call_placed_over_http_is_freed_by_its_json_status_callback(tmp_path):
    from numsim.testing import FakeExotel

    account, number = "acme" + uuid.uuid4().hex[:6], "+918045000011"
    key, secret = "exo-key", "exo-" + uuid.uuid4().hex
    with FakeExotel.started(account, key, secret, numbers=[number]) as exotel:
        env = {"EXOTEL_KEYS": f"{key}:{secret}"}
        with serve(tmp_path / "n.db", "--provider-url", f"exotel={exotel.url}", env=env) as url:
            http = httpx.Client(base_url=url, headers=AUTH)
            row = {
                "e164": number,
                "provider": "exotel",
                "trai_registered": True,
                "templates": ["t"],
            }
            row |= {"account": account, "credentials": "env:EXOTEL_KEYS"}
            assert http.post("/numbers", json=row).status_code == 201
            call = {"template": "t", "destination": "+919876543210", "answer": "4711"}
            placed = http.post("/calls", json=call)
            assert placed.status_code == 201, placed.text
            made = exotel.calls[placed.json()["call_id"]]
            assert made.content_type == "application/json"
            assert exotel.finish(made.sid, "completed", duration=30) == 200
            assert http.get("/pool").json()["numbers"][number]["in_use"] == 0
            http.close()


def test_inbound_webhooks_over_http_answer_twiml_and_refuse_replays_and_other_accounts(tmp_path):
    """Webhooks signed by the SDK's RequestValidator (through FakeTwilio) against a
    real serve: TwiML answers, a replay after the call ended, another account's
    signature, and a credential reference that does not resolve."""
    from numsim.testing import FakeTwilio

    other_sid, other_token = "AC" + "2" * 32, "other-" + uuid.uuid4().hex
    ours, theirs = "+14155550100", "+14155550122"
    env = {"TWILIO_TOKEN": TWILIO_TOKEN, "OTHER_TOKEN": other_token}
    options = ("--inbound-url", "https://app.example.com/answer.xml")
    with serve(tmp_path / "n.db", *options, env=env) as url:
        http = httpx.Client(base_url=url, headers=AUTH)
        for e164, sid, ref in (
            (ours, TWILIO_SID, "TWILIO_TOKEN"),
            (theirs, other_sid, "OTHER_TOKEN"),
        ):
            row = {"e164": e164, "provider": "twilio", "account": sid, "credentials": f"env:{ref}"}
            assert http.post("/numbers", json=row).status_code == 201
        typo = {"e164": "+14155550133", "provider": "twilio", "account": other_sid}
        refused = http.post("/numbers", json={**typo, "credentials": "env:OTHER_TOKN"})
        assert refused.status_code == 422 and "env:OTHER_TOKN" in refused.json()["error"]
        with FakeTwilio.started(TWILIO_SID, TWILIO_TOKEN) as twilio:  # signs as Twilio does
            inbound = f"{url}/callbacks/twilio/inbound"
            sid, answer = twilio.inbound(inbound, ours, "+442079460018")
            assert answer.status_code == 200
            assert (
                '<Redirect method="POST">https://app.example.com/answer.xml</Redirect>'
                in answer.text
            )
            _, busy = twilio.inbound(inbound, ours, "+442079460019")  # one channel: busy
            assert '<Reject reason="busy"' in busy.text
            _, crossed = twilio.inbound(inbound, theirs, "+442079460018")  # A signs for B
            assert crossed.status_code == 403
            done = {"CallSid": sid, "CallStatus": "completed", "AccountSid": TWILIO_SID}
            assert twilio.post(f"{url}/callbacks/twilio/status", done) == 200
            params = {"CallSid": sid, "AccountSid": TWILIO_SID, "From": "+442079460018"}
            params |= {"To": ours, "CallStatus": "ringing", "Direction": "inbound"}
            assert twilio.post(inbound, params) == 403  # replayed after the call ended
            assert http.get("/pool").json()["numbers"][ours]["in_use"] == 0
        http.close()
