"""Loading and validating qcat.toml: defaults, path resolution, and one-line errors naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from flows.config import (
    CONFIG_ENV,
    DEFAULT_BASE_URL,
    ApiConfig,
    HistoryConfig,
    LicenseConfig,
    ScheduleConfig,
    load_config,
    make_data_dir,
    resolve_config_path,
)
from flows.errors import ConfigError, QcatError

REPO_ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = REPO_ROOT / "qcat.example.toml"
LICENSE = '[[licenses]]\nname = "acme"\napi_key_env = "ACME_KEY"\n'


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def config_error(tmp_path: Path, text: str) -> str:
    """Load text as a config file and return the error, which must be one line."""
    path = write(tmp_path / "qcat.toml", text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert message and "\n" not in message and "\r" not in message, message
    return message


@pytest.fixture(autouse=True)
def _no_config_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """A QCAT_CONFIG set on the developer's machine must not leak into these tests."""
    monkeypatch.delenv(CONFIG_ENV, raising=False)


# --- defaults and values -------------------------------------------------------------------


def test_minimal_config_gets_documented_defaults(tmp_path: Path) -> None:
    path = write(tmp_path / "qcat.toml", LICENSE)
    config = load_config(path)
    assert config.api == ApiConfig()
    assert (config.api.base_url, config.api.timeout_seconds, config.api.max_concurrency) == (DEFAULT_BASE_URL, 30.0, 8)
    assert (config.api.max_attempts, config.api.backoff_seconds, config.api.max_backoff_seconds) == (5, 1.0, 30.0)
    assert config.schedule == ScheduleConfig(cron="0 3 * * *", timezone="UTC")
    assert config.history == HistoryConfig(max_removed_share=0.5, max_added_share=1.0)
    assert config.lock_timeout_seconds == 600.0
    assert config.data_dir == (tmp_path / "data").resolve()
    assert config.licenses == (LicenseConfig("acme", ("default",), "ACME_KEY", None),)
    assert config.catalogs == [(config.licenses[0], "default")]
    assert config.source == path


def test_every_key_is_read(tmp_path: Path) -> None:
    path = write(
        tmp_path / "qcat.toml",
        """
[api]
base_url = "http://127.0.0.1:9999/v1/"
timeout_seconds = 2
max_concurrency = 3
max_attempts = 7
backoff_seconds = 0.25
max_backoff_seconds = 4.5
[storage]
data_dir = "/srv/qcat"
lock_timeout_seconds = 12
[schedule]
cron = "30 1 * * 1-5"
timezone = "Europe/Paris"
[history]
max_removed_share = 0.2
max_added_share = 3
[[licenses]]
name = "prod"
api_key_secret = "quantized-prod"
providers = ["anthropic", "default"]
[[licenses]]
name = "research_2"
api_key_env = "RESEARCH_KEY"
""",
    )
    config = load_config(path)
    assert config.api == ApiConfig("http://127.0.0.1:9999/v1", 2.0, 3, 7, 0.25, 4.5)
    assert isinstance(config.api.timeout_seconds, float)
    assert config.data_dir == Path("/srv/qcat")
    assert config.lock_timeout_seconds == 12.0
    assert config.schedule == ScheduleConfig("30 1 * * 1-5", "Europe/Paris")
    assert config.history == HistoryConfig(0.2, 3.0)
    assert config.licenses == (
        LicenseConfig("prod", ("anthropic", "default"), None, "quantized-prod"),
        LicenseConfig("research_2", ("default",), "RESEARCH_KEY", None),
    )
    assert [(lic.name, provider) for lic, provider in config.catalogs] == [
        ("prod", "anthropic"),
        ("prod", "default"),
        ("research_2", "default"),
    ]


@pytest.mark.parametrize(
    ("url", "allow"),
    [
        ("http://127.0.0.1:8765/v1", False),
        ("http://127.0.0.2/v1", False),
        ("http://localhost:8765/v1", False),
        ("http://[::1]:8765/v1", False),
        ("http://gateway.internal/v1", True),
        ("https://gateway.example.com/v1", False),
    ],
)
def test_plain_http_only_to_this_machine_or_when_allowed(tmp_path: Path, url: str, allow: bool) -> None:
    flag = "allow_insecure_http = true\n" if allow else ""
    config = load_config(write(tmp_path / "qcat.toml", f'[api]\nbase_url = "{url}"\n{flag}' + LICENSE))
    assert config.api.base_url == url
    assert config.api.allow_insecure_http is allow


