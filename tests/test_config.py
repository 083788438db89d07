import json

import pytest

from primeflow_lib.config import ConfigError, Secret, get_ticker_config, load_api_keys, load_config


def write(tmp_path, text, name="config.yaml"):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_defaults_load_without_a_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = load_config()
    assert cfg["source"] == "<defaults>"
    assert cfg["universe"]["size"] == 50
    assert cfg["scalp"]["min_premium"] > 0


def test_user_file_overrides_defaults(tmp_path):
    cfg = load_config(write(tmp_path, "scalp:\n  min_premium: 75000\nuniverse:\n  size: 20\n"))
    assert cfg["scalp"]["min_premium"] == 75000.0
    assert isinstance(cfg["scalp"]["min_premium"], float)
    assert cfg["universe"]["size"] == 20
    assert cfg["day_trade"]["max_dte"] == 30  # untouched default


def test_unknown_key_names_key_and_file(tmp_path):
    p = write(tmp_path, "scalp:\n  min_premum: 1\n")
    with pytest.raises(ConfigError) as e:
        load_config(p)
    assert "scalp.min_premum" in str(e.value) and str(p) in str(e.value)


def test_wrong_type_names_key_value_and_file(tmp_path):
    p = write(tmp_path, "day_trade:\n  max_dte: soon\n")
    with pytest.raises(ConfigError) as e:
        load_config(p)
    msg = str(e.value)
    assert "day_trade.max_dte" in msg and "'soon'" in msg and str(p) in msg


def test_missing_explicit_file_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.yaml")


def test_env_var_names_the_file(tmp_path, monkeypatch):
    p = write(tmp_path, "universe:\n  size: 7\n", "other.yaml")
    monkeypatch.setenv("PRIMEFLOW_CONFIG", str(p))
    assert load_config()["universe"]["size"] == 7
    monkeypatch.setenv("PRIMEFLOW_CONFIG", str(tmp_path / "gone.yaml"))
    with pytest.raises(ConfigError, match="PRIMEFLOW_CONFIG"):
        load_config()


def test_json_is_accepted(tmp_path):
    p = write(tmp_path, json.dumps({"swing": {"min_strength": 0.8}}), "config.json")
    assert load_config(p)["swing"]["min_strength"] == 0.8


def test_malformed_yaml_is_a_clear_error(tmp_path):
    p = write(tmp_path, "scalp: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML or JSON"):
        load_config(p)


def test_python_object_tag_is_rejected(tmp_path):
    p = write(tmp_path, "experiment: !!python/object/apply:os.system ['echo pwned']\n")
    with pytest.raises(ConfigError):
        load_config(p)


def test_ticker_override_merges(tmp_path):
    p = write(tmp_path, "tickers:\n  overrides:\n    tsla:\n      scalp:\n        min_premium: 123\n")
    cfg = load_config(p)
    assert get_ticker_config(cfg, "TSLA", "scalp")["min_premium"] == 123.0
    assert get_ticker_config(cfg, "AAPL", "scalp")["min_premium"] == cfg["scalp"]["min_premium"]
    # other keys of the section are still the defaults
    assert get_ticker_config(cfg, "TSLA", "scalp")["max_dte"] == cfg["scalp"]["max_dte"]


def test_override_of_unknown_section_or_key_fails(tmp_path):
    with pytest.raises(ConfigError, match="tickers.overrides.TSLA"):
        load_config(write(tmp_path, "tickers:\n  overrides:\n    TSLA:\n      scalpp: {}\n"))
    with pytest.raises(ConfigError, match="min_premum"):
        load_config(write(tmp_path, "tickers:\n  overrides:\n    TSLA:\n      scalp: {min_premum: 1}\n"))


def test_channel_needs_env_var_not_secret(tmp_path):
    with pytest.raises(ConfigError, match="needs 'env'"):
        load_config(write(tmp_path, "alerts:\n  channels:\n    telegram_main: {type: telegram}\n"))
    with pytest.raises(ConfigError, match="unknown key"):
        load_config(write(tmp_path, "alerts:\n  channels:\n    m: {type: slack, env: X, url: 'https://hooks'}\n"))


def test_api_keys_from_env_never_shown(monkeypatch, tmp_path):
    monkeypatch.setenv("POLYGON_API_KEY", "legacy-key-123")
    monkeypatch.setenv("ALPHAVANTAGE_API_KEY", "av-key-456")
    cfg = load_config(write(tmp_path, ""))
    keys = cfg["api_keys"]
    assert keys["massive"].reveal() == "legacy-key-123"
    text = f"{cfg} {keys} {keys['massive']} {keys['massive']!r} {json.dumps(keys)}"
    assert "legacy-key-123" not in text and "av-key-456" not in text
    monkeypatch.setenv("POLYGON_MASSIVE_KEY", "preferred")
    assert load_api_keys()["massive"].reveal() == "preferred"


def test_secret_is_not_pickled():
    import pickle

    s = Secret("topsecret")
    assert b"topsecret" not in pickle.dumps(s)


def test_paper_override_of_a_scalar_and_a_section(tmp_path):
    p = write(tmp_path, "tickers:\n  overrides:\n    SPY:\n      paper:\n        risk_free_rate: 0.05\n"
                        "        swing: {timeout_days: 3}\n")
    paper = get_ticker_config(load_config(p), "SPY", "paper")
    assert paper["risk_free_rate"] == 0.05 and paper["swing"]["timeout_days"] == 3
    assert paper["swing"]["take_profit_pct"] == load_config(p)["paper"]["swing"]["take_profit_pct"]
