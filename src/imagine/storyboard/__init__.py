"""Storyboards: panels rendered as jobs, chained by continuity, stitched into one film."""
