"""smotext: privacy-auditing synthetic text.

One front door per job::

    from smotext import SMOTExT, DPGeneration, PrivacyBudget, Auditor, Gate, load_policy, generate, release

``SMOTExT`` generates (a scikit-learn / imbalanced-learn style sampler; ``SMOTExT(dp=DPGeneration(...))``
with a formal (ε, δ) guarantee), ``Auditor`` measures what
the synthetic texts leak and what they are worth, ``Gate`` decides RELEASE or BLOCK under a policy
(``load_policy("default")``), ``generate`` and ``release`` run those jobs end to end on files;
``release(corpus, generator=...)`` runs them for any ``Generator`` plug-in, and ``prepare`` then
``release(prepared=..., synthetic=...)`` for a generator that runs elsewhere.
The stages live in ``smotext.synth``, ``smotext.audit`` and ``smotext.reports``. Importing this
package loads no model library: names are resolved on first use.
"""

from importlib import import_module
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("smotext")
except PackageNotFoundError:  # running from a source tree that isn't installed
    __version__ = "0.0.0+local"

_EXPORTS = {
    "SMOTExT": "smotext.synth.smotext",
    "DPGeneration": "smotext.synth.pe_privacy",
    "PrivacyBudget": "smotext.synth.budget",
    "Auditor": "smotext.audit.auditor",
    "AuditResult": "smotext.audit.auditor",
    "Gate": "smotext.reports.gate",
    "Decision": "smotext.reports.gate",
    "Policy": "smotext.reports.policy",
    "load_policy": "smotext.reports.policy",
    "shipped_policies": "smotext.reports.policy",
    "generate": "smotext.pipeline",
    "release": "smotext.pipeline",
    "prepare": "smotext.pipeline",
    "PreparedResult": "smotext.pipeline",
    "Generator": "smotext.synth.generators",
    "GENERATORS": "smotext.synth.generators",
    "audit_files": "smotext.pipeline",
    "gate_files": "smotext.pipeline",
    "report_file": "smotext.pipeline",
    "train_bridge": "smotext.pipeline",
    "GateResult": "smotext.pipeline",
    "GenerationResult": "smotext.pipeline",
    "ReleaseResult": "smotext.pipeline",
    "Corpus": "smotext.synth.corpus",
    "read_corpus": "smotext.synth.corpus",
    "split_corpus": "smotext.reports.release",
    "demo_corpus_path": "smotext.synth.demo_corpus",
    "SmotextError": "smotext.errors",
    "SmotextWarning": "smotext.errors",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    # PEP 562: `import smotext` stays light (no torch); each name is imported when first used.
    if name in _EXPORTS:
        value = getattr(import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'smotext' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(list(globals()) + __all__)
