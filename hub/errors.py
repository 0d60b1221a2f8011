"""Domain errors of aione.

Library code raises these; only the CLI (:mod:`hub.cli`) turns them into exit
codes and one-line messages. Every message names the problem and the fix.
"""


class AioneError(Exception):
    """Base of every error a user can act on. ``str(err)`` is the one-line message."""

    exit_code = 1


class SettingsError(AioneError):
    """The operator settings file is missing, unreadable or invalid."""


class DockerUnavailable(AioneError):
    """No Docker engine answers on the configured socket."""


class ImageBuildError(AioneError):
    """Building a base or learner image failed."""


class HubAPIError(AioneError):
    """The hub's REST API refused or failed a request."""


class RosterError(AioneError):
    """A cohort roster is invalid; nothing was applied."""


class GpuAllocationError(AioneError):
    """No GPU can be given to this learner now (quota used up or none free)."""


class ProfileError(AioneError):
    """A resource profile is unknown or not allowed for this user."""


class GradingError(AioneError):
    """Autograding could not run (not: a submission failed; that is a score)."""


class ExchangeError(AioneError):
    """An exchange operation was refused or failed."""


class CurriculumError(AioneError):
    """A course is malformed, or a curriculum run cannot start."""


class GpuDiscoveryError(AioneError):
    """nvidia-smi is missing or failed, so the GPU inventory cannot be discovered."""


class CohortError(AioneError):
    """A cohort is unknown, or a cohort operation cannot be carried out."""


class SessionError(AioneError):
    """A lab session cannot be scheduled, found or cancelled as asked."""


class SwarmError(AioneError):
    """Docker Swarm is not usable for learner servers, or swarm refused a learner's task."""
