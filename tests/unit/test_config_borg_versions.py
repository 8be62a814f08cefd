"""[borg.versions]: a table of borg names to binary paths, typed, read-only, validated
entry by entry with one problem per bad entry naming it (borg.versions.NAME)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from borghive.config import BorgConfig, Config
from borghive.config_load import config_as_dict, load_config
from borghive.errors import EXIT_CONFIG, ConfigError
from borghive.rules.names import borg_name_problem


def load(tmp_path: Path, text: str, environ: dict[str, str] | None = None) -> Config:
    path = tmp_path / "borghive.toml"
    path.write_text(text)
    return load_config(path, environ or {})


def problems(tmp_path: Path, text: str) -> list[str]:
    """The problems (without the file name) of a configuration that must not load."""
    path = tmp_path / "borghive.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_config(path, {})
    assert caught.value.exit_code == EXIT_CONFIG
    first, *rest = caught.value.message.splitlines()
    assert first == "invalid configuration"
    return [line.strip().removeprefix(f"{path}: ") for line in rest]


def test_none_by_default() -> None:
    assert dict(BorgConfig().versions) == {}
    assert dict(Config().borg.versions) == {}


def test_the_table_and_the_inline_table_load_alike(tmp_path: Path) -> None:
    table = load(
        tmp_path,
        '[borg]\npath = "/usr/bin/borg"\n[borg.versions]\n'
        '"1.4" = "/opt/borg-1.4/bin/borg"\n"borg-1.2_old" = "/usr/local/bin/borg1.2"\n',
    )
    inline = load(
        tmp_path,
        '[borg]\nversions = { "1.4" = "/opt/borg-1.4/bin/borg", '
        '"borg-1.2_old" = "/usr/local/bin/borg1.2" }\n',
    )
    expected = {
        "1.4": Path("/opt/borg-1.4/bin/borg"),
        "borg-1.2_old": Path("/usr/local/bin/borg1.2"),
    }
    assert dict(table.borg.versions) == dict(inline.borg.versions) == expected
    assert table.borg.path == Path("/usr/bin/borg")


def test_the_table_is_read_only(tmp_path: Path) -> None:
    config = load(tmp_path, '[borg.versions]\n"1.4" = "/opt/borg/bin/borg"\n')
    with pytest.raises(TypeError):
        config.borg.versions["1.2"] = Path("/usr/bin/borg")  # type: ignore[index]


def test_shown_as_plain_data(tmp_path: Path) -> None:
    config = load(tmp_path, '[borg.versions]\n"1.4" = "/opt/borg/bin/borg"\n')
    shown = config_as_dict(config)
    assert shown["borg"]["versions"] == {"1.4": "/opt/borg/bin/borg"}
    json.dumps(shown)  # config check --json prints it


@pytest.mark.parametrize(
    ("toml", "problem"),
    [
        ('[borg.versions]\n"1.4" = "opt/borg"', "borg.versions.1.4: must be an absolute path"),
        (
            '[borg.versions]\n"1.4" = "/opt/my borg/borg"',
            "borg.versions.1.4: must be an absolute path of letters, digits and . _ - + / "
            "(it goes into sshd's forced command)",
        ),
        ('[borg.versions]\n"1.4" = "/opt/../bin/borg"', "borg.versions.1.4: must be an absolute"),
        ('[borg.versions]\n"1.4" = 14', "borg.versions.1.4: expected a path, got int 14"),
        ('[borg.versions]\n"1.4" = ""', "borg.versions.1.4: expected a path, got str ''"),
        (
            '[borg.versions]\n1.4 = "/opt/borg"',
            'borg.versions.1: expected a path; quote a name with dots: "1.4" = …',
        ),
        ('[borg]\nversions = "/opt/borg"', "borg.versions: expected a table of names to paths"),
        (
            '[borg.versions]\nBorg14 = "/opt/borg"',
            "borg.versions.Borg14: not a borg name: use only a-z 0-9 . _ -, starting with a "
            "letter or digit",
        ),
        ('[borg.versions]\n".14" = "/opt/borg"', "borg.versions..14: not a borg name"),
        ('[borg.versions]\n"" = "/opt/borg"', "borg.versions.: not a borg name: empty"),
        (
            f'[borg.versions]\n{"b" * 33} = "/opt/borg"',
            f"borg.versions.{'b' * 33}: not a borg name: longer than 32 characters",
        ),
        (
            '[borg.versions]\ndefault = "/opt/borg"',
            "borg.versions.default: reserved: --borg default means borg.path",
        ),
    ],
)
def test_a_bad_entry_is_one_problem_naming_it(tmp_path: Path, toml: str, problem: str) -> None:
    found = problems(tmp_path, toml + "\n")
    assert len(found) == 1, found
    assert found[0].startswith(problem), found


def test_every_bad_entry_is_reported_at_once(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        '[borg.versions]\n"1.4" = "relative"\nUPPER = "/opt/a"\nok = "/opt/b"\nnum = 3\n',
    )
    assert [p.split(":")[0] for p in found] == [
        "borg.versions.num",
        "borg.versions.1.4",
        "borg.versions.UPPER",
    ]


def test_no_environment_variable_sets_it(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        '[borg.versions]\n"1.4" = "/opt/borg/bin/borg"\n',
        {"BORGHIVE_BORG_VERSIONS": "/elsewhere"},
    )
    assert dict(config.borg.versions) == {"1.4": Path("/opt/borg/bin/borg")}


_NAME_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789._-ABZ /\\\"'é\t"


@given(st.text(alphabet=_NAME_ALPHABET, max_size=40))
@example("1.4")
@example("borg_1.2-x")
@example("-1.4")
@example("a" * 32)
@example("a" * 33)
def test_a_name_loads_exactly_when_the_rule_allows_it(name: str) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "borghive.toml"
        path.write_text(f'[borg.versions]\n{json.dumps(name)} = "/opt/borg/bin/borg"\n')
        allowed = borg_name_problem(name) is None and name != "default"
        try:
            config = load_config(path, {})
        except ConfigError as exc:
            assert not allowed, exc.message
            (line,) = exc.message.splitlines()[1:]
            assert line.strip().startswith(f"{path}: borg.versions.")
            return
        assert allowed
        assert dict(config.borg.versions) == {name: Path("/opt/borg/bin/borg")}


@given(st.text(max_size=40))
def test_the_name_rule_matches_its_definition(name: str) -> None:
    definition = (
        1 <= len(name) <= 32
        and name[0] in "abcdefghijklmnopqrstuvwxyz0123456789"
        and all(c in "abcdefghijklmnopqrstuvwxyz0123456789._-" for c in name)
    )
    assert (borg_name_problem(name) is None) == definition
