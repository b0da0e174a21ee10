"""The statistics of an experiment, as pure functions (no database, no SciPy at run time).

Why pure: the numbers must equal reference computations (SciPy/statsmodels in the tests), the
A/A and A/B simulations call these very functions thousands of times, and the promotion gate
reads one `Decision` without knowing how it was reached. docs/experiments.md ("The statistics")
explains every choice; the short version:

- a conversion metric per variant: rate with a Wilson interval; a mean metric: Welch;
- treatment minus control with a fixed-horizon interval and test (Wald interval, pooled z-test
  for proportions; Welch t for means), relative lift by the delta method on the log of the ratio;
- the sequential rule: an always-valid confidence sequence from Robbins' normal mixture (the
  mSPRT of Johari et al.), used with the estimated standard error as the asymptotic confidence
  sequence of Waudby-Smith et al.; its mixing parameter is tuned to be tightest at the planned
  sample size;
- a sample-ratio-mismatch chi-square against the configured weights (p < 0.001 blocks);
- guardrails that block a win when their fixed-horizon interval shows harm beyond a tolerance;
- the power calculation for a two-proportion test (pooled variance under the null).

Modules: special (special functions), inputs (checks and the error), estimates (per variant,
comparisons, the sequence, SRM), design (power and sample size), decision (`analyze`).
"""

from apps.experiments.stats.decision import (
    Analysis,
    Comparison,
    Decision,
    GuardrailCheck,
    Metric,
    Outcome,
    VariantSummary,
    analyze,
    compare,
)
from apps.experiments.stats.design import (
    SampleSizePlan,
    minimum_detectable_effect,
    power_two_proportions,
    sample_size_two_proportions,
    sequence_multiplier,
)
from apps.experiments.stats.estimates import (
    SRM_ALPHA,
    FixedHorizon,
    Interval,
    Mean,
    Observation,
    Proportion,
    RelativeLift,
    SampleRatioCheck,
    Sequential,
    confidence_sequence,
    fixed_horizon,
    fixed_horizon_means,
    fixed_horizon_proportions,
    mean_interval,
    mixing_parameter,
    relative_lift,
    sample_ratio_check,
    variant_interval,
    welch_degrees_of_freedom,
    wilson_interval,
)
from apps.experiments.stats.inputs import WEIGHT_SUM_TOLERANCE, StatsInputError, check_weights
from apps.experiments.stats.special import (
    T_AS_NORMAL_ABOVE,
    SpecialFunctionError,
    chi_square_sf,
    normal_quantile,
    normal_two_sided_p,
    regularized_beta,
    regularized_gamma_q,
    student_t_quantile,
    student_t_two_sided_p,
)

__all__ = [
    "SRM_ALPHA",
    "T_AS_NORMAL_ABOVE",
    "WEIGHT_SUM_TOLERANCE",
    "Analysis",
    "Comparison",
    "Decision",
    "FixedHorizon",
    "GuardrailCheck",
    "Interval",
    "Mean",
    "Metric",
    "Observation",
    "Outcome",
    "Proportion",
    "RelativeLift",
    "SampleRatioCheck",
    "SampleSizePlan",
    "Sequential",
    "SpecialFunctionError",
    "StatsInputError",
    "VariantSummary",
    "analyze",
    "check_weights",
    "chi_square_sf",
    "compare",
    "confidence_sequence",
    "fixed_horizon",
    "fixed_horizon_means",
    "fixed_horizon_proportions",
    "mean_interval",
    "minimum_detectable_effect",
    "mixing_parameter",
    "normal_quantile",
    "normal_two_sided_p",
    "power_two_proportions",
    "regularized_beta",
    "regularized_gamma_q",
    "relative_lift",
    "sample_ratio_check",
    "sample_size_two_proportions",
    "sequence_multiplier",
    "student_t_quantile",
    "student_t_two_sided_p",
    "variant_interval",
    "welch_degrees_of_freedom",
    "wilson_interval",
]