def test_example_file_loads_with_both_key_sources() -> None:
    config = load_config(EXAMPLE)
    assert config.source == EXAMPLE
    assert config.data_dir == REPO_ROOT / "data"
    assert len(config.licenses) == 2
    by_source = {(lic.api_key_env is not None, lic.api_key_secret is not None) for lic in config.licenses}
    assert by_source == {(True, False), (False, True)}
    # The example documents the defaults, so its values must be the defaults.
    assert config.api == ApiConfig()
    assert config.schedule == ScheduleConfig()
    assert config.history == HistoryConfig()
    assert config.lock_timeout_seconds == 600.0


def test_example_file_mentions_every_accepted_key() -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    keys = [*ApiConfig.__dataclass_fields__, "data_dir", "lock_timeout_seconds", "cron", "timezone",
            "max_removed_share", "max_added_share", "name", "api_key_env", "api_key_secret", "providers"]
    for key in keys:
        assert f"\n{key} = " in text, key
    for table in ("[api]", "[storage]", "[schedule]", "[history]", "[[licenses]]"):
        assert f"\n{table}\n" in text, table


# --- where the file and the data directory are -----------------------------------------------


def test_relative_data_dir_is_resolved_against_the_config_folder_not_the_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path / "conf" / "qcat.toml", '[storage]\ndata_dir = "store/snapshots"\n' + LICENSE)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    config = load_config("../conf/qcat.toml")  # a relative config path, too
    assert config.data_dir == tmp_path.resolve() / "conf" / "store" / "snapshots"
    assert config.data_dir.is_absolute()


def test_data_dir_dotdot_home_and_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    conf = tmp_path / "conf" / "qcat.toml"
    write(conf, '[storage]\ndata_dir = "../shared"\n' + LICENSE)
    assert load_config(conf).data_dir == tmp_path.resolve() / "shared"

    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    write(conf, '[storage]\ndata_dir = "~/qcat-data"\n' + LICENSE)
    assert load_config(conf).data_dir == (tmp_path / "home" / "qcat-data").resolve()

    absolute = tmp_path / "abs" / "data"
    write(conf, f'[storage]\ndata_dir = "{absolute}"\n' + LICENSE)
    assert load_config(conf).data_dir == absolute.resolve()


@pytest.mark.parametrize("cron", ["0 3 * * *", "*/15 9-17 * * mon-fri", "0 0 1 JAN-MAR/2 *", "30 1 * * 0,7", "0 0-23/6 1-31/2 * sun", "0 3 * * sat-sun"])
def test_cron_expressions_in_every_field_form_are_accepted(tmp_path: Path, cron: str) -> None:
    assert load_config(write(tmp_path / "qcat.toml", f'[schedule]\ncron = "{cron}"\n' + LICENSE)).schedule.cron == cron


def test_a_data_dir_that_cannot_be_created_is_a_config_error_for_writers(tmp_path: Path) -> None:
    write(tmp_path / "taken", "a file where a folder should go")
    config = load_config(write(tmp_path / "qcat.toml", '[storage]\ndata_dir = "taken/data"\n' + LICENSE))
    with pytest.raises(ConfigError) as info:
        make_data_dir(config)
    assert str(info.value) == f"storage.data_dir: cannot create {tmp_path.resolve() / 'taken' / 'data'}: Not a directory"
    made = load_config(write(tmp_path / "qcat.toml", '[storage]\ndata_dir = "fresh/data"\n' + LICENSE))
    assert make_data_dir(made) is made and made.data_dir.is_dir()


@pytest.mark.parametrize("folder", ["data*", "data[1]", "what?"])
def test_data_dir_with_characters_duckdb_would_expand_is_rejected(tmp_path: Path, folder: str) -> None:
    """DuckDB reads archive files by path and takes these characters for a pattern: a folder
    named so could make it read another folder's files."""
    message = config_error(tmp_path, f'[storage]\ndata_dir = "{folder}"\n' + LICENSE)
    assert message.startswith("storage.data_dir: ") and folder in message and "pattern" in message


