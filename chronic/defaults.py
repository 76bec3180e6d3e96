"""The two programmes of the national basic public health service, as rule data (see ``chronic/rules.py``).

Hypertension (I10–I15): targets < 140/90 mmHg, danger at ≥ 180 systolic or ≥ 110 diastolic; type 2
diabetes (E11): fasting glucose < 7.0 mmol/L, danger at ≥ 16.7 mmol/L.
Both: at least four face-to-face follow-ups a year, re-check in two weeks when uncontrolled, referral
proposed after two consecutive uncontrolled follow-ups.
"""

HYPERTENSION = {
    "inclusion": {"codes": ["I10-I15"], "measurements": []},
    "measurements": [
        {"key": "bp_systolic", "required": True},
        {"key": "bp_diastolic", "required": True},
        {"key": "pulse"},
        {"key": "weight"},
        {"key": "bmi"},
        {"key": "cigarettes"},
        {"key": "adherence"},
    ],
    "targets": [{"key": "bp_systolic", "op": "<", "value": "140"}, {"key": "bp_diastolic", "op": "<", "value": "90"}],
    "danger": [{"key": "bp_systolic", "op": ">=", "value": "180"}, {"key": "bp_diastolic", "op": ">=", "value": "110"}],
    "risk_levels": [
        {"code": "high", "label": "高危", "when": [{"key": "bp_systolic", "op": ">=", "value": "160"}], "visits_per_year": 12},
        {"code": "medium", "label": "中危", "when": [{"key": "bp_systolic", "op": ">=", "value": "140"}], "visits_per_year": 6},
        {"code": "low", "label": "低危", "when": [], "visits_per_year": 4},
    ],
    "uncontrolled_recheck_days": 14,
    "danger_recheck_days": 7,
    "missed_recheck_days": 7,
    "consecutive_uncontrolled": 2,
}

DIABETES = {
    "inclusion": {"codes": ["E11"], "measurements": []},
    "measurements": [
        {"key": "fbg", "required": True},
        {"key": "hba1c"},
        {"key": "bp_systolic"},
        {"key": "bp_diastolic"},
        {"key": "weight"},
        {"key": "bmi"},
        {"key": "adherence"},
    ],
    "targets": [{"key": "fbg", "op": "<", "value": "7.0"}],
    "danger": [{"key": "fbg", "op": ">=", "value": "16.7"}],
    "risk_levels": [
        {"code": "high", "label": "高危", "when": [{"key": "fbg", "op": ">=", "value": "10.0"}], "visits_per_year": 12},
        {"code": "low", "label": "一般", "when": [], "visits_per_year": 4},
    ],
    "uncontrolled_recheck_days": 14,
    "danger_recheck_days": 7,
    "missed_recheck_days": 7,
    "consecutive_uncontrolled": 2,
}

PROGRAMMES = [("hypertension", "高血压患者健康管理", HYPERTENSION), ("diabetes", "2型糖尿病患者健康管理", DIABETES)]
