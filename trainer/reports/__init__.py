"""Reports: compliance roll-ups, lists and exports for managers; item statistics for trainers."""