def test_resolve_config_path_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert resolve_config_path(None) == Path("qcat.toml")
    monkeypatch.setenv(CONFIG_ENV, "")
    assert resolve_config_path(None) == Path("qcat.toml")  # an empty variable is "not set"
    monkeypatch.setenv(CONFIG_ENV, "/etc/qcat/from-env.toml")
    assert resolve_config_path(None) == Path("/etc/qcat/from-env.toml")
    assert resolve_config_path("cli.toml") == Path("cli.toml")
    assert resolve_config_path(Path("/x/cli.toml")) == Path("/x/cli.toml")


def test_load_config_follows_the_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("cwd", "env", "cli"):
        write(tmp_path / f"{name}.toml", LICENSE.replace('"acme"', f'"{name}"'))
    (tmp_path / "cwd.toml").rename(tmp_path / "qcat.toml")
    monkeypatch.chdir(tmp_path)

    assert load_config().licenses[0].name == "cwd"
    monkeypatch.setenv(CONFIG_ENV, str(tmp_path / "env.toml"))
    assert load_config().licenses[0].name == "env"
    assert load_config(None).source == tmp_path / "env.toml"
    assert load_config(tmp_path / "cli.toml").licenses[0].name == "cli"
    assert load_config(str(tmp_path / "cli.toml")).licenses[0].name == "cli"


def test_missing_default_file_explains_how_to_point_at_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as info:
        load_config()
    message = str(info.value)
    assert "qcat.toml" in message and "not found" in message
    assert "--config" in message and CONFIG_ENV in message
    assert "\n" not in message


# --- errors name the offending key ---------------------------------------------------------

