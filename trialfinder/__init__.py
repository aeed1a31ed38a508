"""trialfinder: finds and follows WHIM syndrome, CXCR4 and mavorixafor clinical trials from ClinicalTrials.gov."""

__version__ = "0.1.0"
