"""Domain services: every change goes through here (role, unit, state checks, audit log)."""