ERROR_CASES = [
    # (id, document, the message starts with, and also contains)
    ("typo-in-api", "[api]\ntimout_seconds = 5\n" + LICENSE, "api.timout_seconds: unknown key", "timeout_seconds"),
    ("typo-in-table", "[histroy]\nmax_removed_share = 0.1\n" + LICENSE, "histroy: unknown key", "history"),
    ("typo-in-storage", '[storage]\ndatadir = "x"\n' + LICENSE, "storage.datadir: unknown key", "data_dir"),
    ("typo-in-license", LICENSE + 'provider = ["default"]\n', "licenses[0].provider: unknown key", "providers"),
    ("api-not-table", "api = 5\n" + LICENSE, "api: must be a table", ""),
    ("concurrency-zero", "[api]\nmax_concurrency = 0\n" + LICENSE, "api.max_concurrency:", "between 1 and 256"),
    ("concurrency-high", "[api]\nmax_concurrency = 257\n" + LICENSE, "api.max_concurrency:", "257"),
    ("concurrency-float", "[api]\nmax_concurrency = 8.0\n" + LICENSE, "api.max_concurrency:", "integer"),
    ("concurrency-string", '[api]\nmax_concurrency = "8"\n' + LICENSE, "api.max_concurrency:", "integer"),
    ("concurrency-bool", "[api]\nmax_concurrency = true\n" + LICENSE, "api.max_concurrency:", "must be an integer, got true"),
    ("timeout-bool", "[api]\ntimeout_seconds = false\n" + LICENSE, "api.timeout_seconds:", "must be a finite number, got false"),
    ("attempts-zero", "[api]\nmax_attempts = 0\n" + LICENSE, "api.max_attempts:", "between 1 and 20"),
    ("attempts-high", "[api]\nmax_attempts = 21\n" + LICENSE, "api.max_attempts:", "between 1 and 20"),
    ("timeout-low", "[api]\ntimeout_seconds = 0.05\n" + LICENSE, "api.timeout_seconds:", "at least 0.1"),
    ("timeout-string", '[api]\ntimeout_seconds = "30"\n' + LICENSE, "api.timeout_seconds:", "number"),
    ("timeout-bool", "[api]\ntimeout_seconds = false\n" + LICENSE, "api.timeout_seconds:", "number"),
    ("backoff-negative", "[api]\nbackoff_seconds = -1\n" + LICENSE, "api.backoff_seconds:", "at least"),
    ("max-backoff-negative", "[api]\nmax_backoff_seconds = -0.5\n" + LICENSE, "api.max_backoff_seconds:", "at least"),
    ("url-scheme", '[api]\nbase_url = "ftp://example.com/v1"\n' + LICENSE, "api.base_url:", "http(s)"),
    ("url-no-host", '[api]\nbase_url = "https://"\n' + LICENSE, "api.base_url:", "http(s)"),
    ("url-empty", '[api]\nbase_url = ""\n' + LICENSE, "api.base_url:", "non-empty"),
    ("url-query", '[api]\nbase_url = "https://h/v1?key=k"\n' + LICENSE, "api.base_url:", "query string"),
    ("url-credentials", '[api]\nbase_url = "https://u:p@h/v1"\n' + LICENSE, "api.base_url:", "credentials"),
    ("url-bad-ipv6", '[api]\nbase_url = "http://[::1/v1"\n' + LICENSE, "api.base_url:", "http(s) URL with a host"),
    ("url-bad-port", '[api]\nbase_url = "http://h:99999/v1"\n' + LICENSE, "api.base_url:", "http(s) URL with a host"),
    ("url-space", '[api]\nbase_url = "http://exa mple.com/v1"\n' + LICENSE, "api.base_url:", "no spaces"),
    ("url-trailing-space", '[api]\nbase_url = "http://h/v1 "\n' + LICENSE, "api.base_url:", "no spaces"),
    ("url-plain-http-remote", '[api]\nbase_url = "http://gateway.example.com/v1"\n' + LICENSE, "api.base_url:", "unencrypted to gateway.example.com"),
    ("url-plain-http-lookalike", '[api]\nbase_url = "http://127.0.0.1.example.com/v1"\n' + LICENSE, "api.base_url:", "allow_insecure_http = true"),
    ("insecure-http-string", '[api]\nallow_insecure_http = "yes"\n' + LICENSE, "api.allow_insecure_http:", "true or false"),
    ("data-dir-number", "[storage]\ndata_dir = 5\n" + LICENSE, "storage.data_dir:", "string"),
    ("data-dir-blank", '[storage]\ndata_dir = "  "\n' + LICENSE, "storage.data_dir:", "non-empty"),
    ("lock-negative", "[storage]\nlock_timeout_seconds = -1\n" + LICENSE, "storage.lock_timeout_seconds:", "at least"),
    ("cron-fields", '[schedule]\ncron = "0 3 * *"\n' + LICENSE, "schedule.cron:", "5-field"),
    ("cron-hour-range", '[schedule]\ncron = "0 25 * * *"\n' + LICENSE, "schedule.cron:", "hour field '25'"),
    ("cron-day-zero", '[schedule]\ncron = "0 3 0 * *"\n' + LICENSE, "schedule.cron:", "day-of-month field '0'"),
    ("cron-bad-name", '[schedule]\ncron = "0 3 * * mon-fry"\n' + LICENSE, "schedule.cron:", "day-of-week field 'mon-fry'"),
    ("cron-zero-step", '[schedule]\ncron = "*/0 * * * *"\n' + LICENSE, "schedule.cron:", "minute field '*/0'"),
    ("cron-empty-item", '[schedule]\ncron = "0 1,,2 * * *"\n' + LICENSE, "schedule.cron:", "hour field '1,,2'"),
    ("data-dir-is-a-file", '[storage]\ndata_dir = "qcat.toml"\n' + LICENSE, "storage.data_dir:", "is not a folder"),
    ("timezone-unknown", '[schedule]\ntimezone = "Mars/Olympus_Mons"\n' + LICENSE, "schedule.timezone:", "Mars/Olympus_Mons"),
    ("timezone-escape", '[schedule]\ntimezone = "../../etc/passwd"\n' + LICENSE, "schedule.timezone:", "unknown time zone"),
    ("share-high", "[history]\nmax_removed_share = 1.5\n" + LICENSE, "history.max_removed_share:", "at most 1"),
    ("share-negative", "[history]\nmax_removed_share = -0.1\n" + LICENSE, "history.max_removed_share:", "at least 0"),
    ("added-share-negative", "[history]\nmax_added_share = -1\n" + LICENSE, "history.max_added_share:", "at least 0"),
    ("no-licenses", "[api]\nmax_attempts = 3\n", "licenses:", "at least one"),
    ("licenses-table", '[licenses]\nname = "a"\napi_key_env = "K"\n', "licenses:", "array of tables"),
    ("license-no-name", '[[licenses]]\napi_key_env = "K"\n', "licenses[0].name:", "required"),
    ("second-license-bad-name", LICENSE + '[[licenses]]\nname = "Bad Name"\napi_key_env = "K"\n', "licenses[1].name:", "'Bad Name'"),
    ("duplicate-name", LICENSE + '[[licenses]]\nname = "acme"\napi_key_secret = "s"\n', "licenses[1].name:", "configured twice"),
    ("neither-key", '[[licenses]]\nname = "a"\n', "licenses[0]", "exactly one of api_key_env or api_key_secret"),
    ("both-keys", '[[licenses]]\nname = "a"\napi_key_env = "K"\napi_key_secret = "s"\n', "licenses[0]", "exactly one of api_key_env or api_key_secret"),
    ("second-license-no-key", LICENSE + '[[licenses]]\nname = "b"\n', "licenses[1]", "exactly one of api_key_env"),
    ("key-env-empty", '[[licenses]]\nname = "a"\napi_key_env = ""\n', "licenses[0].api_key_env:", "non-empty"),
    ("key-secret-number", '[[licenses]]\nname = "a"\napi_key_secret = 7\n', "licenses[0].api_key_secret:", "string"),
    ("unknown-provider", LICENSE + 'providers = ["default", "bedrock"]\n', "licenses[0].providers:", "'bedrock'"),
    ("miscased-provider", LICENSE + 'providers = ["Anthropic"]\n', "licenses[0].providers:", "'Anthropic'"),
    ("providers-empty", LICENSE + "providers = []\n", "licenses[0].providers:", "non-empty"),
    ("providers-string", LICENSE + 'providers = "default"\n', "licenses[0].providers:", "array"),
    ("providers-twice", LICENSE + 'providers = ["openrouter", "openrouter"]\n', "licenses[0].providers:", "twice"),
]


