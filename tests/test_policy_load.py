"""The loader: YAML to the policy model, with file:line:col errors and $env:VAR secrets."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pledge.policy.duration import Duration
from pledge.policy.load import load_policy, load_policy_located
from pledge.policy.model import Policy
from pledge.yamlio import LoadError, load_model, parse_document
from tests.policy_samples import good_policy, write

BASE = """\
version: "1"
controller:
  name: Acme
  country: PL
  email: privacy@acme.example
"""


def _problems(path: Path) -> list[str]:
    with pytest.raises(LoadError) as info:
        load_policy(path)
    assert info.value.problems, "a LoadError always lists its problems"
    return [str(p) for p in info.value.problems]


def test_good_policy_loads(tmp_path: Path) -> None:
    policy = load_policy(write(tmp_path / "policy.yaml", good_policy()))
    assert isinstance(policy, Policy)
    assert policy.controller.name == "Acme Sp. z o.o."
    assert policy.retention[0].period == Duration(days=90)
    assert policy.purpose("newsletter").legal_basis == "consent"


def test_misspelt_field_names_line_and_nearest_field(tmp_path: Path) -> None:
    path = write(tmp_path / "policy.yaml", BASE + "  emial: x@acme.example\n")
    [line] = _problems(path)
    assert line.startswith(f"{path}:6:3: controller.emial: ")
    assert "did you mean 'email'?" in line


def test_misspelt_top_level_field(tmp_path: Path) -> None:
    path = write(tmp_path / "policy.yaml", BASE + "purposs: []\n")
    [line] = _problems(path)
    assert line.startswith(f"{path}:6:1: purposs: ")
    assert "'purposes'" in line


def test_wrong_type_names_line_field_and_expected_type(tmp_path: Path) -> None:
    path = write(tmp_path / "policy.yaml", BASE + "age:\n  minimum: sixteen\n")
    [line] = _problems(path)
    assert line.startswith(f"{path}:7:12: age.minimum: ")
    assert "'sixteen'" in line
    assert "(expected: a whole number)" in line


def test_bad_duration_shows_the_iso_pattern(tmp_path: Path) -> None:
    path = write(tmp_path / "policy.yaml", BASE + (
        "retention:\n"
        "  - key: r\n"
        "    name: R\n"
        "    trigger: created_at\n"
        "    period: 30 days\n"))
    [line] = _problems(path)
    assert line.startswith(f"{path}:10:13: retention[0].period: ")
    assert "'30 days' is not a duration" in line
    assert "P[nY][nM][nW][nD]" in line and "P30D" in line


def test_bad_literal_suggests_the_nearest_value(tmp_path: Path) -> None:
    path = write(tmp_path / "policy.yaml", BASE + (
        "purposes:\n"
        "  - key: p\n"
        "    name: P\n"
        "    data_use: essential\n"
        "    legal_basis: consnt\n"))
    [line] = _problems(path)
    assert line.startswith(f"{path}:10:18: purposes[0].legal_basis: ")
    assert "did you mean 'consent'?" in line


def test_missing_required_field_points_at_its_mapping(tmp_path: Path) -> None:
    path = write(tmp_path / "policy.yaml", 'version: "1"\ncontroller:\n  name: Acme\n')
    [line] = _problems(path)
    assert line.startswith(f"{path}:2:1: controller.country: required field 'country' is missing")
    assert "ISO 3166-1" in line  # the field's description says what is valid


def test_several_problems_are_all_reported_in_line_order(tmp_path: Path) -> None:
    path = write(tmp_path / "policy.yaml", BASE + "age:\n  minimum: x\nbackups:\n  retention: soon\n")
    lines = _problems(path)
    assert [ln.split(":")[1] for ln in lines] == ["7", "9"]


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path / "policy.yaml", BASE + "purposes: [\n")
    [line] = _problems(path)
    assert line.startswith(f"{path}:7:")
    assert "YAML syntax error" in line


def test_duplicate_key_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path / "policy.yaml", BASE + "version: '2'\n")
    [line] = _problems(path)
    assert line.startswith(f"{path}:6:1: version: duplicate key 'version' (first at line 1)")


def test_missing_file_and_non_mapping(tmp_path: Path) -> None:
    assert "cannot read the file" in _problems(tmp_path / "nope.yaml")[0]
    assert "not a Policy" in _problems(write(tmp_path / "list.yaml", "- a\n- b\n"))[0]
    assert "the file is empty" in _problems(write(tmp_path / "empty.yaml", "# nothing\n"))[0]


def test_env_substitution(tmp_path: Path) -> None:
    path = write(tmp_path / "policy.yaml", BASE.replace("privacy@acme.example", "$env:ACME_MAIL"))
    policy = load_model(path, Policy, env={"ACME_MAIL": "dpo@acme.example"})
    assert policy.controller.email == "dpo@acme.example"
    with pytest.raises(LoadError) as info:
        load_model(path, Policy, env={})
    [problem] = info.value.problems
    assert (problem.line, problem.path) == (5, "controller.email")
    assert "environment variable ACME_MAIL is not set" in problem.message
    # Kept as written when substitution is off (the dataset loader resolves URLs later).
    assert load_model(path, Policy, substitute_env=False).controller.email == "$env:ACME_MAIL"


def test_env_substitution_from_process_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLEDGE_TEST_POLICY_MAIL", "env@acme.example")
    path = write(tmp_path / "policy.yaml", BASE.replace("privacy@acme.example", "$env:PLEDGE_TEST_POLICY_MAIL"))
    assert load_policy(path).controller.email == "env@acme.example"


def test_source_map_gives_lines(tmp_path: Path) -> None:
    loaded = load_policy_located(write(tmp_path / "policy.yaml", BASE + "age:\n  minimum: 16\n"))
    assert loaded.source.line_of(("age", "minimum")) == 7
    assert loaded.source.line_of(("controller", "email")) == 5
    assert loaded.source.line_of(("controller", "nothing", 3)) == 2  # nearest ancestor


@pytest.mark.parametrize("text", [
    b"\xff\xfe\x00garbage", b"a: [", b"2024-13-45", b"&a [*a]", b"{[1]: 2}", b"!!python/object:os.system x",
    b"!foo bar", b"a: !!binary '###'", b"[" * 1000, b"\x00", b"a: &a\n  b: *a\n",
    b"a: &a [x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
    b"d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: [*e,*e,*e,*e,*e,*e,*e,*e,*e]\n",
])
def test_known_nasty_inputs_give_load_error(tmp_path: Path, text: bytes) -> None:
    path = tmp_path / "policy.yaml"
    path.write_bytes(text)
    with pytest.raises(LoadError):
        load_policy(path)


_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=20),
                     st.sampled_from(["P30D", "P1M", "soon", "consent", "$env:PLEDGE_UNSET_VAR", "2024-02-30"]))
_keys = st.one_of(st.sampled_from(sorted(Policy.model_fields) + ["controller", "name", "country", "key",
                                                                  "period", "minimum", "emial"]),
                  st.text(max_size=8))
_yaml_values = st.recursive(_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(_keys, inner, max_size=5)), max_leaves=25)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=_yaml_values)
def test_hypothesis_yaml_structures_never_crash(tmp_path: Path, data: object) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    try:
        load_policy(path)
    except LoadError as exc:
        assert exc.problems and all(p.file == str(path) for p in exc.problems)


@settings(max_examples=200, deadline=None)
@given(raw=st.one_of(st.binary(max_size=200),
                     st.text(alphabet=st.sampled_from(list("ab:-[]{}&*!|>'\"#%@`,?\n \t0123P\\")), max_size=120)))
def test_hypothesis_garbage_text_never_crashes(raw: bytes | str) -> None:
    try:
        parse_document(raw, "garbage.yaml", {})
    except LoadError as exc:
        assert str(exc).startswith("garbage.yaml")
