"""Where settings come from, and which source wins."""

from __future__ import annotations

from nuner.app.settings import Settings


def test_sources_and_precedence(tmp_path, monkeypatch):
    for name in ("NUNER_PORT", "NUNER_DATABASE_URL", "NUNER_LOADED_TAGGERS"):
        monkeypatch.delenv(name, raising=False)
    config = tmp_path / "nuner.toml"
    config.write_text('port = 9000\nloaded_taggers = 7\nwarmup_taggers = ["a", "b@2"]\n')
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "nuner_database_url").write_text("postgresql+psycopg://u:p@db/nuner")
    monkeypatch.setenv("NUNER_CONFIG_FILE", str(config))
    monkeypatch.setenv("NUNER_SECRETS_DIR", str(secrets))
    monkeypatch.setenv("NUNER_LOADED_TAGGERS", "3")  # the environment beats the file
    settings = Settings(home=tmp_path / "home")
    assert settings.port == 9000 and settings.loaded_taggers == 3
    assert settings.warmup_taggers == ["a", "b@2"]
    assert settings.resolved_database_url == "postgresql+psycopg://u:p@db/nuner"
    assert settings.uses_postgres
    monkeypatch.setenv("NUNER_DATABASE_URL", "sqlite:///x.db")  # env beats the secret file
    assert Settings().resolved_database_url == "sqlite:///x.db"


def test_embedded_defaults(tmp_path, monkeypatch):
    for name in ("NUNER_CONFIG_FILE", "NUNER_SECRETS_DIR", "NUNER_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings(home=tmp_path)
    assert settings.resolved_database_url == f"sqlite:///{tmp_path / 'nuner.db'}"
    assert settings.resolved_bundles_dir == tmp_path / "bundles"
    assert not settings.uses_postgres and settings.embedded_worker
    assert (settings.host, settings.port) == ("127.0.0.1", 8080)


def test_onnx_threads_are_shared_out_over_streams_and_workers(tmp_path):
    one = Settings(home=tmp_path, inference_streams=1, workers=1, num_threads=None)
    assert one.threads_per_stream is None  # ONNX Runtime's own default
    assert Settings(home=tmp_path, inference_streams=1, num_threads=3).threads_per_stream == 3
    shared = Settings(home=tmp_path, inference_streams=2, workers=2, num_threads=8)
    assert shared.threads_per_stream == 2
    assert (
        Settings(home=tmp_path, inference_streams=4, workers=2, num_threads=2).threads_per_stream
        == 1
    )
