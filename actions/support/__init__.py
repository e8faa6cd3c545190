"""What several actions share (fields, requests, reconciliation), kept apart from the action
catalogue in `actions/twilio/`, where every module is one action."""
