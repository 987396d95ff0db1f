"""From the transfer matrix to dose: maps per channel, metrics, eye-safety hazards."""
