"""Credential references: file: only inside the credentials directory, no secret in any error."""

import os

import pytest

from numsim.credentials import CREDENTIALS_DIR_ENV, CredentialError, CredentialRef

SECRET = "SEKRET-tok-9f8e7d"


@pytest.fixture
def vault(tmp_path, monkeypatch):
    """A credentials directory with one token, configured through the environment."""
    directory = tmp_path / "vault"
    directory.mkdir()
    (directory / "twilio").write_text(SECRET + "\n")
    monkeypatch.setenv(CREDENTIALS_DIR_ENV, str(directory))
    return directory


def test_file_credentials_resolve_inside_the_directory(vault):
    assert CredentialRef.parse("file:twilio").resolve() == SECRET
    assert CredentialRef.parse(f"file:{vault / 'twilio'}").resolve() == SECRET


def test_an_explicit_directory_wins_over_the_environment(vault, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    (other / "twilio").write_text("other-token")
    assert CredentialRef.parse("file:twilio").resolve(directory=other) == "other-token"


def test_file_credentials_need_a_configured_directory(tmp_path, monkeypatch):
    monkeypatch.delenv(CREDENTIALS_DIR_ENV, raising=False)
    (tmp_path / "token").write_text(SECRET)
    with pytest.raises(CredentialError, match=f"set {CREDENTIALS_DIR_ENV}"):
        CredentialRef.parse(f"file:{tmp_path / 'token'}").resolve()


def _escapes(vault):
    outside = vault.parent / "outside"
    outside.write_text(SECRET)
    (vault / "link").symlink_to(outside)
    (vault / "binary").write_bytes(b"\xff\xfe" + SECRET.encode() + b"\x80")
    (vault / "huge").write_bytes(b"x" * (65 * 1024))
    (vault / "blank").write_text("\n")
    return [
        ("file:/etc/passwd", "outside the credentials directory"),
        ("file:../../../../etc/hostname", "outside the credentials directory"),
        ("file:/proc/self/environ", "outside the credentials directory"),
        ("file:../outside", "outside the credentials directory"),
        ("file:link", "outside the credentials directory"),
        ("file:missing", "cannot read credential file"),
        ("file:binary", "is not UTF-8 text"),
        ("file:huge", "larger than 64 KiB"),
        ("file:blank", "is empty"),
    ]


def test_bad_file_references_are_refused_without_the_secret(vault):
    for reference, reason in _escapes(vault):
        with pytest.raises(CredentialError) as caught:
            CredentialRef.parse(reference).resolve()
        message = str(caught.value)
        assert reason in message, reference
        assert SECRET not in message and SECRET not in repr(caught.value)
        assert SECRET not in repr(caught.value.__context__)  # what error trackers record


@pytest.mark.parametrize(
    "pasted",
    [
        "env:SEKRET-pasted-with-dash",
        "env:sk live 123",
        "env:1SEKRET",
        "SEKRET-pasted-alone",
        "env:",
        "file:",
        "file:SEKRET\x00x",
        "vault:SEKRET",
    ],
)
def test_a_pasted_secret_is_never_echoed(pasted):
    with pytest.raises(CredentialError) as caught:
        CredentialRef.parse(pasted)
    assert "SEKRET" not in str(caught.value)


def test_the_refusal_names_the_forms_the_readme_documents():
    with pytest.raises(CredentialError) as caught:
        CredentialRef.parse("SEKRET-pasted-alone")
    assert "a reference like 'env:NAME' or 'file:NAME'" in str(caught.value)


def test_env_names_are_identifiers(monkeypatch):
    monkeypatch.setenv("NUMSIM_TOKEN_1", SECRET)
    assert CredentialRef.parse("env:NUMSIM_TOKEN_1").resolve() == SECRET
    assert os.environ["NUMSIM_TOKEN_1"] == SECRET
