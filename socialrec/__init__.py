"""socialrec command line and demo orchestration."""
