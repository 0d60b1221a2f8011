"""The grading settings section: validation, defaults, and the config it becomes."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from graders.settings import GradingSection, check_name, grading_config, load_grading_settings
from hub.errors import GradingError, SettingsError


def test_defaults_are_safe_and_complete() -> None:
    g = GradingSection()
    assert g.image == "aione/learner:latest"
    assert (g.mem_limit, g.cpu_limit, g.pids_limit, g.cell_timeout_s) == ("1G", 1.0, 128, 30)
    assert g.reveal_hidden_tests is False and g.late_penalty.percent_per_day == 0
    assert g.effective_jobs >= 1
    assert g.db_url(Path("/srv/c/x"), "x") == "sqlite:////srv/c/x/gradebook.db"


def test_unknown_keys_and_bad_values_are_refused() -> None:
    with pytest.raises(ValidationError, match="extra"):
        GradingSection.model_validate({"memlimit": "1G"})
    with pytest.raises(ValidationError, match="too small"):
        GradingSection(mem_limit="10M")
    with pytest.raises(ValidationError, match="not a size"):
        GradingSection(work_size="lots")
    with pytest.raises(ValidationError):
        GradingSection(cpu_limit=0)
    with pytest.raises(ValidationError):
        GradingSection.model_validate({"late_penalty": {"percent_per_day": 150}})
    with pytest.raises(ValidationError, match="letters, digits"):
        GradingSection(container_prefix="a b")


def test_output_limit_takes_sizes() -> None:
    assert GradingSection(output_limit_bytes="2M").output_limit_bytes == 2 * 1024**2
    assert GradingSection(output_limit_bytes=5000).output_limit_bytes == 5000


def test_paths_urls_and_per_course_reveal() -> None:
    g = GradingSection(
        courses_root=Path("/data/courses"),
        gradebook_url="postgresql://u@db/{course}",
        reveal_hidden_tests_by_course={"ml": True},
    )
    assert g.course_root(Path("/var/lib/aione"), "ml") == Path("/data/courses/ml")
    assert GradingSection().course_root(Path("/var/lib/aione"), "ml") == Path(
        "/var/lib/aione/courses/ml"
    )
    assert g.db_url(Path("/data/courses/ml"), "ml") == "postgresql://u@db/ml"
    assert g.reveals_hidden_tests("ml") and not g.reveals_hidden_tests("other")


@pytest.mark.parametrize("name", ["../x", "a/b", "", ".hidden", "x" * 200, "a b"])
def test_names_that_could_leave_the_course_folder_are_refused(name: str) -> None:
    with pytest.raises(GradingError, match="not valid"):
        check_name(name, "course")


def test_grading_config_sets_the_traitlets() -> None:
    g = GradingSection(
        mem_limit="512M",
        cpu_limit=2,
        pids_limit=64,
        jobs=3,
        cell_timeout_s=7,
        output_limit_bytes="1M",
        late_penalty={"percent_per_day": 10, "grace_minutes": 15},
    )
    c = grading_config(g)
    assert c.Sandbox.mem_limit == 512 * 1024**2
    assert (c.Sandbox.cpu_limit, c.Sandbox.pids_limit, c.Sandbox.cell_timeout) == (2, 64, 7)
    assert c.Sandbox.output_limit == 1024**2
    assert c.SandboxAutograde.jobs == 3
    assert c.AssignLatePenalties.plugin_class == "graders.late.PercentPerDayPenalty"
    assert (c.PercentPerDayPenalty.percent_per_day, c.PercentPerDayPenalty.grace_minutes) == (
        10,
        15,
    )


def test_load_reads_the_grading_section_beside_the_others(tmp_path: Path) -> None:
    path = tmp_path / "aione.yaml"
    path.write_text(f"state_dir: {tmp_path}\nhub: {{port: 9000}}\ngrading:\n  jobs: 4\n")
    settings, grading = load_grading_settings(path)
    assert settings.state_dir == tmp_path and settings.hub.port == 9000
    assert grading.jobs == 4
    _, grading = load_grading_settings(path, **{"grading.jobs": 2})
    assert grading.jobs == 2


def test_load_names_the_bad_key_and_the_file(tmp_path: Path) -> None:
    path = tmp_path / "aione.yaml"
    path.write_text("grading:\n  jobz: 4\n")
    with pytest.raises(SettingsError, match=r"aione.yaml: key 'grading.jobz' is unknown.*jobs"):
        load_grading_settings(path)
    path.write_text("grading:\n  cell_timeout_s: 0\n")
    with pytest.raises(SettingsError, match="grading.cell_timeout_s"):
        load_grading_settings(path)
    path.write_text("grading: 3\n")
    with pytest.raises(SettingsError, match="key .grading."):
        load_grading_settings(path)