@pytest.mark.parametrize(("document", "prefix", "detail"), [case[1:] for case in ERROR_CASES],
                         ids=[case[0] for case in ERROR_CASES])
def test_errors_are_one_line_and_name_the_key(tmp_path: Path, document: str, prefix: str, detail: str) -> None:
    message = config_error(tmp_path, document)
    assert message.startswith(prefix), message
    assert detail in message, message


def test_config_error_is_a_qcat_error_with_exit_code_2() -> None:
    assert issubclass(ConfigError, QcatError)
    assert ConfigError.exit_code == 2


@pytest.mark.parametrize("secret", ["sk-live-4f9a8b7c6d5e", "sk_live_51HxPastedKeyAbCdEf0123456789", "qk_4f9a8b7c6d5e4f3a"])
def test_a_key_pasted_into_api_key_env_is_rejected_and_not_echoed(tmp_path: Path, secret: str) -> None:
    """Letters, digits and _ alone would make a name of any case: only an upper-case one is taken
    for a variable, so a pasted key never reaches the error that names the variable."""
    message = config_error(tmp_path, f'[[licenses]]\nname = "a"\napi_key_env = "{secret}"\n')
    assert message.startswith("licenses[0].api_key_env:")
    assert "environment variable" in message
    assert secret not in message


@pytest.mark.parametrize("url", ["https://user:hunter2@h/v1?key=sk-xyz", "ftp://user:hunter2@h/v1", "HTTP://user:hunter2@h/v1", "hunter2@"])
def test_credentials_in_base_url_are_not_echoed(tmp_path: Path, url: str) -> None:
    message = config_error(tmp_path, f'[api]\nbase_url = "{url}"\n' + LICENSE)
    assert message.startswith("api.base_url:")
    assert "hunter2" not in message and "sk-xyz" not in message


def test_invalid_toml_is_a_one_line_error_naming_the_file(tmp_path: Path) -> None:
    message = config_error(tmp_path, '[api\nbase_url = "x"\n')
    assert "not valid TOML" in message
    assert str(tmp_path / "qcat.toml") in message
    assert "line 1" in message


def test_duplicate_toml_key_is_invalid_toml(tmp_path: Path) -> None:
    message = config_error(tmp_path, "[api]\nmax_attempts = 3\nmax_attempts = 4\n" + LICENSE)
    assert "not valid TOML" in message


def test_missing_file_is_a_one_line_error_naming_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope" / "qcat.toml"
    with pytest.raises(ConfigError) as info:
        load_config(missing)
    message = str(info.value)
    assert str(missing) in message and "not found" in message
    assert "\n" not in message


