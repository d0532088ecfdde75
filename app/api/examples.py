"""A worked example for the API docs: the README's customer, two accounts 30+ days
overdue at other banks and the card 85% used. "Try it out" on /docs decides on it."""

DECISION_REQUEST = {
    "ruleset_id": "retail_card",
    "customer_id": "C-100001",
    "client_request_id": "review-2026-04-C-100001",
    "explain": "summary",
    "snapshot": {
        "customer": {"id": "C-100001", "segment": "mass", "months_on_book": 48,
                     "employment_status": "employed", "monthly_income": "8000.00", "income_change_pct": "2.50"},
        "card": {"account_id": "CARD-100001", "limit": "20000.00", "balance": "17000.00", "utilization": "0.8500",
                 "dpd": 0, "worst_dpd_12m": 0, "months_min_payment_only": 0, "cash_advance_share": "0.0000"},
        "credit_report": {"as_of": "2026-03-31", "debt_to_income": "0.2500",
                          "other_banks": {"overdue_accounts_6m": 2, "overdue_accounts_12m": 2,
                                          "overdue_accounts_24m": 2, "worst_dpd": 45, "debt": "30000.00",
                                          "new_accounts_3m": 0, "hard_inquiries_3m": 0, "hard_inquiries_6m": 1}},
    },
}

BATCH_REQUEST = {
    "items": [
        {k: v for k, v in DECISION_REQUEST.items() if k != "client_request_id"},
        {"ruleset_id": "retail_card", "customer_id": "C-100003", "snapshot": {"customer": {"id": "C-100003"}}},
    ],
}
