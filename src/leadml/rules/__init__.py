"""The agreed rules: sales and marketing's points table (`definition`), scored by one engine
(`engine`) beside the model, and what a reviewer must read when a spec or the rules change
(`review`)."""

from leadml.rules.definition import (
    AgreedRules,
    Group,
    Rule,
    diff_rules,
    load_rules,
    parse_rules,
)
from leadml.rules.engine import (
    _MISSING,
    COLUMNWISE_ROWS,
    RulesScore,
    _Compiled,
    _EncodedPlan,
    _FeatureTests,
    distinct_names,
    distinct_rows,
    names_per_row,
)

__all__ = [
    "COLUMNWISE_ROWS",
    # what rules pickled before the packages name
    "_MISSING",
    "AgreedRules",
    "Group",
    "Rule",
    "RulesScore",
    "_Compiled",
    "_EncodedPlan",
    "_FeatureTests",
    "diff_rules",
    "distinct_names",
    "distinct_rows",
    "load_rules",
    "names_per_row",
    "parse_rules",
]  # fmt: skip
