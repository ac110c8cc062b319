"""The indicators leaders are judged by: definitions (pure), current values, history, rankings and
the Decision 766 scorecard, over the dossier, payout and ID-issuance streams."""
