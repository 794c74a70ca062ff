"""Event-sourced data catalogue for photon-science facilities."""