def test_unreadable_paths_are_config_errors(tmp_path: Path) -> None:
    folder = tmp_path / "a-folder.toml"
    folder.mkdir()
    with pytest.raises(ConfigError, match="cannot be read"):
        load_config(folder)
    latin1 = tmp_path / "latin1.toml"
    latin1.write_bytes(b'# caf\xe9\n' + LICENSE.encode())
    with pytest.raises(ConfigError, match="cannot be read"):
        load_config(latin1)


# --- license names become folder names ------------------------------------------------------

BAD_NAMES = ["../evil", "..", ".", "a/b", "a\\\\b", ".hidden", "UPPER", "Acme", "", "   ", " acme",
             "acme ", "-lead", "_lead", "a.b", "évil", "a\\nb", "a\\u0000b", "x" * 65]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_license_names_that_could_escape_or_misbehave_as_folders_are_rejected(tmp_path: Path, name: str) -> None:
    message = config_error(tmp_path, f'[[licenses]]\nname = "{name}"\napi_key_env = "K"\n')
    assert message.startswith("licenses[0].name:"), message


@pytest.mark.parametrize("name", ["a", "0", "acme-prod_2", "x" * 64, "9lives"])
def test_safe_license_names_are_accepted(tmp_path: Path, name: str) -> None:
    path = write(tmp_path / "qcat.toml", f'[[licenses]]\nname = "{name}"\napi_key_env = "K"\n')
    assert load_config(path).licenses[0].name == name


def test_license_name_must_be_a_string(tmp_path: Path) -> None:
    message = config_error(tmp_path, '[[licenses]]\nname = 42\napi_key_env = "K"\n')
    assert message.startswith("licenses[0].name:") and "string" in message


# --- values that once slipped through --------------------------------------------------------


def test_timezone_naming_a_zoneinfo_folder_is_a_config_error(tmp_path: Path) -> None:
    """"America" is a folder of the tz database: ZoneInfo raises IsADirectoryError for it."""
    message = config_error(tmp_path, '[schedule]\ntimezone = "America"\n' + LICENSE)
    assert message.startswith("schedule.timezone:") and "'America'" in message


@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
@pytest.mark.parametrize("key", ["api.timeout_seconds", "api.backoff_seconds", "api.max_backoff_seconds",
                                 "history.max_removed_share", "history.max_added_share", "storage.lock_timeout_seconds"])
def test_non_finite_numbers_are_rejected(tmp_path: Path, key: str, value: str) -> None:
    """NaN passes every range check, and a NaN max_removed_share would silently disable the guard."""
    table, name = key.split(".")
    message = config_error(tmp_path, f"[{table}]\n{name} = {value}\n" + LICENSE)
    assert message.startswith(f"{key}:") and "finite" in message, message


def test_empty_licenses_array_is_rejected(tmp_path: Path) -> None:
    message = config_error(tmp_path, "licenses = []\n")
    assert message.startswith("licenses:") and "at least one" in message


@pytest.mark.parametrize("secret", ["sk_live_51HxPastedKeyAbCdEf0123456789", "qk_4f9a8b7c6d5e4f3a", "Bearer sk-live-4f9a"])
def test_a_key_pasted_into_api_key_secret_is_rejected_and_not_echoed(tmp_path: Path, secret: str) -> None:
    """What is typed as a Secret block's name may be the key itself: Prefect would get it in a URL
    (and log it) when the block is loaded. A value that is no block name is refused unseen."""
    message = config_error(tmp_path, f'[[licenses]]\nname = "a"\napi_key_secret = "{secret}"\n')
    assert message.startswith("licenses[0].api_key_secret: must be the name of a Prefect Secret block"), message
    assert "keys belong in an environment variable (api_key_env)" in message
    assert secret not in message


@pytest.mark.parametrize(
    ("cron", "detail"),
    [
        ("60 3 * * *", "minute field '60'"),
        ("0 24 * * *", "hour field '24'"),
        ("0 3 32 * *", "day-of-month field '32'"),
        ("0 3 * 13 *", "month field '13'"),
        ("0 3 * * 8", "day-of-week field '8'"),
        ("0 3 * * 1-8", "day-of-week field '1-8'"),
    ],
)
def test_cron_values_one_past_a_fields_highest_are_rejected(tmp_path: Path, cron: str, detail: str) -> None:
    """Prefect refuses them when `qcat serve` hands the schedule over: the file must fail when read."""
    message = config_error(tmp_path, f'[schedule]\ncron = "{cron}"\n' + LICENSE)
    assert message.startswith("schedule.cron:") and detail in message, message
