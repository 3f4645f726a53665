"""What the tests and bench/ share: real processes, the fuzz, the CLI run in-process."""
