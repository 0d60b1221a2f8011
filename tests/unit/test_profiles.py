"""Resource profiles: validation, who may pick what, and the spawn form."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

import pytest
from pydantic import ValidationError

from hub.errors import ProfileError
from hub.profiles import (
    Profile,
    ProfilesSettings,
    allowed_profiles,
    default_profile,
    profile_name_from_form,
    render_options_form,
    resolve_profile,
)

SETTINGS: dict[str, Any] = {
    "default": "cpu",
    "profiles": [
        {"name": "cpu", "label": {"ko": "기본 (CPU)", "en": "Standard (CPU)"},
         "cpu_limit": 2, "mem_limit": "4G"},
        {"name": "gpu-a100", "label": {"ko": "GPU 실습", "en": "GPU lab"},
         "cpu_limit": 8, "mem_limit": "32G", "gpus": 1,
         "groups": ["ai-2024-spring", "staff"], "default_for": ["ai-2024-spring"]},
        {"name": "gpu-light", "label": {"ko": "가벼운 GPU", "en": "Light GPU"},
         "cpu_limit": 2, "mem_limit": "8G", "gpus": 1, "gpu_shared_max": 4,
         "groups": ["dl-intro"]},
        {"name": "mig", "label": {"ko": "MIG 조각", "en": "MIG slice"}, "cpu_limit": 4,
         "mem_limit": "16G", "gpus": 1, "mig_type": "1g.10gb", "image": "aione/learner-gpu:1"},
    ],
}  # fmt: skip


@pytest.fixture
def settings() -> ProfilesSettings:
    return ProfilesSettings.model_validate(SETTINGS)


def names(profiles: list[Profile]) -> list[str]:
    return [p.name for p in profiles]


def test_profile_fields_and_memory_in_bytes(settings: ProfilesSettings) -> None:
    cpu, a100, light, mig = settings.profiles
    assert cpu.mem_limit_bytes == 4 * 1024**3
    assert (cpu.gpus, cpu.gpu_shared_max, cpu.image, cpu.is_open) == (0, 1, None, True)
    assert (a100.gpus, a100.mig_type, a100.is_open) == (1, None, False)
    assert light.gpu_shared_max == 4
    assert (mig.mig_type, mig.image) == ("1g.10gb", "aione/learner-gpu:1")
    profile = Profile.model_validate({**SETTINGS["profiles"][0], "mem_limit": "1.5G"})
    assert profile.mem_limit_bytes == int(1.5 * 1024**3)
    assert (
        Profile.model_validate({**SETTINGS["profiles"][0], "mem_limit": "512M"}).mem_limit_bytes
        == 512 * 1024**2
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"name": "GPU Lab"}, "pattern"),
        ({"mem_limit": "4 gigs"}, "not a memory size.*e.g. 4G"),
        ({"mem_limit": "4GiB"}, "not a memory size"),
        ({"cpu_limit": 0}, "greater than 0"),
        ({"gpus": -1}, "greater than or equal to 0"),
        ({"gpus": 2, "mig_type": "1g.10gb"}, "mig_type gives one MIG slice; set gpus: 1"),
        ({"gpus": 1, "mig_type": "big"}, "not a MIG profile"),
        ({"gpu_shared_max": 3}, "gpu_shared_max needs gpus >= 1"),
        ({"groups": ["a"], "default_for": ["b"]}, "default for \\['b'\\] but open only to"),
        ({"label": {"ko": "기본"}}, "label.en"),
        ({"gpu": 1}, "Extra inputs are not permitted"),
    ],
)
def test_invalid_profiles_are_refused_with_the_fix(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Profile.model_validate({**SETTINGS["profiles"][0], **change})


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"default": "gpu-a100"}, "default must be open to everyone"),
        ({"default": "nope"}, "default profile 'nope' is not listed; pick one of"),
        ({"profiles": []}, "at least 1 item"),
        ({"profiles": [SETTINGS["profiles"][0]] * 2}, "unique; rename the repeated \\['cpu'\\]"),
        (
            {"profiles": [SETTINGS["profiles"][0], SETTINGS["profiles"][1],
                          {**SETTINGS["profiles"][2], "default_for": ["dl-intro"],
                           "groups": ["dl-intro", "ai-2024-spring"]},
                          {**SETTINGS["profiles"][3], "default_for": ["ai-2024-spring"]}]},
            "'ai-2024-spring' is in default_for of both 'gpu-a100' and 'mig'",
        ),
    ],
)  # fmt: skip
def test_invalid_settings_are_refused(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        ProfilesSettings.model_validate({**SETTINGS, **change})


def test_allowed_profiles_follow_groups_and_admin(settings: ProfilesSettings) -> None:
    assert names(allowed_profiles(settings.profiles, [])) == ["cpu", "mig"]
    assert names(allowed_profiles(settings.profiles, ["dl-intro"])) == ["cpu", "gpu-light", "mig"]
    assert names(allowed_profiles(settings.profiles, {"staff", "x"})) == ["cpu", "gpu-a100", "mig"]
    assert len(allowed_profiles(settings.profiles, [], is_admin=True)) == 4


def test_default_profile_per_group(settings: ProfilesSettings) -> None:
    assert default_profile(settings, []).name == "cpu"
    assert default_profile(settings, ["ai-2024-spring"]).name == "gpu-a100"
    assert default_profile(settings, ["staff"]).name == "cpu"


def test_learner_outside_the_group_cannot_resolve_a_gpu_profile(
    settings: ProfilesSettings,
) -> None:
    with pytest.raises(ProfileError) as err:
        resolve_profile(settings, "gpu-a100", ["dl-intro"], is_admin=False)
    message = str(err.value)
    assert "'gpu-a100' is only for members of the groups ai-2024-spring, staff" in message
    assert "your groups: dl-intro" in message
    assert "pick one of: cpu, gpu-light, mig" in message
    with pytest.raises(ProfileError, match="your groups: none"):
        resolve_profile(settings, "gpu-light", [], is_admin=False)


def test_resolve_profile(settings: ProfilesSettings) -> None:
    assert resolve_profile(settings, "gpu-a100", ["staff"]).name == "gpu-a100"
    assert resolve_profile(settings, "gpu-light", [], is_admin=True).name == "gpu-light"
    assert resolve_profile(settings, None, ["ai-2024-spring"]).name == "gpu-a100"
    assert resolve_profile(settings, "", []).name == "cpu"
    with pytest.raises(ProfileError, match="there is no profile 'tpu'; pick one of: cpu, mig"):
        resolve_profile(settings, "tpu", [])


class _Inputs(HTMLParser):
    """Collects the radio inputs and the text of a rendered form."""

    def __init__(self) -> None:
        super().__init__()
        self.radios: list[dict[str, str | None]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "input":
            self.radios.append(dict(attrs))

    def handle_data(self, data: str) -> None:
        if data.strip():
            self.text.append(data.strip())


def parse(form: str) -> _Inputs:
    parser = _Inputs()
    parser.feed(form)
    return parser


def test_form_lists_only_allowed_profiles(settings: ProfilesSettings) -> None:
    allowed = allowed_profiles(settings.profiles, ["dl-intro"])
    form = parse(render_options_form(allowed, default_profile(settings, ["dl-intro"]).name))
    assert [r["value"] for r in form.radios] == ["cpu", "gpu-light", "mig"]
    assert all(r["type"] == "radio" and r["name"] == "profile" for r in form.radios)
    assert [r["value"] for r in form.radios if "checked" in r] == ["cpu"]
    assert "GPU 실습" not in form.text and "gpu-a100" not in str(form.radios)
    assert "실습 환경을 고르세요" in form.text
    assert "CPU 2 · 메모리 8G · GPU 1 (4명 공유)" in form.text
    assert "CPU 4 · 메모리 16G · GPU MIG 1g.10gb" in form.text


def test_form_in_english_checks_the_default(settings: ProfilesSettings) -> None:
    allowed = allowed_profiles(settings.profiles, ["ai-2024-spring"])
    form = parse(render_options_form(allowed, "gpu-a100", lang="en"))
    assert [r["value"] for r in form.radios if "checked" in r] == ["gpu-a100"]
    assert form.text[:3] == ["Choose your lab environment", "Standard (CPU)", "기본 (CPU)"]
    assert "CPU 8 · memory 32G · GPU 1" in form.text
    form = parse(render_options_form(allowed, "not-there", lang="en"))
    assert [r["value"] for r in form.radios if "checked" in r] == ["cpu"]


def test_form_escapes_labels() -> None:
    evil = Profile.model_validate(
        {"name": "x", "label": {"ko": '<script>alert("ko")</script>', "en": "A & B \"quoted\""},
         "cpu_limit": 1, "mem_limit": "1G"}
    )  # fmt: skip
    html = render_options_form([evil], "x")
    assert "<script>" not in html
    assert "&lt;script&gt;alert(&quot;ko&quot;)&lt;/script&gt;" in html
    assert "A &amp; B &quot;quoted&quot;" in html
    assert parse(html).text[1] == '<script>alert("ko")</script>'  # shown as text


def test_form_refuses_nothing_to_offer_and_unknown_language(settings: ProfilesSettings) -> None:
    with pytest.raises(ProfileError, match="no profile is open to you"):
        render_options_form([], "cpu")
    with pytest.raises(ValueError, match="lang must be 'ko' or 'en'"):
        render_options_form(settings.profiles, "cpu", lang="ja")  # type: ignore[arg-type]


def test_form_round_trip(settings: ProfilesSettings) -> None:
    form = parse(render_options_form(settings.profiles, "cpu"))
    posted = {"profile": [str(form.radios[2]["value"])]}
    assert profile_name_from_form(posted) == "gpu-light"
    assert profile_name_from_form({}) is None
    assert profile_name_from_form({"profile": ["  "]}) is None
    ids = [r["id"] for r in form.radios]
    assert len(set(ids)) == 4 and all(
        re.fullmatch(r"aione-profile-[a-z0-9-]+", str(i)) for i in ids
    )
